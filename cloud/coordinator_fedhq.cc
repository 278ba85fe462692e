// Coordinator: FedHQ's part of a round (the strategy selector per
// campaign, PTQ/QAT assignment, activation calibration steps, the round's
// simulated time account).

#include "cloud/coordinator.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <random>

#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "absl/strings/str_cat.h"
#include "common/container_quant.h"
#include "common/file_io.h"
#include <chrono>
#include <nlohmann/json.hpp>
#include "cloud/aggregator.h"
#include "common/security/random_token.h"
#include "common/security/constant_time.h"
#include "common/sha256.h"
#include "common/status_macros.h"
#include "cloud/coordinator_internal.h"

namespace qfleet::cloud {

using coordinator_internal::Mix;
using coordinator_internal::Terminal;
using coordinator_internal::UploadsDelta;

absl::StatusOr<FedHqSelector*> Coordinator::SelectorFor(const CampaignRecord& campaign,
                                                        const CampaignConfig& config) {
  if (selector_ == nullptr || selector_campaign_ != campaign.id) {
    FedHqOptions opts;
    opts.learned = config.strategy == "fedhq";
    opts.keep_qat_ratio = config.fedhq_keep_qat_ratio;
    selector_ = std::make_unique<FedHqSelector>(opts);
    selector_campaign_ = campaign.id;
    ASSIGN_OR_RETURN(std::optional<std::string> state,
                     store_->GetKv(absl::StrFormat("fedhq/%d", campaign.id)));
    if (state.has_value()) RETURN_IF_ERROR(selector_->Restore(*state));
  }
  return selector_.get();
}

absl::StatusOr<double> Coordinator::AssignStrategies(const CampaignRecord& campaign,
                                                     const CampaignConfig& config,
                                                     std::vector<TaskRecord>& tasks) {
  const auto start = std::chrono::steady_clock::now();
  ASSIGN_OR_RETURN(FedHqSelector * selector, SelectorFor(campaign, config));
  std::vector<ClientView> clients;
  for (const TaskRecord& t : tasks) {
    ASSIGN_OR_RETURN(DeviceRecord d, store_->GetDevice(t.device_id));
    ClientView c;
    c.device_id = d.id;
    c.gflops = d.compute_gflops;
    c.downlink_kbps = d.downlink_kbps;
    c.uplink_kbps = d.uplink_kbps;
    c.samples = d.sample_count;
    c.label_histogram = d.label_histogram;
    clients.push_back(std::move(c));
  }
  RoundContext ctx;
  ctx.costs = config.step_costs;
  ctx.batch_size = config.batch_size;
  ctx.local_epochs = config.local_epochs;
  ctx.max_steps = config.max_steps;
  ctx.deadline_s = config.sim_deadline_s;
  std::shared_ptr<const TensorContainer> model = current_model();
  ASSIGN_OR_RETURN(std::string fp32, EncodeContainer(*model));
  ctx.model_bytes = fp32.size();
  ASSIGN_OR_RETURN(TensorContainer packed,
                   QuantizeContainer(*model, static_cast<int>(config.weight_bits)));
  ASSIGN_OR_RETURN(std::string upload, EncodeContainer(packed));
  ctx.upload_bytes = upload.size();
  std::vector<ClientAnalysis> analyses;
  std::vector<bool> gap_checks;
  ASSIGN_OR_RETURN(std::vector<std::string> strategies,
                   selector->Assign(clients, ctx, &analyses, &gap_checks));
  for (size_t i = 0; i < tasks.size(); ++i) {
    tasks[i].strategy = strategies[i];
    nlohmann::json j = nlohmann::json::parse(tasks[i].train_config_json);
    j["predicted_s"] = strategies[i] == "qat"  ? analyses[i].t_qat
                       : gap_checks[i]         ? analyses[i].t_ptq_gap
                                               : analyses[i].t_ptq;
    if (gap_checks[i]) j["quant_gap"] = true;
    j["label_distance"] = analyses[i].label_distance;
    j["weight"] = analyses[i].weight;
    if (strategies[i] == "ptq" && config.PtqUploadsDelta()) j["upload_delta"] = true;
    tasks[i].train_config_json = j.dump();
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

absl::Status Coordinator::AttachActivationSteps(const CampaignConfig& config,
                                                std::vector<TaskRecord>& tasks) {
  if (config.activation_bits < 1 || config.activation_bits > 8) return absl::OkStatus();
  if (std::none_of(tasks.begin(), tasks.end(),
                   [](const TaskRecord& t) { return t.strategy == "qat"; })) {
    return absl::OkStatus();
  }
  // Once per round, on the coordinator: the steps the served form of the
  // round's model uses, so no QAT client spends its round calibrating.
  ServeSpec serve;
  serve.weight_bits = static_cast<int>(config.weight_bits);
  serve.activation_bits = static_cast<int>(config.activation_bits);
  ASSIGN_OR_RETURN(std::vector<double> steps,
                   backend_->ServedActivationSteps(*current_model(), serve));
  if (steps.empty()) return absl::OkStatus();  // clients calibrate themselves
  for (TaskRecord& t : tasks) {
    if (t.strategy != "qat") continue;
    nlohmann::json j = nlohmann::json::parse(t.train_config_json);
    j["act_steps"] = steps;
    t.train_config_json = j.dump();
  }
  return absl::OkStatus();
}

absl::StatusOr<double> Coordinator::AccountRound(const CampaignRecord* campaign,
                                                 const CampaignConfig& config, RoundRecord& round,
                                                 std::vector<UpdateRecord>& updates,
                                                 const std::vector<ReportRecord>& reports) {
  if (!config.step_costs.valid() && config.sim_deadline_s <= 0) return 0.0;
  const auto start = std::chrono::steady_clock::now();
  std::map<uint64_t, const ReportRecord*> by_device;
  for (const ReportRecord& r : reports) by_device[r.device_id] = &r;
  std::vector<ClientOutcome> outcomes;
  std::map<uint64_t, double> observed;
  for (const ReportRecord& r : reports) {
    auto sim = r.metrics.find("sim_compute_s");
    if (sim == r.metrics.end() || !r.error.empty()) continue;
    ASSIGN_OR_RETURN(DeviceRecord d, store_->GetDevice(r.device_id));
    const double t =
        sim->second + TransferSeconds(r.bytes_down, r.bytes_up, d.downlink_kbps, d.uplink_kbps);
    observed[r.device_id] = t;
    ASSIGN_OR_RETURN(TaskRecord task, store_->GetTask(r.task_id));
    nlohmann::json j = nlohmann::json::parse(task.train_config_json, nullptr, false);
    ClientOutcome o;
    o.device_id = r.device_id;
    o.strategy = task.strategy;
    o.observed_s = t;
    if (j.is_object()) {
      o.predicted_s = j.value("predicted_s", 0.0);
      o.label_distance = j.value("label_distance", 0.0);
      o.weight = j.value("weight", 0.0);
    }
    auto gap = r.metrics.find("quant_gap");
    o.quant_gap = gap == r.metrics.end() ? NAN : gap->second;
    outcomes.push_back(o);
  }
  double round_s = 0;
  bool missed = false;
  std::vector<UpdateRecord> kept;
  for (const UpdateRecord& u : updates) {
    auto it = observed.find(u.device_id);
    if (config.sim_deadline_s > 0 && (it == observed.end() || it->second > config.sim_deadline_s)) {
      missed = true;
      RETURN_IF_ERROR(store_->SetParticipantStatus(round.round, u.device_id, "dropped",
                                                   "missed the simulated round deadline"));
      continue;
    }
    if (it != observed.end()) round_s = std::max(round_s, it->second);
    kept.push_back(u);
  }
  if (missed) round_s = config.sim_deadline_s;
  updates = std::move(kept);
  if (campaign != nullptr && config.UsesSelector()) {
    ASSIGN_OR_RETURN(FedHqSelector * selector, SelectorFor(*campaign, config));
    selector->Observe(outcomes);
    RETURN_IF_ERROR(store_->PutKv(absl::StrFormat("fedhq/%d", campaign->id), selector->Serialize(),
                                  clock_->NowMs()));
    round.selector_seconds +=
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  return round_s;
}

}  // namespace qfleet::cloud
