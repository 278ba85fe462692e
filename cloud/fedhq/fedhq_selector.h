#ifndef QFLEET_CLOUD_FEDHQ_FEDHQ_SELECTOR_H_
#define QFLEET_CLOUD_FEDHQ_FEDHQ_SELECTOR_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/time_model.h"

namespace qfleet::cloud {

// What the selector knows of one client: its registered profile and data
// summary (never the data).
struct ClientView {
  uint64_t device_id = 0;
  double gflops = 0;
  uint64_t downlink_kbps = 0, uplink_kbps = 0;
  uint64_t samples = 0;
  std::vector<uint64_t> label_histogram;
};

// Round-wide facts the analyses need.
struct RoundContext {
  StepCosts costs;
  uint32_t batch_size = 32, local_epochs = 1, max_steps = 0;
  uint64_t model_bytes = 0;      // FP32 download
  uint64_t upload_bytes = 0;     // quantized upload at the round's bits
  // Simulated round deadline (0 = none): an update that arrives later is
  // dropped by the coordinator.
  double deadline_s = 0;
};

// The two analyses of one client.
struct ClientAnalysis {
  uint64_t device_id = 0;
  // Hardware analysis: predicted round seconds under each strategy
  // (compute from the calibrated step costs scaled by the client's speed,
  // corrected by what was observed of it, plus transfer).
  double t_qat = 0, t_ptq = 0;
  // t_ptq with the quantization-gap check (StepCosts::gap_check_s).
  double t_ptq_gap = 0;
  // Data analysis: total-variation distance of the client's label
  // distribution from the fleet's, in [0, 1], and its FedAvg weight.
  double label_distance = 0, weight = 0;
  // Predicted harm to the served model if this client trains with PTQ.
  double ptq_harm = 0;
};

// What one client did in a finished round.
struct ClientOutcome {
  uint64_t device_id = 0;
  std::string strategy;       // "ptq" or "qat"
  double predicted_s = 0;     // the selector's prediction for that strategy
  double observed_s = 0;      // compute + transfer it reported
  double quant_gap = 0;       // loss(quantized) - loss(FP32) on its data (device/quant_gap.h)
  double label_distance = 0;
  double weight = 0;
};

struct FedHqOptions {
  // A client whose predicted PTQ harm exceeds keep_qat_ratio times the mean
  // harm of the round's clients keeps QAT even on the critical path.
  double keep_qat_ratio = 1.0;
  // Learn from outcomes (fedhq); false = coarse initialization only
  // (fedhq-init).
  bool learned = true;
  double ridge_lambda = 1e-3;
  // Weight of the newest observation in each client's time correction.
  double time_ema = 0.5;
};

// FedHQ's strategy selector. Coarse initialization: the hardware analysis
// predicts each client's round time under PTQ and QAT; the data analysis
// predicts how much PTQ would hurt (label skew times FedAvg weight). Clients
// on the round's critical path move to PTQ, slowest first, while their
// predicted harm is at most keep_qat_ratio x the mean; every client whose
// QAT time fits inside the resulting round stays on QAT. Under a round
// deadline, a client that would miss it with QAT but make it with PTQ gets
// PTQ whatever its harm: a dropped update teaches the model nothing, and
// with skewed data it takes its classes with it. Fine-grained
// adjustment (learned = true): a per-client correction of predicted times
// (EMA of observed / predicted) and an online ridge regression from
// (label distance, weight) to the observed PTQ quantization loss gap replace
// the coarse inputs, so individual assignments flip as evidence comes in.
// Not thread-safe; the coordinator's round engine owns it.
class FedHqSelector {
 public:
  explicit FedHqSelector(FedHqOptions options = {});

  // Runs both analyses for `clients` (any order). InvalidArgument if the
  // costs are not calibrated or a client has no speed.
  absl::StatusOr<std::vector<ClientAnalysis>> Analyze(const std::vector<ClientView>& clients,
                                                      const RoundContext& ctx) const;
  // Assigns "ptq" or "qat" to each client (same order as `clients`) and
  // fills `analyses` when non-null. `gap_checks`, when non-null, says per
  // client whether its task asks for the quantization-gap check: only a
  // learning selector asks, only PTQ clients, and only those whose PTQ time
  // with the check still fits inside the predicted round (and its deadline),
  // so measuring PTQ's harm never lengthens a round or costs an update.
  absl::StatusOr<std::vector<std::string>> Assign(const std::vector<ClientView>& clients,
                                                  const RoundContext& ctx,
                                                  std::vector<ClientAnalysis>* analyses = nullptr,
                                                  std::vector<bool>* gap_checks = nullptr);
  // Learns from a finished round (no-op when learned is false).
  void Observe(const std::vector<ClientOutcome>& outcomes);

  // State for persistence across coordinator restarts.
  std::string Serialize() const;
  // InvalidArgument for malformed state.
  absl::Status Restore(absl::string_view state);

  const FedHqOptions& options() const { return options_; }
  int observations() const { return static_cast<int>(ys_.size()); }

 private:
  double PredictGap(double distance, double weight) const;
  void Refit();

  FedHqOptions options_;
  std::map<uint64_t, double> time_correction_;  // observed / predicted
  // Ridge regression of the PTQ gap on features [1, d, d^2, w].
  std::vector<std::vector<double>> xs_;
  std::vector<double> ys_;
  std::vector<double> beta_;
};

// Total-variation distance between two label histograms' distributions
// (0 for identical, 1 for disjoint support; 0 when either is empty).
double LabelDistance(const std::vector<uint64_t>& a, const std::vector<uint64_t>& b);

}  // namespace qfleet::cloud

#endif  // QFLEET_CLOUD_FEDHQ_FEDHQ_SELECTOR_H_
