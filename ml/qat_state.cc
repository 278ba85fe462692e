#include "ml/qat_state.h"

#include <cmath>

#include <torch/torch.h>

#include "absl/strings/str_format.h"
#include "common/container_quant.h"
#include "ml/fake_quant_op.h"

namespace qfleet::ml {

absl::StatusOr<QatState> QatState::Create(const torch::nn::Module& module, int weight_bits,
                                          int act_bits, size_t act_points) {
  if (weight_bits < 2 || weight_bits > 8) {
    return absl::InvalidArgumentError(
        absl::StrFormat("QAT weight bits %d not in 2..8 (signed LSQ)", weight_bits));
  }
  if (act_bits < 0 || act_bits > 8) {
    return absl::InvalidArgumentError(
        absl::StrFormat("QAT activation bits %d not 0 (float) or 1..8", act_bits));
  }
  QatState state(weight_bits, act_bits);
  const QuantOptions deployed = DeployedWeightQuant();
  torch::NoGradGuard no_grad;
  for (const auto& item : module.named_parameters(/*recurse=*/true)) {
    const torch::Tensor& w = item.value();
    if (w.dim() < 2) continue;
    torch::Tensor rows = w.detach().to(torch::kFloat32).flatten(1).contiguous();
    const int64_t channels = rows.size(0), row = rows.size(1);
    torch::Tensor step = torch::ones({channels}, torch::kFloat32);
    const float* x = rows.data_ptr<float>();
    float* out = step.data_ptr<float>();
    for (int64_t c = 0; c < channels; ++c) {
      absl::StatusOr<ChannelParams> p =
          ChooseChannelParams(x + c * row, static_cast<size_t>(row), weight_bits, deployed);
      if (!p.ok()) {
        return absl::InvalidArgumentError(
            absl::StrFormat("QAT: weight '%s' channel %d: %s", item.key(), c, p.status().message()));
      }
      // An all-zero channel gets step 1 (scale 1 from the quantizer).
      out[c] = p->scale;
    }
    state.weight_steps_[item.key()] = step.set_requires_grad(true);
  }
  if (state.weight_steps_.empty()) {
    return absl::InvalidArgumentError("QAT: the module has no weight with >= 2 dims");
  }
  for (size_t i = 0; i < act_points; ++i) {
    state.act_steps_.push_back(torch::ones({}, torch::kFloat32).set_requires_grad(true));
  }
  state.act_initialised_.assign(act_points, false);
  return state;
}

torch::Tensor QatState::Weight(const std::string& param_name, const torch::Tensor& w) const {
  auto it = weight_steps_.find(param_name);
  TORCH_CHECK(it != weight_steps_.end(), "QatState: no step for weight '", param_name, "'");
  return FakeQuantLsq(w, it->second, weight_bits_, /*symmetric=*/true, /*axis=*/0);
}

torch::Tensor QatState::Activation(size_t point, const torch::Tensor& a) {
  TORCH_CHECK(point < act_steps_.size(), "QatState: activation point ", point, " of ",
              act_steps_.size());
  if (act_bits_ == 0) return a;
  const double qp = static_cast<double>(LsqIntegerRange(act_bits_, /*symmetric=*/false).qp);
  if (!act_initialised_[point]) {
    torch::NoGradGuard no_grad;
    const double mean_abs = a.detach().abs().mean().item<double>();
    const double init = mean_abs > 0 ? 2.0 * mean_abs / std::sqrt(qp) : 1.0;
    act_steps_[point].fill_(init);
    act_initialised_[point] = true;
  }
  return FakeQuantLsq(a, act_steps_[point], act_bits_, /*symmetric=*/false, /*axis=*/0);
}

absl::Status QatState::SetActivationSteps(const std::vector<double>& steps) {
  if (act_bits_ == 0) return absl::InvalidArgumentError("activations are not quantized");
  if (steps.size() != act_steps_.size()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%d activation steps for %d points", steps.size(), act_steps_.size()));
  }
  for (double s : steps) {
    if (!(s > 0) || !std::isfinite(s)) {
      return absl::InvalidArgumentError(absl::StrFormat("activation step %g", s));
    }
  }
  torch::NoGradGuard no_grad;
  for (size_t p = 0; p < steps.size(); ++p) {
    act_steps_[p].fill_(steps[p]);
    act_initialised_[p] = true;
  }
  return absl::OkStatus();
}

std::vector<torch::Tensor> QatState::StepParameters() const {
  std::vector<torch::Tensor> out;
  for (const auto& [name, step] : weight_steps_) out.push_back(step);
  for (const torch::Tensor& step : act_steps_) out.push_back(step);
  return out;
}

void QatState::ClampSteps(double min_step) {
  torch::NoGradGuard no_grad;
  for (auto& [name, step] : weight_steps_) step.clamp_min_(min_step);
  for (torch::Tensor& step : act_steps_) step.clamp_min_(min_step);
}

torch::Tensor QatState::weight_step(const std::string& param_name) const {
  auto it = weight_steps_.find(param_name);
  return it == weight_steps_.end() ? torch::Tensor() : it->second;
}

torch::Tensor QatState::act_step(size_t point) const {
  return point < act_steps_.size() ? act_steps_[point] : torch::Tensor();
}

}  // namespace qfleet::ml
