#ifndef QFLEET_KERNELS_CHANNEL_MINMAX_H_
#define QFLEET_KERNELS_CHANNEL_MINMAX_H_

#include <cstddef>

#include "absl/status/status.h"
#include "kernels/device_kind.h"

namespace qfleet::kernels {

// Per-channel statistics of a row-major [channels x row_len] FP32 matrix:
// for channel c, min[c] and max[c] over in[c*row_len .. (c+1)*row_len) and
// absmax[c] = max(|min[c]|, |max[c]|). A zero result is always +0.0 (never
// -0.0), so every implementation returns the same bits; an empty row
// (row_len == 0) gives 0, 0, 0. Each output array (`channels` floats) may be
// null to skip it.
//
// Returns InvalidArgument for a null input (when channels * row_len > 0), an
// element count that overflows, or a NaN/Inf element (the outputs are then
// unspecified); Unimplemented for kCuda unless CudaAvailable(). For kCuda all
// pointers may be host or device memory. Thread-safe; blocks until done.
absl::Status ChannelMinMax(DeviceKind device, const float* in, size_t channels,
                           size_t row_len, float* min, float* max, float* absmax);

// Scalar reference: defines the result. Returns false if an element is NaN
// or infinite (outputs unspecified). Arguments are not checked. Thread-safe.
bool ChannelMinMaxRef(const float* in, size_t channels, size_t row_len, float* min,
                      float* max, float* absmax);

// Fast CPU version (AVX2 when the CPU has it, else portable); same result
// and return value as the reference, bit for bit. Single-threaded; arguments
// are not checked. Thread-safe.
bool ChannelMinMaxCpu(const float* in, size_t channels, size_t row_len, float* min,
                      float* max, float* absmax);

#if defined(QFLEET_WITH_CUDA)
// CUDA version (kernels/cuda/channel_minmax.cu), bit-identical to the
// reference. Returns InvalidArgument for a non-finite element and Internal /
// ResourceExhausted for CUDA errors. Arguments are otherwise not checked.
// Thread-safe; blocks until done.
absl::Status ChannelMinMaxCuda(const float* in, size_t channels, size_t row_len,
                               float* min, float* max, float* absmax);
#endif

}  // namespace qfleet::kernels

#endif  // QFLEET_KERNELS_CHANNEL_MINMAX_H_
