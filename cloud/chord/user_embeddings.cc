#include "cloud/chord/user_embeddings.h"

#include <algorithm>
#include <vector>

#include <torch/torch.h>

#include "cloud/chord/chord_trainer.h"
#include "common/status_macros.h"
#include "ml/seqrec/seqrec_batches.h"

namespace qfleet::ml::chord {

absl::StatusOr<torch::Tensor> UserEmbeddings(ChordModel& chord, SeqRecModel& backbone,
                                             const seqrec::LeaveOneOutSplit& split,
                                             absl::Span<const int32_t> users,
                                             seqrec::EvalStage stage) {
  if (!chord.options().hypernet.query_input) {
    return EncodeUsers(chord.encoder(), EncoderHistories(chord, split, users, stage));
  }
  torch::Tensor uid = torch::empty({static_cast<int64_t>(users.size())}, torch::kLong);
  for (size_t i = 0; i < users.size(); ++i) uid[static_cast<int64_t>(i)] = static_cast<int64_t>(users[i]);
  return QuerySeqRec(backbone, MakeEvalHistories(split, users, stage, backbone.HistoryLength()), uid);
}

absl::StatusOr<torch::Tensor> MeanUserEmbedding(ChordModel& chord, SeqRecModel& backbone,
                                                const seqrec::LeaveOneOutSplit& split,
                                                seqrec::EvalStage stage) {
  std::vector<int32_t> users;
  for (int64_t u = 0; u < split.num_users; ++u) {
    if (!split.train[u].empty()) users.push_back(static_cast<int32_t>(u));
  }
  if (users.empty()) return absl::InvalidArgumentError("no user with a history");
  torch::Tensor sum = torch::zeros({1, chord.options().hypernet.embed_dim});
  for (size_t b0 = 0; b0 < users.size(); b0 += 4096) {
    const size_t b1 = std::min(users.size(), b0 + 4096);
    absl::Span<const int32_t> part(users.data() + b0, b1 - b0);
    ASSIGN_OR_RETURN(torch::Tensor e, UserEmbeddings(chord, backbone, split, part, stage));
    sum += e.sum(0, true);
  }
  return sum / static_cast<double>(users.size());
}

}  // namespace qfleet::ml::chord
