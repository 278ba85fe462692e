#include "common/time_model.h"

#include <cmath>

#include <nlohmann/json.hpp>

#include "absl/strings/str_format.h"

namespace qfleet {

std::string StepCosts::ToJson() const {
  return nlohmann::json{{"ref_gflops", ref_gflops},
                        {"fp32_step_s", fp32_step_s},
                        {"qat_step_s", qat_step_s},
                        {"ptq_quantize_s", ptq_quantize_s},
                        {"gap_check_s", gap_check_s}}
      .dump();
}

absl::StatusOr<StepCosts> StepCosts::FromJson(absl::string_view json) {
  nlohmann::json j = nlohmann::json::parse(json.begin(), json.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::InvalidArgumentError("step costs are not a JSON object");
  }
  StepCosts c;
  try {
    c.ref_gflops = j.value("ref_gflops", 0.0);
    c.fp32_step_s = j.value("fp32_step_s", 0.0);
    c.qat_step_s = j.value("qat_step_s", 0.0);
    c.ptq_quantize_s = j.value("ptq_quantize_s", 0.0);
    c.gap_check_s = j.value("gap_check_s", 0.0);
  } catch (const nlohmann::json::exception& e) {
    return absl::InvalidArgumentError(std::string("step costs: ") + e.what());
  }
  for (double v : {c.ref_gflops, c.fp32_step_s, c.qat_step_s, c.ptq_quantize_s, c.gap_check_s}) {
    if (!std::isfinite(v) || v < 0) return absl::InvalidArgumentError("step costs out of range");
  }
  return c;
}

absl::StatusOr<double> ComputeSeconds(const StepCosts& costs, absl::string_view strategy,
                                      int64_t steps, double gflops, double load,
                                      bool gap_check) {
  if (!(gflops > 0) || !(load > 0) || !std::isfinite(gflops) || !std::isfinite(load)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("device speed %g GFLOP/s at load %g is not positive", gflops, load));
  }
  if (!costs.valid()) return absl::InvalidArgumentError("step costs are not calibrated");
  if (gap_check && strategy != "ptq") {
    return absl::InvalidArgumentError(
        absl::StrFormat("a gap check is PTQ's, not strategy '%s''s", strategy));
  }
  double per_step = 0, fixed = 0;
  if (strategy == "fp32") {
    per_step = costs.fp32_step_s;
  } else if (strategy == "ptq") {
    per_step = costs.fp32_step_s;
    fixed = costs.ptq_quantize_s + (gap_check ? costs.gap_check_s : 0.0);
  } else if (strategy == "qat") {
    per_step = costs.qat_step_s;
  } else {
    return absl::InvalidArgumentError(absl::StrFormat("unknown strategy '%s'", strategy));
  }
  const double slowdown = costs.ref_gflops / (gflops * load);
  return (static_cast<double>(steps) * per_step + fixed) * slowdown;
}

double TransferSeconds(uint64_t bytes_down, uint64_t bytes_up, uint64_t downlink_kbps,
                       uint64_t uplink_kbps) {
  double s = 0;
  if (downlink_kbps > 0) s += bytes_down * 8.0 / (downlink_kbps * 1000.0);
  if (uplink_kbps > 0) s += bytes_up * 8.0 / (uplink_kbps * 1000.0);
  return s;
}

int64_t LocalSteps(uint64_t samples, uint32_t batch_size, uint32_t epochs, uint32_t max_steps) {
  if (batch_size == 0) return 0;
  int64_t steps = static_cast<int64_t>(epochs) * ((samples + batch_size - 1) / batch_size);
  if (max_steps > 0 && steps > max_steps) steps = max_steps;
  return steps;
}

}  // namespace qfleet
