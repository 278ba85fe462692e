#ifndef QFLEET_KERNELS_TORCH_CHORD_CHORD_DEVICE_H_
#define QFLEET_KERNELS_TORCH_CHORD_CHORD_DEVICE_H_

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <torch/types.h>

#include "absl/status/statusor.h"
#include "common/budget_decode.h"
#include "common/tensor_container.h"
#include "kernels/torch/chord/channel_catalog.h"
#include "kernels/torch/chord/user_encoder.h"
#include "kernels/torch/seqrec/seqrec_model.h"

namespace qfleet::torchq::chord {

// What a device builds from the container a CHORD coordinator serves
// (BundleContainer in chord_service.h): the frozen backbone, the user
// encoder, and the backbone's channels in plan order.
struct DeviceBundle {
  std::shared_ptr<SeqRecModel> backbone;
  UserEncoder encoder{nullptr};
  ChannelCatalog catalog;
  std::vector<uint32_t> row_lengths;  // per catalog layer, for DecodeForBudget
  double fp32_bytes = 0;              // the backbone's parameters in FP32
};

// Splits the bundle, infers both configurations from the shapes (fields the
// shapes do not fix come from `defaults`) and loads the weights.
// InvalidArgument if the encoder is missing or incomplete or the backbone
// does not load.
absl::StatusOr<std::unique_ptr<DeviceBundle>> DeviceBundleFromContainer(
    const TensorContainer& bundle, const SeqRecConfig& defaults);

// A plan as the device applies it: bits per channel (catalog order) and
// their element-weighted average.
struct DecodedPlan {
  std::vector<int> channel_bits;
  std::array<int, 4> tier_bits = {0, 0, 0, 0};
  double avg_bits = 0;
};

// Decodes packed plan `bytes` against the device: with `fixed_tier_bits`
// (four widths) as given, otherwise with DecodeForBudget at `budget_bits`
// and `decode`. InvalidArgument for a corrupt plan, one whose layers or
// channel counts differ from the catalog's, or a budget no table meets.
// `decode` with the tier weights a plan came with (PlanResponse
// tier_importance): as is when `tier_importance` is empty, else its four
// values replace decode.tier_importance. InvalidArgument unless they are
// four finite values > 0 (they come off the network).
absl::StatusOr<BudgetDecodeOptions> WithTierImportance(const BudgetDecodeOptions& decode,
                                                       const std::vector<double>& tier_importance);

absl::StatusOr<DecodedPlan> DecodeDevicePlan(const DeviceBundle& device, const std::string& bytes,
                                             const std::vector<int>& fixed_tier_bits,
                                             double budget_bits,
                                             const BudgetDecodeOptions& decode);

}  // namespace qfleet::torchq::chord

#endif  // QFLEET_KERNELS_TORCH_CHORD_CHORD_DEVICE_H_
