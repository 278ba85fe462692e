#include "ml/served_eval.h"

#include <cmath>
#include <numeric>

#include <torch/torch.h>

#include "absl/strings/str_format.h"
#include "common/quantizer.h"
#include "ml/trainer.h"

namespace qfleet::ml {
namespace {

torch::Tensor QuantizeActivation(const torch::Tensor& a, int bits, double step) {
  if (bits == 0) return a;
  const double levels = (1 << bits) - 1;
  return torch::clamp(torch::round(a / step), 0, levels) * step;
}

// The served forward pass with the ReLU output at activation point p
// replaced by act(p, output).
template <typename Act>
torch::Tensor ServedForward(FmnistCnn& model, torch::Tensor x, Act act) {
  x = torch::max_pool2d(act(0, torch::relu(model->conv1->forward(x))), 2);
  x = torch::max_pool2d(act(1, torch::relu(model->conv2->forward(x))), 2);
  x = act(2, torch::relu(model->fc1->forward(x.flatten(1))));
  return model->fc2->forward(x);
}

absl::Status CheckBits(int bits, int lo) {
  if (bits < lo || bits > 8) {
    return absl::InvalidArgumentError(
        absl::StrFormat("activation bits %d not in %d..8", bits, lo));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<double>> CalibrateActivationSteps(FmnistCnn& model,
                                                             const ImageDataset& calib,
                                                             int activation_bits) {
  if (calib.count == 0) return absl::InvalidArgumentError("empty calibration set");
  if (absl::Status s = CheckBits(activation_bits, 1); !s.ok()) return s;
  try {
    torch::NoGradGuard no_grad;
    model->eval();
    std::vector<int64_t> idx(calib.count);
    std::iota(idx.begin(), idx.end(), 0);
    auto [x, y] = MakeBatch(calib, idx.data(), idx.size());
    std::vector<double> steps;
    absl::Status failure = absl::OkStatus();
    const QuantOptions opt{QuantScheme::kAsymmetric, Observer::kMse};
    // Point p is calibrated on the output of a pass that quantizes points
    // 0..p-1 with the steps already chosen; later points pass through.
    for (size_t point = 0; point < kServedActPoints && failure.ok(); ++point) {
      ServedForward(model, x, [&](size_t p, const torch::Tensor& a) -> torch::Tensor {
        if (p < point) return QuantizeActivation(a, activation_bits, steps[p]);
        if (p > point || !failure.ok()) return a;
        const torch::Tensor flat = a.contiguous().to(torch::kFloat32).flatten();
        absl::StatusOr<ChannelParams> params = ChooseChannelParams(
            flat.data_ptr<float>(), static_cast<size_t>(flat.numel()), activation_bits, opt);
        if (!params.ok()) {
          failure = absl::InvalidArgumentError(absl::StrFormat(
              "activation point %d: %s", p, params.status().message()));
          return a;
        }
        // Post-ReLU values are >= 0, so the range starts at 0 (zero point 0).
        if (params->zero_point != 0) {
          failure = absl::InternalError(absl::StrFormat(
              "activation point %d: zero point %d for a post-ReLU range", p,
              params->zero_point));
          return a;
        }
        steps.push_back(params->scale);
        return QuantizeActivation(a, activation_bits, params->scale);
      });
    }
    if (!failure.ok()) return failure;
    return steps;
  } catch (const c10::Error& e) {
    return absl::InternalError(std::string("activation calibration failed: ") +
                               e.what_without_backtrace());
  }
}

absl::StatusOr<double> EvaluateServedAccuracy(FmnistCnn& model, const ImageDataset& data,
                                              int activation_bits,
                                              const std::vector<double>& steps) {
  if (data.count == 0) return absl::InvalidArgumentError("empty evaluation set");
  if (absl::Status s = CheckBits(activation_bits, 0); !s.ok()) return s;
  if (activation_bits > 0) {
    if (steps.size() != kServedActPoints) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%d activation steps for %d points", steps.size(), kServedActPoints));
    }
    for (double s : steps) {
      if (!(s > 0) || !std::isfinite(s)) {
        return absl::InvalidArgumentError(absl::StrFormat("activation step %g", s));
      }
    }
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
      torch::Tensor logits =
          ServedForward(model, x, [&](size_t p, const torch::Tensor& a) -> torch::Tensor {
            return activation_bits == 0 ? a : QuantizeActivation(a, activation_bits, steps[p]);
          });
      correct += logits.argmax(1).eq(y).sum().item<int64_t>();
    }
    return static_cast<double>(correct) / data.count;
  } catch (const c10::Error& e) {
    return absl::InternalError(std::string("served evaluation failed: ") + e.what_without_backtrace());
  }
}

}  // namespace qfleet::ml
