#ifndef QFLEET_COMMON_TENSOR_H_
#define QFLEET_COMMON_TENSOR_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace qfleet {

// Limits every Tensor must respect (checked by ValidateTensor and by the
// container decoder before it allocates anything).
constexpr size_t kMaxTensorNameBytes = 255;
constexpr size_t kMaxTensorDims = 8;
constexpr int64_t kMaxTensorElements = int64_t{1} << 31;

// Element type of a Tensor. The numeric values are part of the container
// format (u8 dtype field) and must never be renumbered.
enum class DType : uint8_t { kFloat32 = 0, kPackedPerChannel = 1 };

// A named dense tensor, either plain float32 or quantized per output channel.
// Output channels are shape[0] (a scalar has one channel of one element);
// a channel's row is the RowLength() consecutive row-major elements.
//
// kPackedPerChannel: element j of channel c has code q in 0..2^bits[c]-1 and
// value (q - zero_points[c]) * scales[c]. `packed` holds the channel rows one
// after another; row c starts on a byte boundary and is
// PackedBytes(RowLength(), bits[c]) bytes in the PackBits layout
// (common/bit_packing.h). `values` is empty for packed tensors and the
// per-channel vectors and `packed` are empty for kFloat32.
struct Tensor {
  std::string name;            // 1..255 bytes, unique within a container
  DType dtype = DType::kFloat32;
  std::vector<int64_t> shape;  // 0..8 dims, each >= 0
  std::vector<float> values;   // kFloat32: NumElements() values, row-major

  std::vector<uint8_t> bits;         // kPackedPerChannel: 1..8 per channel
  std::vector<float> scales;         // kPackedPerChannel: > 0 and finite
  std::vector<int32_t> zero_points;  // kPackedPerChannel: 0..2^bits[c]-1
  std::vector<uint8_t> packed;       // kPackedPerChannel: rows, see above

  // Product of the dims (1 for a scalar); -1 if a dim is negative or the
  // product exceeds kMaxTensorElements. Thread-compatible.
  int64_t NumElements() const;
  // shape[0], or 1 for a scalar. Thread-compatible.
  int64_t Channels() const;
  // NumElements() / Channels(); 0 when there are no channels, -1 when
  // NumElements() is -1. Thread-compatible.
  int64_t RowLength() const;
};

// Checks every invariant documented on Tensor: name length, dtype, rank, dim
// values and element limit, value count, NaN/Inf in values or scales, per-
// channel vector sizes, bits range, scale > 0, zero point range and packed
// byte count. Returns InvalidArgument naming the tensor and the first
// violated field. Thread-safe.
absl::Status ValidateTensor(const Tensor& t);

// Returns the float values of `t`: a copy of `values` for kFloat32, and
// (q - zero_point) * scale per element for kPackedPerChannel (the same
// float expression as DequantizeValue in common/quantizer.h). Returns
// InvalidArgument if ValidateTensor fails. Thread-safe.
absl::StatusOr<std::vector<float>> DequantizeTensor(const Tensor& t);

}  // namespace qfleet

#endif  // QFLEET_COMMON_TENSOR_H_
