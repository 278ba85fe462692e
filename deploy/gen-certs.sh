#!/usr/bin/env bash
# Makes a private PKI for a qfleet deployment with the openssl CLI: a local
# CA, a server certificate and a client certificate (for mutual TLS), all
# ECDSA P-256, valid 825 days.
#   OUTDIR/ca.crt                    the CA (give it to agents and qfleetctl: --tls-ca)
#   OUTDIR/ca.key                    the CA key (keep offline; signs more certificates)
#   OUTDIR/server.crt, server.key    coordinator: --tls-cert / --tls-key
#   OUTDIR/client.crt, client.key    clients under mutual TLS: --tls-cert / --tls-key
# The server certificate names DNS:localhost and IP:127.0.0.1 plus every
# extra NAME given (an IPv4/IPv6 address becomes an IP SAN, anything else a
# DNS SAN) — list the names agents use to reach the coordinator.
# Usage: deploy/gen-certs.sh OUTDIR [NAME...]
set -euo pipefail
if [ $# -lt 1 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then
  sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
  [ $# -ge 1 ] && exit 0 || exit 2
fi
OUT="$1"
shift
command -v openssl >/dev/null || { echo "gen-certs.sh: openssl not found (apt-get install openssl)" >&2; exit 1; }
mkdir -p "$OUT"
umask 077
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

SAN="DNS:localhost,IP:127.0.0.1"
for name in "$@"; do
  if [[ "$name" =~ ^[0-9.]+$ || "$name" == *:* ]]; then
    SAN="$SAN,IP:$name"
  else
    SAN="$SAN,DNS:$name"
  fi
done

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

# CA.
key "$OUT/ca.key"
openssl req -x509 -new -key "$OUT/ca.key" -sha256 -days 825 -subj "/O=qfleet/CN=qfleet local CA" \
  -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -out "$OUT/ca.crt"

# Signs CSR $1 with the CA into $2 using extensions file $3.
sign() {
  openssl x509 -req -in "$1" -CA "$OUT/ca.crt" -CAkey "$OUT/ca.key" -CAcreateserial \
    -CAserial "$TMP/ca.srl" -days 825 -sha256 -extfile "$3" -out "$2" 2>/dev/null
}

# Server.
key "$OUT/server.key"
openssl req -new -key "$OUT/server.key" -subj "/O=qfleet/CN=localhost" -out "$TMP/server.csr"
cat >"$TMP/server.ext" <<EXT
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyAgreement
extendedKeyUsage=serverAuth
subjectAltName=$SAN
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
EXT
sign "$TMP/server.csr" "$OUT/server.crt" "$TMP/server.ext"

# Client.
key "$OUT/client.key"
openssl req -new -key "$OUT/client.key" -subj "/O=qfleet/CN=qfleet-client" -out "$TMP/client.csr"
cat >"$TMP/client.ext" <<EXT
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyAgreement
extendedKeyUsage=clientAuth
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
EXT
sign "$TMP/client.csr" "$OUT/client.crt" "$TMP/client.ext"

chmod 644 "$OUT/ca.crt" "$OUT/server.crt" "$OUT/client.crt"
chmod 600 "$OUT/ca.key" "$OUT/server.key" "$OUT/client.key"
openssl verify -CAfile "$OUT/ca.crt" "$OUT/server.crt" "$OUT/client.crt" >/dev/null
echo "gen-certs.sh: wrote ca.crt, server.crt/.key (SAN $SAN), client.crt/.key to $OUT"
