#ifndef QFLEET_COMMON_MATRYOSHKA_H_
#define QFLEET_COMMON_MATRYOSHKA_H_

#include <vector>

#include "absl/status/statusor.h"
#include "common/tensor.h"

namespace qfleet {

// Matryoshka-style slicing (MatGPTQ): one stored 8-bit per-channel model
// serves lower precisions by keeping the most significant bits of each code.
//
// For a channel stored at 8 bits with (scale s, zero z) and a target of b
// bits, with shift k = 8 - b:
//   zero_b  = min(round(z / 2^k), 2^b - 1)
//   q_b     = clamp(zero_b + round((q_8 - z) / 2^k), 0, 2^b - 1)
//   scale_b = s * 2^k
// i.e. the b most significant bits of the code measured from its zero
// point, so (q_b - zero_b) * scale_b approximates (q_8 - z) * s within half
// a b-bit step. A channel sliced to 8 bits is returned unchanged.

// Slices `packed8` (kPackedPerChannel, every channel at 8 bits) to the
// per-channel `bits` (size 1 = all channels, or one per channel; 1..8).
// InvalidArgument when the tensor is not an 8-bit packed tensor or bits are
// out of range. Thread-safe.
absl::StatusOr<Tensor> SliceToBits(const Tensor& packed8, const std::vector<int>& bits);

}  // namespace qfleet

#endif  // QFLEET_COMMON_MATRYOSHKA_H_
