#ifndef QFLEET_ML_QAT_STATE_H_
#define QFLEET_ML_QAT_STATE_H_

#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include <torch/nn/module.h>
#include <torch/types.h>

#include "absl/status/statusor.h"

namespace qfleet::ml {

// The learnable quantizers of one model under quantization-aware training:
// an LSQ step per output channel for every weight with >= 2 dims (signed,
// symmetric, at weight_bits) and one per-tensor LSQ step per activation
// point (unsigned, for post-ReLU activations, at act_bits; act_bits 0 keeps
// activations in float). A model's QAT forward pass asks it for the
// fake-quantized version of each weight and activation; the model's own
// parameters stay the FP32 latent weights. Not thread-safe; owns its step
// tensors (shared handles: the optimizer updates them in place).
class QatState {
 public:
  // Creates steps for every parameter of `module` with >= 2 dims (named as
  // in named_parameters(), e.g. "conv1.weight"), initialised to the scale
  // the deployed weight quantizer (symmetric, MSE-optimal clipping; see
  // DeployedWeightQuant in common/container_quant.h) picks for the channel
  // (1 for an all-zero channel), so training starts on the grid the model
  // will be served with; and `act_points`
  // activation steps that the first Activation() call on each point
  // initialises from its input (LSQ: 2 * mean|a| / sqrt(Qp)). InvalidArgument
  // if weight_bits is not in 2..8, act_bits not 0 or 1..8, the module has
  // no weight to quantize or a weight holds NaN/Inf.
  static absl::StatusOr<QatState> Create(const torch::nn::Module& module, int weight_bits,
                                         int act_bits, size_t act_points);

  // FakeQuantLsq of `w` with the per-channel step of `param_name` (axis 0).
  // Throws c10::Error for an unknown name or a shape that does not match.
  torch::Tensor Weight(const std::string& param_name, const torch::Tensor& w) const;

  // FakeQuantLsq of activation `a` (unsigned, per tensor) at `point`; `a`
  // unchanged when act_bits is 0. The first call for a point sets its step
  // from `a` (no gradient through that). Throws c10::Error for a point out
  // of range.
  torch::Tensor Activation(size_t point, const torch::Tensor& a);

  // Every step tensor (weights in name order, then activations), for the
  // optimizer.
  std::vector<torch::Tensor> StepParameters() const;

  // Sets every activation point's step (one value per point, each > 0 and
  // finite), as if Activation() had initialised it. InvalidArgument
  // otherwise, or when act_bits is 0.
  absl::Status SetActivationSteps(const std::vector<double>& steps);

  // Raises every step below `min_step` to it, so an optimizer step cannot
  // make a quantizer degenerate. Call after each optimizer step.
  void ClampSteps(double min_step);

  int weight_bits() const { return weight_bits_; }
  int act_bits() const { return act_bits_; }
  // Step of a weight ([channels]) or an activation point (scalar); an
  // undefined tensor for an unknown name / point.
  torch::Tensor weight_step(const std::string& param_name) const;
  torch::Tensor act_step(size_t point) const;

 private:
  QatState(int weight_bits, int act_bits) : weight_bits_(weight_bits), act_bits_(act_bits) {}

  int weight_bits_;
  int act_bits_;
  std::map<std::string, torch::Tensor> weight_steps_;
  std::vector<torch::Tensor> act_steps_;
  std::vector<bool> act_initialised_;
};

}  // namespace qfleet::ml

#endif  // QFLEET_ML_QAT_STATE_H_
