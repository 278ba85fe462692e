#!/usr/bin/env python3
"""Readings of a `qfleet-sim --compare ... --json FILE` run, from its per-round curves.

For each strategy: final served accuracy, mean of the last five rounds, the
range of FP32 accuracy over the last five rounds, and for every threshold T
given on the command line the simulated seconds to the first round at or
above T ("first") and to the first round whose mean over the last three
rounds is at or above T ("3-round"). Used for the FedHQ tables in
docs/notebook/2026-12-07-fedhq.md.

    python3 sim/fedhq_readings.py run.json 0.82 0.84
"""
import json
import sys


def first_time(rounds, ok):
    for i, r in enumerate(rounds):
        if ok(i):
            return "%.1f" % r["sim_time_s"]
    return "never"


def main(argv):
    if len(argv) < 2:
        sys.stderr.write("usage: fedhq_readings.py RUN.json [T ...]\n")
        return 2
    with open(argv[1]) as f:
        run = json.load(f)
    thresholds = [float(t) for t in argv[2:]]
    head = ["strategy", "final", "last5", "fp32 last5"]
    for t in thresholds:
        head += ["%g first" % t, "%g 3-round" % t]
    head += ["total s", "selector s"]
    print(" | ".join(head))
    for s in run["strategies"]:
        rounds = s["rounds"]
        acc = [r["acc"] for r in rounds]
        fp32 = [r["acc_fp32"] for r in rounds[-5:]]
        row = [s["name"], "%.4f" % acc[-1], "%.4f" % (sum(acc[-5:]) / len(acc[-5:])),
               "%.3f-%.3f" % (min(fp32), max(fp32))]
        for t in thresholds:
            row.append(first_time(rounds, lambda i: acc[i] >= t))
            row.append(first_time(rounds, lambda i: i >= 2 and sum(acc[i - 2:i + 1]) / 3 >= t))
        row += ["%.1f" % s["total_time_s"], "%.2f" % s["selector_overhead_s"]]
        print(" | ".join(row))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
