#ifndef QFLEET_CLOUD_CHORD_CHORD_MODEL_H_
#define QFLEET_CLOUD_CHORD_CHORD_MODEL_H_

#include <array>
#include <cstdint>
#include <memory>
#include <vector>

#include <torch/types.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/budget_decode.h"
#include "common/plan_codec.h"
#include "common/tensor_container.h"
#include "kernels/device_kind.h"
#include "kernels/relevance_tiers.h"
#include "ml/chord/channel_catalog.h"
#include "cloud/chord/hypernetwork.h"
#include "cloud/chord/tiering.h"
#include "ml/chord/user_encoder.h"

namespace qfleet::ml::chord {

struct ChordOptions {
  UserEncoderOptions encoder;  // encoder.num_items: the backbone's
  HypernetOptions hypernet;    // hypernet.embed_dim must equal encoder.embed_dim
                               // (with query_input: the backbone query's width)
  TierPolicy tiers;
  double budget_bits = 3.0;    // the average bits the tier sizes are cut for
  uint64_t seed = 1;           // initial weights of encoder and hypernetworks
  // Rows of the input-only item table (chord_device.h InputOnlyItemLayer)
  // that a device keeps at tier 0 (KeepWindowRows): tier 0 leaves room for
  // them. 0: devices follow the plan on that table.
  int64_t window_rows = 0;
};

// CHORD for one frozen backbone: the device-side user encoder, the
// cloud-side hypernetworks and the tier cut, over a copy of the backbone's
// channel catalog. The coordinator's API is GeneratePlans (cloud) and the
// encoder container (shipped to devices, run with EncodeUsers). Not
// thread-safe: one instance per thread, or external locking.
class ChordModel {
 public:
  // InvalidArgument if the encoder options fail ValidateUserEncoderOptions,
  // the hypernetwork's embed_dim differs from the encoder's (with
  // hypernet.query_input: from the relevance rows' width, or relevance mode
  // is off), a size is < 1,
  // or TierFractions rejects the budget / policy.
  static absl::StatusOr<std::unique_ptr<ChordModel>> Create(const ChannelCatalog& catalog,
                                                            const ChordOptions& options);

  const ChordOptions& options() const { return options_; }
  const ChannelCatalog& catalog() const { return catalog_; }
  // Tier shares: TierFractions(budget, tiers), with one row of a per-user
  // table moved from tier 0 to tier 3 when the catalog has one (room for
  // the device's own row, KeepOwnRow).
  const std::array<double, 4>& fractions() const { return fractions_; }
  UserEncoder& encoder() { return encoder_; }
  ChordHypernet& hypernet() { return hypernet_; }

  // Tier codes [U, N] int64 (catalog order) for user embeddings [U, E]: one
  // batched hypernetwork forward per chunk of `chunk` users, then
  // AssignTiers; in relevance mode the queries of all users, then the plan
  // kernel (same ranking as AssignTiers on RankKey, relevance compared
  // exactly in double instead of as float z-scores). Runs without gradient
  // on the hypernetwork's device (the embeddings are moved there); the
  // codes come back on the CPU.
  // InvalidArgument for an undefined / non-float / non-2-D input, U == 0,
  // a width other than E, non-finite values, or chunk < 1; Internal if
  // LibTorch throws. Deterministic.
  absl::StatusOr<torch::Tensor> GenerateCodes(const torch::Tensor& user_embeddings,
                                              int64_t chunk = 1024);

  // Where relevance mode's plan kernel runs (kernels/relevance_tiers.h):
  // CUDA when this build and machine have it, else the CPU path. Every kind
  // gives the same codes. The other modes rank with LibTorch.
  kernels::DeviceKind plan_device() const { return plan_device_; }
  void set_plan_device(kernels::DeviceKind device) { plan_device_ = device; }

  // GenerateCodes, then one PrecisionPlan per user (catalog layer names and
  // channel counts, plan.version = version), each encodable with EncodePlan
  // in kPlanHeaderBytes + names + ceil(N / 4) bytes. Same failures.
  absl::StatusOr<std::vector<PrecisionPlan>> GeneratePlans(const torch::Tensor& user_embeddings,
                                                           uint64_t version, int64_t chunk = 1024);

  // The tier -> bits table a device with `decode` options would choose at
  // `budget_bits` for a plan cut at fractions(): DecodeForBudget on a plan
  // whose tiers hold exactly those shares. What training quantizes with.
  absl::StatusOr<BudgetDecision> ExpectedDecision(double budget_bits,
                                                  const BudgetDecodeOptions& decode) const;

  // Weights of the encoder / hypernetworks as FP32 containers (QFTC via
  // EncodeContainer) and back. LoadWeights: InvalidArgument if a container
  // does not match the shapes this model was created with.
  TensorContainer EncoderContainer() const;
  TensorContainer HypernetContainer() const;
  absl::Status LoadWeights(const TensorContainer& encoder, const TensorContainer& hypernet);

 private:
  ChordModel(const ChannelCatalog& catalog, const ChordOptions& options)
      : options_(options), catalog_(catalog) {}
  ChordOptions options_;
  ChannelCatalog catalog_;
  std::array<double, 4> fractions_{};
  UserEncoder encoder_{nullptr};
  ChordHypernet hypernet_{nullptr};
  std::shared_ptr<const kernels::RelevanceTierPlan> tier_plan_;  // relevance mode only
  kernels::DeviceKind plan_device_ = kernels::DeviceKind::kCpu;
};

}  // namespace qfleet::ml::chord

#endif  // QFLEET_CLOUD_CHORD_CHORD_MODEL_H_
