#!/usr/bin/env bash
# One bring-your-own-model example end to end: the example's prepare.py
# writes model.pt and train/val/test data dirs with the qfleet package, the
# same model is trained centrally for as many epochs as the federated run
# makes passes over the data (rounds x local epochs), qfleet-sim federates it
# over 10 simulated devices for 10 rounds, and check.py reloads what the run
# exported in Python.
# Usage: run_example.sh EXAMPLE_DIR BIN_DIR OUT_DIR LOSS METRIC LR BATCH
set -euo pipefail
EX="$(cd "$1" && pwd)"; BIN="$2"; OUT="$3"; LOSS="$4"; METRIC="$5"; LR="$6"; BATCH="$7"
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
PY="${QFLEET_PYTHON:-/usr/bin/python3}"
ROUNDS="${ROUNDS:-10}"; DEVICES="${DEVICES:-10}"; SEED="${SEED:-1}"
export PYTHONPATH="$REPO/python:$HERE${PYTHONPATH:+:$PYTHONPATH}"
mkdir -p "$OUT"

"$PY" "$EX/prepare.py" "$OUT"
"$PY" "$HERE/central.py" --model "$OUT/model.pt" --train "$OUT/train" --eval "$OUT/val" \
  --test "$OUT/test" --epochs "$ROUNDS" --loss "$LOSS" --metric "$METRIC" --lr "$LR" \
  --batch-size "$BATCH" --momentum 0.9 --seed "$SEED" --out-json "$OUT/central.json" \
  --out-container "$OUT/central.qftc"

HELP="$("$BIN/qfleet-sim" --help 2>/dev/null || true)"
if [[ "$HELP" != *--train-data* ]]; then
  echo "$BIN/qfleet-sim has no --model / --train-data (the C++ side of issue 26):" \
       "stopping after the central baseline" >&2
  exit 2
fi
"$BIN/qfleet-sim" --model "$OUT/model.pt" --train-data "$OUT/train" --eval-data "$OUT/val" \
  --loss "$LOSS" --metric "$METRIC" --devices "$DEVICES" --rounds "$ROUNDS" --seed "$SEED" \
  --local-epochs 1 --lr "$LR" --momentum 0.9 --batch-size "$BATCH" --json "$OUT/federated.json" \
  --export-model "$OUT/federated.qftc"
"$PY" "$HERE/check.py" --model "$OUT/model.pt" --container "$OUT/federated.qftc" \
  --sim-json "$OUT/federated.json" --central-json "$OUT/central.json" \
  --eval "$OUT/val" --test "$OUT/test"
