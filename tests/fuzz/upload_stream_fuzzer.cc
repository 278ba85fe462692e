// libFuzzer target: a sequence of UpdateChunk messages streamed
// through FleetServiceImpl's UploadUpdate (UploadAssembler, kept prefixes)
// against an in-memory coordinator, under ASan/UBSan. See
// handler_fuzz_targets.h for the input layout; run with run_fuzzers.sh.
#include <cstddef>
#include <cstdint>

#include "tests/fuzz/handler_fuzz_targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return qfleet::cloud::fuzz::FuzzUploadStream(data, size);
}
