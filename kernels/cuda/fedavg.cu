#include <vector>

#include "common/status_macros.h"
#include "kernels/cuda/cuda_buffer.h"
#include "kernels/fedavg.h"

namespace qfleet::kernels {
namespace {

// One thread per element; clients are summed in the given order with the
// explicitly rounded double operations (no FMA contraction), so each element
// is computed exactly as WeightedAverageRef computes it.
__global__ void WeightedAverageKernel(const float* const* inputs, const double* weights,
                                      size_t clients, size_t n, double total, float* out) {
  const size_t stride = static_cast<size_t>(gridDim.x) * blockDim.x;
  for (size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    double acc = 0.0;
    for (size_t k = 0; k < clients; ++k) {
      acc = __dadd_rn(acc, __dmul_rn(weights[k], static_cast<double>(inputs[k][i])));
    }
    out[i] = __double2float_rn(__ddiv_rn(acc, total));
  }
}

}  // namespace

absl::Status WeightedAverageCuda(const float* const* inputs, const double* weights,
                                 size_t clients, size_t n, float* out) {
  if (n == 0) return absl::OkStatus();
  double total = 0;
  for (size_t k = 0; k < clients; ++k) total += weights[k];

  std::vector<cuda::DeviceView> views(clients);
  std::vector<const float*> device_inputs(clients);
  for (size_t k = 0; k < clients; ++k) {
    RETURN_IF_ERROR(views[k].Map(inputs[k], n * sizeof(float), /*copy_in=*/true));
    device_inputs[k] = views[k].as<const float>();
  }
  cuda::DeviceView d_inputs, d_weights, d_out;
  RETURN_IF_ERROR(d_inputs.Map(device_inputs.data(), clients * sizeof(float*), true));
  RETURN_IF_ERROR(d_weights.Map(weights, clients * sizeof(double), true));
  RETURN_IF_ERROR(d_out.Map(out, n * sizeof(float), /*copy_in=*/false));
  size_t blocks = (n + cuda::kBlockThreads - 1) / cuda::kBlockThreads;
  if (blocks > 65536) blocks = 65536;
  WeightedAverageKernel<<<static_cast<unsigned>(blocks), cuda::kBlockThreads>>>(
      d_inputs.as<const float* const>(), d_weights.as<const double>(), clients, n, total,
      d_out.as<float>());
  RETURN_IF_ERROR(cuda::SyncAfterLaunch("WeightedAverageCuda"));
  return d_out.CopyBack();
}

}  // namespace qfleet::kernels
