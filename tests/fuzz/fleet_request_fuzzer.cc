// libFuzzer target: a fleet.v1 request (Register, Heartbeat, PullTask,
// DownloadModel, SubmitReport, UploadStatus) decoded and run through
// FleetServiceImpl's handlers
// against an in-memory coordinator, under ASan/UBSan. See
// handler_fuzz_targets.h for the input layout; run with run_fuzzers.sh.
#include <cstddef>
#include <cstdint>

#include "tests/fuzz/handler_fuzz_targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return qfleet::cloud::fuzz::FuzzFleetRequest(data, size);
}
