#!/usr/bin/env bash
# Builds the libFuzzer targets with clang-14 (ASan + UBSan) and runs each for
# SECONDS (default 300), seeded with valid encodings from the replay corpus.
# Usage: tests/fuzz/run_fuzzers.sh [SECONDS] [OUT_DIR]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SECS="${1:-300}"
OUT="${2:-$ROOT/build-fuzz}"
CXX=${CXX:-clang++-14}
if ! command -v "$CXX" >/dev/null; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get install -y -q --no-install-recommends clang-14
fi
mkdir -p "$OUT"
COMMON_SRCS=$(ls "$ROOT"/common/*.cc)
ABSL="-labsl_status -labsl_statusor -labsl_strings -labsl_strings_internal -labsl_str_format_internal \
  -labsl_cord -labsl_cordz_info -labsl_cord_internal -labsl_cordz_functions -labsl_cordz_handle \
  -labsl_synchronization -labsl_time -labsl_time_zone -labsl_int128 -labsl_throw_delegate \
  -labsl_raw_logging_internal -labsl_base -labsl_spinlock_wait -labsl_stacktrace -labsl_symbolize \
  -labsl_debugging_internal -labsl_demangle_internal -labsl_malloc_internal -labsl_graphcycles_internal \
  -labsl_exponential_biased -labsl_log_severity"
FLAGS="-std=c++17 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -I$ROOT"
for target in plan_decode tensor_container; do
  echo "building ${target}_fuzzer"
  # shellcheck disable=SC2086
  $CXX $FLAGS "$ROOT/tests/fuzz/${target}_fuzzer.cc" $COMMON_SRCS -o "$OUT/${target}_fuzzer" \
    $ABSL -lz -lcrypto -lpthread
done
# Seed corpora: valid plans and containers written by the replay test binary.
if [ -x "$ROOT/build/bin/qfleet_common_tests" ]; then
  QFLEET_FUZZ_SEED_DIR="$OUT/seeds" "$ROOT/build/bin/qfleet_common_tests" \
    --gtest_filter='FuzzReplay*' >/dev/null
fi
for target in plan_decode tensor_container; do
  mkdir -p "$OUT/corpus_$target"
  cp "$OUT/seeds/$target"/* "$OUT/corpus_$target/" 2>/dev/null || true
  echo "running ${target}_fuzzer for ${SECS}s"
  "$OUT/${target}_fuzzer" -max_total_time="$SECS" -max_len=65536 -print_final_stats=1 \
    "$OUT/corpus_$target" 2>&1 | tail -12
done
