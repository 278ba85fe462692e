#include "ml/trainer.h"

#include <chrono>
#include <cmath>
#include <numeric>
#include <random>

#include <torch/torch.h>

#include "absl/strings/str_format.h"

namespace qfleet::ml {
namespace {

constexpr float kMean = 0.2860f;
constexpr float kStd = 0.3530f;

}  // namespace

std::pair<torch::Tensor, torch::Tensor> MakeBatch(const ImageDataset& data, const int64_t* indices,
                                                  size_t n) {
  const int64_t pixels = data.rows * data.cols;
  torch::Tensor x = torch::empty({static_cast<int64_t>(n), 1, data.rows, data.cols}, torch::kFloat32);
  torch::Tensor y = torch::empty({static_cast<int64_t>(n)}, torch::kInt64);
  float* xp = x.data_ptr<float>();
  int64_t* yp = y.data_ptr<int64_t>();
  const float a = 1.0f / (255.0f * kStd);
  const float b = -kMean / kStd;
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* src = data.pixels.data() + indices[i] * pixels;
    for (int64_t p = 0; p < pixels; ++p) xp[i * pixels + p] = src[p] * a + b;
    yp[i] = data.labels[indices[i]];
  }
  return {x, y};
}

absl::StatusOr<TrainStats> TrainClassifier(FmnistCnn& model, const ImageDataset& data,
                                           const std::vector<int64_t>& indices,
                                           const TrainOptions& options) {
  if (indices.empty()) return absl::InvalidArgumentError("no training samples");
  if (options.epochs < 1 || options.batch_size < 1 || !(options.learning_rate > 0) ||
      !std::isfinite(options.learning_rate)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "bad training options: epochs=%d batch=%d lr=%g", options.epochs, options.batch_size,
        options.learning_rate));
  }
  for (int64_t i : indices) {
    if (i < 0 || i >= data.count) {
      return absl::InvalidArgumentError(absl::StrFormat("sample index %d out of range", i));
    }
  }
  const auto start = std::chrono::steady_clock::now();
  model->train();
  torch::optim::SGD opt(model->parameters(),
                        torch::optim::SGDOptions(options.learning_rate).momentum(options.momentum));
  std::mt19937_64 rng(options.seed);
  std::vector<int64_t> order = indices;
  TrainStats stats;
  for (int epoch = 0; epoch < options.epochs; ++epoch) {
    std::shuffle(order.begin(), order.end(), rng);
    double loss_sum = 0;
    int64_t correct = 0, seen = 0;
    for (size_t pos = 0; pos < order.size(); pos += options.batch_size) {
      if (options.max_steps > 0 && stats.steps >= options.max_steps) break;
      const size_t n = std::min<size_t>(options.batch_size, order.size() - pos);
      auto [x, y] = MakeBatch(data, order.data() + pos, n);
      opt.zero_grad();
      torch::Tensor logits = model->forward(x);
      torch::Tensor loss = torch::nn::functional::cross_entropy(logits, y);
      const double loss_value = loss.item<double>();
      if (!std::isfinite(loss_value)) {
        return absl::InternalError(absl::StrFormat("training loss became %g at step %d", loss_value,
                                                   stats.steps));
      }
      loss.backward();
      opt.step();
      loss_sum += loss_value * n;
      correct += logits.argmax(1).eq(y).sum().item<int64_t>();
      seen += n;
      ++stats.steps;
    }
    stats.samples += seen;
    if (seen > 0) {
      stats.loss = loss_sum / seen;
      stats.accuracy = static_cast<double>(correct) / seen;
    }
  }
  stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return stats;
}

absl::StatusOr<double> EvaluateAccuracy(FmnistCnn& model, const ImageDataset& data) {
  if (data.count == 0) return absl::InvalidArgumentError("empty evaluation set");
  torch::NoGradGuard no_grad;
  model->eval();
  constexpr int64_t kBatch = 1000;
  std::vector<int64_t> idx(kBatch);
  int64_t correct = 0;
  for (int64_t start = 0; start < data.count; start += kBatch) {
    const int64_t n = std::min(kBatch, data.count - start);
    std::iota(idx.begin(), idx.begin() + n, start);
    auto [x, y] = MakeBatch(data, idx.data(), n);
    correct += model->forward(x).argmax(1).eq(y).sum().item<int64_t>();
  }
  return static_cast<double>(correct) / data.count;
}

}  // namespace qfleet::ml
