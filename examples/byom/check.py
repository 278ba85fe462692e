"""Checks a federated run of a bring-your-own model from Python.

Loads the architecture (model.pt) and the exported weights (the container
qfleet-sim --export-model writes, and optionally an exported TorchScript
module such as `qfleetctl models export --format torchscript` writes),
recomputes the metric the run reported on its evaluation data (it must
agree to 4 decimals), and compares the federated model on the test data
with the central baseline and the served 8- and 4-bit metrics with FP32
(the bars of issue 26). Exit 1 when a recomputed metric disagrees.

  check.py --model model.pt --container federated.qftc --sim-json F --central-json F
           --eval DIR --test DIR [--served served.pt]
"""
import argparse
import json
import sys

import torch

import qfleet
from tasks import evaluate

HIGHER_IS_BETTER = {"accuracy": True, "auc": True, "mse": False}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--container", required=True)
    ap.add_argument("--served", help="TorchScript module with the served weights")
    ap.add_argument("--sim-json", required=True)
    ap.add_argument("--central-json", required=True)
    ap.add_argument("--eval", required=True)
    ap.add_argument("--test", required=True)
    a = ap.parse_args()

    with open(a.sim_json) as f:
        rounds = json.load(f)["rounds"]
    with open(a.central_json) as f:
        central = json.load(f)
    last = rounds[-1]
    name = last["metric"] if isinstance(last.get("metric"), str) else central["metric"]
    if name != central["metric"]:
        sys.exit(f"the run reports {name}, the baseline {central['metric']}")
    ok = True

    module = torch.jit.load(a.model)
    qfleet.load_state(module, a.container)
    fp32 = evaluate(module, a.eval, name)
    ok &= report(f"FP32 {name} on the eval data, recomputed from the container", fp32,
                 last["fp32"])
    if a.served:
        served = evaluate(torch.jit.load(a.served), a.eval, name)
        ok &= report(f"served {name} of {a.served}", served, last.get("served", last["q8"]))

    test = evaluate(module, a.test, name)
    sign = 1 if HIGHER_IS_BETTER[name] else -1
    gap = sign * (central["test"] - test)
    print(f"test {name}: federated {test:.4f}, central {central['test']:.4f} "
          f"(gap {100 * gap:+.2f} points; issue 26's bar: within 2 points: "
          f"{'met' if gap <= 0.02 else 'missed'})")
    for bits, bar in (("q8", 0.005), ("q4", 0.03)):
        if bits in last and last[bits] >= 0:
            drop = sign * (last["fp32"] - last[bits])
            print(f"{bits} {name} {last[bits]:.4f} vs FP32 {last['fp32']:.4f}: drop "
                  f"{100 * drop:+.2f} points (bar {100 * bar:.1f}: "
                  f"{'met' if drop <= bar else 'missed'})")
    sys.exit(0 if ok else 1)


def report(what, recomputed, reported):
    same = abs(recomputed - reported) < 5e-5
    print(f"{what}: {recomputed:.4f}, the run reported {reported:.4f}: "
          f"{'agree' if same else 'DISAGREE'} to 4 decimals")
    return same


if __name__ == "__main__":
    main()
