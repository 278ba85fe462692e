#include "kernels/channel_minmax.h"

#include <cmath>
#include <limits>

#include "kernels/per_channel_params.h"

namespace qfleet::kernels {

bool ChannelMinMaxRef(const float* in, size_t channels, size_t row_len, float* min,
                      float* max, float* absmax) {
  bool finite = true;
  for (size_t c = 0; c < channels; ++c) {
    float mn = 0.0f, mx = 0.0f;
    if (row_len > 0) {
      mn = std::numeric_limits<float>::infinity();
      mx = -std::numeric_limits<float>::infinity();
      const float* x = in + c * row_len;
      for (size_t i = 0; i < row_len; ++i) {
        if (!std::isfinite(x[i])) finite = false;
        if (x[i] < mn) mn = x[i];
        if (x[i] > mx) mx = x[i];
      }
      // -0.0 + 0.0 == +0.0: which signed zero a min/max keeps depends on the
      // visiting order, so zero results are normalized to +0.0.
      mn += 0.0f;
      mx += 0.0f;
    }
    if (min != nullptr) min[c] = mn;
    if (max != nullptr) max[c] = mx;
    if (absmax != nullptr) absmax[c] = std::fmax(std::fabs(mn), std::fabs(mx));
  }
  return finite;
}

absl::Status ChannelMinMax(DeviceKind device, const float* in, size_t channels,
                           size_t row_len, float* min, float* max, float* absmax) {
  constexpr char kOp[] = "ChannelMinMax";
  // The outputs are checked individually (each may be null), so pass `in`
  // as the output to ValidateMatrixArgs.
  if (absl::Status s = ValidateMatrixArgs(kOp, in, in, channels, row_len); !s.ok()) return s;
  bool finite = true;
  switch (device) {
    case DeviceKind::kRef:
      finite = ChannelMinMaxRef(in, channels, row_len, min, max, absmax);
      break;
    case DeviceKind::kCpu:
      finite = ChannelMinMaxCpu(in, channels, row_len, min, max, absmax);
      break;
    case DeviceKind::kCuda:
#if defined(QFLEET_WITH_CUDA)
      if (CudaAvailable()) return ChannelMinMaxCuda(in, channels, row_len, min, max, absmax);
#endif
      return absl::UnimplementedError("ChannelMinMax: no CUDA kernel or device in this build");
    default:
      return absl::InvalidArgumentError("ChannelMinMax: unknown DeviceKind");
  }
  if (!finite) return absl::InvalidArgumentError("ChannelMinMax: input has a NaN or Inf value");
  return absl::OkStatus();
}

}  // namespace qfleet::kernels
