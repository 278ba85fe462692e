#ifndef QFLEET_ML_QAT_TRAINER_H_
#define QFLEET_ML_QAT_TRAINER_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include <torch/types.h>

#include "absl/status/statusor.h"
#include "common/idx_dataset.h"
#include "ml/fmnist_cnn.h"
#include "ml/qat_state.h"
#include "ml/trainer.h"

namespace qfleet::ml {

// Activation quantization points of the Fashion-MNIST CNN: the outputs of
// the three ReLUs (after conv1, conv2 and fc1). The input image and the
// logits stay in float.
constexpr size_t kFmnistActPoints = 3;

// The CNN's forward pass with every weight fake-quantized by `state`
// (per-channel LSQ, gradients reach both the latent FP32 weights and the
// steps) and each ReLU output fake-quantized per tensor. Biases stay FP32.
// `state` must come from QatState::Create on this model with
// kFmnistActPoints points; throws c10::Error otherwise (torch op contract).
torch::Tensor QatForward(FmnistCnn& model, QatState& state, const torch::Tensor& x);

// Quantization-aware training: like TrainClassifier (SGD with momentum,
// cross-entropy, same sample order for a seed) but through QatForward, with
// the step sizes in the optimizer alongside the weights (same learning
// rate; LSQ's gradient scale keeps them stable) and clamped to >= 1e-8
// after each step. The model's parameters end as the trained latent FP32
// weights; `state` holds the learned steps. InvalidArgument for empty or
// out-of-range indices or bad options; Internal if the loss becomes
// non-finite or a torch op fails. Not thread-safe for the same model.
absl::StatusOr<TrainStats> TrainClassifierQat(FmnistCnn& model, QatState& state,
                                              const ImageDataset& data,
                                              const std::vector<int64_t>& indices,
                                              const TrainOptions& options);

// Convenience form: creates the QatState (weights at `weight_bits` in 2..8,
// activations at `act_bits` in 1..8 or 0 for float) and trains. Same
// failures, plus InvalidArgument for bad bit-widths.
absl::StatusOr<TrainStats> TrainClassifierQat(FmnistCnn& model, const ImageDataset& data,
                                              const std::vector<int64_t>& indices,
                                              const TrainOptions& options, int weight_bits,
                                              int act_bits);

// Top-1 accuracy of the fake-quantized model (QatForward, eval mode) on all
// of `data`. InvalidArgument on an empty dataset; Internal if a torch op
// fails.
absl::StatusOr<double> EvaluateAccuracyQat(FmnistCnn& model, QatState& state,
                                           const ImageDataset& data);

}  // namespace qfleet::ml

#endif  // QFLEET_ML_QAT_TRAINER_H_
