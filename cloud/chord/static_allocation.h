#ifndef QFLEET_CLOUD_CHORD_STATIC_ALLOCATION_H_
#define QFLEET_CLOUD_CHORD_STATIC_ALLOCATION_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/seqrec/leave_one_out.h"
#include "ml/chord/channel_catalog.h"
#include "ml/seqrec/seqrec_model.h"

namespace qfleet::ml::chord {

// Per-channel Hessian-trace sensitivity of every quantizable layer of the
// backbone (HessianTraceOfLoss, ml/hessian_trace.h) for its
// training loss on one batch of up to `batch_users` training users (SASRec
// sequences / Caser windows, seeded), in eval mode: layer name -> one value
// per channel. InvalidArgument if there is nothing to train on or
// num_samples < 1; Internal if LibTorch throws. Restores the model's mode.
absl::StatusOr<std::map<std::string, std::vector<double>>> BackboneSensitivity(
    SeqRecModel& model, const seqrec::LeaveOneOutSplit& split, int64_t batch_users,
    int num_samples, uint64_t seed);

// How the static baseline reads the Hessian traces.
enum class StaticSensitivity {
  // Each channel its own trace: max(trace_c, 0) / elements_c (0 where
  // unknown). An embedding row the sensitivity batch never touched has
  // trace 0 and gets the narrowest width.
  kChannel,
  // Each channel its layer's trace per element (HAWQ's granularity):
  // sum_c max(trace_c, 0) / the layer's elements. Channels of a layer then
  // differ only by their own RTN error at each width.
  kLayer,
};

// Help text of the programs' flags that pick one ("layer" or "channel").
inline constexpr char kStaticSensitivityHelp[] =
    "the static baseline's Hessian traces: layer (per layer, HAWQ's granularity; the default) or "
    "channel";

// "channel" / "layer"; InvalidArgument otherwise.
absl::StatusOr<StaticSensitivity> ParseStaticSensitivity(const std::string& name);

// The "static" baseline: one bit-width per channel (catalog order) for all
// users, from common/bit_allocator's AllocateBits with the sensitivity of
// `granularity` and the measured per-element mean squared RTN error of the
// channel at each allowed width. The budget
// is the element-weighted average, less room for one row of a per-user
// table at the widest width (a device keeps its own row there, KeepOwnRow)
// and for `window_rows` rows of the input-only item table (KeepWindowRows).
// AllocateBits' InvalidArgument errors (budget outside the allowed range,
// bad widths).
absl::StatusOr<std::vector<int>> StaticChannelBits(
    const ChannelCatalog& catalog, const std::map<std::string, std::vector<double>>& sensitivity,
    double budget_bits, const std::vector<int>& allowed_bits, int64_t window_rows = 0,
    StaticSensitivity granularity = StaticSensitivity::kLayer);

}  // namespace qfleet::ml::chord

#endif  // QFLEET_CLOUD_CHORD_STATIC_ALLOCATION_H_
