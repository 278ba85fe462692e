#include "common/matryoshka.h"

#include <algorithm>

#include "absl/strings/str_format.h"
#include "common/bit_packing.h"
#include "common/status_macros.h"

namespace qfleet {

absl::StatusOr<Tensor> SliceToBits(const Tensor& packed8, const std::vector<int>& bits) {
  RETURN_IF_ERROR(ValidateTensor(packed8));
  if (packed8.dtype != DType::kPackedPerChannel) {
    return absl::InvalidArgumentError("slicing needs a packed per-channel tensor");
  }
  const int64_t channels = packed8.Channels();
  const int64_t row = packed8.RowLength();
  for (int64_t c = 0; c < channels; ++c) {
    if (packed8.bits[c] != 8) {
      return absl::InvalidArgumentError(
          absl::StrFormat("channel %d of '%s' is stored at %d bits, not 8", c, packed8.name,
                          packed8.bits[c]));
    }
  }
  if (bits.size() != 1 && static_cast<int64_t>(bits.size()) != channels) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%d bit-widths for %d channels of '%s'", bits.size(), channels, packed8.name));
  }
  Tensor out;
  out.name = packed8.name;
  out.dtype = DType::kPackedPerChannel;
  out.shape = packed8.shape;
  out.bits.resize(channels);
  out.scales.resize(channels);
  out.zero_points.resize(channels);
  std::vector<uint8_t> codes(row);
  for (int64_t c = 0; c < channels; ++c) {
    const int b = bits.size() == 1 ? bits[0] : bits[c];
    if (b < 1 || b > 8) {
      return absl::InvalidArgumentError(absl::StrFormat("bit-width %d not in 1..8", b));
    }
    const int k = 8 - b;
    const uint8_t* src = packed8.packed.data() + c * row;  // 8-bit rows are row bytes
    const int max_code = (1 << b) - 1;
    const int z8 = packed8.zero_points[c];
    const int zb = std::min(max_code, (z8 + (k == 0 ? 0 : 1 << (k - 1))) >> k);
    for (int64_t i = 0; i < row; ++i) {
      // Round (q8 - z8) / 2^k to nearest, ties away from zero, in integers.
      const int d = src[i] - z8;
      const int half = k == 0 ? 0 : 1 << (k - 1);
      const int r = d >= 0 ? (d + half) >> k : -((-d + half) >> k);
      const int q = zb + r;
      codes[i] = static_cast<uint8_t>(q < 0 ? 0 : (q > max_code ? max_code : q));
    }
    out.bits[c] = static_cast<uint8_t>(b);
    out.scales[c] = packed8.scales[c] * static_cast<float>(1 << k);
    out.zero_points[c] = zb;
    const size_t offset = out.packed.size();
    out.packed.resize(offset + PackedBytes(row, b));
    PackBits(codes.data(), row, b, out.packed.data() + offset);
  }
  RETURN_IF_ERROR(ValidateTensor(out));
  return out;
}

}  // namespace qfleet
