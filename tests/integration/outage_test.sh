#!/usr/bin/env bash
# Clients ride through coordinator outages (issue 30). A separate coordinator
# process is SIGKILLed twice in the middle of a campaign and restarted on the
# same port and database after an outage longer than its start time:
#   1. qfleet-sim (virtual devices + the campaign driver) must finish every
#      round with the accuracies of an uninterrupted run of the same seed;
#   2. the same for three qfleet-agent daemons.
# Also: the coordinator reports readiness through the gRPC health service
# (qfleetctl health) within 2 s of its start, and a client gives up with a
# clear message after --max-outage.
# Usage: outage_test.sh BIN_DIR
set -euo pipefail
BIN="$1"
DATA=/usr/share/datasets/fashion-mnist
if [ ! -e "$DATA/t10k-labels-idx1-ubyte.gz" ]; then echo "SKIP: no Fashion-MNIST"; exit 0; fi
WORK=$(mktemp -d)
COORD_PID=""
PIDS=()
cleanup() {
  [ -n "$COORD_PID" ] && kill -9 "$COORD_PID" 2>/dev/null || true
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
OUTAGE_S=3  # each outage; must exceed the coordinator's start time

# start_coordinator DB LISTEN: sets COORD_PID and ADDR once the health
# service answers SERVING; fails if that takes longer than the outage.
STARTS=0
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$WORK/join.secret"
start_coordinator() {
  local db="$1" listen="$2"
  STARTS=$((STARTS + 1))
  LOG="$WORK/coord-$STARTS.log"
  local t0 t1
  t0=$(date +%s%3N)
  "$BIN/qfleet-coordinator" --listen "$listen" --db "$db" --insecure --metrics-listen off \
    --join-secret-file "$WORK/join.secret" 2>"$LOG" &
  COORD_PID=$!
  ADDR=""
  for _ in $(seq 1 300); do
    ADDR=$(sed -n 's/.*serving on \([^ ]*\) .*/\1/p' "$LOG")
    [ -n "$ADDR" ] && break
    kill -0 "$COORD_PID" 2>/dev/null || { echo "coordinator died:"; cat "$LOG"; exit 1; }
    sleep 0.05
  done
  [ -n "$ADDR" ] || { echo "coordinator did not start:"; cat "$LOG"; exit 1; }
  "$BIN/qfleetctl" --insecure --coordinator "$ADDR" health --wait 20s >/dev/null
  t1=$(date +%s%3N)
  # From launch to SERVING on the health service, process loading included.
  [ $((t1 - t0)) -lt $((OUTAGE_S * 1000)) ] || { echo "start took $((t1 - t0)) ms"; exit 1; }
  echo "coordinator on $(basename "$db") serving $((t1 - t0)) ms after launch"
}
# An unused loopback port: a coordinator on port 0, stopped.
pick_port() {
  start_coordinator "$WORK/probe.db" 127.0.0.1:0
  kill -9 "$COORD_PID"; wait "$COORD_PID" 2>/dev/null || true
  PORT_ADDR="$ADDR"
}
kill_coordinator() { kill -9 "$COORD_PID"; wait "$COORD_PID" 2>/dev/null || true; }
q() { sqlite3 -cmd ".timeout 2000" "$1" "$2" 2>/dev/null || echo 0; }
# wait_for DB SQL MIN: polls until the query's value is at least MIN (120 s).
wait_for() {
  for _ in $(seq 1 2400); do
    v=$(q "$1" "$2"); [ "${v:-0}" -ge "$3" ] 2>/dev/null && return 0
    sleep 0.05
  done
  echo "timed out waiting for $2 >= $3"; tail -20 "$LOG"; exit 1
}
outage() {  # outage DB: SIGKILL, wait OUTAGE_S, restart on the same port
  kill_coordinator
  sleep "$OUTAGE_S"
  start_coordinator "$1" "$PORT_ADDR"
}
accuracies() { q "$1" "SELECT group_concat(round || ':' || acc_fp32 || ':' || acc_q8, ' ')
                       FROM (SELECT * FROM rounds ORDER BY round)"; }

pick_port
SIM=(--devices 4 --rounds 4 --seed 3 --train-limit 2000 --max-steps 20 --insecure --quiet)

# --- 1. qfleet-sim ---------------------------------------------------------------
start_coordinator "$WORK/sim-base.db" "$PORT_ADDR"
"$BIN/qfleet-sim" --coordinator "$PORT_ADDR" "${SIM[@]}" >"$WORK/sim-base.txt"
kill_coordinator
BASE=$(accuracies "$WORK/sim-base.db")

DB="$WORK/sim-crash.db"
start_coordinator "$DB" "$PORT_ADDR"
"$BIN/qfleet-sim" --coordinator "$PORT_ADDR" "${SIM[@]}" --max-outage 2m \
  >"$WORK/sim-crash.txt" 2>"$WORK/sim-crash.err" &
SIM_PID=$!; PIDS+=("$SIM_PID")
wait_for "$DB" "SELECT count(*) FROM rounds" 1                      # round 1 handed out
outage "$DB"
wait_for "$DB" "SELECT count(*) FROM rounds WHERE state = 'done'" 2  # mid-campaign
wait_for "$DB" "SELECT count(*) FROM rounds" 3
outage "$DB"
wait "$SIM_PID" || { echo "qfleet-sim failed:"; cat "$WORK/sim-crash.err"; exit 1; }
kill_coordinator
CRASH=$(accuracies "$DB")
[ "$BASE" = "$CRASH" ] || { echo "accuracies differ: '$BASE' vs '$CRASH'"; exit 1; }
[ "$(q "$DB" "SELECT count(*) FROM rounds WHERE state = 'done'")" = 4 ]
grep -q "lost the coordinator" "$WORK/sim-crash.err" || { echo "no outage seen by the sim"; exit 1; }
echo "qfleet-sim rode through 2 outages: $CRASH"

# --- 2. qfleet-agent daemons -------------------------------------------------------
# run_agents DB: a 3-round campaign for three agents registered in order.
run_agents() {
  local db="$1"
  "$BIN/qfleetctl" --insecure --coordinator "$PORT_ADDR" --timeout-ms 30000 \
    rounds start --rounds 3 --min-devices 3 >/dev/null
  AGENTS=()
  for i in 0 1 2; do
    "$BIN/qfleet-agent" --coordinator "$PORT_ADDR" --insecure --join-secret-file "$WORK/join.secret" --name "agent-$i" \
      --shard "iid:60:$i:1" --exit-when-idle --max-outage 2m 2>"$WORK/agent-$i.log" &
    AGENTS+=($!); PIDS+=($!)
    wait_for "$db" "SELECT count(*) FROM devices" $((i + 1))  # ids follow the shards
  done
}
wait_agents() {
  for i in 0 1 2; do
    wait "${AGENTS[$i]}" || { echo "agent $i failed:"; cat "$WORK/agent-$i.log"; exit 1; }
  done
}
start_coordinator "$WORK/agents-base.db" "$PORT_ADDR"
run_agents "$WORK/agents-base.db"
wait_agents
kill_coordinator
BASE=$(accuracies "$WORK/agents-base.db")

DB="$WORK/agents-crash.db"
start_coordinator "$DB" "$PORT_ADDR"
run_agents "$DB"
wait_for "$DB" "SELECT count(*) FROM updates" 1                       # uploads arriving
outage "$DB"
wait_for "$DB" "SELECT count(*) FROM rounds WHERE state = 'done'" 1
wait_for "$DB" "SELECT count(*) FROM rounds" 2
outage "$DB"
wait_agents
CRASH=$(accuracies "$DB")
[ "$BASE" = "$CRASH" ] || { echo "agent accuracies differ: '$BASE' vs '$CRASH'"; exit 1; }
[ "$(q "$DB" "SELECT count(*) FROM rounds WHERE state = 'done'")" = 3 ]
echo "qfleet-agent daemons rode through 2 outages: $CRASH"
kill_coordinator

# --- 3. Giving up --------------------------------------------------------------------
# Nothing listens on the port: the agent retries, then says why it stopped.
rc=0
"$BIN/qfleet-agent" --coordinator "$PORT_ADDR" --insecure --join-secret-file "$WORK/join.secret" --name late --shard iid:60:5:1 \
  --max-outage 2s 2>"$WORK/giveup.log" || rc=$?
[ "$rc" = 1 ] && grep -q "unreachable for .*--max-outage" "$WORK/giveup.log" \
  || { echo "agent did not give up clearly (exit $rc):"; cat "$WORK/giveup.log"; exit 1; }
echo "outage test passed"
