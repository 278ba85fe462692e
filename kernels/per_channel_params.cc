#include "kernels/per_channel_params.h"

#include <cmath>
#include <cstdint>
#include <limits>

#include "absl/strings/str_format.h"
#include "common/bit_packing.h"

namespace qfleet::kernels {

absl::Status ValidateMatrixArgs(const char* op, const void* in, const void* out,
                                size_t channels, size_t row_len) {
  constexpr size_t kMaxFloats = std::numeric_limits<size_t>::max() / sizeof(float);
  if (row_len != 0 && channels > kMaxFloats / row_len) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: %d channels x %d elements overflows the address space", op, channels, row_len));
  }
  if (channels * row_len == 0) return absl::OkStatus();
  if (in == nullptr) return absl::InvalidArgumentError(absl::StrFormat("%s: null input", op));
  if (out == nullptr) return absl::InvalidArgumentError(absl::StrFormat("%s: null output", op));
  return absl::OkStatus();
}

absl::Status ValidatePerChannelParams(const char* op, const PerChannelParams& p,
                                      size_t channels) {
  if (channels == 0) return absl::OkStatus();
  if (p.bits == nullptr || p.scales == nullptr || p.zero_points == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: null bits, scales or zero_points array", op));
  }
  for (size_t c = 0; c < channels; ++c) {
    const int bits = p.bits[c];
    if (bits < 1 || bits > 8) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s: channel %d has bit-width %d (need 1..8)", op, c, bits));
    }
    const float scale = p.scales[c];
    if (!(scale > 0.0f) || !std::isfinite(scale)) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s: channel %d has scale %g (need finite and > 0)", op, c, scale));
    }
    const int32_t zero = p.zero_points[c];
    if (zero < 0 || zero > (1 << bits) - 1) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: channel %d has zero point %d (need 0..%d at %d bits)", op, c, zero,
          (1 << bits) - 1, bits));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateNoPartialOverlap(const char* op, const void* a, size_t a_bytes,
                                      const void* b, size_t b_bytes, bool allow_identical) {
  if (a_bytes == 0 || b_bytes == 0) return absl::OkStatus();
  const uintptr_t a0 = reinterpret_cast<uintptr_t>(a);
  const uintptr_t b0 = reinterpret_cast<uintptr_t>(b);
  if (allow_identical && a0 == b0 && a_bytes == b_bytes) return absl::OkStatus();
  const bool disjoint = a0 + a_bytes <= b0 || b0 + b_bytes <= a0;
  if (disjoint) return absl::OkStatus();
  if (allow_identical) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: input and output overlap without being identical", op));
  }
  return absl::InvalidArgumentError(absl::StrFormat("%s: input and output overlap", op));
}

size_t PackedRowsBytes(size_t row_len, const uint8_t* bits, size_t channels) {
  size_t total = 0;
  for (size_t c = 0; c < channels; ++c) {
    const size_t row = PackedBytes(row_len, bits[c]);
    if (row == 0 && row_len != 0) return 0;
    if (row > std::numeric_limits<size_t>::max() - total) {
      return std::numeric_limits<size_t>::max();
    }
    total += row;
  }
  return total;
}

}  // namespace qfleet::kernels
