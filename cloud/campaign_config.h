#ifndef QFLEET_CLOUD_CAMPAIGN_CONFIG_H_
#define QFLEET_CLOUD_CAMPAIGN_CONFIG_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "cloud/robust_aggregator.h"
#include "common/time_model.h"

namespace qfleet::cloud {

// Settings of a training campaign: `rounds` synchronous rounds that all use
// the same selection, deadline and local-training settings.
struct CampaignConfig {
  uint32_t rounds = 5;
  uint32_t clients_per_round = 0;  // 0 = every eligible device
  uint32_t min_devices = 1;        // a round waits until this many are online
  double round_deadline_s = 600;
  // fp32 | ptq | qat (every client alike), or fedhq | fedhq-init (the
  // FedHQ selector assigns ptq or qat per client and round; -init without
  // the learned adjustment).
  std::string strategy = "ptq";
  uint32_t weight_bits = 8;
  uint32_t activation_bits = 0;
  uint32_t local_epochs = 1;
  uint32_t batch_size = 32;
  float learning_rate = 0.05f;
  uint32_t max_steps = 0;
  uint64_t seed = 1;
  uint32_t min_updates = 1;  // fewer accepted updates fail the round
  // Simulated-time accounting (fleet simulations): a participant whose
  // reported compute plus transfer time exceeds this many simulated seconds
  // missed the round (0 = no simulated deadline).
  double sim_deadline_s = 0;
  // Calibrated step costs (common/time_model.h) for FedHQ's hardware
  // analysis; required by fedhq and fedhq-init.
  StepCosts step_costs;
  // FedHQ: clients whose predicted PTQ harm exceeds this multiple of the
  // round's mean keep QAT.
  double fedhq_keep_qat_ratio = 1.0;
  // What a PTQ client uploads: "model" (its trained model, quantized per
  // channel) or "delta" (the change from the downloaded global model,
  // quantized per channel; the server adds it back to that model, so the
  // global model itself stays off the deployed grid). QAT clients always
  // upload their model on the grid they trained against.
  std::string ptq_upload = "model";
  // strategy "eval": no training; round i of the campaign evaluates the
  // frozen model under eval_methods[i] ("fp32", "rtn1".."rtn8", "static",
  // "chord-mean", "chord"; one per round), devices decoding plans for
  // budget_bits average bits per weight.
  std::vector<std::string> eval_methods;
  double budget_bits = 3.0;
  // Aggregation (cloud/robust_aggregator.h): "fedavg", "median" or
  // "trimmed_mean"; trim_fraction in [0, 0.5) is trimmed_mean's share cut at
  // each end; clip_norm > 0 clips each update's L2 norm first (0 = off).
  std::string aggregator = "fedavg";
  double trim_fraction = 0.1;
  double clip_norm = 0;
  // The most of a round's total FedAvg weight one update may carry
  // (CapWeights), in (0, 1]; 0 = automatic, min(1, 4 / participants).
  double max_update_share = 0;

  bool UsesSelector() const { return strategy == "fedhq" || strategy == "fedhq-init"; }
  bool IsEval() const { return strategy == "eval"; }
  bool PtqUploadsDelta() const { return ptq_upload == "delta"; }
  // The method of round `index` (0-based within the campaign) of an eval
  // campaign; "" otherwise.
  std::string EvalMethod(uint64_t index) const;
  // The aggregator, trim_fraction and clip_norm as AggregatorOptions.
  AggregatorOptions Aggregation() const;
  // max_update_share, or when it is 0, min(1, 4 / participants) (1 for no
  // participants).
  double MaxUpdateShare(size_t participants) const;

  // InvalidArgument naming the first out-of-range field.
  absl::Status Validate() const;
  std::string ToJson() const;
  // InvalidArgument on malformed JSON or wrong field types; missing fields
  // keep their defaults.
  static absl::StatusOr<CampaignConfig> FromJson(absl::string_view json);
};

// True for an evaluation method an eval campaign accepts.
bool IsKnownEvalMethod(absl::string_view method);
// True for the methods whose plan a device asks RequestPlan for.
bool EvalMethodNeedsPlan(absl::string_view method);

}  // namespace qfleet::cloud

#endif  // QFLEET_CLOUD_CAMPAIGN_CONFIG_H_
