#ifndef QFLEET_COMMON_CONTAINER_QUANT_H_
#define QFLEET_COMMON_CONTAINER_QUANT_H_

#include "absl/status/statusor.h"
#include "common/quantizer.h"
#include "common/tensor_container.h"

namespace qfleet {

// The weight quantizer of every model that leaves a device or is served:
// symmetric per-channel codes (zero point 2^(bits-1), the layout integer
// inference kernels expect for weights, and the grid QAT's learned steps
// train against) with the MSE-optimal clipping observer. PTQ uploads, the
// served model and the PTQ cost calibration all use it, so a model trained
// by any strategy is judged by one quantizer.
inline QuantOptions DeployedWeightQuant() {
  QuantOptions q;
  q.scheme = QuantScheme::kSymmetric;
  q.observer = Observer::kMse;
  return q;
}

// Quantizes every FP32 tensor of `model` with two or more dimensions per
// output channel at `bits` (packed); tensors of fewer dimensions (biases)
// stay FP32. InvalidArgument if bits is outside 1..8 or a tensor is invalid.
// Thread-safe.
absl::StatusOr<TensorContainer> QuantizeContainer(const TensorContainer& model, int bits,
                                                  const QuantOptions& options = {});

// Like QuantizeContainer, then dequantized back to FP32: the model a device
// would serve at `bits`.
absl::StatusOr<TensorContainer> FakeQuantizeContainer(const TensorContainer& model, int bits,
                                                      const QuantOptions& options = {});

// Dequantizes every packed tensor; FP32 tensors are copied.
absl::StatusOr<TensorContainer> DequantizeContainer(const TensorContainer& model);

// Element-wise a - b for containers holding the same names and shapes (any
// dtype; the result is FP32). InvalidArgument on a mismatch.
absl::StatusOr<TensorContainer> SubtractContainers(const TensorContainer& a,
                                                   const TensorContainer& b);

// Element-wise a + b, with the same rules as SubtractContainers.
absl::StatusOr<TensorContainer> AddContainers(const TensorContainer& a, const TensorContainer& b);

}  // namespace qfleet

#endif  // QFLEET_COMMON_CONTAINER_QUANT_H_
