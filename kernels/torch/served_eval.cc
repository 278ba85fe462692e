#include "kernels/torch/served_eval.h"

#include <numeric>

#include <torch/torch.h>

#include "absl/strings/str_format.h"
#include "kernels/torch/trainer.h"

namespace qfleet::torchq {
namespace {

torch::Tensor QuantizeActivation(const torch::Tensor& a, int bits) {
  if (bits == 0) return a;
  const double levels = (1 << bits) - 1;
  const double max = a.max().item<double>();
  if (!(max > 0)) return a;
  const double scale = max / levels;
  return torch::clamp(torch::round(a / scale), 0, levels) * scale;
}

}  // namespace

absl::StatusOr<double> EvaluateServedAccuracy(FmnistCnn& model, const ImageDataset& data,
                                              int activation_bits) {
  if (data.count == 0) return absl::InvalidArgumentError("empty evaluation set");
  if (activation_bits < 0 || activation_bits > 8) {
    return absl::InvalidArgumentError(
        absl::StrFormat("activation bits %d not in 0..8", activation_bits));
  }
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
      x = torch::max_pool2d(QuantizeActivation(torch::relu(model->conv1->forward(x)), activation_bits), 2);
      x = torch::max_pool2d(QuantizeActivation(torch::relu(model->conv2->forward(x)), activation_bits), 2);
      x = QuantizeActivation(torch::relu(model->fc1->forward(x.flatten(1))), activation_bits);
      correct += model->fc2->forward(x).argmax(1).eq(y).sum().item<int64_t>();
    }
    return static_cast<double>(correct) / data.count;
  } catch (const c10::Error& e) {
    return absl::InternalError(std::string("served evaluation failed: ") + e.what_without_backtrace());
  }
}

}  // namespace qfleet::torchq
