#ifndef QFLEET_CLOUD_CHORD_CHORD_TRAINER_H_
#define QFLEET_CLOUD_CHORD_CHORD_TRAINER_H_

#include <array>
#include <cstdint>
#include <functional>
#include <vector>

#include <torch/types.h>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/seqrec/leave_one_out.h"
#include "cloud/chord/chord_model.h"
#include "ml/chord/personalized_backbone.h"

namespace qfleet::ml::chord {

struct ChordEpochStats {
  int epoch = 0;             // 1-based
  double loss = 0;           // mean total loss (task + penalty)
  double task_loss = 0;      // mean next-item loss with the users' quantized weights
  double distill = 0;        // mean squared logit error against FP32
  double expected_bits = 0;  // mean soft expected average bits
  int64_t steps = 0;         // optimizer steps so far
  double seconds = 0;
};

struct ChordTrainOptions {
  int epochs = 5;
  int64_t batch_users = 64;     // users per step, each with its own plan
  double learning_rate = 3e-3;  // Adam
  double temperature = 0.3;     // SoftTiers temperature
  // Forward with the hard tiers the cloud will ship, backward through the
  // soft tiers (straight-through); false: forward with the soft mixture.
  bool straight_through = true;
  double bits_penalty = 1.0;    // lambda of lambda * (E[bits] - budget)^2
  // beta of an added distillation term beta * mean (z_q - z_fp32)^2 over the
  // batch's target / negative logits (z with the user's quantized weights vs
  // the FP32 backbone): the quantization damage itself, far less noisy than
  // the sampled BCE. 0 = the paper's objective alone.
  double distill_weight = 1.0;
  // Widths tiers 0..3 quantize with (non-increasing, 0..8): usually
  // ChordModel::ExpectedDecision(budget).tier_bits, the table devices pick.
  std::array<int, 4> tier_bits = {8, 4, 3, 2};
  int64_t max_users = 0;        // train on at most this many users (0 = all)
  int64_t max_steps = 0;        // stop after this many steps (0 = no cap)
  uint64_t seed = 1;            // user order, windows, negatives
  std::function<bool(const ChordEpochStats&)> on_epoch;  // false stops; may be empty
};

struct ChordTrainStats {
  std::vector<ChordEpochStats> epochs;
  int64_t steps = 0;
  double seconds = 0;
};

// Trains the encoder and hypernetworks of `chord` end to end through the
// mixed-precision quantizer on split.train, the backbone frozen: per step,
// a batch of users is encoded from its training prefix, the hypernetworks
// score every channel, SoftTiers / AssignTiers give each user a tier per
// channel, UserWeights mixes the backbone's quantized tables accordingly and
// the backbone's next-item loss (one sequence per user: SASRec the training
// sequence, Caser a random window) plus lambda * (E[bits] - budget)^2 is
// minimized with Adam. In relevance mode (the hypernetwork has a
// relevance layer) the loss is instead 1 - the per-user Pearson correlation
// between the hypernetwork's relevance of every row of that layer and the
// FP32 backbone's score of that item after the same prefix (task_loss =
// loss, distill 0, expected_bits the hard tiers' average). The backbone's
// parameters get no gradient and are left unchanged. Deterministic for a seed and torch thread count.
// InvalidArgument for bad options or a split that does not match the
// backbone; Internal if the loss becomes non-finite or LibTorch throws.
absl::StatusOr<ChordTrainStats> TrainChord(ChordModel& chord, PersonalizedBackbone& backbone,
                                           const seqrec::LeaveOneOutSplit& split,
                                           const ChordTrainOptions& options);

// Left-padded int64 [U, length] of the last `length` items of each sequence.
torch::Tensor PadHistories(const std::vector<std::vector<int32_t>>& sequences, int64_t length);

// The encoder input of user u at `stage` (seqrec::EvalHistory) for `users`.
torch::Tensor EncoderHistories(const ChordModel& chord, const seqrec::LeaveOneOutSplit& split,
                               absl::Span<const int32_t> users, seqrec::EvalStage stage);

}  // namespace qfleet::ml::chord

#endif  // QFLEET_CLOUD_CHORD_CHORD_TRAINER_H_
