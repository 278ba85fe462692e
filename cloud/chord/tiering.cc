#include "cloud/chord/tiering.h"

#include <cmath>

#include <torch/torch.h>

#include "absl/strings/str_format.h"

namespace qfleet::ml::chord {
namespace {

// Cumulative element share at which each of the three cuts lies, per user:
// [U, 3] (on the scores' device).
torch::Tensor Cuts(const torch::Tensor& total, const std::array<double, 4>& f) {
  const double eps = 1e-9;
  std::vector<torch::Tensor> cuts;
  double acc = 0;
  for (int t = 0; t < 3; ++t) {
    acc += f[t];
    cuts.push_back(total * (acc + eps));
  }
  return torch::cat(cuts, 1);
}

}  // namespace

absl::StatusOr<std::array<double, 4>> TierFractions(double budget, const TierPolicy& policy) {
  const auto& b = policy.reference_bits;
  for (int t = 0; t < 4; ++t) {
    if (b[t] < 0 || b[t] > 8 || (t > 0 && b[t] > b[t - 1])) {
      return absl::InvalidArgumentError("reference bits must be non-increasing within 0..8");
    }
  }
  if (b[0] <= b[3]) return absl::InvalidArgumentError("reference bits need b0 > b3");
  const double m1 = policy.middle_share[0], m2 = policy.middle_share[1];
  if (!(m1 >= 0 && m2 >= 0 && m1 + m2 <= 1)) {
    return absl::InvalidArgumentError("middle shares must lie in [0, 1] and sum to at most 1");
  }
  if (!std::isfinite(budget) || budget < b[3] || budget > b[0]) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "budget %g bits outside the reference range [%d, %d]", budget, b[3], b[0]));
  }
  const double r0 = b[0] - b[3], r1 = b[1] - b[3], r2 = b[2] - b[3];
  const double spare = budget - b[3];  // bits above the floor to spend
  const double middle = m1 * r1 + m2 * r2;
  std::array<double, 4> f = {0, m1, m2, 0};
  f[0] = (spare - middle) / r0;
  if (f[0] < 0) {
    const double alpha = middle > 0 ? spare / middle : 0;
    f = {0, m1 * alpha, m2 * alpha, 0};
  } else if (f[0] + m1 + m2 > 1) {
    // f3 = 0: x b0 + beta (m1 b1 + m2 b2) = budget, x + beta (m1 + m2) = 1.
    const double mb = m1 * b[1] + m2 * b[2], ms = m1 + m2;
    const double det = b[0] * ms - mb;
    double beta = det != 0 ? (b[0] - budget) / det : 0;
    beta = std::clamp(beta, 0.0, ms > 0 ? 1.0 / ms : 0.0);
    f = {1 - beta * ms, m1 * beta, m2 * beta, 0};
  }
  f[3] = std::max(0.0, 1.0 - f[0] - f[1] - f[2]);
  return f;
}

torch::Tensor AssignTiers(const torch::Tensor& scores, const torch::Tensor& elements,
                          const std::array<double, 4>& fractions) {
  TORCH_CHECK(scores.dim() == 2 && elements.dim() == 1 && elements.size(0) == scores.size(1),
              "AssignTiers: scores [U, N], elements [N]");
  torch::NoGradGuard no_grad;
  auto sorted = scores.detach().sort(/*stable=*/true, /*dim=*/1, /*descending=*/true);
  const torch::Tensor& order = std::get<1>(sorted);
  torch::Tensor el = elements.to(scores.device()).to(torch::kFloat64).index_select(0, order.reshape({-1}))
                         .view(order.sizes());
  torch::Tensor cum = el.cumsum(1);
  torch::Tensor cuts = Cuts(cum.select(1, -1).unsqueeze(1), fractions);  // [U, 3]
  torch::Tensor tier = torch::zeros_like(order);
  for (int t = 0; t < 3; ++t) tier += cum.gt(cuts.slice(1, t, t + 1)).to(torch::kLong);
  return torch::empty_like(order).scatter_(1, order, tier);
}

torch::Tensor SoftTiers(const torch::Tensor& scores, const torch::Tensor& elements,
                        const std::array<double, 4>& fractions, double temperature) {
  TORCH_CHECK(temperature > 0, "SoftTiers: temperature must be > 0");
  torch::Tensor tau, sd;
  {
    torch::NoGradGuard no_grad;
    torch::Tensor z = scores.detach();
    auto sorted = z.sort(/*stable=*/true, 1, true);
    const torch::Tensor& values = std::get<0>(sorted);
    const torch::Tensor& order = std::get<1>(sorted);
    const int64_t n = z.size(1);
    torch::Tensor el = elements.to(z.device()).to(torch::kFloat64).index_select(0, order.reshape({-1}))
                           .view(order.sizes());
    torch::Tensor cum = el.cumsum(1);
    torch::Tensor cuts = Cuts(cum.select(1, -1).unsqueeze(1), fractions);
    std::vector<torch::Tensor> taus;
    for (int t = 0; t < 3; ++t) {
      // Channels inside cut t: the first `inside` of the sorted order.
      torch::Tensor inside = cum.le(cuts.slice(1, t, t + 1)).sum(1, true);  // [U, 1]
      torch::Tensor last_in = values.gather(1, (inside - 1).clamp(0, n - 1));
      torch::Tensor first_out = values.gather(1, inside.clamp(0, n - 1));
      // All inside: threshold below everything; none inside: above.
      torch::Tensor t_mid = 0.5 * (last_in + first_out);
      t_mid = torch::where(inside.ge(n), values.select(1, -1).unsqueeze(1) - 1e3, t_mid);
      t_mid = torch::where(inside.le(0), values.select(1, 0).unsqueeze(1) + 1e3, t_mid);
      taus.push_back(t_mid);
    }
    tau = torch::cat(taus, 1);  // [U, 3], non-increasing
    sd = z.std(1, /*unbiased=*/false, /*keepdim=*/true).clamp_min(1e-6);
  }
  torch::Tensor cdf = torch::sigmoid((scores.unsqueeze(2) - tau.unsqueeze(1)) /
                                     (temperature * sd.unsqueeze(2)));  // [U, N, 3]
  torch::Tensor p0 = cdf.select(2, 0);
  torch::Tensor p1 = (cdf.select(2, 1) - cdf.select(2, 0)).clamp_min(0);
  torch::Tensor p2 = (cdf.select(2, 2) - cdf.select(2, 1)).clamp_min(0);
  torch::Tensor p3 = 1 - cdf.select(2, 2);
  return torch::stack({p0, p1, p2, p3}, 2);
}

absl::StatusOr<PrecisionPlan> PlanFromCodes(const ChannelCatalog& catalog,
                                            const torch::Tensor& codes, uint64_t version) {
  if (!codes.defined() || codes.dim() != 1 || codes.size(0) != catalog.total_channels()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "codes must be [%d] (one per channel)", catalog.total_channels()));
  }
  torch::Tensor c = codes.to(torch::kCPU).to(torch::kLong).contiguous();
  if (c.numel() > 0 && (c.min().item<int64_t>() < 0 || c.max().item<int64_t>() > 3)) {
    return absl::InvalidArgumentError("tier codes must be 0..3");
  }
  PrecisionPlan plan;
  plan.version = version;
  for (const ChordLayer& l : catalog.layers()) {
    plan.layer_names.push_back(l.name);
    plan.channels.push_back(static_cast<uint32_t>(l.channels));
  }
  const int64_t* p = c.data_ptr<int64_t>();
  plan.codes.assign(p, p + c.numel());
  return plan;
}

}  // namespace qfleet::ml::chord
