#include "cloud/fedhq/fedhq_selector.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include <nlohmann/json.hpp>

#include "absl/strings/str_format.h"
#include "common/status_macros.h"

namespace qfleet::cloud {
namespace {

constexpr int kFeatures = 4;
constexpr int kMinObservations = 4;

std::vector<double> Features(double distance, double weight) {
  return {1.0, distance, distance * distance, weight};
}

// Solves (A + lambda I) x = b for a small dense system (Gaussian elimination
// with partial pivoting). A is kFeatures x kFeatures.
std::vector<double> Solve(std::vector<std::vector<double>> a, std::vector<double> b) {
  const int n = static_cast<int>(b.size());
  for (int col = 0; col < n; ++col) {
    int pivot = col;
    for (int r = col + 1; r < n; ++r) {
      if (std::fabs(a[r][col]) > std::fabs(a[pivot][col])) pivot = r;
    }
    std::swap(a[col], a[pivot]);
    std::swap(b[col], b[pivot]);
    if (std::fabs(a[col][col]) < 1e-15) continue;
    for (int r = 0; r < n; ++r) {
      if (r == col) continue;
      const double f = a[r][col] / a[col][col];
      for (int k = col; k < n; ++k) a[r][k] -= f * a[col][k];
      b[r] -= f * b[col];
    }
  }
  std::vector<double> x(n, 0);
  for (int i = 0; i < n; ++i) x[i] = std::fabs(a[i][i]) < 1e-15 ? 0 : b[i] / a[i][i];
  return x;
}

}  // namespace

double LabelDistance(const std::vector<uint64_t>& a, const std::vector<uint64_t>& b) {
  const double sa = std::accumulate(a.begin(), a.end(), 0.0);
  const double sb = std::accumulate(b.begin(), b.end(), 0.0);
  if (sa == 0 || sb == 0) return 0;
  const size_t n = std::max(a.size(), b.size());
  double tv = 0;
  for (size_t k = 0; k < n; ++k) {
    const double pa = k < a.size() ? a[k] / sa : 0;
    const double pb = k < b.size() ? b[k] / sb : 0;
    tv += std::fabs(pa - pb);
  }
  return tv / 2;
}

FedHqSelector::FedHqSelector(FedHqOptions options) : options_(options) {}

double FedHqSelector::PredictGap(double distance, double weight) const {
  if (!options_.learned || static_cast<int>(ys_.size()) < kMinObservations || beta_.empty()) {
    return -1;  // no model yet
  }
  const std::vector<double> f = Features(distance, weight);
  double y = 0;
  for (int k = 0; k < kFeatures; ++k) y += beta_[k] * f[k];
  return y;
}

absl::StatusOr<std::vector<ClientAnalysis>> FedHqSelector::Analyze(
    const std::vector<ClientView>& clients, const RoundContext& ctx) const {
  if (!ctx.costs.valid()) return absl::InvalidArgumentError("FedHQ needs calibrated step costs");
  std::vector<uint64_t> global;
  double total_samples = 0;
  for (const ClientView& c : clients) {
    if (global.size() < c.label_histogram.size()) global.resize(c.label_histogram.size(), 0);
    for (size_t k = 0; k < c.label_histogram.size(); ++k) global[k] += c.label_histogram[k];
    total_samples += static_cast<double>(c.samples);
  }
  std::vector<ClientAnalysis> out;
  out.reserve(clients.size());
  for (const ClientView& c : clients) {
    ClientAnalysis a;
    a.device_id = c.device_id;
    const int64_t steps = LocalSteps(c.samples, ctx.batch_size, ctx.local_epochs, ctx.max_steps);
    ASSIGN_OR_RETURN(double qat, ComputeSeconds(ctx.costs, "qat", steps, c.gflops));
    ASSIGN_OR_RETURN(double ptq, ComputeSeconds(ctx.costs, "ptq", steps, c.gflops));
    ASSIGN_OR_RETURN(double ptq_gap, ComputeSeconds(ctx.costs, "ptq", steps, c.gflops, 1.0, true));
    double correction = 1.0;
    if (options_.learned) {
      auto it = time_correction_.find(c.device_id);
      if (it != time_correction_.end()) correction = it->second;
    }
    const double transfer =
        TransferSeconds(ctx.model_bytes, ctx.upload_bytes, c.downlink_kbps, c.uplink_kbps);
    a.t_qat = qat * correction + transfer;
    a.t_ptq = ptq * correction + transfer;
    a.t_ptq_gap = ptq_gap * correction + transfer;
    a.label_distance = LabelDistance(c.label_histogram, global);
    a.weight = total_samples > 0 ? c.samples / total_samples : 0;
    // Coarse data analysis: PTQ error lands in the aggregate in proportion
    // to the client's weight, and more so when its data pull the model away
    // from the fleet's distribution.
    a.ptq_harm = a.weight * (0.25 + a.label_distance);
    const double gap = PredictGap(a.label_distance, a.weight);
    if (gap >= 0) a.ptq_harm = a.weight * std::max(gap, 1e-6);
    out.push_back(a);
  }
  return out;
}

absl::StatusOr<std::vector<std::string>> FedHqSelector::Assign(
    const std::vector<ClientView>& clients, const RoundContext& ctx,
    std::vector<ClientAnalysis>* analyses, std::vector<bool>* gap_checks) {
  ASSIGN_OR_RETURN(std::vector<ClientAnalysis> a, Analyze(clients, ctx));
  const size_t n = a.size();
  std::vector<std::string> strategy(n, "qat");
  if (gap_checks != nullptr) gap_checks->assign(n, false);
  if (n == 0) return strategy;
  double mean_harm = 0;
  for (const ClientAnalysis& c : a) mean_harm += c.ptq_harm;
  mean_harm /= static_cast<double>(n);
  const double keep_threshold = options_.keep_qat_ratio * mean_harm;

  auto time_of = [&](size_t i) { return strategy[i] == "qat" ? a[i].t_qat : a[i].t_ptq; };
  const double deadline = ctx.deadline_s > 0 ? ctx.deadline_s : 0;
  std::vector<bool> rescued(n, false);
  if (deadline > 0) {
    for (size_t i = 0; i < n; ++i) {
      if (a[i].t_qat > deadline && a[i].t_ptq <= deadline) {
        strategy[i] = "ptq";
        rescued[i] = true;
      }
    }
  }
  // Shorten the critical path: move its client to PTQ while that helps and
  // the client's predicted harm is tolerable.
  for (size_t guard = 0; guard < n; ++guard) {
    size_t critical = 0;
    for (size_t i = 1; i < n; ++i) {
      if (time_of(i) > time_of(critical) ||
          (time_of(i) == time_of(critical) && a[i].device_id < a[critical].device_id)) {
        critical = i;
      }
    }
    if (strategy[critical] != "qat" || a[critical].t_ptq >= a[critical].t_qat ||
        a[critical].ptq_harm > keep_threshold) {
      break;
    }
    strategy[critical] = "ptq";
  }
  // Everyone whose QAT time fits inside the round keeps QAT.
  // Clients that cannot make the deadline either way do not set the round's
  // length: the coordinator stops waiting at the deadline.
  double round_s = 0;
  for (size_t i = 0; i < n; ++i) {
    if (deadline <= 0 || time_of(i) <= deadline) round_s = std::max(round_s, time_of(i));
  }
  for (size_t i = 0; i < n; ++i) {
    if (strategy[i] == "ptq" && !rescued[i] && a[i].t_qat <= round_s) strategy[i] = "qat";
  }
  if (gap_checks != nullptr && options_.learned) {
    // The round as assigned: a check is asked for only inside it.
    double final_s = 0;
    for (size_t i = 0; i < n; ++i) {
      if (deadline <= 0 || time_of(i) <= deadline) final_s = std::max(final_s, time_of(i));
    }
    for (size_t i = 0; i < n; ++i) {
      (*gap_checks)[i] = strategy[i] == "ptq" && a[i].t_ptq_gap <= final_s &&
                         (deadline <= 0 || a[i].t_ptq_gap <= deadline);
    }
  }
  if (analyses != nullptr) *analyses = std::move(a);
  return strategy;
}

void FedHqSelector::Observe(const std::vector<ClientOutcome>& outcomes) {
  if (!options_.learned) return;
  for (const ClientOutcome& o : outcomes) {
    if (o.predicted_s > 0 && o.observed_s > 0 && std::isfinite(o.observed_s)) {
      const double ratio = o.observed_s / o.predicted_s;
      auto it = time_correction_.find(o.device_id);
      const double prev = it == time_correction_.end() ? 1.0 : it->second;
      // Predictions already include the previous correction.
      const double updated = prev * ((1 - options_.time_ema) + options_.time_ema * ratio);
      time_correction_[o.device_id] = std::clamp(updated, 0.05, 50.0);
    }
    if (o.strategy == "ptq" && std::isfinite(o.quant_gap)) {
      xs_.push_back(Features(o.label_distance, o.weight));
      ys_.push_back(std::max(0.0, o.quant_gap));
    }
  }
  Refit();
}

void FedHqSelector::Refit() {
  if (static_cast<int>(ys_.size()) < kMinObservations) return;
  std::vector<std::vector<double>> ata(kFeatures, std::vector<double>(kFeatures, 0));
  std::vector<double> atb(kFeatures, 0);
  for (size_t r = 0; r < ys_.size(); ++r) {
    for (int i = 0; i < kFeatures; ++i) {
      atb[i] += xs_[r][i] * ys_[r];
      for (int j = 0; j < kFeatures; ++j) ata[i][j] += xs_[r][i] * xs_[r][j];
    }
  }
  for (int i = 0; i < kFeatures; ++i) ata[i][i] += options_.ridge_lambda * ys_.size();
  beta_ = Solve(ata, atb);
}

std::string FedHqSelector::Serialize() const {
  nlohmann::json j;
  nlohmann::json corr = nlohmann::json::object();
  for (const auto& [id, r] : time_correction_) corr[std::to_string(id)] = r;
  j["time_correction"] = corr;
  j["xs"] = xs_;
  j["ys"] = ys_;
  return j.dump();
}

absl::Status FedHqSelector::Restore(absl::string_view state) {
  nlohmann::json j = nlohmann::json::parse(state.begin(), state.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::InvalidArgumentError("selector state is not a JSON object");
  }
  try {
    std::map<uint64_t, double> corr;
    for (const auto& [id, r] : j.at("time_correction").items()) corr[std::stoull(id)] = r.get<double>();
    auto xs = j.at("xs").get<std::vector<std::vector<double>>>();
    auto ys = j.at("ys").get<std::vector<double>>();
    if (xs.size() != ys.size()) return absl::InvalidArgumentError("selector state: xs/ys differ");
    for (const auto& x : xs) {
      if (x.size() != kFeatures) return absl::InvalidArgumentError("selector state: bad features");
    }
    time_correction_ = std::move(corr);
    xs_ = std::move(xs);
    ys_ = std::move(ys);
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(std::string("selector state: ") + e.what());
  }
  Refit();
  return absl::OkStatus();
}

}  // namespace qfleet::cloud
