#ifndef QFLEET_CLOUD_CHORD_HYPERNETWORK_H_
#define QFLEET_CLOUD_CHORD_HYPERNETWORK_H_

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>
#include <torch/types.h>

#include "absl/status/statusor.h"
#include "kernels/relevance_tiers.h"
#include "ml/chord/channel_catalog.h"

namespace qfleet::ml::chord {

struct HypernetOptions {
  int64_t embed_dim = 32;     // E, the user embedding size
  int64_t hidden = 64;        // shared trunk width
  int64_t key_dim = 16;       // filter level: learned projection of a weight row
  int64_t element_rank = 8;   // element level: rank of the per-element gates
  // Relevance mode (empty: off): the filter-level scores of this layer's
  // channels (an item-embedding table, one row per item) come from a
  // bilinear relevance of the user and the row's weights; see forward().
  std::string relevance_layer;
  // Relevance mode: layers with one row per item like the relevance layer
  // (Caser's input table and output bias beside its output table). Row c
  // of each ranks with row c of the relevance layer, and its weights join
  // the bilinear form (the relevance reads all of item c's rows).
  std::vector<std::string> relevance_tied;
  // Relevance mode: layers ranked below every other channel -- a per-user
  // table (Caser's user_emb), of which a device reads only its own row.
  std::vector<std::string> relevance_last;
  // Relevance mode: the user embedding is the backbone's own FP32 query
  // (SeqRecModel::Query, computed by the device before it quantizes), as
  // wide as the relevance rows (embed_dim must equal it). relevance_proj is
  // then the identity and not a parameter: the relevance is the FP32
  // backbone's score of every item, and there is nothing to train.
  bool query_input = false;
};

// Where relevance mode puts every channel of a catalog: resolved once.
class RelevanceLayout {
 public:
  // InvalidArgument for an unknown layer, a tied layer whose row count
  // differs from the relevance layer's, or a layer named twice.
  static absl::StatusOr<RelevanceLayout> Create(const ChannelCatalog& catalog,
                                                const HypernetOptions& options);

  int64_t layer() const { return layer_; }            // the relevance layer
  int64_t rows() const { return rows_; }              // its channel count
  int64_t width() const { return width_; }            // K: ItemRows' columns
  // [rows, K] the FP32 rows of the relevance layer and its tied layers, side by side.
  torch::Tensor ItemRows(const ChannelCatalog& catalog) const;

  // The ranking key of every channel [U, N] from per-item relevance
  // [U, rows]: the relevance standardized per user for the items' rows (the
  // relevance layer and its tied layers), 1e3 for every other layer (they
  // rank first), -1e3 for the relevance_last layers (they rank last).
  torch::Tensor RankKey(const torch::Tensor& relevance) const;

  // The same ranking as a plan-generation kernel spec (kernels/
  // relevance_tiers.h): the item rows, the blocks of the relevance and tied
  // layers, the last layers, every channel's element count and the tier
  // shares `fractions`.
  kernels::RelevanceTierSpec TierSpec(const ChannelCatalog& catalog,
                                      const std::array<double, 4>& fractions) const;

 private:
  int64_t layer_ = -1, rows_ = 0, width_ = 0, total_ = 0;
  std::vector<int64_t> tied_;
  std::vector<std::pair<int64_t, int64_t>> item_ranges_, last_ranges_;  // [offset, channels]
};

// What the three hypernetworks say about every channel, for U users.
struct HypernetScores {
  torch::Tensor layer;      // [U, layers]  > 0: layer-level importance
  torch::Tensor filter;     // [U, N]       > 0: filter-level importance
  torch::Tensor element;    // [U, N]  in (0, 2): element scores aggregated per channel
  torch::Tensor log_score;  // [U, N]  log(layer[layer of c] * filter * element): the ranking key
  // Relevance mode only: [U, C_r] r(u) . w_c / sqrt(K_r) over the relevance
  // layer's rows, w_c item c's rows of the relevance layer and its tied
  // layers side by side (undefined otherwise). The other fields are then
  // undefined too but log_score.
  torch::Tensor relevance;
};

// CHORD's cloud-side hypernetworks over a frozen backbone's channels
// (catalog order). From a user embedding u [E]:
//   h           = relu(trunk(u))                                   [hidden]
//   layer       = softplus(layer_head(h)) + 1e-3                   [layers]
//   filter_c    = softplus(q_l(h) . key_c + bias_c)   for c in layer l,
//                 q_l(h) = slice l of filter_head(h)   [key_dim + F]
//                 key_c  = [w_c P_l / sqrt(K_l), features_c]   (w_c the FP32
//                 row, P_l [K_l, key_dim] learned, F = kChannelFeatures)
//   element_c   = 2 sum_j sigmoid(g_l(h))_j * w_cj^2 / sum_j w_cj^2,
//                 g_l(h) = element_head(h) B_l^T,  B_l [K_l, rank] learned:
//                 a score per weight element (gate of input column j for
//                 user u, low rank), aggregated by each element's share of
//                 the channel's energy (uniform for an all-zero row).
// The combined score layer * filter * element ranks channels for tiering.
//
// Relevance mode (options.relevance_layer names a layer of the catalog):
//   relevance_c = r(u) . w_c / sqrt(K_r),  r(u) = relevance_proj(u)  [K_r]
// (r(u) = u with query_input: u is then the backbone's own query)
// for the rows c of that layer (w_c: item c's row there and in the tied
// layers) -- for an item table, how strongly the backbone would score item
// c for a user whose state is r(u); trained to imitate the FP32 backbone's
// scores of every item (TrainChord). The ranking key is
// RelevanceLayout::RankKey: the backbone's small dense layers rank first
// (the top tier), the item rows by relevance to the user below them, the
// relevance_last layers at the bottom.
// Cost per user is O(sum_l C_l (key_dim + F + K_l)): a few matrix products,
// batched over users. Holds copies of the catalog's rows and features.
// Not thread-safe per instance.
class ChordHypernetImpl : public torch::nn::Module {
 public:
  ChordHypernetImpl(const ChannelCatalog& catalog, const HypernetOptions& options, uint64_t seed);

  const HypernetOptions& options() const { return options_; }
  int64_t total_channels() const { return total_channels_; }

  // user_emb [U, E] float -> scores. Throws c10::Error on a wrong shape.
  HypernetScores forward(const torch::Tensor& user_emb);

  // Moves parameters and the catalog copies to `device`.
  void MoveTo(const torch::Device& device);

  torch::nn::Linear trunk{nullptr}, layer_head{nullptr}, filter_head{nullptr},
      element_head{nullptr};
  torch::Tensor channel_bias;                  // [N]
  std::vector<torch::Tensor> key_proj;         // per layer [K_l, key_dim]
  std::vector<torch::Tensor> element_basis;    // per layer [K_l, rank]
  torch::nn::Linear relevance_proj{nullptr};   // relevance mode: E -> K_r (null with query_input)

  // Relevance mode: the relevance query r(u) [U, K_r] of user embeddings
  // [U, E]: relevance_proj(u), or u itself with query_input.
  torch::Tensor RelevanceQuery(const torch::Tensor& user_emb);

  // Index of the relevance layer in the catalog, -1 when off.
  int64_t relevance_layer() const { return relevance_ ? relevance_->layer() : -1; }
  // Relevance mode's layout; empty when off.
  const std::optional<RelevanceLayout>& relevance_layout() const { return relevance_; }

 private:
  HypernetOptions options_;
  int64_t total_channels_ = 0;
  std::optional<RelevanceLayout> relevance_;
  torch::Tensor item_rows_;  // relevance mode: RelevanceLayout::ItemRows
  std::vector<int64_t> channels_, row_lengths_;
  std::vector<torch::Tensor> rows_;    // per layer [C, K] FP32 weights
  std::vector<torch::Tensor> energy_;  // per layer [C, K] w^2 / sum w^2
  torch::Tensor features_;             // [N, F]
  torch::Tensor layer_of_channel_;     // [N] int64
};
TORCH_MODULE(ChordHypernet);

}  // namespace qfleet::ml::chord

#endif  // QFLEET_CLOUD_CHORD_HYPERNETWORK_H_
