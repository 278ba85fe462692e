#ifndef QFLEET_SIM_CHORD_EVAL_H_
#define QFLEET_SIM_CHORD_EVAL_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/budget_decode.h"
#include "common/seqrec/eval_sampler.h"
#include "common/seqrec/leave_one_out.h"
#include "common/seqrec/ranking_metrics.h"
#include "cloud/chord/chord_model.h"
#include "ml/chord/personalized_backbone.h"
#include "cloud/chord/user_embeddings.h"

namespace qfleet::ml::chord {

struct ChordEvalOptions {
  double budget_bits = 3.0;  // what every device decodes its plan for
  // The device's decoder; the default widths are the RTN ones.
  BudgetDecodeOptions decode = {{2, 3, 4, 8}, {8, 4, 2, 1}};
  std::vector<int> rtn_bits = {2, 3, 4, 8};  // one "rtnB" row each
  std::vector<int> static_bits;  // per channel, catalog order; empty: no "static" row
  int64_t batch_users = 256;     // users ranked per batched forward
  int64_t timing_devices = 8;    // devices whose full-model apply is timed
  uint64_t plan_version = 1;
  // Diagnostic, not a method a device can get: "oracle-relevance" tiers
  // each user's item-embedding rows by the FP32 model's own score of that
  // item for the user (other layers in tier 0), cut at chord's fractions
  // and decoded like chord. An upper reference for what personalizing the
  // item rows can buy.
  bool oracle_relevance = false;
  // Every plan-based method (static, chord-mean, chord, oracle): each user
  // keeps the input-only item table's rows of its window at tier 0, as its
  // device does (KeepWindowRows; a no-op without such a table).
  bool keep_window = true;
};

// One row of the comparison.
struct ChordMethodResult {
  std::string name;           // fp32, rtn2.., static, chord-mean, chord
  double avg_bits = 32;       // element-weighted, mean over users
  seqrec::RankingMetrics metrics;
  int64_t plan_bytes = 0;     // QFPL bytes per device (0: nothing shipped)
  int64_t model_bytes = 0;    // FP32 bytes of the backbone's parameters
  double plan_ms_per_device = 0;   // cloud: hypernetworks + tiering + encoding
  double encode_ms_per_device = 0; // device: user encoder
  double apply_ms_per_device = 0;  // device: decode plan + budget + quantize full model
  double eval_seconds = 0;         // ranking all users with this method
  // chord: share of weights (element-weighted, mean over users) whose tier
  // differs from the chord-mean plan: how personal the plans are.
  double tier_diff_vs_mean = 0;
  // Each evaluated user's 0-based rank of the true item, in sample order
  // (for paired comparisons of two methods, seqrec::ComparePaired).
  std::vector<double> ranks;
};

// Ranks every user of `sample` under each method with its own per-channel
// bits (UserWeights gathers from tables quantized once; exact, because a
// channel's quantization reads only that channel), in order: fp32, rtnB
// for each of rtn_bits, static (if given), chord-mean (the hypernetworks fed
// the mean embedding of every user with a history, one plan for all) and
// chord (one plan per user from its own embedding, decoded per device with
// DecodeForBudget at budget_bits). Times the cloud's plan generation per
// device and, for timing_devices users, the device path on a full copy of
// the backbone: DecodePlan + DecodeForBudget + ApplyPlan. InvalidArgument
// for bad options or a sample that does not fit; Internal if LibTorch
// throws. Not thread-safe (uses the model and chord).
absl::StatusOr<std::vector<ChordMethodResult>> EvaluateChordMethods(
    ChordModel& chord, PersonalizedBackbone& backbone, const seqrec::LeaveOneOutSplit& split,
    const seqrec::EvalSample& sample, const ChordEvalOptions& options);

}  // namespace qfleet::ml::chord

#endif  // QFLEET_SIM_CHORD_EVAL_H_
