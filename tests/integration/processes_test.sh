#!/usr/bin/env bash
# Separate processes: a coordinator (TLS with certificates from
# deploy/gen-certs.sh, an admin token, /metrics), a simulated fleet and the
# admin CLI; the coordinator is killed with SIGKILL and restarted on the same
# database, and its devices, finished round and a token revocation must
# still be there. Also checks the programs' errors (bad flag, no TLS
# configured, missing admin token, unreachable coordinator).
# Usage: processes_test.sh BIN_DIR
set -euo pipefail
BIN="$1"
HERE="$(cd "$(dirname "$0")" && pwd)"
DATA=/usr/share/datasets/fashion-mnist
if [ ! -e "$DATA/t10k-labels-idx1-ubyte.gz" ]; then echo "SKIP: no Fashion-MNIST"; exit 0; fi
WORK=$(mktemp -d)
COORD_PID=""
cleanup() { [ -n "$COORD_PID" ] && kill -9 "$COORD_PID" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

bash "$HERE/../../deploy/gen-certs.sh" "$WORK/pki" >/dev/null
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$WORK/admin.token"
TLS=(--tls-ca "$WORK/pki/ca.crt")
CTL=("$BIN/qfleetctl" "${TLS[@]}" --admin-token-file "$WORK/admin.token")

start_coordinator() {
  "$BIN/qfleet-coordinator" --listen 127.0.0.1:0 --db "$WORK/state.db" \
    --tls-cert "$WORK/pki/server.crt" --tls-key "$WORK/pki/server.key" \
    --admin-token-file "$WORK/admin.token" --metrics-listen 127.0.0.1:0 2>"$WORK/coord.log" &
  COORD_PID=$!
  for _ in $(seq 1 200); do
    ADDR=$(sed -n 's/.*serving on \([^ ]*\) .*/\1/p' "$WORK/coord.log")
    METRICS=$(sed -n 's/.*metrics on \(http[^ ]*\)$/\1/p' "$WORK/coord.log")
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

# Revoke one device's token by name.
"${CTL[@]}" --coordinator "$ADDR" tokens revoke sim-0001 | grep -q "is now revoked"

# Prometheus metrics after real traffic.
curl -sf "$METRICS" >"$WORK/metrics.txt"
for m in qfleet_devices_online qfleet_devices_registered qfleet_rounds_completed_total \
         qfleet_rpc_total qfleet_rpc_latency_seconds_bucket qfleet_bytes_received_total \
         qfleet_bytes_sent_total; do
  grep -q "^$m" "$WORK/metrics.txt" || { echo "metric $m missing"; exit 1; }
done
grep -q '^qfleet_rounds_completed_total 1$' "$WORK/metrics.txt"
[ "$(curl -s -o /dev/null -w '%{http_code}' "${METRICS%/metrics}/")" = 404 ]

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
echo "processes test passed"
