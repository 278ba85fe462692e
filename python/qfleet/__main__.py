"""python3 -m qfleet inspect FILE...: what a tensor container (QFTC) or
precision plan (QFPL) holds, one line per tensor or layer. Exit 1 naming
the first file that fails to decode (truncated, corrupt, bad CRC)."""
import argparse
import sys

import numpy as np

from .container import decode_container
from .errors import FormatError
from .plan import decode_plan


def describe(path, out):
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] == b"QFPL":
        plan = decode_plan(data)
        out.write(f"{path}: QFPL plan version {plan.version}, {len(plan.layer_names)} layers, "
                  f"{plan.codes.size} channels\n")
        for name, codes in plan.layer_codes().items():
            tiers = np.bincount(codes, minlength=4).tolist()
            out.write(f"  {name}: {codes.size} channels, tiers 0..3: {tiers}\n")
        return
    tensors = decode_container(data)
    out.write(f"{path}: QFTC container, {len(tensors)} tensors, {len(data)} bytes\n")
    for name, t in tensors.items():
        values = t.dequantize()
        kind = (f"packed bits {sorted(set(t.bits.tolist()))}" if t.is_packed else "float32")
        span = (f" range [{values.min():.6g}, {values.max():.6g}]" if values.size else "")
        out.write(f"  {name}: {list(t.shape)} {kind}{span}\n")


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python3 -m qfleet", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    sub.add_parser("inspect", help="describe QFTC / QFPL files").add_argument("files", nargs="+")
    a = ap.parse_args(argv)
    for path in a.files:
        try:
            describe(path, sys.stdout)
        except (OSError, FormatError) as e:
            print(f"{path}: {e}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
