#include "kernels/fake_quant.h"

#include <vector>

#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "kernels/channel_minmax.h"
#include "kernels/quant_math.h"

namespace qfleet::kernels {

void FakeQuantPerChannelRef(const float* in, size_t channels, size_t row_len,
                            const PerChannelParams& params, float* out) {
  for (size_t c = 0; c < channels; ++c) {
    const float scale = params.scales[c];
    const int32_t zero = params.zero_points[c];
    const int bits = params.bits[c];
    const float* x = in + c * row_len;
    float* y = out + c * row_len;
    for (size_t i = 0; i < row_len; ++i) y[i] = FakeQuantValue(x[i], scale, zero, bits);
  }
}

absl::Status FakeQuantPerChannel(DeviceKind device, const float* in, size_t channels,
                                 size_t row_len, const PerChannelParams& params, float* out) {
  constexpr char kOp[] = "FakeQuantPerChannel";
  RETURN_IF_ERROR(ValidateMatrixArgs(kOp, in, out, channels, row_len));
  RETURN_IF_ERROR(ValidatePerChannelParams(kOp, params, channels));
  const size_t bytes = channels * row_len * sizeof(float);
  RETURN_IF_ERROR(ValidateNoPartialOverlap(kOp, in, bytes, out, bytes, /*allow_identical=*/true));
  switch (device) {
    case DeviceKind::kRef:
      FakeQuantPerChannelRef(in, channels, row_len, params, out);
      return absl::OkStatus();
    case DeviceKind::kCpu:
      FakeQuantPerChannelCpu(in, channels, row_len, params, out);
      return absl::OkStatus();
    case DeviceKind::kCuda:
#if defined(QFLEET_WITH_CUDA)
      if (CudaAvailable()) return FakeQuantPerChannelCuda(in, channels, row_len, params, out);
#endif
      return absl::UnimplementedError(
          "FakeQuantPerChannel: no CUDA kernel or device in this build");
  }
  return absl::InvalidArgumentError("FakeQuantPerChannel: unknown DeviceKind");
}

absl::Status FakeQuantPerChannelMinMax(DeviceKind device, const float* in, size_t channels,
                                       size_t row_len, const uint8_t* bits,
                                       QuantScheme scheme, float* out, float* scales,
                                       int32_t* zero_points) {
  constexpr char kOp[] = "FakeQuantPerChannelMinMax";
  RETURN_IF_ERROR(ValidateMatrixArgs(kOp, in, out, channels, row_len));
  if (channels > 0 && bits == nullptr) {
    return absl::InvalidArgumentError(absl::StrFormat("%s: null bits", kOp));
  }
  for (size_t c = 0; c < channels; ++c) {
    if (bits[c] < 1 || bits[c] > 8) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: channel %d has bit-width %d (need 1..8)", kOp, c, bits[c]));
    }
  }
  if (scheme != QuantScheme::kSymmetric && scheme != QuantScheme::kAsymmetric) {
    return absl::InvalidArgumentError(absl::StrFormat("%s: unknown QuantScheme", kOp));
  }
  std::vector<float> mn(channels), mx(channels);
  RETURN_IF_ERROR(ChannelMinMax(device, in, channels, row_len, mn.data(), mx.data(), nullptr));

  std::vector<float> chosen_scales(channels);
  std::vector<int32_t> chosen_zeros(channels);
  const bool symmetric = scheme == QuantScheme::kSymmetric;
  for (size_t c = 0; c < channels; ++c) {
    const QuantParams p = MinMaxQuantParams(mn[c], mx[c], bits[c], symmetric);
    chosen_scales[c] = p.scale;
    chosen_zeros[c] = p.zero_point;
  }
  const PerChannelParams params{bits, chosen_scales.data(), chosen_zeros.data()};
  RETURN_IF_ERROR(FakeQuantPerChannel(device, in, channels, row_len, params, out));
  for (size_t c = 0; c < channels; ++c) {
    if (scales != nullptr) scales[c] = chosen_scales[c];
    if (zero_points != nullptr) zero_points[c] = chosen_zeros[c];
  }
  return absl::OkStatus();
}

}  // namespace qfleet::kernels
