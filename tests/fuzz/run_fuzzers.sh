#!/usr/bin/env bash
# Builds the libFuzzer targets with clang-14 (ASan + UBSan) and runs each for
# SECONDS (default 300), seeded with valid inputs from the replay tests.
# Usage: tests/fuzz/run_fuzzers.sh [SECONDS] [OUT_DIR] [TARGET...]
#   e.g. nice -n 10 tests/fuzz/run_fuzzers.sh 60 build-fuzz upload_stream
#
# Targets:
#   plan_decode, tensor_container   common/ decoders
#   fleet_request                   fleet.v1 unary requests through FleetServiceImpl
#   upload_stream                   UpdateChunk streams through UploadUpdate
#   admin_request                   admin.v1 unary requests through AdminServiceImpl
# The handler targets run against an in-memory coordinator (SQLite
# ":memory:", fake model backend); see tests/fuzz/handler_fuzz_targets.h for
# their input layouts. Seeds come from build/bin/qfleet_common_tests and
# qfleet_cloud_tests (FuzzReplay* / HandlerFuzzReplay*) when those are built.
# JOBS (default 2) compiles in parallel; BUILD_ONLY=1 stops after building.
# A crash leaves crash-* in OUT_DIR.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SECS="${1:-300}"
OUT="${2:-$ROOT/build-fuzz}"
shift $(( $# > 2 ? 2 : $# ))
TARGETS=("$@")
[ ${#TARGETS[@]} -eq 0 ] && TARGETS=(plan_decode tensor_container fleet_request upload_stream admin_request)
JOBS="${JOBS:-2}"
CXX=${CXX:-clang++-14}
if ! command -v "$CXX" >/dev/null; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get install -y -q --no-install-recommends clang-14
fi
mkdir -p "$OUT/obj" "$OUT/gen"
COMMON_SRCS=$(ls "$ROOT"/common/*.cc)
ABSL="-labsl_status -labsl_statusor -labsl_strings -labsl_strings_internal -labsl_str_format_internal \
  -labsl_cord -labsl_cordz_info -labsl_cord_internal -labsl_cordz_functions -labsl_cordz_handle \
  -labsl_synchronization -labsl_time -labsl_time_zone -labsl_int128 -labsl_throw_delegate \
  -labsl_raw_logging_internal -labsl_base -labsl_spinlock_wait -labsl_stacktrace -labsl_symbolize \
  -labsl_debugging_internal -labsl_demangle_internal -labsl_malloc_internal -labsl_graphcycles_internal \
  -labsl_exponential_biased -labsl_log_severity -labsl_hash -labsl_city -labsl_low_level_hash \
  -labsl_raw_hash_set"
SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
FLAGS="-std=c++17 -O1 -g $SAN -I$ROOT -I$OUT/gen"

is_handler() { case "$1" in fleet_request|upload_stream|admin_request) return 0;; *) return 1;; esac; }

# Compiles SRC to $OUT/obj/<path>.o with the coverage hooks but no main
# (-fsanitize=fuzzer-no-link), unless the object is newer than everything
# in its dependency file (written on compile, or by -MM for an old object).
compile_object() {
  local src="$1" o d dep stale=0
  o="$OUT/obj/$(echo "$src" | tr / _).o"
  d="${o%.o}.d"
  if [ -f "$o" ]; then
    # shellcheck disable=SC2086
    [ -f "$d" ] || $CXX $FLAGS -MM -MF "$d" -MT "$o" "$src"
    for dep in $(sed -e 's/^[^:]*://' -e 's/\\$//' "$d"); do
      [ "$dep" -nt "$o" ] && { stale=1; break; }
    done
    [ "$stale" = 0 ] && return 0
  fi
  # shellcheck disable=SC2086
  $CXX $FLAGS -fsanitize=fuzzer-no-link -MMD -MF "$d" -MT "$o" -c "$src" -o "$o"
}
export -f compile_object
export OUT CXX FLAGS

build_handler_objects() {
  # Generated protobuf and gRPC code, as the normal build makes it; files
  # whose content did not change keep their times, so objects are reused.
  rm -rf "$OUT/gen.new" && mkdir -p "$OUT/gen.new"
  protoc -I"$ROOT/protos" --cpp_out="$OUT/gen.new" --grpc_out="$OUT/gen.new" \
    --plugin=protoc-gen-grpc="$(command -v grpc_cpp_plugin)" \
    "$ROOT/protos/qfleet/fleet/v1/fleet.proto" "$ROOT/protos/qfleet/admin/v1/admin.proto"
  (cd "$OUT/gen.new" && find . -type f) | while read -r f; do
    cmp -s "$OUT/gen.new/$f" "$OUT/gen/$f" ||
      { mkdir -p "$(dirname "$OUT/gen/$f")"; cp "$OUT/gen.new/$f" "$OUT/gen/$f"; }
  done
  local srcs
  srcs=$(ls "$ROOT"/common/*.cc "$ROOT"/common/security/*.cc "$ROOT"/kernels/*.cc \
    "$ROOT"/kernels/cpu/*.cc "$ROOT"/cloud/store/*.cc "$ROOT"/cloud/fedhq/*.cc \
    "$ROOT"/cloud/aggregator.cc "$ROOT"/cloud/campaign_config.cc "$ROOT"/cloud/coordinator*.cc \
    "$ROOT"/cloud/metrics/coordinator_metrics.cc "$ROOT"/protos/status_conversion.cc \
    "$ROOT"/cloud/service/{admin_auth,admin_conversions,admin_service_impl}.cc \
    "$ROOT"/cloud/service/{fleet_conversions,fleet_service_impl,upload_assembler}.cc \
    "$ROOT"/tests/fuzz/handler_fuzz_targets.cc "$OUT"/gen/qfleet/*/v1/*.cc)
  echo "building handler objects ($(echo "$srcs" | wc -w) files)"
  echo "$srcs" | xargs -P "$JOBS" -I{} bash -c 'compile_object "$1"' _ {}
}

NEED_HANDLERS=0
for target in "${TARGETS[@]}"; do is_handler "$target" && NEED_HANDLERS=1; done
[ "$NEED_HANDLERS" -eq 1 ] && build_handler_objects

for target in "${TARGETS[@]}"; do
  echo "building ${target}_fuzzer"
  if is_handler "$target"; then
    # shellcheck disable=SC2086
    $CXX $FLAGS -fsanitize=fuzzer "$ROOT/tests/fuzz/${target}_fuzzer.cc" "$OUT"/obj/*.o \
      -o "$OUT/${target}_fuzzer" -lgrpc++ -lgrpc -lgpr -lprotobuf -lsqlite3 -lssl $ABSL \
      -lz -lcrypto -lpthread
  else
    # shellcheck disable=SC2086
    $CXX $FLAGS -fsanitize=fuzzer "$ROOT/tests/fuzz/${target}_fuzzer.cc" $COMMON_SRCS \
      -o "$OUT/${target}_fuzzer" $ABSL -lz -lcrypto -lpthread
  fi
done
[ "${BUILD_ONLY:-0}" = 1 ] && exit 0
# Seed corpora: valid inputs written by the replay test binaries.
if [ -x "$ROOT/build/bin/qfleet_common_tests" ]; then
  QFLEET_FUZZ_SEED_DIR="$OUT/seeds" "$ROOT/build/bin/qfleet_common_tests" \
    --gtest_filter='FuzzReplay*' >/dev/null
fi
if [ "$NEED_HANDLERS" -eq 1 ] && [ -x "$ROOT/build/bin/qfleet_cloud_tests" ]; then
  QFLEET_FUZZ_SEED_DIR="$OUT/seeds" "$ROOT/build/bin/qfleet_cloud_tests" \
    --gtest_filter='HandlerFuzzReplay*' >/dev/null
fi
for target in "${TARGETS[@]}"; do
  mkdir -p "$OUT/corpus_$target"
  cp "$OUT/seeds/$target"/* "$OUT/corpus_$target/" 2>/dev/null || true
  echo "running ${target}_fuzzer for ${SECS}s"
  (cd "$OUT" && "./${target}_fuzzer" -max_total_time="$SECS" -max_len=65536 -print_final_stats=1 \
    "corpus_$target" 2>&1 | tail -12)
done
