#include "kernels/quant_pack.h"

#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "kernels/quant_math.h"

namespace qfleet::kernels {
namespace {

// Argument checks shared by both directions: `floats` is the FP32 side,
// `packed` must hold exactly the bytes the bit-widths imply.
absl::Status ValidatePackArgs(const char* op, const void* floats, const void* packed,
                              size_t packed_size, size_t channels, size_t row_len,
                              const PerChannelParams& params) {
  RETURN_IF_ERROR(ValidateMatrixArgs(op, floats, packed, channels, row_len));
  RETURN_IF_ERROR(ValidatePerChannelParams(op, params, channels));
  const size_t need = PackedRowsBytes(row_len, params.bits, channels);
  if (packed_size != need) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: packed buffer has %d bytes, the bit-widths need %d", op, packed_size, need));
  }
  return ValidateNoPartialOverlap(op, floats, channels * row_len * sizeof(float), packed,
                                  packed_size, /*allow_identical=*/false);
}

}  // namespace

void QuantizePackPerChannelRef(const float* in, size_t channels, size_t row_len,
                               const PerChannelParams& params, uint8_t* packed) {
  uint8_t* o = packed;
  for (size_t c = 0; c < channels; ++c) {
    const float scale = params.scales[c];
    const int32_t zero = params.zero_points[c];
    const int bits = params.bits[c];
    const float* x = in + c * row_len;
    // One LSB-first bit stream per row; `acc` holds acc_bits pending bits.
    uint32_t acc = 0;
    int acc_bits = 0;
    for (size_t i = 0; i < row_len; ++i) {
      acc |= static_cast<uint32_t>(QuantizeCode(x[i], scale, zero, bits)) << acc_bits;
      acc_bits += bits;
      while (acc_bits >= 8) {
        *o++ = static_cast<uint8_t>(acc);
        acc >>= 8;
        acc_bits -= 8;
      }
    }
    if (acc_bits > 0) *o++ = static_cast<uint8_t>(acc);
  }
}

void UnpackDequantizePerChannelRef(const uint8_t* packed, size_t channels, size_t row_len,
                                   const PerChannelParams& params, float* out) {
  const uint8_t* p = packed;
  for (size_t c = 0; c < channels; ++c) {
    const float scale = params.scales[c];
    const int32_t zero = params.zero_points[c];
    const int bits = params.bits[c];
    const uint32_t mask = (1u << bits) - 1u;
    float* y = out + c * row_len;
    uint32_t acc = 0;
    int acc_bits = 0;
    for (size_t i = 0; i < row_len; ++i) {
      if (acc_bits < bits) {
        acc |= static_cast<uint32_t>(*p++) << acc_bits;
        acc_bits += 8;
      }
      y[i] = DequantizeCode(static_cast<uint8_t>(acc & mask), scale, zero);
      acc >>= bits;
      acc_bits -= bits;
    }
    // The row's padding bits (fewer than 8) are dropped with `acc`.
  }
}

absl::Status QuantizePackPerChannel(DeviceKind device, const float* in, size_t channels,
                                    size_t row_len, const PerChannelParams& params,
                                    uint8_t* packed, size_t packed_size) {
  constexpr char kOp[] = "QuantizePackPerChannel";
  RETURN_IF_ERROR(ValidatePackArgs(kOp, in, packed, packed_size, channels, row_len, params));
  switch (device) {
    case DeviceKind::kRef:
      QuantizePackPerChannelRef(in, channels, row_len, params, packed);
      return absl::OkStatus();
    case DeviceKind::kCpu:
      QuantizePackPerChannelCpu(in, channels, row_len, params, packed);
      return absl::OkStatus();
    case DeviceKind::kCuda:
#if defined(QFLEET_WITH_CUDA)
      if (CudaAvailable()) {
        return QuantizePackPerChannelCuda(in, channels, row_len, params, packed, packed_size);
      }
#endif
      return absl::UnimplementedError(
          "QuantizePackPerChannel: no CUDA kernel or device in this build");
  }
  return absl::InvalidArgumentError("QuantizePackPerChannel: unknown DeviceKind");
}

absl::Status UnpackDequantizePerChannel(DeviceKind device, const uint8_t* packed,
                                        size_t packed_size, size_t channels, size_t row_len,
                                        const PerChannelParams& params, float* out) {
  constexpr char kOp[] = "UnpackDequantizePerChannel";
  RETURN_IF_ERROR(ValidatePackArgs(kOp, out, packed, packed_size, channels, row_len, params));
  switch (device) {
    case DeviceKind::kRef:
      UnpackDequantizePerChannelRef(packed, channels, row_len, params, out);
      return absl::OkStatus();
    case DeviceKind::kCpu:
      UnpackDequantizePerChannelCpu(packed, channels, row_len, params, out);
      return absl::OkStatus();
    case DeviceKind::kCuda:
#if defined(QFLEET_WITH_CUDA)
      if (CudaAvailable()) {
        return UnpackDequantizePerChannelCuda(packed, packed_size, channels, row_len, params,
                                              out);
      }
#endif
      return absl::UnimplementedError(
          "UnpackDequantizePerChannel: no CUDA kernel or device in this build");
  }
  return absl::InvalidArgumentError("UnpackDequantizePerChannel: unknown DeviceKind");
}

}  // namespace qfleet::kernels
