#include "kernels/fedavg.h"

#include <cmath>
#include <vector>

#include "absl/strings/str_format.h"

namespace qfleet::kernels {

void WeightedAverageRef(const float* const* inputs, const double* weights,
                        size_t clients, size_t n, float* out) {
  double total = 0;
  for (size_t k = 0; k < clients; ++k) total += weights[k];
  for (size_t i = 0; i < n; ++i) {
    double acc = 0;
    for (size_t k = 0; k < clients; ++k) acc += weights[k] * inputs[k][i];
    out[i] = static_cast<float>(acc / total);
  }
}

void WeightedAverageCpu(const float* const* inputs, const double* weights,
                        size_t clients, size_t n, float* out) {
  // Same summation order per element as the reference (client 0..K-1), but
  // blocked over elements so each input streams through the cache once per
  // block and the inner loop vectorizes.
  constexpr size_t kBlock = 1024;
  double total = 0;
  for (size_t k = 0; k < clients; ++k) total += weights[k];
  double acc[kBlock];
  for (size_t start = 0; start < n; start += kBlock) {
    const size_t len = n - start < kBlock ? n - start : kBlock;
    for (size_t i = 0; i < len; ++i) acc[i] = 0;
    for (size_t k = 0; k < clients; ++k) {
      const float* in = inputs[k] + start;
      const double w = weights[k];
      for (size_t i = 0; i < len; ++i) acc[i] += w * in[i];
    }
    for (size_t i = 0; i < len; ++i) out[start + i] = static_cast<float>(acc[i] / total);
  }
}

absl::Status WeightedAverage(DeviceKind device,
                             absl::Span<const float* const> inputs,
                             absl::Span<const double> weights, size_t n,
                             float* out) {
  if (inputs.size() != weights.size()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "WeightedAverage: %d inputs but %d weights", inputs.size(), weights.size()));
  }
  if (inputs.empty()) return absl::InvalidArgumentError("WeightedAverage: no inputs");
  if (out == nullptr) return absl::InvalidArgumentError("WeightedAverage: null output");
  double total = 0;
  for (size_t k = 0; k < inputs.size(); ++k) {
    if (inputs[k] == nullptr) {
      return absl::InvalidArgumentError(absl::StrFormat("WeightedAverage: input %d is null", k));
    }
    if (!std::isfinite(weights[k]) || weights[k] < 0) {
      return absl::InvalidArgumentError(
          absl::StrFormat("WeightedAverage: weight %d is %g", k, weights[k]));
    }
    total += weights[k];
  }
  if (total <= 0) return absl::InvalidArgumentError("WeightedAverage: all weights are zero");
  switch (device) {
    case DeviceKind::kRef:
      WeightedAverageRef(inputs.data(), weights.data(), inputs.size(), n, out);
      return absl::OkStatus();
    case DeviceKind::kCpu:
      WeightedAverageCpu(inputs.data(), weights.data(), inputs.size(), n, out);
      return absl::OkStatus();
    case DeviceKind::kCuda:
#if defined(QFLEET_WITH_CUDA)
      if (CudaAvailable()) {
        return WeightedAverageCuda(inputs.data(), weights.data(), inputs.size(), n, out);
      }
#endif
      return absl::UnimplementedError("WeightedAverage: no CUDA kernel or device in this build");
  }
  return absl::InvalidArgumentError("WeightedAverage: unknown DeviceKind");
}

}  // namespace qfleet::kernels
