import io
import subprocess
import sys

import numpy as np

from qfleet import __main__ as cli
from qfleet.container import Tensor, encode_container
from qfleet.plan import PrecisionPlan, encode_plan


def test_inspect_describes_containers_and_plans(tmp_path, repo):
    c = tmp_path / "m.qftc"
    c.write_bytes(encode_container([
        Tensor.from_array("fc.weight", [[1.0, -2.0]]),
        Tensor.from_codes("q", (2, 2), [[0, 3], [1, 2]], [2, 2], [0.5, 0.5], [2, 2])]))
    p = tmp_path / "p.qfpl"
    p.write_bytes(encode_plan(PrecisionPlan(4, ["fc"], [5], np.array([0, 0, 1, 3, 3]))))
    out = io.StringIO()
    cli.describe(str(c), out)
    cli.describe(str(p), out)
    text = out.getvalue()
    assert "2 tensors" in text and "fc.weight: [1, 2] float32 range [-2, 1]" in text
    assert "q: [2, 2] packed bits [2] range [-1, 0.5]" in text
    assert "QFPL plan version 4, 1 layers, 5 channels" in text
    assert "fc: 5 channels, tiers 0..3: [2, 1, 0, 2]" in text


def test_inspect_exits_1_naming_a_corrupt_file(tmp_path, repo):
    bad = tmp_path / "bad.qftc"
    bad.write_bytes(encode_container([Tensor.from_array("w", [1.0])])[:-2])
    run = subprocess.run([sys.executable, "-m", "qfleet", "inspect", str(bad)],
                         capture_output=True, text=True, cwd=f"{repo}/python")
    assert run.returncode == 1
    assert f"{bad}: QFTC truncated" in run.stderr
