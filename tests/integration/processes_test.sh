#!/usr/bin/env bash
# Separate processes: a coordinator, a simulated fleet and the admin CLI; the
# coordinator is killed with SIGKILL and restarted on the same database, and
# its devices and finished round must still be there. Also checks the CLI's
# errors (bad flag, unreachable coordinator).
# Usage: processes_test.sh BIN_DIR
set -euo pipefail
BIN="$1"
DATA=/usr/share/datasets/fashion-mnist
if [ ! -e "$DATA/t10k-labels-idx1-ubyte.gz" ]; then echo "SKIP: no Fashion-MNIST"; exit 0; fi
WORK=$(mktemp -d)
COORD_PID=""
cleanup() { [ -n "$COORD_PID" ] && kill -9 "$COORD_PID" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

start_coordinator() {
  "$BIN/qfleet-coordinator" --listen 127.0.0.1:0 --db "$WORK/state.db" 2>"$WORK/coord.log" &
  COORD_PID=$!
  for _ in $(seq 1 200); do
    ADDR=$(sed -n 's/.*serving on \([^ ]*\) .*/\1/p' "$WORK/coord.log")
    [ -n "$ADDR" ] && return 0
    sleep 0.1
  done
  echo "coordinator did not start:"; cat "$WORK/coord.log"; exit 1
}

# Bad flags: non-zero exit with a one-line reason.
if "$BIN/qfleetctl" --bogus 2>"$WORK/err"; then echo "bad flag accepted"; exit 1; fi
grep -q "error" "$WORK/err"
for p in qfleet-coordinator qfleet-agent qfleet-sim qfleetctl; do
  "$BIN/$p" --help >/dev/null
done

start_coordinator
"$BIN/qfleet-sim" --coordinator "$ADDR" --devices 4 --rounds 1 --seed 2 \
  --train-limit 2000 --max-steps 5 --quiet >"$WORK/sim.txt"
n=$("$BIN/qfleetctl" --coordinator "$ADDR" devices list --json | grep -c '"device_id"')
[ "$n" = 4 ] || { echo "expected 4 devices, got $n"; exit 1; }

kill -9 "$COORD_PID"; wait "$COORD_PID" 2>/dev/null || true
# Unreachable coordinator: clear message, non-zero exit.
if "$BIN/qfleetctl" --coordinator "$ADDR" --timeout-ms 500 devices list 2>"$WORK/err"; then
  echo "unreachable coordinator not reported"; exit 1
fi
grep -q "cannot reach" "$WORK/err"

start_coordinator
n=$("$BIN/qfleetctl" --coordinator "$ADDR" devices list --json | grep -c '"device_id"')
[ "$n" = 4 ] || { echo "after restart: expected 4 devices, got $n"; exit 1; }
"$BIN/qfleetctl" --coordinator "$ADDR" rounds list --json | grep -q '"state": "done"' \
  || { echo "finished round lost after restart"; exit 1; }
"$BIN/qfleetctl" --coordinator "$ADDR" models export 0 --out "$WORK/model.qftc" >/dev/null
[ -s "$WORK/model.qftc" ]
echo "processes test passed"
