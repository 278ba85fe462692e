#!/usr/bin/env bash
# The demo: install dependencies, build, and run a 10-device, 5-round
# federated campaign on Fashion-MNIST through an in-process coordinator.
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/install-deps.sh
bash deploy/build.sh -DQFLEET_BUILD_TESTS=OFF -DQFLEET_BUILD_BENCH=OFF
build/bin/qfleet-sim --devices 10 --rounds 5 --seed 1 --json build/demo.json "$@"
echo "qfleet: results also in build/demo.json"
