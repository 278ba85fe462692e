#ifndef QFLEET_ML_CHORD_PERSONALIZED_BACKBONE_H_
#define QFLEET_ML_CHORD_PERSONALIZED_BACKBONE_H_

#include <cstdint>
#include <memory>
#include <utility>

#include <torch/types.h>

#include "absl/status/statusor.h"
#include "ml/chord/channel_catalog.h"
#include "ml/chord/user_weights.h"
#include "ml/seqrec/seqrec_model.h"

namespace qfleet::ml::chord {

// A frozen SASRec or Caser run with per-user weights: row i of every batch
// is user i of a UserWeights, with its own quantized copy of every
// quantizable layer (the catalog's); biases and layer norms stay the
// model's FP32 values. The same math as SasRec / Caser in eval mode (no
// dropout), written with batched per-user matrices; embedding lookups
// gather only the rows the batch touches. Holds the model (shared) and a
// reference to the catalog, which must outlive it. Not thread-safe.
class PersonalizedBackbone {
 public:
  virtual ~PersonalizedBackbone() = default;

  // The view of `model` (SasRec or Caser) whose quantizable layers are
  // `catalog`'s. InvalidArgument if the catalog lacks one of the layers the
  // backbone reads or its shapes differ.
  static absl::StatusOr<std::unique_ptr<PersonalizedBackbone>> Create(
      std::shared_ptr<SeqRecModel> model, const ChannelCatalog& catalog);

  SeqRecModel& model() { return *model_; }
  int64_t HistoryLength() const { return model_->HistoryLength(); }

  // Scores [U, C] of candidates [U, C] for histories [U, H] (left-padded)
  // and users [U]: row u with user u's weights. Inputs as for
  // SeqRecModel::Score (unchecked here); throws c10::Error on misuse.
  virtual torch::Tensor Score(const UserWeights& weights, const torch::Tensor& histories,
                              const torch::Tensor& users, const torch::Tensor& candidates) = 0;

  // Per-user next-item loss [U] of a training batch (layout on
  // SeqRecTrainBatch, one row per user): the backbone's BCE averaged over
  // that user's targets. Differentiable with respect to soft weights.
  virtual torch::Tensor Loss(const UserWeights& weights, const SeqRecTrainBatch& batch) = 0;

  // The logits Loss scores, [U, T] (positives then negatives), and a float
  // mask [U, T] of the ones that count (padding targets 0): what a
  // distillation term compares between quantized and FP32 weights.
  virtual std::pair<torch::Tensor, torch::Tensor> TargetLogits(const UserWeights& weights,
                                                               const SeqRecTrainBatch& batch) = 0;

 protected:
  PersonalizedBackbone(std::shared_ptr<SeqRecModel> model, const ChannelCatalog& catalog)
      : model_(std::move(model)), catalog_(catalog) {}
  // Last HistoryLength() columns of `histories`, left-padded with 0.
  torch::Tensor LastColumns(const torch::Tensor& histories) const;

  std::shared_ptr<SeqRecModel> model_;
  const ChannelCatalog& catalog_;
};

}  // namespace qfleet::ml::chord

#endif  // QFLEET_ML_CHORD_PERSONALIZED_BACKBONE_H_
