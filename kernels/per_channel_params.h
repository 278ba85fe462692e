#ifndef QFLEET_KERNELS_PER_CHANNEL_PARAMS_H_
#define QFLEET_KERNELS_PER_CHANNEL_PARAMS_H_

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"

namespace qfleet::kernels {

// Per-channel quantization parameters of a row-major [channels x row_len]
// matrix, as three parallel arrays of `channels` entries: the same types and
// meaning as Tensor::bits / scales / zero_points (common/tensor.h), so a
// kPackedPerChannel tensor's vectors can be passed as they are. Not owned:
// the arrays must outlive the call they are passed to.
struct PerChannelParams {
  const uint8_t* bits = nullptr;         // each in 1..8
  const float* scales = nullptr;         // each > 0 and finite
  const int32_t* zero_points = nullptr;  // each in 0..2^bits[c]-1
};

// Checks that channels * row_len * sizeof(float) fits in size_t and that
// each pointer is non-null unless what it covers is empty (`in` and `out`
// cover channels * row_len floats; either may be passed as a dummy non-null
// pointer when unused). Returns InvalidArgument naming `op`. Thread-safe.
absl::Status ValidateMatrixArgs(const char* op, const void* in, const void* out,
                                size_t channels, size_t row_len);

// Checks every channel's entry of `p`: non-null arrays (when channels > 0),
// bits in 1..8, scale finite and > 0, zero point in 0..2^bits-1. Returns
// InvalidArgument naming `op` and the first bad channel. Thread-safe.
absl::Status ValidatePerChannelParams(const char* op, const PerChannelParams& p,
                                      size_t channels);

// Returns InvalidArgument naming `op` when [a, a + a_bytes) and
// [b, b + b_bytes) overlap, except that a == b is allowed when
// `allow_identical` (element-wise kernels may run in place). Thread-safe.
absl::Status ValidateNoPartialOverlap(const char* op, const void* a, size_t a_bytes,
                                      const void* b, size_t b_bytes, bool allow_identical);

// Bytes of the packed rows of a [channels x row_len] matrix with bit-width
// bits[c] for channel c: the sum of PackedBytes(row_len, bits[c]) (the
// kPackedPerChannel layout). Returns SIZE_MAX if the sum overflows and 0 if a
// bit-width is outside 1..8 (callers validate the bits first). Thread-safe.
size_t PackedRowsBytes(size_t row_len, const uint8_t* bits, size_t channels);

}  // namespace qfleet::kernels

#endif  // QFLEET_KERNELS_PER_CHANNEL_PARAMS_H_
