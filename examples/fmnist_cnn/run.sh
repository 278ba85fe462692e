#!/usr/bin/env bash
# The Fashion-MNIST CNN end to end: fmnist_cnn/run.sh BIN_DIR [OUT_DIR]
# (a few minutes on 2 cores; OUT_DIR defaults to ./fmnist-out).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
[ $# -ge 1 ] || { echo "usage: $0 BIN_DIR [OUT_DIR]" >&2; exit 2; }
exec "$HERE/../byom/run_example.sh" "$HERE" "$1" "${2:-fmnist-out}" cross_entropy accuracy 0.05 32
