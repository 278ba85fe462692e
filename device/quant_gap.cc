#include "device/quant_gap.h"

#include <torch/torch.h>

#include <algorithm>
#include <random>

#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "ml/fmnist_cnn.h"
#include "ml/model_io.h"
#include "ml/trainer.h"

namespace qfleet::device {
namespace {

absl::StatusOr<double> Loss(const TensorContainer& weights, const ImageDataset& data,
                            const std::vector<int64_t>& sample) {
  ml::FmnistCnn model = ml::MakeFmnistCnn(0);
  RETURN_IF_ERROR(ml::LoadContainer(weights, *model));
  torch::NoGradGuard no_grad;
  model->eval();
  auto [x, y] = ml::MakeBatch(data, sample.data(), sample.size());
  return torch::nn::functional::cross_entropy(model->forward(x), y).item<double>();
}

}  // namespace

absl::StatusOr<double> QuantizationGap(const TensorContainer& local,
                                       const TensorContainer& quantized, const ImageDataset& data,
                                       const std::vector<int64_t>& indices, uint64_t seed) {
  if (indices.empty()) return absl::InvalidArgumentError("quantization gap: no samples");
  for (int64_t i : indices) {
    if (i < 0 || i >= data.count) {
      return absl::InvalidArgumentError(
          absl::StrFormat("quantization gap: sample %d outside 0..%d", i, data.count - 1));
    }
  }
  std::vector<int64_t> sample = indices;
  std::mt19937_64 rng(seed);
  std::shuffle(sample.begin(), sample.end(), rng);
  sample.resize(std::min(sample.size(), kQuantGapImages));
  ASSIGN_OR_RETURN(double loss_fp, Loss(local, data, sample));
  ASSIGN_OR_RETURN(double loss_q, Loss(quantized, data, sample));
  return loss_q - loss_fp;
}

}  // namespace qfleet::device
