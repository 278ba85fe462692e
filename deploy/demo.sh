#!/usr/bin/env bash
# The demo: install dependencies, build, make a local CA and certificates
# (deploy/gen-certs.sh) and an admin token, start qfleet-coordinator with
# TLS, the token and /metrics, and run a 10-device, 5-round federated
# campaign on Fashion-MNIST against it (every virtual device is its own TLS
# gRPC client); then show `qfleetctl status` and the coordinator's metrics.
# Extra arguments go to qfleet-sim. QFLEET_DEMO_NO_BUILD=1 skips the
# package install and the build.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${QFLEET_DEMO_NO_BUILD:-}" ]; then
  bash deploy/install-deps.sh
  bash deploy/build.sh -DQFLEET_BUILD_TESTS=OFF -DQFLEET_BUILD_BENCH=OFF
fi
DEMO=build/demo
mkdir -p "$DEMO"
[ -s "$DEMO/pki/server.crt" ] || bash deploy/gen-certs.sh "$DEMO/pki"
if [ ! -s "$DEMO/admin.token" ]; then
  (umask 077; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$DEMO/admin.token")
fi
rm -rf "$DEMO/coordinator.db" "$DEMO/coordinator.db-"* "$DEMO/coordinator.db.blobs"

build/bin/qfleet-coordinator --listen 127.0.0.1:0 --db "$DEMO/coordinator.db" --seed 1 \
  --tls-cert "$DEMO/pki/server.crt" --tls-key "$DEMO/pki/server.key" \
  --admin-token-file "$DEMO/admin.token" --metrics-listen 127.0.0.1:0 2>"$DEMO/coordinator.log" &
COORD_PID=$!
trap 'kill "$COORD_PID" 2>/dev/null || true; wait "$COORD_PID" 2>/dev/null || true' EXIT
ADDR=""
for _ in $(seq 1 300); do
  ADDR=$(sed -n 's/.*serving on \([^ ]*\) .*/\1/p' "$DEMO/coordinator.log")
  [ -n "$ADDR" ] && break
  kill -0 "$COORD_PID" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$ADDR" ]; then
  echo "qfleet: the coordinator did not start:"; cat "$DEMO/coordinator.log"; exit 1
fi
METRICS=$(sed -n 's/.*metrics on \(http[^ ]*\)$/\1/p' "$DEMO/coordinator.log")
echo "qfleet: coordinator on $ADDR (TLS, CA $DEMO/pki/ca.crt), metrics at $METRICS"

CLIENT=(--coordinator "$ADDR" --tls-ca "$DEMO/pki/ca.crt" --admin-token-file "$DEMO/admin.token")
build/bin/qfleet-sim "${CLIENT[@]}" --devices 10 --rounds 5 --seed 1 --json build/demo.json "$@"
build/bin/qfleetctl "${CLIENT[@]}" status
if command -v curl >/dev/null; then
  curl -sf "$METRICS" | grep -E '^qfleet_(devices|rounds|bytes)|^qfleet_rpc_total' || true
fi
echo "qfleet: results also in build/demo.json; coordinator log in $DEMO/coordinator.log"
