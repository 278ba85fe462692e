#ifndef QFLEET_CLOUD_CHORD_CHORD_SERVICE_H_
#define QFLEET_CLOUD_CHORD_CHORD_SERVICE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <torch/types.h>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "cloud/model_backend.h"
#include "cloud/plan_generator.h"
#include "common/tensor_container.h"
#include "ml/chord/bundle_format.h"
#include "cloud/chord/chord_model.h"
#include "ml/seqrec/seqrec_model.h"

namespace qfleet::ml::chord {

// The container devices download: the frozen backbone, then the encoder
// under kEncoderPrefix (or, with query input, kBackboneQueryMarker).
TensorContainer BundleContainer(const SeqRecModel& backbone, const ChordModel& chord);

// The coordinator's model for a CHORD deployment: a fixed bundle (the
// backbone is frozen, nothing is aggregated). Evaluate reports nothing
// (-1): devices evaluate and report. Thread-safe.
class FrozenBundleBackend : public cloud::ModelBackend {
 public:
  explicit FrozenBundleBackend(TensorContainer bundle) : bundle_(std::move(bundle)) {}
  std::string Name() const override { return "chord-bundle"; }
  absl::StatusOr<TensorContainer> InitialModel(uint64_t) override { return bundle_; }
  absl::StatusOr<cloud::Evaluation> Evaluate(const TensorContainer&, const cloud::ServeSpec&) override {
    return cloud::Evaluation{};
  }

 private:
  TensorContainer bundle_;
};

// The fleet-wide plan of a per-channel static allocation `bits` (catalog
// order, at most four distinct widths): tier t holds the t-th widest
// width, and tier_bits says which. InvalidArgument for the wrong size, a
// width outside 1..8 or more than four distinct widths.
absl::StatusOr<cloud::FleetPlan> StaticFleetPlan(const ChannelCatalog& catalog,
                                                 const std::vector<int>& bits);

// CHORD's cloud side behind the coordinator's PlanGenerator: batched plan
// generation with the hypernetworks of `chord`, plus the fleet-wide
// "chord-mean" plan (from `mean_embedding` [1, E]) and, if given, "static".
class ChordPlanner : public cloud::PlanGenerator {
 public:
  static absl::StatusOr<std::unique_ptr<ChordPlanner>> Create(
      std::shared_ptr<ChordModel> chord, const torch::Tensor& mean_embedding,
      const std::vector<int>& static_bits, std::vector<double> tier_importance = {});

  std::string Id() const override { return id_; }
  int64_t EmbedDim() const override { return chord_->options().hypernet.embed_dim; }
  absl::StatusOr<std::vector<std::string>> Generate(const std::vector<float>& embeddings,
                                                    const std::vector<uint64_t>& versions) override;
  absl::StatusOr<cloud::FleetPlan> FleetPlanFor(const std::string& method) override;
  std::vector<double> TierImportance() const override { return tier_importance_; }

 private:
  ChordPlanner() = default;
  std::shared_ptr<ChordModel> chord_;
  std::string id_;
  absl::Mutex mu_;  // chord_ is not thread-safe
  cloud::FleetPlan mean_plan_;
  std::optional<cloud::FleetPlan> static_plan_;
  std::vector<double> tier_importance_;
};

}  // namespace qfleet::ml::chord

#endif  // QFLEET_CLOUD_CHORD_CHORD_SERVICE_H_
