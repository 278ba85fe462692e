#include "common/status_macros.h"
#include "kernels/channel_minmax.h"
#include "kernels/cuda/cuda_buffer.h"
#include "kernels/quant_math.h"

namespace qfleet::kernels {
namespace {

// One block per row (rows stride over blockIdx.x): each thread folds a
// strided slice with fminf/fmaxf (which, like the reference's comparisons,
// skip NaN), then the block reduces in shared memory. Zero results are
// normalized to +0.0 exactly as the reference does. *bad is set to 1 when an
// element is NaN or infinite.
__global__ void ChannelMinMaxKernel(const float* in, size_t channels, size_t row_len,
                                    float* min, float* max, float* absmax, int* bad) {
  __shared__ float s_min[cuda::kBlockThreads];
  __shared__ float s_max[cuda::kBlockThreads];
  for (size_t c = blockIdx.x; c < channels; c += gridDim.x) {
    const float* x = in + c * row_len;
    float mn = __int_as_float(0x7f800000);  // +inf
    float mx = -__int_as_float(0x7f800000);  // -inf
    bool finite = true;
    for (size_t i = threadIdx.x; i < row_len; i += blockDim.x) {
      const float v = x[i];
      finite = finite && isfinite(v);
      mn = fminf(mn, v);
      mx = fmaxf(mx, v);
    }
    if (!finite) atomicOr(bad, 1);
    s_min[threadIdx.x] = mn;
    s_max[threadIdx.x] = mx;
    __syncthreads();
    for (unsigned half = blockDim.x / 2; half > 0; half /= 2) {
      if (threadIdx.x < half) {
        s_min[threadIdx.x] = fminf(s_min[threadIdx.x], s_min[threadIdx.x + half]);
        s_max[threadIdx.x] = fmaxf(s_max[threadIdx.x], s_max[threadIdx.x + half]);
      }
      __syncthreads();
    }
    if (threadIdx.x == 0) {
      float lo = 0.0f, hi = 0.0f;
      if (row_len > 0) {
        lo = AddRn(s_min[0], 0.0f);
        hi = AddRn(s_max[0], 0.0f);
      }
      if (min != nullptr) min[c] = lo;
      if (max != nullptr) max[c] = hi;
      if (absmax != nullptr) absmax[c] = fmaxf(fabsf(lo), fabsf(hi));
    }
    __syncthreads();  // s_min/s_max are reused by the next row
  }
}

}  // namespace

absl::Status ChannelMinMaxCuda(const float* in, size_t channels, size_t row_len,
                               float* min, float* max, float* absmax) {
  if (channels == 0) return absl::OkStatus();
  const int zero = 0;
  cuda::DeviceView x, lo, hi, abs, bad;
  RETURN_IF_ERROR(x.Map(in, channels * row_len * sizeof(float), /*copy_in=*/true));
  if (min != nullptr) RETURN_IF_ERROR(lo.Map(min, channels * sizeof(float), false));
  if (max != nullptr) RETURN_IF_ERROR(hi.Map(max, channels * sizeof(float), false));
  if (absmax != nullptr) RETURN_IF_ERROR(abs.Map(absmax, channels * sizeof(float), false));
  RETURN_IF_ERROR(bad.Map(&zero, sizeof(int), /*copy_in=*/true));
  const unsigned blocks = channels < 65535 ? static_cast<unsigned>(channels) : 65535u;
  ChannelMinMaxKernel<<<blocks, cuda::kBlockThreads>>>(x.as<const float>(), channels, row_len,
                                                       lo.as<float>(), hi.as<float>(),
                                                       abs.as<float>(), bad.as<int>());
  RETURN_IF_ERROR(cuda::SyncAfterLaunch("ChannelMinMaxCuda"));
  int flag = 0;
  RETURN_IF_ERROR(cuda::CudaStatus(
      cudaMemcpy(&flag, bad.get(), sizeof(int), cudaMemcpyDeviceToHost), "cudaMemcpy D2H"));
  RETURN_IF_ERROR(lo.CopyBack());
  RETURN_IF_ERROR(hi.CopyBack());
  RETURN_IF_ERROR(abs.CopyBack());
  if (flag != 0) return absl::InvalidArgumentError("ChannelMinMax: input has a NaN or Inf value");
  return absl::OkStatus();
}

}  // namespace qfleet::kernels
