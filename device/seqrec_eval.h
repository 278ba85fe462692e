#ifndef QFLEET_DEVICE_SEQREC_EVAL_H_
#define QFLEET_DEVICE_SEQREC_EVAL_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/budget_decode.h"
#include "common/seqrec/eval_sampler.h"
#include "common/seqrec/leave_one_out.h"
#include "device/device_types.h"
#include "device/fleet_client.h"

namespace qfleet::device {

// What a recommendation device holds for CHORD evaluation tasks: its own
// interactions, the item it is evaluated on and the items it ranks that
// item against.
struct SeqRecDeviceData {
  int64_t user = 0;                 // its id in the served model (Caser's user table)
  std::vector<int32_t> history;     // items in time order, before the held-out one
  int32_t held_out = 0;             // the true next item
  std::vector<int32_t> negatives;   // items it never interacted with
  std::string backbone = "sasrec";  // architecture of the served model
  // How the device turns tier codes into bits; budget_bits 0 = the task's.
  BudgetDecodeOptions decode = {{1, 2, 3, 4, 8}, {8, 4, 2, 1}};
  double budget_bits = 0;
};

// InvalidArgument for an empty history, a non-positive item id, no
// negatives, a negative equal to the held-out item, or an unknown backbone.
absl::Status ValidateSeqRecDeviceData(const SeqRecDeviceData& data);

// User `user` of a leave-one-out split as its device holds it: the test
// history, the test target and its negatives from `sample`. InvalidArgument
// if the user is not in the sample.
absl::StatusOr<SeqRecDeviceData> SeqRecDeviceDataFor(const seqrec::LeaveOneOutSplit& split,
                                                     const seqrec::EvalSample& sample,
                                                     int64_t user);

// Runs one eval task (strategy "eval") on the device, with no gradient and
// no training: decodes the served bundle (frozen backbone + user encoder),
// chooses every channel's width by the task's method -- fp32: none; rtnB:
// B everywhere; static / chord-mean: the fleet plan from RequestPlan;
// chord: encodes its own recent items and requests its own plan -- decodes
// the plan for its budget, quantizes the whole backbone per channel in one
// pass (ApplyChannelBits), ranks the held-out item against the negatives
// and returns the report's metrics: hr5, hr10, ndcg5, ndcg10, avg_bits,
// plan_bytes, model_bytes, apply_ms (plan decode + budget + quantize), and
// for chord plan_cached / plan_gen_ms. Errors from the bundle, the plan
// RPC, the decode or the model pass through.
absl::StatusOr<std::map<std::string, double>> RunSeqRecEvalTask(FleetClient& client,
                                                                const DeviceTask& task,
                                                                const std::string& model_bytes,
                                                                const SeqRecDeviceData& data);

}  // namespace qfleet::device

#endif  // QFLEET_DEVICE_SEQREC_EVAL_H_
