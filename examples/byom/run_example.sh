#!/usr/bin/env bash
# One bring-your-own-model example end to end: the example's prepare.py
# writes model.pt and train/val/test data dirs with the qfleet package; the
# same model is trained centrally for as many epochs as the federated run
# makes passes over the data (rounds x 1 local epoch); a coordinator serves
# model.pt (plaintext on loopback, open enrollment: a local run) and
# qfleet-sim federates it over simulated devices; qfleetctl exports the
# final weights and the served TorchScript module; check.py reloads both in
# Python and recomputes what the coordinator reported.
# Usage: run_example.sh EXAMPLE_DIR BIN_DIR OUT_DIR LOSS METRIC LR BATCH
set -euo pipefail
EX="$(cd "$1" && pwd)"; BIN="$2"; OUT="$3"; LOSS="$4"; METRIC="$5"; LR="$6"; BATCH="$7"
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
PY="${QFLEET_PYTHON:-/usr/bin/python3}"
ROUNDS="${ROUNDS:-10}"; DEVICES="${DEVICES:-10}"; SEED="${SEED:-1}"; WBITS="${WBITS:-8}"
export PYTHONPATH="$REPO/python:$HERE${PYTHONPATH:+:$PYTHONPATH}"
mkdir -p "$OUT"

"$PY" "$EX/prepare.py" "$OUT"
"$PY" "$HERE/central.py" --model "$OUT/model.pt" --train "$OUT/train" --eval "$OUT/val" \
  --test "$OUT/test" --epochs "$ROUNDS" --loss "$LOSS" --metric "$METRIC" --lr "$LR" \
  --batch-size "$BATCH" --momentum 0.9 --seed "$SEED" --out-json "$OUT/central.json" \
  --out-container "$OUT/central.qftc"

HELP="$("$BIN/qfleet-coordinator" --help 2>/dev/null || true)"
if [[ "$HELP" != *--eval-data* ]]; then
  echo "$BIN/qfleet-coordinator has no --model / --eval-data (the C++ side of issue 26):" \
       "stopping after the central baseline" >&2
  exit 2
fi
rm -rf "$OUT/coordinator.db" "$OUT/coordinator.db-"* "$OUT/coordinator.db.blobs"
"$BIN/qfleet-coordinator" --listen 127.0.0.1:0 --db "$OUT/coordinator.db" --insecure \
  --open-enrollment --model "$OUT/model.pt" --eval-data "$OUT/val" 2>"$OUT/coordinator.log" &
COORD=$!
trap 'kill "$COORD" 2>/dev/null || true' EXIT
ADDR=""
for _ in $(seq 1 600); do
  ADDR=$(sed -n 's/.*serving on \([^ ]*\) .*/\1/p' "$OUT/coordinator.log")
  [ -n "$ADDR" ] && break
  kill -0 "$COORD" 2>/dev/null || break
  sleep 0.1
done
[ -n "$ADDR" ] || { echo "the coordinator did not start:"; cat "$OUT/coordinator.log"; exit 1; }

"$BIN/qfleet-sim" --coordinator "$ADDR" --insecure --model "$OUT/model.pt" \
  --train-data "$OUT/train" --eval-data "$OUT/val" --loss "$LOSS" --metric "$METRIC" \
  --devices "$DEVICES" --rounds "$ROUNDS" --seed "$SEED" --wbits "$WBITS" --local-epochs 1 \
  --lr "$LR" --momentum 0.9 --batch-size "$BATCH" --json "$OUT/federated.json"
CTL=("$BIN/qfleetctl" --insecure --coordinator "$ADDR")
"${CTL[@]}" models export 0 --out "$OUT/federated.qftc"
"${CTL[@]}" models export 0 --out "$OUT/served.pt" --format torchscript --bits "$WBITS"
"$PY" "$HERE/check.py" --model "$OUT/model.pt" --container "$OUT/federated.qftc" \
  --served "$OUT/served.pt" --sim-json "$OUT/federated.json" \
  --central-json "$OUT/central.json" --eval "$OUT/val" --test "$OUT/test"
