#!/usr/bin/env bash
# The test command: install dependencies, build everything with tests, run
# the whole suite with CTest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/install-deps.sh
bash deploy/build.sh -DQFLEET_BUILD_TESTS=ON
cd build
ctest --output-on-failure -j "${QFLEET_JOBS:-$(nproc)}" --timeout 600
