// libFuzzer target: an admin.v1 request decoded and run through
// AdminServiceImpl's unary handlers
// against an in-memory coordinator, under ASan/UBSan. See
// handler_fuzz_targets.h for the input layout; run with run_fuzzers.sh.
#include <cstddef>
#include <cstdint>

#include "tests/fuzz/handler_fuzz_targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return qfleet::cloud::fuzz::FuzzAdminRequest(data, size);
}
