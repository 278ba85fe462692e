#ifndef QFLEET_ML_TRAINER_H_
#define QFLEET_ML_TRAINER_H_

#include <cstdint>
#include <functional>
#include <vector>

#include <torch/types.h>

#include "absl/status/statusor.h"
#include "common/idx_dataset.h"
#include "ml/fmnist_cnn.h"

namespace qfleet::ml {

struct TrainOptions {
  int epochs = 1;
  int batch_size = 32;
  float learning_rate = 0.05f;
  float momentum = 0.9f;
  // Stop after this many optimizer steps (0 = no cap).
  int64_t max_steps = 0;
  // Seeds the order in which local samples are visited.
  uint64_t seed = 1;
};

struct TrainStats {
  double loss = 0;      // mean loss over the last epoch
  double accuracy = 0;  // training accuracy over the last epoch
  int64_t steps = 0;
  int64_t samples = 0;  // samples seen over all epochs
  double seconds = 0;
};

// Called before each optimizer step's forward pass; QAT uses it to swap in
// fake-quantized weights. May be empty.
using StepHook = std::function<void()>;

// Converts images `indices` of `data` into a normalized [n,1,rows,cols]
// float tensor and an int64 label tensor. Indices must be in range.
std::pair<torch::Tensor, torch::Tensor> MakeBatch(const ImageDataset& data, const int64_t* indices,
                                                  size_t n);

// Trains `model` with SGD (momentum) and cross-entropy on the samples
// `indices` of `data`, visiting them in an order derived from options.seed.
// Deterministic for a fixed torch thread count. InvalidArgument when indices
// are empty or out of range or options are out of range; Internal if the
// loss becomes non-finite. Not thread-safe for the same model.
absl::StatusOr<TrainStats> TrainClassifier(FmnistCnn& model, const ImageDataset& data,
                                           const std::vector<int64_t>& indices,
                                           const TrainOptions& options);

// Top-1 accuracy of `model` on all of `data`. InvalidArgument on an empty
// dataset.
absl::StatusOr<double> EvaluateAccuracy(FmnistCnn& model, const ImageDataset& data);

}  // namespace qfleet::ml

#endif  // QFLEET_ML_TRAINER_H_
