#ifndef QFLEET_COMMON_SEQREC_EVAL_SAMPLER_H_
#define QFLEET_COMMON_SEQREC_EVAL_SAMPLER_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "common/seqrec/leave_one_out.h"

namespace qfleet::seqrec {

struct EvalSampleOptions {
  int64_t num_negatives = 100;  // negatives ranked against each target
  int64_t max_users = 10000;    // evaluate a fixed random subset above this; 0 = all
  uint64_t seed = 1;
};

// The users and candidate lists of one sampled-ranking evaluation.
//   users[i] (ascending) is an evaluated user, targets[i] its held-out item
//   at `stage`, and negatives[i * num_negatives + j], j < num_negatives, its
//   negatives: distinct items drawn uniformly from the items the user never
//   interacted with (train, validation and test items all excluded).
struct EvalSample {
  EvalStage stage = EvalStage::kTest;
  int64_t num_negatives = 0;
  std::vector<int32_t> users;
  std::vector<int32_t> targets;
  std::vector<int32_t> negatives;

  int64_t NumUsers() const { return static_cast<int64_t>(users.size()); }
};

// Builds the evaluation sample for `stage`. The users are every user with
// held-out targets, or, when there are more than options.max_users (> 0) of
// them, a random subset of that size that depends only on options.seed (the
// same users for both stages). Each user's negatives depend only on the seed,
// the stage and the user. InvalidArgument for num_negatives < 1,
// max_users < 0, no evaluable user, or a user with fewer than num_negatives
// items it never touched. Deterministic; thread-safe.
absl::StatusOr<EvalSample> BuildEvalSample(const LeaveOneOutSplit& split, EvalStage stage,
                                           const EvalSampleOptions& options);

}  // namespace qfleet::seqrec

#endif  // QFLEET_COMMON_SEQREC_EVAL_SAMPLER_H_
