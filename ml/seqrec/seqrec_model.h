#ifndef QFLEET_ML_SEQREC_SEQREC_MODEL_H_
#define QFLEET_ML_SEQREC_SEQREC_MODEL_H_

#include <cstdint>
#include <string>
#include <vector>

#include <ATen/core/Generator.h>
#include <torch/nn/module.h>
#include <torch/types.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace qfleet::ml {

// The sequential-recommendation backbones CHORD quantizes.
enum class Backbone { kSasRec, kCaser };

// "sasrec" / "caser".
const char* BackboneName(Backbone backbone);
// Parses "sasrec" or "caser" (case-insensitive); InvalidArgument otherwise.
absl::StatusOr<Backbone> ParseBackbone(absl::string_view name);

// Hyper-parameters of a backbone; defaults are the published ones.
struct SeqRecConfig {
  Backbone backbone = Backbone::kSasRec;
  int64_t num_items = 0;  // item ids 1..num_items; 0 is padding
  int64_t num_users = 0;  // rows of Caser's user embedding; SASRec ignores it
  int64_t hidden = 50;    // embedding / hidden size d
  double dropout = 0.2;   // SASRec: 0.2 dense data, 0.5 sparse; Caser: 0.5
  // SASRec (Kang & McAuley 2018).
  int64_t num_blocks = 2;
  int64_t num_heads = 1;    // must divide hidden
  int64_t max_length = 50;  // history positions read (200 for MovieLens-1M)
  // Caser (Tang & Wang 2018).
  int64_t window = 5;              // L previous items
  int64_t targets = 3;             // T next items per training instance
  int64_t negatives = 3;           // negatives per training instance
  int64_t vertical_filters = 4;    // n_v
  int64_t horizontal_filters = 16; // n_h per height 1..L

  // "sasrec d=50 blocks=2 ..." for logs. Thread-compatible.
  std::string ToString() const;
};

// The published defaults for `backbone` (Caser: dropout 0.5).
SeqRecConfig DefaultSeqRecConfig(Backbone backbone);

// InvalidArgument unless num_items in [1, 2^24], hidden >= 1, dropout in
// [0, 1), and the backbone's own fields are >= 1 (num_users >= 1 for Caser,
// num_heads dividing hidden for SASRec). Thread-safe.
absl::Status ValidateSeqRecConfig(const SeqRecConfig& config);

// One training batch. All tensors are int64 on the CPU.
//   histories [B, H]: item ids, left-padded with 0, oldest first.
//   users     [B]:    0-based user indices (Caser's user embedding).
//   SASRec: H = max_length, positives [B, H] is the next item at every
//           position (0 = no target, position ignored), negatives [B, H] one
//           sampled item per position.
//   Caser:  H = window, positives [B, T] the next T items (0 = none, ignored),
//           negatives [B, N].
struct SeqRecTrainBatch {
  torch::Tensor histories;
  torch::Tensor users;
  torch::Tensor positives;
  torch::Tensor negatives;
};

// Common interface of the backbones. Every weight lives in a named Linear /
// Embedding / Conv2d / LayerNorm submodule whose weight has output channels
// (embedding rows) in dim 0, so per-output-channel quantization can walk
// named_parameters(). Not thread-safe: one model per thread.
class SeqRecModel : public torch::nn::Module {
 public:
  explicit SeqRecModel(const SeqRecConfig& config);
  ~SeqRecModel() override = default;

  const SeqRecConfig& config() const { return config_; }

  // Number of trailing history columns the model reads (SASRec max_length,
  // Caser window); longer histories are cut, shorter ones left-padded.
  int64_t HistoryLength() const;

  // Scores `candidates` [B, C] (item ids 1..num_items) for each row's
  // history [B, H] (left-padded, any H >= 1) and user [B]: a float tensor
  // [B, C], higher = more likely next. Inputs must be int64 and in range
  // (ScoreSeqRec checks them); otherwise throws c10::Error.
  virtual torch::Tensor Score(const torch::Tensor& histories, const torch::Tensor& users,
                              const torch::Tensor& candidates) = 0;

  // The user's query [B, K]: what Score dots with each candidate's rows of
  // the item tables it reads (SASRec: the last hidden state, against
  // item_emb; Caser: [x, 1], against out_emb and out_bias side by side), so
  // Score(c) = Query . [rows of c]. Same inputs and failures as Score.
  virtual torch::Tensor Query(const torch::Tensor& histories, const torch::Tensor& users) = 0;
  // The item tables Query is dotted with, in order (their row counts are
  // num_items + 1).
  virtual std::vector<std::string> QueryTables() const = 0;

  // Mean binary cross-entropy of `batch` (layout on SeqRecTrainBatch), a
  // scalar with a graph for backward(). Throws c10::Error on bad input.
  virtual torch::Tensor Loss(const SeqRecTrainBatch& batch) = 0;

  // Re-seeds the generator that draws dropout masks (training mode only),
  // so a seeded training run is reproducible without the global generator.
  void SeedDropout(uint64_t seed);

 protected:
  // Inverted dropout with config().dropout and the model's own generator;
  // the identity in eval mode or when dropout is 0.
  torch::Tensor Dropout(const torch::Tensor& x);
  // The last HistoryLength() columns of `histories`, left-padded with 0.
  torch::Tensor LastColumns(const torch::Tensor& histories) const;

  // Seeded in-place initializers (no global generator involved).
  // Xavier-normal: N(0, 2 / (fan_in + fan_out)) with fan_out = dim 0 and
  // fan_in = the product of the other dims.
  static void XavierNormal(torch::Tensor& w, at::Generator& gen);
  // U(-1/sqrt(fan_in), 1/sqrt(fan_in)): PyTorch's default Linear/Conv init.
  static void UniformFanIn(torch::Tensor& w, int64_t fan_in, at::Generator& gen);
  // N(0, std^2).
  static void Normal(torch::Tensor& w, double std, at::Generator& gen);

 private:
  SeqRecConfig config_;
  at::Generator dropout_generator_;
};

// Validating front door for SeqRecModel::Score: InvalidArgument unless
// histories is int64 [B, H>=1], users int64 [B] in [0, num_users) (checked
// for Caser only), candidates int64 [B, C>=1] in [1, num_items] and histories
// in [0, num_items]; Internal if LibTorch throws. Runs without gradient, in
// the model's current train/eval mode.
absl::StatusOr<torch::Tensor> ScoreSeqRec(SeqRecModel& model, const torch::Tensor& histories,
                                          const torch::Tensor& users,
                                          const torch::Tensor& candidates);

// Validating front door for SeqRecModel::Query: the same checks as
// ScoreSeqRec without candidates. Runs without gradient.
absl::StatusOr<torch::Tensor> QuerySeqRec(SeqRecModel& model, const torch::Tensor& histories,
                                          const torch::Tensor& users);

}  // namespace qfleet::ml

#endif  // QFLEET_ML_SEQREC_SEQREC_MODEL_H_
