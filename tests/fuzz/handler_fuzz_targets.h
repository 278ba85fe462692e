#ifndef QFLEET_TESTS_FUZZ_HANDLER_FUZZ_TARGETS_H_
#define QFLEET_TESTS_FUZZ_HANDLER_FUZZ_TARGETS_H_

// The bodies of the service-handler fuzzers: each takes arbitrary bytes,
// decodes them as request messages and runs them through the real
// FleetServiceImpl / AdminServiceImpl handlers (conversions, validation,
// coordinator and SQLite store) of one in-memory coordinator per process.
// The libFuzzer mains (*_fuzzer.cc) and the GoogleTest replay
// (tests/cloud/service/handler_fuzz_replay_test.cc) both call them.
// Each returns 0; a broken invariant aborts. Not thread-safe.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace qfleet::cloud::fuzz {

// data[0] picks the fleet RPC (Register, Heartbeat, PullTask,
// DownloadModel, SubmitReport, UploadStatus, RequestPlan) and data[1] the
// caller (device A, device B, or a wrong token; whether device_id is
// forced to the caller's); the rest is the request message.
int FuzzFleetRequest(const uint8_t* data, size_t size);

// data[0] holds flags (fix header ids / CRCs / total_bytes+sha256 so the
// stream gets deep); the rest is a sequence of [u16 little-endian length]
// [UpdateChunk bytes] streamed to UploadUpdate.
int FuzzUploadStream(const uint8_t* data, size_t size);

// data[0] picks the admin RPC (every one, ExportModel included) and its
// top bit a wrong admin token; the rest is the request.
int FuzzAdminRequest(const uint8_t* data, size_t size);

// Drops the coordinator; the next input starts from a fresh one.
void ResetFleet();

// Handler calls that returned OK so far in this process (all targets).
int64_t SucceededCalls();

// Valid inputs for each target (seed corpora; handler_fuzz_seeds.cc), built
// against the same coordinator layout.
std::vector<std::string> FleetRequestSeeds();
std::vector<std::string> UploadStreamSeeds();
std::vector<std::string> AdminRequestSeeds();

}  // namespace qfleet::cloud::fuzz

#endif  // QFLEET_TESTS_FUZZ_HANDLER_FUZZ_TARGETS_H_
