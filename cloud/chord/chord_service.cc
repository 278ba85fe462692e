#include "cloud/chord/chord_service.h"

#include <cmath>

#include <algorithm>
#include <functional>

#include <torch/torch.h>

#include "absl/strings/str_format.h"
#include "common/plan_codec.h"
#include "common/sha256.h"
#include "common/status_macros.h"
#include "cloud/chord/tiering.h"
#include "ml/model_io.h"

namespace qfleet::ml::chord {

TensorContainer BundleContainer(const SeqRecModel& backbone, const ChordModel& chord) {
  TensorContainer out = ModuleToContainer(backbone);
  if (chord.options().hypernet.query_input) {
    Tensor marker;
    marker.name = kBackboneQueryMarker;
    marker.shape = {1};
    marker.values = {1.0f};
    out.tensors.push_back(std::move(marker));
    return out;
  }
  for (Tensor t : chord.EncoderContainer().tensors) {
    t.name = kEncoderPrefix + t.name;
    out.tensors.push_back(std::move(t));
  }
  return out;
}

absl::StatusOr<cloud::FleetPlan> StaticFleetPlan(const ChannelCatalog& catalog,
                                                 const std::vector<int>& bits) {
  if (static_cast<int64_t>(bits.size()) != catalog.total_channels()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "static allocation has %d widths for %d channels", bits.size(), catalog.total_channels()));
  }
  std::vector<int> widths;
  for (int b : bits) {
    if (b < 1 || b > 8) return absl::InvalidArgumentError(absl::StrFormat("static width %d", b));
    if (std::find(widths.begin(), widths.end(), b) == widths.end()) widths.push_back(b);
  }
  if (widths.size() > 4) {
    return absl::InvalidArgumentError("a static allocation with more than four widths has no plan");
  }
  std::sort(widths.begin(), widths.end(), std::greater<int>());
  while (widths.size() < 4) widths.push_back(widths.back());
  torch::Tensor codes = torch::empty({catalog.total_channels()}, torch::kLong);
  for (size_t c = 0; c < bits.size(); ++c) {
    codes[static_cast<int64_t>(c)] = std::find(widths.begin(), widths.end(), bits[c]) - widths.begin();
  }
  ASSIGN_OR_RETURN(PrecisionPlan plan, PlanFromCodes(catalog, codes, 0));
  cloud::FleetPlan out;
  ASSIGN_OR_RETURN(out.bytes, EncodePlan(plan));
  out.tier_bits = widths;
  return out;
}

absl::StatusOr<std::unique_ptr<ChordPlanner>> ChordPlanner::Create(
    std::shared_ptr<ChordModel> chord, const torch::Tensor& mean_embedding,
    const std::vector<int>& static_bits, std::vector<double> tier_importance) {
  if (chord == nullptr) return absl::InvalidArgumentError("planner needs a CHORD model");
  if (!tier_importance.empty()) {
    bool ok = tier_importance.size() == 4;
    for (double w : tier_importance) ok = ok && std::isfinite(w) && w > 0;
    if (!ok) return absl::InvalidArgumentError("tier importance needs four finite values > 0");
  }
  std::unique_ptr<ChordPlanner> p(new ChordPlanner());
  p->tier_importance_ = std::move(tier_importance);
  p->chord_ = std::move(chord);
  // The id names everything a plan depends on besides its embedding: the
  // hypernetworks, the FP32 rows they rank (the backbone), the tier cut,
  // the weights shipped with plans and the embedding mode.
  ASSIGN_OR_RETURN(std::string key, EncodeContainer(p->chord_->HypernetContainer()));
  const ChannelCatalog& catalog = p->chord_->catalog();
  std::string rows;
  for (int64_t l = 0; l < catalog.num_layers(); ++l) {
    const torch::Tensor r = catalog.rows(l).to(torch::kFloat32).contiguous();
    rows.append(reinterpret_cast<const char*>(r.data_ptr<float>()), sizeof(float) * r.numel());
  }
  key += Sha256Hex(rows);
  for (double f : p->chord_->fractions()) key += absl::StrFormat("|%.17g", f);
  for (double w : p->tier_importance_) key += absl::StrFormat("|w%.17g", w);
  key += p->chord_->options().hypernet.query_input ? "|query" : "|encoder";
  p->id_ = Sha256Hex(key).substr(0, 16);
  ASSIGN_OR_RETURN(std::vector<PrecisionPlan> mean, p->chord_->GeneratePlans(mean_embedding, 0));
  if (mean.size() != 1) return absl::InvalidArgumentError("mean embedding must be [1, E]");
  ASSIGN_OR_RETURN(p->mean_plan_.bytes, EncodePlan(mean[0]));
  if (!static_bits.empty()) {
    ASSIGN_OR_RETURN(cloud::FleetPlan s, StaticFleetPlan(p->chord_->catalog(), static_bits));
    p->static_plan_ = std::move(s);
  }
  return p;
}

absl::StatusOr<std::vector<std::string>> ChordPlanner::Generate(
    const std::vector<float>& embeddings, const std::vector<uint64_t>& versions) {
  const int64_t width = EmbedDim(), n = static_cast<int64_t>(versions.size());
  if (n == 0 || static_cast<int64_t>(embeddings.size()) != n * width) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%d embedding values for %d plans of width %d", embeddings.size(), n, width));
  }
  torch::Tensor e = torch::from_blob(const_cast<float*>(embeddings.data()), {n, width},
                                     torch::kFloat32)
                        .clone();
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(torch::Tensor codes, chord_->GenerateCodes(e));
  std::vector<std::string> out;
  out.reserve(n);
  for (int64_t u = 0; u < n; ++u) {
    ASSIGN_OR_RETURN(PrecisionPlan plan, PlanFromCodes(chord_->catalog(), codes[u], versions[u]));
    ASSIGN_OR_RETURN(std::string bytes, EncodePlan(plan));
    out.push_back(std::move(bytes));
  }
  return out;
}

absl::StatusOr<cloud::FleetPlan> ChordPlanner::FleetPlanFor(const std::string& method) {
  if (method == "chord-mean") return mean_plan_;
  if (method == "static" && static_plan_.has_value()) return *static_plan_;
  return absl::NotFoundError("no fleet-wide plan '" + method.substr(0, 64) + "'");
}

}  // namespace qfleet::ml::chord
