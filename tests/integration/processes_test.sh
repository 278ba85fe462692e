#!/usr/bin/env bash
# Separate processes: a coordinator (TLS with certificates from
# deploy/gen-certs.sh, an admin token, /metrics), a simulated fleet and the
# admin CLI; the coordinator is killed with SIGKILL and restarted on the same
# database, and its devices, finished round and a token revocation must
# still be there. Then three agent processes run a three-round campaign
# while the coordinator is SIGKILLed and restarted three times, and the
# database must hold exactly one update and one report per device and
# round. Also checks the programs' errors (bad flag, no TLS configured,
# missing admin token, unreachable coordinator, revoked join token, rounds
# cancel of an unknown or finished round).
# Usage: processes_test.sh BIN_DIR
set -euo pipefail
BIN="$1"
HERE="$(cd "$(dirname "$0")" && pwd)"
DATA=/usr/share/datasets/fashion-mnist
if [ ! -e "$DATA/t10k-labels-idx1-ubyte.gz" ]; then echo "SKIP: no Fashion-MNIST"; exit 0; fi
WORK=$(mktemp -d)
COORD_PID=""
AGENT_PIDS=()
cleanup() {
  [ -n "$COORD_PID" ] && kill -9 "$COORD_PID" 2>/dev/null || true
  for p in "${AGENT_PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

bash "$HERE/../../deploy/gen-certs.sh" "$WORK/pki" >/dev/null
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$WORK/admin.token"
TLS=(--tls-ca "$WORK/pki/ca.crt")
CTL=("$BIN/qfleetctl" "${TLS[@]}" --admin-token-file "$WORK/admin.token")

# start_coordinator [DB [LISTEN [EXTRA FLAGS...]]]: sets COORD_PID, ADDR, METRICS.
start_coordinator() {
  local db="${1:-$WORK/state.db}" listen="${2:-127.0.0.1:0}"
  shift $(( $# < 2 ? $# : 2 ))
  "$BIN/qfleet-coordinator" --listen "$listen" --db "$db" \
    --tls-cert "$WORK/pki/server.crt" --tls-key "$WORK/pki/server.key" \
    --admin-token-file "$WORK/admin.token" --metrics-listen 127.0.0.1:0 "$@" 2>"$WORK/coord.log" &
  COORD_PID=$!
  # A loaded machine can take a while (the first start evaluates model v1).
  for _ in $(seq 1 900); do
    ADDR=$(sed -n 's/.*serving on \([^ ]*\) .*/\1/p' "$WORK/coord.log")
    METRICS=$(sed -n 's/.*metrics on \(http[^ ]*\)$/\1/p' "$WORK/coord.log")
    [ -n "$ADDR" ] && return 0
    kill -0 "$COORD_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "coordinator on $db ($listen) did not start:"; cat "$WORK/coord.log"; exit 1
}

# Bad flags: non-zero exit with a one-line reason.
if "$BIN/qfleetctl" --bogus 2>"$WORK/err"; then echo "bad flag accepted"; exit 1; fi
grep -q "error" "$WORK/err"
for p in qfleet-coordinator qfleet-agent qfleet-sim qfleetctl; do
  "$BIN/$p" --help >/dev/null
done
# TLS is the default: no certificate and no --insecure is refused.
if "$BIN/qfleet-coordinator" --db "$WORK/none.db" 2>"$WORK/err"; then
  echo "coordinator started without TLS"; exit 1
fi
grep -q -- "--tls-cert" "$WORK/err"

start_coordinator
grep -q "(TLS)" "$WORK/coord.log"
"$BIN/qfleet-sim" --coordinator "$ADDR" "${TLS[@]}" --admin-token-file "$WORK/admin.token" \
  --devices 4 --rounds 1 --seed 2 --train-limit 2000 --max-steps 5 --quiet >"$WORK/sim.txt"
n=$("${CTL[@]}" --coordinator "$ADDR" devices list --json | grep -c '"device_id"')
[ "$n" = 4 ] || { echo "expected 4 devices, got $n"; exit 1; }

# Admin calls need the token (exit 4) and the CA (a plaintext client cannot connect).
rc=0; "$BIN/qfleetctl" "${TLS[@]}" --coordinator "$ADDR" status 2>"$WORK/err" || rc=$?
[ "$rc" = 4 ] || { echo "admin call without token: exit $rc"; cat "$WORK/err"; exit 1; }
rc=0; "$BIN/qfleetctl" --insecure --admin-token-file "$WORK/admin.token" --coordinator "$ADDR" \
  --timeout-ms 1000 status 2>"$WORK/err" || rc=$?
[ "$rc" = 3 ] || { echo "plaintext client against TLS: exit $rc"; exit 1; }

# Prometheus metrics after real traffic.
curl -sf "$METRICS" >"$WORK/metrics.txt"
for m in qfleet_devices_online qfleet_devices_registered qfleet_rounds_completed_total \
         qfleet_rpc_total qfleet_rpc_latency_seconds_bucket qfleet_bytes_received_total \
         qfleet_bytes_sent_total; do
  grep -q "^$m" "$WORK/metrics.txt" || { echo "metric $m missing"; exit 1; }
done
grep -q '^qfleet_rounds_completed_total 1$' "$WORK/metrics.txt"
[ "$(curl -s -o /dev/null -w '%{http_code}' "${METRICS%/metrics}/")" = 404 ]

# Revoke one device's token by name, then SIGKILL at once: an acknowledged
# revocation is durable (synchronous=FULL).
"${CTL[@]}" --coordinator "$ADDR" tokens revoke sim-0001 | grep -q "is now revoked"
kill -9 "$COORD_PID"; wait "$COORD_PID" 2>/dev/null || true
# Unreachable coordinator: clear message, exit 3.
rc=0; "${CTL[@]}" --coordinator "$ADDR" --timeout-ms 500 devices list 2>"$WORK/err" || rc=$?
[ "$rc" = 3 ] || { echo "unreachable coordinator: exit $rc"; exit 1; }
grep -q "cannot reach" "$WORK/err"

start_coordinator
n=$("${CTL[@]}" --coordinator "$ADDR" devices list --json | grep -c '"device_id"')
[ "$n" = 4 ] || { echo "after restart: expected 4 devices, got $n"; exit 1; }
"${CTL[@]}" --coordinator "$ADDR" rounds list --json | grep -q '"state": "done"' \
  || { echo "finished round lost after restart"; exit 1; }
"${CTL[@]}" --coordinator "$ADDR" devices show 2 --json | grep -q '"state": "revoked"' \
  || { echo "revocation lost after restart"; exit 1; }
"${CTL[@]}" --coordinator "$ADDR" models export 0 --out "$WORK/model.qftc" >/dev/null
[ -s "$WORK/model.qftc" ]
kill -9 "$COORD_PID"; wait "$COORD_PID" 2>/dev/null || true

# --- Repeated SIGKILL mid-round ----------------------------------------------
# A fresh database, three qfleet-agent processes (two enrolled with an
# admin-minted join token, one with the coordinator's --join-secret) and a
# three-round campaign; the coordinator is killed with SIGKILL and restarted
# on the same port three times at different moments. Every round must finish
# with exactly one update and one report per device.
# A generous deadline: agents and evaluations load the machine in this part.
CTL_SLOW=("${CTL[@]}" --timeout-ms 30000)
DB="$WORK/crash.db"
JOIN=join-secret-for-the-test
start_coordinator "$DB" 127.0.0.1:0 --join-secret "$JOIN"
LISTEN="$ADDR"
q() { sqlite3 -cmd ".timeout 2000" "$DB" "$1" 2>/dev/null || echo 0; }
# wait_for SQL MIN: polls until the query's value is at least MIN (180 s:
# a restarted coordinator serves at once and loads its test data after, so
# that load now falls inside these waits, and CI runs tests side by side).
wait_for() {
  for _ in $(seq 1 3600); do
    v=$(q "$1"); [ "${v:-0}" -ge "$2" ] 2>/dev/null && return 0
    sleep 0.05
  done
  echo "timed out waiting for $1 >= $2"; cat "$WORK/coord.log"
  for f in "$WORK"/agent-*.log; do [ -f "$f" ] && { echo "== $f"; tail -5 "$f"; }; done
  exit 1
}
crash_and_restart() {
  kill -9 "$COORD_PID"; wait "$COORD_PID" 2>/dev/null || true
  KILLS=$((KILLS + 1))
  start_coordinator "$DB" "$LISTEN" --join-secret "$JOIN"
  [ "$ADDR" = "$LISTEN" ] || { echo "restarted on $ADDR, not $LISTEN"; exit 1; }
}

"${CTL_SLOW[@]}" --coordinator "$LISTEN" tokens create --label "test agents" --ttl 1h --max-uses 2 \
  >"$WORK/token.txt"
SECRET=$(sed -n 2p "$WORK/token.txt")
[ ${#SECRET} = 64 ] || { echo "no join token secret:"; cat "$WORK/token.txt"; exit 1; }
"${CTL_SLOW[@]}" --coordinator "$LISTEN" rounds start --rounds 3 --min-devices 3 --deadline-s 300 \
  >/dev/null
AGENT_PIDS=()
for i in 0 1 2; do
  secret="$SECRET"; [ "$i" = 2 ] && secret="$JOIN"
  "$BIN/qfleet-agent" --coordinator "$LISTEN" "${TLS[@]}" --name "agent-$i" \
    --shard "iid:60:$i:1" --join-secret "$secret" --exit-when-idle 2>"$WORK/agent-$i.log" &
  AGENT_PIDS+=($!)
done
KILLS=0
wait_for "SELECT count(*) FROM rounds" 1             # round 1 open, tasks handed out
crash_and_restart
wait_for "SELECT count(*) FROM updates" 2            # updates arriving
crash_and_restart
wait_for "SELECT count(*) FROM reports WHERE round >= 2" 1  # a later round reporting
crash_and_restart
wait_for "SELECT count(*) FROM rounds WHERE state = 'done'" 3
for i in 0 1 2; do
  wait "${AGENT_PIDS[$i]}" || { echo "agent $i failed:"; cat "$WORK/agent-$i.log"; exit 1; }
done
[ "$KILLS" = 3 ]
[ "$(q "SELECT count(*) FROM rounds")" = 3 ] || { echo "extra rounds"; exit 1; }
for r in 1 2 3; do
  got=$(q "SELECT (SELECT count(*) FROM participants WHERE round = $r AND status = 'reported')
           || '/' || (SELECT count(*) FROM updates WHERE round = $r)
           || '/' || (SELECT count(*) FROM reports WHERE round = $r AND error = '')
           || '/' || (SELECT count(DISTINCT device_id) FROM updates WHERE round = $r)")
  [ "$got" = "3/3/3/3" ] || { echo "round $r: reported/updates/reports/devices = $got"; exit 1; }
done
[ "$(q "SELECT count(*) FROM model_versions")" = 4 ] || { echo "expected 4 model versions"; exit 1; }
"${CTL_SLOW[@]}" --coordinator "$LISTEN" rounds show 3 --json | grep -q '"updates_accepted": "3"' \
  || { echo "round 3 does not show 3 accepted updates"; exit 1; }

# Join tokens: listed without their secret, spent by new devices, revocable.
"${CTL_SLOW[@]}" --coordinator "$LISTEN" tokens list >"$WORK/tokens.txt"
grep -q "used_up *2/2 .*test agents" "$WORK/tokens.txt" || { cat "$WORK/tokens.txt"; exit 1; }
if grep -q "$SECRET" "$WORK/tokens.txt"; then echo "tokens list printed the secret"; exit 1; fi
"${CTL_SLOW[@]}" --coordinator "$LISTEN" tokens revoke-join 1 | grep -q "join token 1 is now revoked"
rc=0; "$BIN/qfleet-agent" --coordinator "$LISTEN" "${TLS[@]}" --name agent-9 --shard iid:60:9:1 \
  --join-secret "$SECRET" 2>"$WORK/err" || rc=$?
[ "$rc" = 1 ] && grep -q "join token 1 was revoked" "$WORK/err" \
  || { echo "revoked join token: exit $rc"; cat "$WORK/err"; exit 1; }

# rounds cancel: clear errors for an unknown or finished round.
rc=0; "${CTL_SLOW[@]}" --coordinator "$LISTEN" rounds cancel 99 2>"$WORK/err" || rc=$?
[ "$rc" = 1 ] && grep -q "round 99 does not exist" "$WORK/err" || { echo "cancel 99: $rc"; exit 1; }
rc=0; "${CTL_SLOW[@]}" --coordinator "$LISTEN" rounds cancel 3 2>"$WORK/err" || rc=$?
[ "$rc" = 1 ] && grep -q "only an open round" "$WORK/err" || { echo "cancel 3: $rc"; exit 1; }
echo "processes test passed"
