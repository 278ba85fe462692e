#!/usr/bin/env bash
# Measures what issue 30 is about, for any build of qfleet (old or new):
#   1. time from launching qfleet-coordinator to its first answered admin
#      call (qfleetctl status, polled every 50 ms), on a fresh database and
#      on a restart of the same database;
#   2. with --demo, RPCs per completed task in the demo fleet
#      (qfleet-sim --devices 10 --rounds 5 --seed 1 against that coordinator),
#      counted by the coordinator's /metrics (qfleet_rpc_total).
# Usage: bench/serving_and_rpcs.sh BIN_DIR [--demo]
set -euo pipefail
BIN="$1"
DEMO="${2:-}"
WORK=$(mktemp -d)
PID=""
cleanup() { [ -n "$PID" ] && kill -9 "$PID" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
PORT=$((20000 + RANDOM % 20000))
MPORT=$((PORT + 1))
ADDR=127.0.0.1:$PORT

now_ms() { date +%s%3N; }
# serve DB: launches the coordinator; SERVE_MS = ms until it answers.
serve() {
  local t0 t1
  t0=$(now_ms)
  "$BIN/qfleet-coordinator" --listen "$ADDR" --db "$1" --insecure \
    --metrics-listen 127.0.0.1:$MPORT 2>>"$WORK/coord.log" &
  PID=$!
  until "$BIN/qfleetctl" --insecure --coordinator "$ADDR" --timeout-ms 200 status \
      >/dev/null 2>&1; do
    kill -0 "$PID" 2>/dev/null || { cat "$WORK/coord.log"; exit 1; }
    sleep 0.05
  done
  t1=$(now_ms)
  SERVE_MS=$((t1 - t0))
}
stop() { kill -9 "$PID"; wait "$PID" 2>/dev/null || true; PID=""; }

serve "$WORK/a.db"
echo "time to serving, fresh database: $SERVE_MS ms"
sleep 8  # let deferred start-up work finish before the restart
stop
serve "$WORK/a.db"
echo "time to serving, restart:        $SERVE_MS ms"
stop

if [ "$DEMO" = --demo ]; then
  serve "$WORK/demo.db"
  "$BIN/qfleet-sim" --coordinator "$ADDR" --insecure --devices 10 --rounds 5 --seed 1 \
    >"$WORK/demo.txt" 2>"$WORK/demo.err"
  cat "$WORK/demo.txt"
  curl -sf "http://127.0.0.1:$MPORT/metrics" >"$WORK/metrics.txt"
  stop
  awk -F'[{}" ]+' '/^qfleet_rpc_total\{/ {
      for (i = 1; i <= NF; ++i) if ($i ~ /^method=/) m = $(i + 1);
      n[m] += $NF; total += $NF }
    END { for (m in n) printf "  %-45s %8d\n", m, n[m];
          printf "RPCs: %d for 50 tasks = %.1f per task\n", total, total / 50 }' \
    "$WORK/metrics.txt"
fi
