#ifndef QFLEET_SIM_FL_COMPARE_H_
#define QFLEET_SIM_FL_COMPARE_H_

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "sim/fleet_sim.h"
#include "common/idx_dataset.h"
#include "common/time_model.h"

namespace qfleet::apps {

struct FlCompareOptions {
  std::vector<std::string> strategies = {"fp32", "ptq", "qat", "fedhq", "fedhq-init"};
  FlSimOptions sim;               // devices, rounds, seed, alpha, training settings
  std::string fleet_file;         // YAML; empty = DefaultFleet()
  double target_acc = 0.8;        // served accuracy whose first reach is timed
  std::string json_path;
  std::string plot_path;          // PNG via gnuplot; empty = none
  // Step-cost calibration file (StepCosts JSON). Empty: measure now. Set and
  // present: reuse it, so the same seed gives the same table on any machine
  // state. Set and absent: measure now and write it there.
  std::string calibration_path;
  // > 0: first train the model in FP32 for this many federated rounds on
  // the same fleet and partition (all-FP32 clients, through a coordinator
  // of its own, no simulated deadline), export it to `warmup_model_path`
  // (a temporary file, removed at the end, when empty) and start every
  // strategy from it: low-bit deployment of a
  // trained model rather than low-bit training from scratch. The warm-up's
  // simulated time is printed and counted in no strategy's.
  int warmup_rounds = 0;
  std::string warmup_model_path;
};

struct StrategyResult {
  std::string name;
  double final_acc = -1;          // served (quantized) accuracy after the last round
  // Mean served accuracy over the last (up to) five finished rounds: under
  // skewed partitions the served accuracy swings by several points from round
  // to round, so one round is a noisy measure of where training ended.
  double final_acc_last5 = -1;
  double time_to_target_s = -1;   // simulated; -1 = never reached
  double total_time_s = 0;        // simulated
  uint64_t bytes = 0;             // down + up over all rounds
  double wall_s = 0;              // real time of the run
  double selector_overhead_s = 0; // wall time inside the strategy selector
  std::vector<RoundRow> rounds;
};

// Measures, on this machine, seconds per local step of FP32 and QAT
// training (batch `batch_size`, weights at wbits, activations at abits) and
// the cost of post-training quantization of the model; ref_gflops is this
// machine's matmul probe. Prints the calibration to `log`.
absl::StatusOr<StepCosts> CalibrateStepCosts(const ImageDataset& train, int wbits, int abits,
                                             int batch_size, float learning_rate, std::ostream& log);

// The calibration RunFlCompare uses: read from `path` when it exists (and
// is valid for these wbits/abits as recorded in it), else measured with
// CalibrateStepCosts and, when `path` is non-empty, written there.
// InvalidArgument for a malformed or mismatched file.
absl::StatusOr<StepCosts> LoadOrCalibrate(const std::string& path, const ImageDataset& train,
                                          int wbits, int abits, int batch_size,
                                          float learning_rate, std::ostream& log);

// Runs every strategy on the same fleet, partition and seed, each with its
// own in-process coordinator, and summarizes them.
absl::StatusOr<std::vector<StrategyResult>> RunFlCompare(const FlCompareOptions& options,
                                                         std::ostream& progress);

std::string FormatCompareTable(const std::vector<StrategyResult>& results);
std::string CompareToJson(const std::vector<StrategyResult>& results, const StepCosts& costs);
// Served accuracy against simulated time, one curve per strategy, as PNG via
// gnuplot. Unavailable when gnuplot is not installed.
absl::Status WriteComparePlot(const std::vector<StrategyResult>& results, const std::string& png,
                              double target_acc);

}  // namespace qfleet::apps

#endif  // QFLEET_SIM_FL_COMPARE_H_
