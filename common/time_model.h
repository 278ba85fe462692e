#ifndef QFLEET_COMMON_TIME_MODEL_H_
#define QFLEET_COMMON_TIME_MODEL_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace qfleet {

// Seconds per local optimizer step of each training strategy, measured on a
// reference machine whose matmul probe gave `ref_gflops` (see
// device/profile_probe.h), plus PTQ's one-off costs per upload after
// training: quantizing the model, and the quantization-gap check
// (device/quant_gap.h) when the task asks for one. Simulated fleets scale these by each device's
// compute speed; nothing here is guessed.
struct StepCosts {
  double ref_gflops = 0;
  double fp32_step_s = 0;
  double qat_step_s = 0;
  double ptq_quantize_s = 0;
  double gap_check_s = 0;  // dequantize + QuantizationGap, when requested

  bool valid() const { return ref_gflops > 0 && fp32_step_s > 0 && qat_step_s > 0; }
  std::string ToJson() const;
  // InvalidArgument on malformed JSON or negative/non-finite values.
  static absl::StatusOr<StepCosts> FromJson(absl::string_view json);
};

// Compute seconds a device with `gflops` (its probe result) and `load` (the
// share of it that training actually gets, 1 = all) needs for `steps` local
// steps under `strategy` ("fp32", "ptq" or "qat"), plus the gap check when
// `gap_check` (PTQ only). InvalidArgument for an unknown strategy, a
// non-positive speed or a gap check asked of another strategy. Thread-safe.
absl::StatusOr<double> ComputeSeconds(const StepCosts& costs, absl::string_view strategy,
                                      int64_t steps, double gflops, double load = 1.0,
                                      bool gap_check = false);

// Seconds to move `bytes_down` and `bytes_up` over links of the given
// kilobits per second (0 = unknown, counts as instantaneous).
double TransferSeconds(uint64_t bytes_down, uint64_t bytes_up, uint64_t downlink_kbps,
                       uint64_t uplink_kbps);

// Local optimizer steps of one round: epochs * ceil(samples / batch), capped
// by max_steps when it is > 0.
int64_t LocalSteps(uint64_t samples, uint32_t batch_size, uint32_t epochs, uint32_t max_steps);

}  // namespace qfleet

#endif  // QFLEET_COMMON_TIME_MODEL_H_
