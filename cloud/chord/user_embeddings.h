#ifndef QFLEET_CLOUD_CHORD_USER_EMBEDDINGS_H_
#define QFLEET_CLOUD_CHORD_USER_EMBEDDINGS_H_

#include <cstdint>

#include <torch/types.h>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "cloud/chord/chord_model.h"
#include "common/seqrec/leave_one_out.h"
#include "ml/chord/user_encoder.h"
#include "ml/seqrec/seqrec_model.h"

namespace qfleet::ml::chord {

// The user embeddings [U, E] the devices of `users` send at `stage`: the
// user encoder's output on their recent items, or with
// hypernet.query_input the FP32 `backbone`'s query (SeqRecModel::Query) of
// their history. What a device computes (chord_device.h
// DeviceUserEmbeddings), batched. Errors of EncodeUsers / QuerySeqRec.
absl::StatusOr<torch::Tensor> UserEmbeddings(ChordModel& chord, SeqRecModel& backbone,
                                             const seqrec::LeaveOneOutSplit& split,
                                             absl::Span<const int32_t> users,
                                             seqrec::EvalStage stage);

// Mean user embedding [1, E] (UserEmbeddings) over every user with a
// non-empty history at `stage` (the input of the chord-mean ablation).
absl::StatusOr<torch::Tensor> MeanUserEmbedding(ChordModel& chord, SeqRecModel& backbone,
                                                const seqrec::LeaveOneOutSplit& split,
                                                seqrec::EvalStage stage);

}  // namespace qfleet::ml::chord

#endif  // QFLEET_CLOUD_CHORD_USER_EMBEDDINGS_H_
