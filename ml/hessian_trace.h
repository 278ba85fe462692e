#ifndef QFLEET_ML_HESSIAN_TRACE_H_
#define QFLEET_ML_HESSIAN_TRACE_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <torch/nn/module.h>
#include <torch/types.h>

#include "absl/status/statusor.h"
#include "ml/fmnist_cnn.h"

namespace qfleet::ml {

// HAWQ-V2 sensitivity of one quantizable layer (a weight with >= 2 dims,
// named as in layer_weights.h): Hutchinson estimates of the trace of the
// loss Hessian restricted to the layer's weights, in total and per output
// channel (the sum over that channel's elements of the diagonal estimate
// v * (Hv)). per_channel sums to trace. Estimates can be negative: the loss
// Hessian of a trained network is not positive semi-definite.
struct LayerSensitivity {
  std::string name;                 // "conv1"
  double trace = 0;                 // mean over samples of sum(v * Hv)
  std::vector<double> per_channel;  // [weight.size(0)]
  int64_t num_params = 0;           // weight.numel()
};

// Hutchinson's estimator, E[v^T H v] = Tr(H) for Rademacher v (+-1 entries):
// computes the gradient g of `loss_fn()` (a scalar) with respect to every
// quantizable weight with create_graph = true, then for each of
// `num_samples` draws one v over all those weights at once and the
// Hessian-vector product Hv = d(g . v)/dw by double backward, and averages
// v * Hv per layer and channel. Cross-layer terms vanish in expectation, so
// one joint draw serves every layer. The signs come from SeededRandom(seed)
// and the result is deterministic for a fixed torch thread count.
// InvalidArgument for num_samples < 1, a module without quantizable
// weights, or a loss that is not a finite scalar; Internal if a torch op
// fails. Not thread-safe for the same module.
absl::StatusOr<std::vector<LayerSensitivity>> HessianTraceOfLoss(
    torch::nn::Module& module, const std::function<torch::Tensor()>& loss_fn, int num_samples,
    uint64_t seed);

// HessianTraceOfLoss for the CNN's mean cross-entropy on the calibration
// batch x [n, 1, 28, 28] with labels y [n] (int64 in 0..9); layers in order
// conv1, conv2, fc1, fc2. InvalidArgument additionally for an empty batch
// or mismatched x / y shapes.
absl::StatusOr<std::vector<LayerSensitivity>> HessianTrace(FmnistCnn& model, const torch::Tensor& x,
                                                           const torch::Tensor& y, int num_samples,
                                                           uint64_t seed);

}  // namespace qfleet::ml

#endif  // QFLEET_ML_HESSIAN_TRACE_H_
