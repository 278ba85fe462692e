#!/usr/bin/env bash
# The digits MLP end to end: digits_mlp/run.sh BIN_DIR [OUT_DIR]
# (about a minute on 2 cores; OUT_DIR defaults to ./digits-out).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
[ $# -ge 1 ] || { echo "usage: $0 BIN_DIR [OUT_DIR]" >&2; exit 2; }
exec "$HERE/../byom/run_example.sh" "$HERE" "$1" "${2:-digits-out}" cross_entropy accuracy 0.04 4
