#ifndef QFLEET_ML_SEQREC_SEQREC_BASELINE_H_
#define QFLEET_ML_SEQREC_SEQREC_BASELINE_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/seqrec/eval_sampler.h"
#include "common/seqrec/interactions.h"
#include "common/seqrec/ranking_metrics.h"
#include "common/seqrec/synthetic.h"
#include "ml/seqrec/seqrec_model.h"
#include "ml/seqrec/seqrec_trainer.h"

namespace qfleet::ml {

// Layout of an interaction file.
enum class InteractionFormat { kUserItemLines, kMovieLens };

// Parses "lines" or "movielens"; InvalidArgument otherwise.
absl::StatusOr<InteractionFormat> ParseInteractionFormat(absl::string_view name);

// Loads `path` in `format`, or generates `synthetic` data when path is empty.
// The loaders' errors (NotFound, InvalidArgument with line numbers).
absl::StatusOr<seqrec::Interactions> LoadInteractions(const std::string& path,
                                                      InteractionFormat format,
                                                      const seqrec::SyntheticOptions& synthetic);

// One full-precision baseline run: data, backbone, training, evaluation.
struct SeqRecBaselineOptions {
  std::string data_path;  // empty: seeded synthetic data
  InteractionFormat format = InteractionFormat::kUserItemLines;
  seqrec::SyntheticOptions synthetic;
  // num_items / num_users are filled in from the data.
  SeqRecConfig model = DefaultSeqRecConfig(Backbone::kSasRec);
  // on_epoch is ignored (the baseline installs its own).
  SeqRecTrainOptions train = DefaultSeqRecTrainOptions(Backbone::kSasRec);
  seqrec::EvalSampleOptions eval;
  uint64_t model_seed = 1;
  // Validate every this many epochs (and after the last); the weights with
  // the best validation NDCG@10 are kept and tested. 0: only after the last.
  int eval_every = 0;
  // Stop after this many validations without a better NDCG@10 (0: never).
  int patience = 0;
  int threads = 0;        // torch intra-op threads; 0 leaves LibTorch's choice
  std::string save_path;  // QFTC file for the kept weights; empty: not saved
  // QFTC file (SaveSeqRecModel) to continue training from instead of a
  // fresh initialization; its shapes must match the data and `model`.
  std::string init_path;
};

struct SeqRecBaselineEpoch {
  int epoch = 0;
  double loss = 0;
  double seconds = 0;
  bool validated = false;
  seqrec::RankingMetrics valid;  // when validated
};

struct SeqRecBaselineReport {
  SeqRecConfig model;
  int64_t users = 0, items = 0, events = 0, evaluated_users = 0;
  std::vector<SeqRecBaselineEpoch> epochs;
  int best_epoch = 0;             // epoch whose weights were kept
  seqrec::RankingMetrics valid;   // of the kept weights
  seqrec::RankingMetrics test;    // of the kept weights
  double train_seconds = 0;       // training only, evaluation excluded
  double eval_seconds = 0;
};

// Loads the data, splits it leave-one-out, builds the eval samples (same
// users for validation and test), builds and trains the model, validates as
// scheduled and tests the best-validation weights; optionally saves them.
// `log` (may be empty) receives one human-readable line per event. Errors
// from any step are returned unchanged. Not thread-safe (sets the torch
// thread count when options.threads > 0).
absl::StatusOr<SeqRecBaselineReport> RunSeqRecBaseline(
    const SeqRecBaselineOptions& options, const std::function<void(const std::string&)>& log);

}  // namespace qfleet::ml

#endif  // QFLEET_ML_SEQREC_SEQREC_BASELINE_H_
