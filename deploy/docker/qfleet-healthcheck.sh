#!/bin/sh
# Health check of a qfleet coordinator in the same container or pod: one
# `qfleetctl status` call, over TLS and with the admin token, so it passes
# only when the coordinator accepts connections, completes a TLS handshake
# with the CA operators use, and answers an admin call from its database.
# Exit 0 = healthy. Used by the image's HEALTHCHECK and the Kubernetes
# readiness probe.
#
# Environment (defaults are the image's conventions):
#   QFLEET_HEALTH_ADDR        coordinator address  (127.0.0.1:7070)
#   QFLEET_TLS_CA             CA certificate        (/etc/qfleet/tls/ca.crt)
#   QFLEET_ADMIN_TOKEN_FILE   admin token file      (/etc/qfleet/admin/admin-token)
#   QFLEET_HEALTH_INSECURE=1  the coordinator runs with --insecure
# The server certificate must name 127.0.0.1 (deploy/gen-certs.sh adds it).
set -eu
addr="${QFLEET_HEALTH_ADDR:-127.0.0.1:7070}"
ca="${QFLEET_TLS_CA:-/etc/qfleet/tls/ca.crt}"
token="${QFLEET_ADMIN_TOKEN_FILE:-/etc/qfleet/admin/admin-token}"

set -- --coordinator "$addr" --timeout-ms 5000
if [ "${QFLEET_HEALTH_INSECURE:-0}" = 1 ]; then
  set -- "$@" --insecure
else
  set -- "$@" --tls-ca "$ca"
fi
if [ -r "$token" ]; then
  set -- "$@" --admin-token-file "$token"
fi
exec qfleetctl "$@" status >/dev/null
