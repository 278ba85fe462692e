#ifndef QFLEET_ML_PLAN_APPLY_H_
#define QFLEET_ML_PLAN_APPLY_H_

#include <array>
#include <map>
#include <string>
#include <vector>

#include <torch/nn/module.h>

#include "absl/status/status.h"
#include "common/plan_codec.h"
#include "common/quantizer.h"

namespace qfleet::ml {

// Per-layer bit-widths: layer name ("conv1" or "conv1.weight", see
// layer_weights.h) -> one width for every output channel, or one per
// channel; each in 1..8.
using ChannelBitMap = std::map<std::string, std::vector<int>>;

// Round-to-nearest fake quantization of the weights named in `bits`, per
// output channel, in one pass: each weight is replaced by
// FakeQuantizePerChannel(weight, bits, options) (common/quantizer.h), so it
// holds exactly the values its quantized form represents. Layers not named
// stay FP32, as do biases. InvalidArgument for an unknown layer, a bit count
// that is neither 1 nor the layer's channel count, a width outside 1..8, or
// a NaN/Inf weight; the module is unchanged on any error. Not thread-safe
// for the same module.
absl::Status ApplyChannelBits(torch::nn::Module& module, const ChannelBitMap& bits,
                              const QuantOptions& options = QuantOptions());

// Applies a CHORD precision plan: channel c of plan layer l gets
// tier_to_bits[code] bits, then ApplyChannelBits. InvalidArgument if the
// plan fails ValidatePlan, a tier maps to a width outside 1..8, a plan layer
// is unknown, or its channel count differs from the layer's; the module is
// unchanged on error. Not thread-safe for the same module.
absl::Status ApplyPlan(torch::nn::Module& module, const PrecisionPlan& plan,
                       const std::array<int, 4>& tier_to_bits,
                       const QuantOptions& options = QuantOptions());

}  // namespace qfleet::ml

#endif  // QFLEET_ML_PLAN_APPLY_H_
