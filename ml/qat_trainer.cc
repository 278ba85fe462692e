#include "ml/qat_trainer.h"

#include <chrono>
#include <cmath>
#include <numeric>
#include <random>

#include <torch/torch.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"

namespace qfleet::ml {
namespace {

namespace F = torch::nn::functional;

constexpr double kMinStep = 1e-8;

torch::Tensor QatConv(torch::nn::Conv2d& conv, const std::string& name, QatState& state,
                      const torch::Tensor& x) {
  const auto& o = conv->options;
  return F::conv2d(x, state.Weight(name, conv->weight),
                   F::Conv2dFuncOptions()
                       .bias(conv->bias)
                       .stride(o.stride())
                       .padding(o.padding())
                       .dilation(o.dilation())
                       .groups(o.groups()));
}

absl::Status ValidateTraining(const ImageDataset& data, const std::vector<int64_t>& indices,
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
  return absl::OkStatus();
}

}  // namespace

torch::Tensor QatForward(FmnistCnn& model, QatState& state, const torch::Tensor& x) {
  torch::Tensor h = QatConv(model->conv1, "conv1.weight", state, x);
  h = torch::max_pool2d(state.Activation(0, torch::relu(h)), 2);
  h = QatConv(model->conv2, "conv2.weight", state, h);
  h = torch::max_pool2d(state.Activation(1, torch::relu(h)), 2);
  h = h.flatten(1);
  h = F::linear(h, state.Weight("fc1.weight", model->fc1->weight), model->fc1->bias);
  h = state.Activation(2, torch::relu(h));
  return F::linear(h, state.Weight("fc2.weight", model->fc2->weight), model->fc2->bias);
}

absl::StatusOr<TrainStats> TrainClassifierQat(FmnistCnn& model, QatState& state,
                                              const ImageDataset& data,
                                              const std::vector<int64_t>& indices,
                                              const TrainOptions& options) {
  RETURN_IF_ERROR(ValidateTraining(data, indices, options));
  const auto start = std::chrono::steady_clock::now();
  TrainStats stats;
  try {
    model->train();
    std::vector<torch::Tensor> params = model->parameters();
    for (const torch::Tensor& s : state.StepParameters()) params.push_back(s);
    torch::optim::SGD opt(params,
                          torch::optim::SGDOptions(options.learning_rate).momentum(options.momentum));
    std::mt19937_64 rng(options.seed);
    std::vector<int64_t> order = indices;
    for (int epoch = 0; epoch < options.epochs; ++epoch) {
      std::shuffle(order.begin(), order.end(), rng);
      double loss_sum = 0;
      int64_t correct = 0, seen = 0;
      for (size_t pos = 0; pos < order.size(); pos += options.batch_size) {
        if (options.max_steps > 0 && stats.steps >= options.max_steps) break;
        const size_t n = std::min<size_t>(options.batch_size, order.size() - pos);
        auto [x, y] = MakeBatch(data, order.data() + pos, n);
        opt.zero_grad();
        torch::Tensor logits = QatForward(model, state, x);
        torch::Tensor loss = F::cross_entropy(logits, y);
        const double loss_value = loss.item<double>();
        if (!std::isfinite(loss_value)) {
          return absl::InternalError(absl::StrFormat("QAT loss became %g at step %d", loss_value,
                                                     stats.steps));
        }
        loss.backward();
        opt.step();
        state.ClampSteps(kMinStep);
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
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat("QAT training failed: ", e.what_without_backtrace()));
  }
  stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return stats;
}

absl::StatusOr<TrainStats> TrainClassifierQat(FmnistCnn& model, const ImageDataset& data,
                                              const std::vector<int64_t>& indices,
                                              const TrainOptions& options, int weight_bits,
                                              int act_bits) {
  if (act_bits < 0 || act_bits > 8) {
    return absl::InvalidArgumentError(absl::StrFormat("activation bits %d not in 0..8", act_bits));
  }
  ASSIGN_OR_RETURN(QatState state, QatState::Create(*model, weight_bits, act_bits, kFmnistActPoints));
  return TrainClassifierQat(model, state, data, indices, options);
}

absl::StatusOr<double> EvaluateAccuracyQat(FmnistCnn& model, QatState& state,
                                           const ImageDataset& data) {
  if (data.count == 0) return absl::InvalidArgumentError("empty evaluation set");
  try {
    torch::NoGradGuard no_grad;
    model->eval();
    constexpr int64_t kBatch = 1000;
    std::vector<int64_t> idx(kBatch);
    int64_t correct = 0;
    for (int64_t start = 0; start < data.count; start += kBatch) {
      const int64_t n = std::min(kBatch, data.count - start);
      std::iota(idx.begin(), idx.begin() + n, start);
      auto [x, y] = MakeBatch(data, idx.data(), n);
      correct += QatForward(model, state, x).argmax(1).eq(y).sum().item<int64_t>();
    }
    return static_cast<double>(correct) / data.count;
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat("QAT evaluation failed: ", e.what_without_backtrace()));
  }
}

}  // namespace qfleet::ml
