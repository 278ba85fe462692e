#include "cloud/chord/chord_model.h"

#include <algorithm>

#include <torch/torch.h>

#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "ml/chord/chord_device.h"
#include "ml/model_io.h"

namespace qfleet::ml::chord {

absl::StatusOr<std::unique_ptr<ChordModel>> ChordModel::Create(const ChannelCatalog& catalog,
                                                               const ChordOptions& options) {
  RETURN_IF_ERROR(ValidateUserEncoderOptions(options.encoder));
  const HypernetOptions& h = options.hypernet;
  if (h.query_input) {
    // The device sends the backbone's query: as wide as the relevance rows.
    if (h.relevance_layer.empty()) {
      return absl::InvalidArgumentError("the backbone's query as user embedding needs relevance mode");
    }
    ASSIGN_OR_RETURN(const RelevanceLayout layout, RelevanceLayout::Create(catalog, h));
    const int64_t width = layout.width();
    if (h.embed_dim != width) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "hypernetwork embed_dim %d differs from the backbone query's %d", h.embed_dim, width));
    }
  } else if (h.embed_dim != options.encoder.embed_dim) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "hypernetwork embed_dim %d differs from the encoder's %d", h.embed_dim,
        options.encoder.embed_dim));
  }
  if (h.hidden < 1 || h.key_dim < 1 || h.element_rank < 1) {
    return absl::InvalidArgumentError("hypernetwork sizes must be >= 1");
  }
  if (!h.relevance_layer.empty()) RETURN_IF_ERROR(RelevanceLayout::Create(catalog, h).status());
  ASSIGN_OR_RETURN(auto fractions, TierFractions(options.budget_bits, options.tiers));
  // A device keeps its own row of a per-user table and its window's rows of
  // an input-only item table at tier 0 whatever the plan says (KeepOwnRow,
  // KeepWindowRows): tier 0 leaves room for them (plus one element of
  // slack), moved to tier 3, so the reference table still meets the budget
  // on the device.
  ASSIGN_OR_RETURN(const int64_t kept, ElementsKeptOnTop(catalog, options.window_rows));
  if (kept > 0) {
    const double room = std::min(fractions[0], static_cast<double>(kept + 1) /
                                                   static_cast<double>(catalog.total_elements()));
    fractions[0] -= room;
    fractions[3] += room;
  }
  std::unique_ptr<ChordModel> m(new ChordModel(catalog, options));
  m->fractions_ = fractions;
  m->encoder_ = UserEncoder(options.encoder, options.seed);
  m->hypernet_ = ChordHypernet(m->catalog_, h, options.seed + 1);
  if (const auto& layout = m->hypernet_->relevance_layout(); layout.has_value()) {
    ASSIGN_OR_RETURN(kernels::RelevanceTierPlan plan,
                     kernels::RelevanceTierPlan::Create(layout->TierSpec(m->catalog_, fractions)));
    m->tier_plan_ = std::make_shared<const kernels::RelevanceTierPlan>(std::move(plan));
  }
  m->plan_device_ = kernels::CudaAvailable() ? kernels::DeviceKind::kCuda : kernels::DeviceKind::kCpu;
  return m;
}

absl::StatusOr<torch::Tensor> ChordModel::GenerateCodes(const torch::Tensor& e, int64_t chunk) {
  const int64_t width = options_.hypernet.embed_dim;
  if (!e.defined() || e.dim() != 2 || !e.is_floating_point()) {
    return absl::InvalidArgumentError("user embeddings must be a float [U, E] tensor");
  }
  if (e.size(0) == 0) return absl::InvalidArgumentError("empty user batch");
  if (e.size(1) != width) {
    return absl::InvalidArgumentError(
        absl::StrFormat("user embeddings are %d wide, expected %d", e.size(1), width));
  }
  if (chunk < 1) return absl::InvalidArgumentError("chunk must be >= 1");
  if (!torch::isfinite(e).all().item<bool>()) {
    return absl::InvalidArgumentError("user embeddings hold NaN or Inf");
  }
  try {
    torch::NoGradGuard no_grad;
    const torch::Device device = hypernet_->channel_bias.device();
    if (tier_plan_ != nullptr) {
      // Relevance mode: the hypernetwork gives each user's query, the plan
      // kernel ranks and cuts (CUDA where present).
      torch::Tensor q = hypernet_->RelevanceQuery(e.to(device).to(torch::kFloat32))
                            .to(torch::kCPU)
                            .contiguous();
      torch::Tensor codes = torch::empty({e.size(0), catalog_.total_channels()}, torch::kUInt8);
      RETURN_IF_ERROR(kernels::RelevanceTierCodes(plan_device_, *tier_plan_, q.data_ptr<float>(),
                                                  static_cast<size_t>(e.size(0)),
                                                  codes.data_ptr<uint8_t>()));
      return codes.to(torch::kLong);
    }
    torch::Tensor elements = catalog_.elements().to(device);
    std::vector<torch::Tensor> out;
    for (int64_t start = 0; start < e.size(0); start += chunk) {
      torch::Tensor part = e.slice(0, start, std::min(e.size(0), start + chunk))
                               .to(device)
                               .to(torch::kFloat32);
      HypernetScores s = hypernet_->forward(part);
      out.push_back(AssignTiers(s.log_score, elements, fractions_).to(torch::kCPU));
    }
    return torch::cat(out, 0);
  } catch (const c10::Error& err) {
    return absl::InternalError(err.what_without_backtrace());
  }
}

absl::StatusOr<std::vector<PrecisionPlan>> ChordModel::GeneratePlans(const torch::Tensor& e,
                                                                     uint64_t version,
                                                                     int64_t chunk) {
  ASSIGN_OR_RETURN(torch::Tensor codes, GenerateCodes(e, chunk));
  std::vector<PrecisionPlan> plans;
  plans.reserve(codes.size(0));
  for (int64_t u = 0; u < codes.size(0); ++u) {
    ASSIGN_OR_RETURN(PrecisionPlan p, PlanFromCodes(catalog_, codes[u], version));
    plans.push_back(std::move(p));
  }
  return plans;
}

absl::StatusOr<BudgetDecision> ChordModel::ExpectedDecision(
    double budget_bits, const BudgetDecodeOptions& decode) const {
  // One ranking that is the same for everyone: the channel order itself.
  torch::Tensor scores = -torch::arange(catalog_.total_channels(), torch::kFloat32).unsqueeze(0);
  torch::Tensor codes = AssignTiers(scores, catalog_.elements(), fractions_);
  ASSIGN_OR_RETURN(PrecisionPlan plan, PlanFromCodes(catalog_, codes[0], 0));
  return DecodeForBudget(plan, catalog_.RowLengths(), budget_bits, decode);
}

TensorContainer ChordModel::EncoderContainer() const { return ModuleToContainer(*encoder_); }
TensorContainer ChordModel::HypernetContainer() const { return ModuleToContainer(*hypernet_); }

absl::Status ChordModel::LoadWeights(const TensorContainer& encoder,
                                     const TensorContainer& hypernet) {
  RETURN_IF_ERROR(LoadContainer(encoder, *encoder_));
  return LoadContainer(hypernet, *hypernet_);
}

}  // namespace qfleet::ml::chord
