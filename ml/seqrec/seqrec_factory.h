#ifndef QFLEET_ML_SEQREC_SEQREC_FACTORY_H_
#define QFLEET_ML_SEQREC_SEQREC_FACTORY_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/tensor_container.h"
#include "ml/seqrec/seqrec_model.h"

namespace qfleet::ml {

// Builds the backbone named by config.backbone with weights drawn from a
// generator seeded with `seed` (same seed and config, same weights; touches
// no global generator). InvalidArgument if the config fails
// ValidateSeqRecConfig. Thread-safe.
absl::StatusOr<std::shared_ptr<SeqRecModel>> MakeSeqRecModel(const SeqRecConfig& config,
                                                             uint64_t seed);

// Recovers a config from a container written from a SeqRecModel (the tensor
// container of ModuleToContainer in ml/model_io.h): the backbone
// from the tensor names, num_items / num_users / hidden / max_length /
// num_blocks / window / filter counts from the shapes. Fields the shapes do
// not determine (dropout, num_heads, Caser targets / negatives) are taken
// from `defaults`. InvalidArgument if the container holds neither backbone
// or its shapes disagree. Thread-safe.
absl::StatusOr<SeqRecConfig> InferSeqRecConfig(const TensorContainer& container,
                                               const SeqRecConfig& defaults);

// InferSeqRecConfig, MakeSeqRecModel, then LoadContainer (packed tensors are
// dequantized). InvalidArgument if any step rejects the container.
absl::StatusOr<std::shared_ptr<SeqRecModel>> SeqRecModelFromContainer(
    const TensorContainer& container, const SeqRecConfig& defaults);

// Writes ModuleToContainer(model) to `path` as a QFTC file (via a temporary
// file renamed into place). Unknown / PermissionDenied on I/O failure.
absl::Status SaveSeqRecModel(const SeqRecModel& model, const std::string& path);

// Reads a QFTC file written by SaveSeqRecModel and builds the model with
// SeqRecModelFromContainer. NotFound if the file is missing; DataLoss /
// InvalidArgument if it does not decode or does not describe a backbone.
absl::StatusOr<std::shared_ptr<SeqRecModel>> LoadSeqRecModel(const std::string& path,
                                                             const SeqRecConfig& defaults);

}  // namespace qfleet::ml

#endif  // QFLEET_ML_SEQREC_SEQREC_FACTORY_H_
