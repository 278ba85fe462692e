#include "common/tensor.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/bit_packing.h"
#include "common/status_macros.h"

namespace qfleet {
namespace {

absl::Status Invalid(const Tensor& t, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("tensor '", t.name, "': ", what));
}

// Sum over channels of the packed row sizes; bits must already be valid.
int64_t ExpectedPackedBytes(const Tensor& t) {
  const size_t row = static_cast<size_t>(t.RowLength());
  int64_t total = 0;
  for (uint8_t b : t.bits) total += static_cast<int64_t>(PackedBytes(row, b));
  return total;
}

absl::Status ValidateShape(const Tensor& t) {
  if (t.shape.size() > kMaxTensorDims) {
    return Invalid(t, absl::StrFormat("rank %d exceeds the maximum of %d", t.shape.size(),
                                      kMaxTensorDims));
  }
  int64_t product = 1;
  for (size_t i = 0; i < t.shape.size(); ++i) {
    const int64_t d = t.shape[i];
    if (d < 0) return Invalid(t, absl::StrFormat("shape[%d] = %d is negative", i, d));
    if (d > kMaxTensorElements) {
      return Invalid(t, absl::StrFormat("shape[%d] = %d exceeds %d", i, d, kMaxTensorElements));
    }
    product *= d;  // both factors <= 2^31, so no overflow
    if (product > kMaxTensorElements) {
      return Invalid(t, absl::StrFormat("element count exceeds the limit of %d",
                                        kMaxTensorElements));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateFloat32(const Tensor& t) {
  const int64_t n = t.NumElements();
  if (static_cast<int64_t>(t.values.size()) != n) {
    return Invalid(t, absl::StrFormat("has %d values, shape needs %d", t.values.size(), n));
  }
  for (size_t i = 0; i < t.values.size(); ++i) {
    if (!std::isfinite(t.values[i])) {
      return Invalid(t, absl::StrFormat("values[%d] is %s", i,
                                        std::isnan(t.values[i]) ? "NaN" : "infinite"));
    }
  }
  if (!t.bits.empty() || !t.scales.empty() || !t.zero_points.empty() || !t.packed.empty()) {
    return Invalid(t, "kFloat32 tensor must have empty bits/scales/zero_points/packed");
  }
  return absl::OkStatus();
}

absl::Status ValidatePacked(const Tensor& t) {
  const int64_t channels = t.Channels();
  if (!t.values.empty()) return Invalid(t, "kPackedPerChannel tensor must have empty values");
  if (static_cast<int64_t>(t.bits.size()) != channels ||
      static_cast<int64_t>(t.scales.size()) != channels ||
      static_cast<int64_t>(t.zero_points.size()) != channels) {
    return Invalid(t, absl::StrFormat("bits/scales/zero_points sizes %d/%d/%d must all equal "
                                      "the channel count %d",
                                      t.bits.size(), t.scales.size(), t.zero_points.size(),
                                      channels));
  }
  for (int64_t c = 0; c < channels; ++c) {
    const int bits = t.bits[c];
    if (bits < 1 || bits > 8) {
      return Invalid(t, absl::StrFormat("bits[%d] = %d not in 1..8", c, bits));
    }
    const float s = t.scales[c];
    if (!std::isfinite(s) || !(s > 0.0f)) {
      return Invalid(t, absl::StrFormat("scales[%d] = %g must be finite and > 0", c, s));
    }
    const int32_t z = t.zero_points[c];
    if (z < 0 || z > (1 << bits) - 1) {
      return Invalid(t, absl::StrFormat("zero_points[%d] = %d not in [0, %d]", c, z,
                                        (1 << bits) - 1));
    }
  }
  const int64_t expected = ExpectedPackedBytes(t);
  if (static_cast<int64_t>(t.packed.size()) != expected) {
    return Invalid(t, absl::StrFormat("packed has %d bytes, bits and shape need %d",
                                      t.packed.size(), expected));
  }
  return absl::OkStatus();
}

}  // namespace

int64_t Tensor::NumElements() const {
  int64_t product = 1;
  for (int64_t d : shape) {
    if (d < 0 || d > kMaxTensorElements) return -1;
    product *= d;
    if (product > kMaxTensorElements) return -1;
  }
  return product;
}

int64_t Tensor::Channels() const { return shape.empty() ? 1 : shape[0]; }

int64_t Tensor::RowLength() const {
  const int64_t n = NumElements();
  if (n < 0) return -1;
  const int64_t channels = Channels();
  return channels <= 0 ? 0 : n / channels;
}

absl::Status ValidateTensor(const Tensor& t) {
  if (t.name.empty() || t.name.size() > kMaxTensorNameBytes) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "tensor name length %d not in [1, %d]", t.name.size(), kMaxTensorNameBytes));
  }
  RETURN_IF_ERROR(ValidateShape(t));
  switch (t.dtype) {
    case DType::kFloat32:
      return ValidateFloat32(t);
    case DType::kPackedPerChannel:
      return ValidatePacked(t);
  }
  return Invalid(t, absl::StrFormat("unknown dtype %d", static_cast<int>(t.dtype)));
}

absl::StatusOr<std::vector<float>> DequantizeTensor(const Tensor& t) {
  RETURN_IF_ERROR(ValidateTensor(t));
  if (t.dtype == DType::kFloat32) return t.values;

  const int64_t channels = t.Channels();
  const size_t row = static_cast<size_t>(t.RowLength());
  std::vector<float> out(static_cast<size_t>(t.NumElements()));
  std::vector<uint8_t> codes(row);
  size_t offset = 0;
  for (int64_t c = 0; c < channels; ++c) {
    const int bits = t.bits[c];
    UnpackBits(t.packed.data() + offset, row, bits, codes.data());
    offset += PackedBytes(row, bits);
    const float scale = t.scales[c];
    const int32_t zero = t.zero_points[c];
    float* dst = out.data() + static_cast<size_t>(c) * row;
    for (size_t i = 0; i < row; ++i) {
      dst[i] = static_cast<float>(static_cast<int32_t>(codes[i]) - zero) * scale;
    }
  }
  return out;
}

}  // namespace qfleet
