#ifndef QFLEET_DEVICE_PROFILE_PROBE_H_
#define QFLEET_DEVICE_PROFILE_PROBE_H_

#include <cstdint>

namespace qfleet::device {

// Sustained single-thread FP32 matmul throughput in GFLOP/s, measured by
// timing LibTorch matmuls for about `budget_ms`. Thread-safe.
double MeasureMatmulGflops(int64_t budget_ms = 150);

// Memory available to this process in MiB (MemAvailable from /proc/meminfo,
// else physical memory). Returns 0 when neither can be read.
uint64_t AvailableMemoryMib();

}  // namespace qfleet::device

#endif  // QFLEET_DEVICE_PROFILE_PROBE_H_
