#!/usr/bin/env bash
# Configures and builds qfleet into build/ (binaries in build/bin/).
# Usage: deploy/build.sh [extra cmake -D options...]
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS="${QFLEET_JOBS:-$(nproc)}"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release "$@"
cmake --build build -j "$JOBS"
