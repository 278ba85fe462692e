#include "common/status_macros.h"
#include "kernels/cuda/cuda_buffer.h"
#include "kernels/fake_quant.h"
#include "kernels/quant_math.h"

namespace qfleet::kernels {
namespace {

// Rows stride over blockIdx.y, elements of a row over the x dimension.
__global__ void FakeQuantKernel(const float* in, size_t channels, size_t row_len,
                                const uint8_t* bits, const float* scales,
                                const int32_t* zero_points, float* out) {
  const size_t stride = static_cast<size_t>(gridDim.x) * blockDim.x;
  for (size_t c = blockIdx.y; c < channels; c += gridDim.y) {
    const float scale = scales[c];
    const int32_t zero = zero_points[c];
    const int b = bits[c];
    const float* x = in + c * row_len;
    float* y = out + c * row_len;
    for (size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < row_len;
         i += stride) {
      y[i] = FakeQuantValue(x[i], scale, zero, b);
    }
  }
}

}  // namespace

absl::Status FakeQuantPerChannelCuda(const float* in, size_t channels, size_t row_len,
                                     const PerChannelParams& params, float* out) {
  const size_t n = channels * row_len;
  if (n == 0) return absl::OkStatus();
  cuda::DeviceView x, y, bits, scales, zeros;
  RETURN_IF_ERROR(x.Map(in, n * sizeof(float), /*copy_in=*/true));
  // In place: one view serves both sides.
  if (out != in) RETURN_IF_ERROR(y.Map(out, n * sizeof(float), /*copy_in=*/false));
  RETURN_IF_ERROR(bits.Map(params.bits, channels, true));
  RETURN_IF_ERROR(scales.Map(params.scales, channels * sizeof(float), true));
  RETURN_IF_ERROR(zeros.Map(params.zero_points, channels * sizeof(int32_t), true));
  const cuda::DeviceView& dst = out == in ? x : y;
  FakeQuantKernel<<<cuda::RowGrid(channels, row_len), cuda::kBlockThreads>>>(
      x.as<const float>(), channels, row_len, bits.as<const uint8_t>(),
      scales.as<const float>(), zeros.as<const int32_t>(), dst.as<float>());
  RETURN_IF_ERROR(cuda::SyncAfterLaunch("FakeQuantPerChannelCuda"));
  return dst.CopyBack();
}

}  // namespace qfleet::kernels
