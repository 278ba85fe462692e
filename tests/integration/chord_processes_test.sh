#!/usr/bin/env bash
# CHORD as separate processes: qfleet-sim --task seqrec --quick trains the
# cloud side on a small interactions file and saves it; qfleet-coordinator
# serves it from those files (--chord-bundle); three qfleet-agent daemons,
# each holding one user's interactions (--seqrec-data/--seqrec-user), run an
# eval campaign started with qfleetctl (fp32, rtn4, chord); every round must
# finish with three reports, chord within the 3-bit budget, and each
# device's stored plan must be served by `qfleetctl plans show`. Also the
# new flags' errors.
# Usage: chord_processes_test.sh BIN_DIR
set -euo pipefail
BIN="$1"
WORK=$(mktemp -d)
COORD_PID=""
AGENT_PIDS=()
cleanup() {
  [ -n "$COORD_PID" ] && kill -9 "$COORD_PID" 2>/dev/null || true
  for p in "${AGENT_PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

# 240 users over 120 items: each user walks a ring of items from its own
# start, so the next item is predictable; lengths 6..13.
awk 'BEGIN { for (u = 1; u <= 240; u++) { s = (u * 7) % 120; n = 6 + u % 8;
             for (k = 0; k < n; k++) print u, 1 + (s + k * (1 + u % 3)) % 120 } }' >"$WORK/items.txt"

"$BIN/qfleet-sim" --task seqrec --quick --insecure --quiet --data "$WORK/items.txt" \
  --devices 16 --save-backbone "$WORK/backbone.qftc" --save-chord "$WORK/chord.qftc" \
  --json "$WORK/sim.json" >"$WORK/sim.out"
grep -q '"name": "chord"' "$WORK/sim.json"

# Flag errors: a CHORD bundle or --chord-query without its backbone and
# data; a CHORD flag without CHORD; an agent user outside the data.
if "$BIN/qfleet-coordinator" --insecure --db "$WORK/x.db" --chord-bundle "$WORK/chord.qftc" 2>"$WORK/err"; then
  echo "coordinator accepted --chord-bundle alone"; exit 1
fi
grep -q "needs --chord-backbone" "$WORK/err"
if "$BIN/qfleet-coordinator" --insecure --db "$WORK/x.db" --chord-query 2>"$WORK/err"; then
  echo "coordinator accepted --chord-query alone"; exit 1
fi
grep -q "needs --chord-backbone" "$WORK/err"
if "$BIN/qfleet-coordinator" --insecure --db "$WORK/x.db" --chord-tier-bits 8,4,3,2 2>"$WORK/err"; then
  echo "coordinator accepted a CHORD flag without CHORD"; exit 1
fi
grep -q "needs --chord-bundle or --chord-query" "$WORK/err"
if "$BIN/qfleet-agent" --insecure --seqrec-data "$WORK/items.txt" --seqrec-user 100000 2>"$WORK/err"; then
  echo "agent accepted an unknown user"; exit 1
fi
grep -q "not an evaluated user" "$WORK/err"

head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$WORK/admin.token"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$WORK/join.secret"
"$BIN/qfleet-coordinator" --insecure --listen 127.0.0.1:0 --db "$WORK/state.db" \
  --admin-token-file "$WORK/admin.token" --metrics-listen off --join-secret-file "$WORK/join.secret" \
  --chord-bundle "$WORK/chord.qftc" --chord-backbone "$WORK/backbone.qftc" \
  --chord-data "$WORK/items.txt" 2>"$WORK/coord.log" &
COORD_PID=$!
ADDR=""
for _ in $(seq 1 900); do
  ADDR=$(sed -n 's/.*serving on \([^ ]*\) .*/\1/p' "$WORK/coord.log")
  [ -n "$ADDR" ] && break
  kill -0 "$COORD_PID" 2>/dev/null || break
  sleep 0.1
done
[ -n "$ADDR" ] || { echo "coordinator did not start:"; cat "$WORK/coord.log"; exit 1; }
CTL=("$BIN/qfleetctl" --insecure --coordinator "$ADDR" --admin-token-file "$WORK/admin.token")

# The campaign first: agents started with --exit-when-idle leave an idle fleet.
"${CTL[@]}" rounds start --strategy eval --eval-methods fp32,rtn4,chord --min-devices 3 \
  --budget-bits 3 --deadline-s 120 >"$WORK/start.out"
for u in 3 50 200; do
  "$BIN/qfleet-agent" --insecure --coordinator "$ADDR" --name "rec-$u" --join-secret-file "$WORK/join.secret" \
    --seqrec-data "$WORK/items.txt" --seqrec-user "$u" --exit-when-idle 2>"$WORK/agent-$u.log" &
  AGENT_PIDS+=($!)
done
for p in "${AGENT_PIDS[@]}"; do
  for _ in $(seq 1 1200); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$p" 2>/dev/null; then echo "agent $p did not finish"; cat "$WORK"/agent-*.log; exit 1; fi
  wait "$p" || { echo "agent $p failed"; cat "$WORK"/agent-*.log; exit 1; }
done
AGENT_PIDS=()

python3 - "$WORK" "${CTL[@]}" <<'PY'
import json, subprocess, sys
work, ctl = sys.argv[1], sys.argv[2:]
def run(*args):
    return json.loads(subprocess.check_output(ctl + ["--json"] + list(args)))
rounds = run("rounds", "list")["rounds"]
assert len(rounds) == 3, rounds
for r, method in zip(sorted(rounds, key=lambda r: int(r["round"])), ["fp32", "rtn4", "chord"]):
    assert r["state"] == "done", r
    s = json.loads(r["detail"])
    assert s["reports"] == 3, s
    for k in ("hr5", "hr10", "ndcg5", "ndcg10", "avg_bits"):
        assert k in s, (method, s)
    if method == "rtn4":
        assert s["avg_bits"] == 4, s
    if method == "chord":
        assert 2 < s["avg_bits"] <= 3 + 1e-9, s
        assert s["plan_bytes"] > 0 and s["apply_ms"] > 0, s
devices = run("devices", "list")["devices"]
assert len(devices) == 3, devices
for d in devices:
    p = run("plans", "show", str(d["device_id"]))
    assert p.get("plan"), p
print("chord processes: ok")
PY

# A restart on the same database resumes the same bundle; the same database
# under another embedding mode (another bundle) is refused.
kill "$COORD_PID"; wait "$COORD_PID" 2>/dev/null || true; COORD_PID=""
start_coordinator() {
  "$BIN/qfleet-coordinator" --insecure --listen 127.0.0.1:0 --db "$WORK/state.db" \
    --admin-token-file "$WORK/admin.token" --metrics-listen off \
    --chord-backbone "$WORK/backbone.qftc" --chord-data "$WORK/items.txt" "$@" 2>"$WORK/coord2.log" &
  COORD_PID=$!
  for _ in $(seq 1 900); do
    grep -q "serving on" "$WORK/coord2.log" && return 0
    kill -0 "$COORD_PID" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}
start_coordinator --chord-bundle "$WORK/chord.qftc" || { echo "restart failed:"; cat "$WORK/coord2.log"; exit 1; }
kill "$COORD_PID"; wait "$COORD_PID" 2>/dev/null || true; COORD_PID=""
if start_coordinator --chord-query; then
  echo "coordinator served a query-mode setup from an encoder bundle's database"; exit 1
fi
COORD_PID=""
grep -q "serves another model bundle" "$WORK/coord2.log" || { cat "$WORK/coord2.log"; exit 1; }
echo "chord restarts: ok"
