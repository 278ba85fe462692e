#ifndef QFLEET_ML_CHORD_CHORD_DEVICE_H_
#define QFLEET_ML_CHORD_CHORD_DEVICE_H_

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <torch/types.h>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/budget_decode.h"
#include "common/tensor_container.h"
#include "ml/chord/channel_catalog.h"
#include "ml/chord/user_encoder.h"
#include "ml/seqrec/seqrec_model.h"

namespace qfleet::ml::chord {

// What a device builds from the container a CHORD coordinator serves
// (BundleContainer in chord_service.h): the frozen backbone, the user
// encoder (or the mark that the backbone's own query takes its place), and
// the backbone's channels in plan order.
struct DeviceBundle {
  std::shared_ptr<SeqRecModel> backbone;
  UserEncoder encoder{nullptr};  // null when backbone_query
  bool backbone_query = false;   // the user embedding is backbone->Query
  ChannelCatalog catalog;
  std::vector<uint32_t> row_lengths;  // per catalog layer, for DecodeForBudget
  double fp32_bytes = 0;              // the backbone's parameters in FP32

  // History columns the user embedding reads.
  int64_t EmbeddingHistory() const;
};

// Splits the bundle, infers both configurations from the shapes (fields the
// shapes do not fix come from `defaults`) and loads the weights.
// InvalidArgument if the encoder is missing or incomplete (and the bundle
// has no query marker), the marker is malformed or comes with an encoder,
// the encoder's item count differs from the backbone's, or the backbone
// does not load.
absl::StatusOr<std::unique_ptr<DeviceBundle>> DeviceBundleFromContainer(
    const TensorContainer& bundle, const SeqRecConfig& defaults);

// The user embeddings [U, E] devices send for their histories [U, H]
// (left-padded item ids) and users [U] (their ids in the served model):
// the encoder's output, or the FP32 backbone's query (SeqRecModel::Query)
// with backbone_query -- computed before the device quantizes its copy.
// Errors of EncodeUsers / QuerySeqRec.
absl::StatusOr<torch::Tensor> DeviceUserEmbeddings(DeviceBundle& device, const torch::Tensor& histories,
                                                   const torch::Tensor& users);

// A plan as the device applies it: bits per channel (catalog order) and
// their element-weighted average.
struct DecodedPlan {
  std::vector<int> channel_bits;
  std::array<int, 4> tier_bits = {0, 0, 0, 0};
  double avg_bits = 0;
};

// Decodes packed plan `bytes` against the device: with `fixed_tier_bits`
// (four widths) as given, otherwise with DecodeForBudget at `budget_bits`
// and `decode`. InvalidArgument for a corrupt plan, one whose layers or
// channel counts differ from the catalog's, or a budget no table meets.
// `decode` with the tier weights a plan came with (PlanResponse
// tier_importance): as is when `tier_importance` is empty, else its four
// values replace decode.tier_importance. InvalidArgument unless they are
// four finite values > 0 (they come off the network).
absl::StatusOr<BudgetDecodeOptions> WithTierImportance(const BudgetDecodeOptions& decode,
                                                       const std::vector<double>& tier_importance);

//
// own_user >= 0 (the device's user id): KeepOwnRow before the decode;
// `window` (the device's recent items): KeepWindowRows before the decode.
absl::StatusOr<DecodedPlan> DecodeDevicePlan(const DeviceBundle& device, const std::string& bytes,
                                             const std::vector<int>& fixed_tier_bits,
                                             double budget_bits,
                                             const BudgetDecodeOptions& decode,
                                             int64_t own_user = -1,
                                             absl::Span<const int64_t> window = {});

// The backbone's per-user table (Caser's user_emb): a device reads one row
// of it, its own, so it keeps that row at tier 0 whatever a plan says (the
// plan cannot know which row is the device's; relevance mode ranks the
// table last; ChordModel leaves tier 0 room for it). Sets code `own_user`
// of that layer (kPerUserLayer) to 0 in `codes` (catalog
// order); no-op for a catalog without the table. InvalidArgument if
// own_user is not a row of it.
absl::Status KeepOwnRow(const ChannelCatalog& catalog, std::vector<uint8_t>& codes, int64_t own_user);
// The same for a batch: codes [U, N] int64, row i belongs to users[i]; the
// own row is set to `top` (0 for tier codes; for a tensor of bit-widths,
// the width of tier 0).
absl::Status KeepOwnRows(const ChannelCatalog& catalog, torch::Tensor& codes,
                         absl::Span<const int32_t> users, int64_t top = 0);

// The input-only item table: kInputItemLayer's index when the catalog also
// has kOutputItemLayer (Caser), else -1 (SASRec reads its one item table
// for every score).
int64_t InputOnlyItemLayer(const ChannelCatalog& catalog);
// Weights a device moves to tier 0 whatever the plan says: its own row of
// a per-user table (KeepOwnRow) and `window_rows` rows of the input-only
// item table (KeepWindowRows); 0 for a backbone without either. Plans and
// the static allocation leave this much room. InvalidArgument for
// window_rows < 0.
absl::StatusOr<int64_t> ElementsKeptOnTop(const ChannelCatalog& catalog, int64_t window_rows);
// The window rule: a device reads the input-only item table only at its
// recent items' rows, so it may keep those rows at tier 0 (plans that rank
// the table last leave room for them: ChordOptions::window_rows). Sets the
// code of every item in `window` (item ids; 0 is padding and skipped) to
// 0; no-op without an input-only table. InvalidArgument for an item that
// is not a row of the table or codes that do not cover the catalog.
absl::Status KeepWindowRows(const ChannelCatalog& catalog, std::vector<uint8_t>& codes,
                            absl::Span<const int64_t> window);
// The same for a batch: codes [U, N] int64, windows [U, L] int64; the rows
// are set to `top` (0 for tier codes; for bit-widths, the width of tier 0).
absl::Status KeepWindowRows(const ChannelCatalog& catalog, torch::Tensor& codes,
                            const torch::Tensor& windows, int64_t top = 0);

}  // namespace qfleet::ml::chord

#endif  // QFLEET_ML_CHORD_CHORD_DEVICE_H_
