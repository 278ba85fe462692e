// Coordinator: the round engine (open a round, select participants, close
// it when due, aggregate, evaluate).

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
#include "cloud/robust_aggregator.h"
#include "common/security/random_token.h"
#include "common/security/constant_time.h"
#include "common/sha256.h"
#include "common/status_macros.h"
#include "cloud/coordinator_internal.h"

namespace qfleet::cloud {

using coordinator_internal::Mix;
using coordinator_internal::Terminal;
using coordinator_internal::UploadsDelta;

// --- Round engine -----------------------------------------------------------------

absl::Status Coordinator::Step() {
  absl::MutexLock step_lock(&step_mu_);
  absl::Status s = AdvanceRounds();
  absl::Status noted = NoteRoundState();
  // Retention runs whatever the round did, and never holds a round up.
  absl::Status retained = MaybeRunRetention();
  if (!s.ok()) return s;
  return noted.ok() ? retained : noted;
}

absl::Status Coordinator::AdvanceRounds() {
  if (const int64_t now = clock_->NowMs();
      last_seen_flush_at_ms_ == 0 || now - last_seen_flush_at_ms_ >= options_.last_seen_flush_ms) {
    last_seen_flush_at_ms_ = now;
    RETURN_IF_ERROR(FlushLastSeen());
  }
  RETURN_IF_ERROR(MaybePrunePartialUploads());
  ASSIGN_OR_RETURN(std::optional<RoundRecord> latest, store_->LatestRound());
  if (latest.has_value()) {
    if (latest->state == "open") return WithAggregationRetry(*latest, CloseRoundIfDue(*latest));
    if (latest->state == "aggregating") {
      if (clock_->NowMs() < aggregation_retry_.next_ms && aggregation_retry_.round == latest->round) {
        return absl::OkStatus();  // backing off after a failed attempt
      }
      return WithAggregationRetry(*latest, Aggregate(*latest));
    }
  }
  return MaybeStartRound();
}

absl::Status Coordinator::WithAggregationRetry(const RoundRecord& round, absl::Status attempt) {
  if (attempt.ok()) return attempt;
  // Only a round that reached aggregation is retried and, in the end, failed.
  ASSIGN_OR_RETURN(RoundRecord current, store_->GetRound(round.round));
  if (current.state != "aggregating") return attempt;
  if (aggregation_retry_.round != round.round) aggregation_retry_ = AggregationRetry{round.round};
  const int tries = ++aggregation_retry_.tries;
  if (tries >= options_.max_aggregation_attempts) {
    // Earlier model versions are untouched: the campaign moves on from them.
    current.state = "failed";
    current.detail = absl::StrFormat("aggregation failed %d times; last error: %s", tries,
                                     attempt.ToString());
    current.finished_ms = clock_->NowMs();
    aggregation_retry_ = AggregationRetry{};
    RETURN_IF_ERROR(store_->UpdateRound(current));
    return attempt;
  }
  const int64_t backoff = std::min<int64_t>(
      options_.aggregation_backoff_max_ms,
      options_.aggregation_backoff_ms << std::min(tries - 1, 20));
  aggregation_retry_.next_ms = clock_->NowMs() + backoff;
  return attempt;
}

absl::StatusOr<std::vector<uint64_t>> Coordinator::SelectParticipants(const CampaignConfig& config,
                                                                      uint64_t round) {
  RETURN_IF_ERROR(FlushLastSeen());
  ASSIGN_OR_RETURN(std::vector<uint64_t> eligible,
                   store_->ActiveDevicesSeenSince(clock_->NowMs() - options_.lease_ms));
  if (eligible.size() < config.min_devices) return std::vector<uint64_t>{};
  size_t k = config.clients_per_round == 0 ? eligible.size()
                                           : std::min<size_t>(config.clients_per_round, eligible.size());
  if (k < eligible.size()) {
    std::mt19937_64 rng(Mix(config.seed ^ Mix(round)));
    std::shuffle(eligible.begin(), eligible.end(), rng);
    eligible.resize(k);
    std::sort(eligible.begin(), eligible.end());
  }
  return eligible;
}

absl::Status Coordinator::MaybeStartRound() {
  ASSIGN_OR_RETURN(std::optional<CampaignRecord> campaign, store_->ActiveCampaign());
  if (!campaign.has_value()) return absl::OkStatus();
  ASSIGN_OR_RETURN(uint64_t max_round, store_->MaxRoundNumber());
  if (max_round >= campaign->last_round) {
    campaign->state = "done";
    return store_->UpdateCampaign(*campaign);
  }
  ASSIGN_OR_RETURN(CampaignConfig config, CampaignConfig::FromJson(campaign->config_json));
  const uint64_t number = std::max(max_round + 1, campaign->first_round);
  ASSIGN_OR_RETURN(std::vector<uint64_t> participants, SelectParticipants(config, number));
  if (participants.empty()) return absl::OkStatus();  // wait for devices

  ModelBlob model = *GetModel(0);
  const int64_t now = clock_->NowMs();
  RoundRecord round;
  round.round = number;
  round.campaign_id = campaign->id;
  round.state = "open";
  round.model_version_in = model.version;
  round.started_ms = now;
  round.deadline_ms = now + static_cast<int64_t>(config.round_deadline_s * 1000);
  std::vector<TaskRecord> tasks;
  // Eval campaigns: round i evaluates eval_methods[i] (no training).
  const std::string eval_method = config.EvalMethod(number - campaign->first_round);
  for (uint64_t device_id : participants) {
    TaskRecord t;
    t.round = number;
    t.device_id = device_id;
    t.strategy = config.strategy;
    t.weight_bits = config.weight_bits;
    t.activation_bits = config.activation_bits;
    t.model_version = model.version;
    nlohmann::json train{{"local_epochs", config.local_epochs},
                         {"batch_size", config.batch_size},
                         {"learning_rate", config.learning_rate},
                         {"max_steps", config.max_steps},
                         {"seed", Mix(config.seed ^ Mix(number * 1000003ull + device_id))}};
    if (config.strategy == "ptq" && config.PtqUploadsDelta()) train["upload_delta"] = true;
    if (config.IsEval()) {
      train["eval_method"] = eval_method;
      train["budget_bits"] = config.budget_bits;
      t.weight_bits = eval_method.rfind("rtn", 0) == 0 ? static_cast<uint32_t>(eval_method[3] - '0')
                      : eval_method == "fp32"          ? 32
                                                       : 0;
      t.activation_bits = 0;
    }
    t.train_config_json = train.dump();
    t.deadline_ms = round.deadline_ms;
    t.created_ms = now;
    tasks.push_back(std::move(t));
  }
  if (config.UsesSelector()) {
    ASSIGN_OR_RETURN(round.selector_seconds, AssignStrategies(*campaign, config, tasks));
  }
  RETURN_IF_ERROR(AttachActivationSteps(config, tasks));
  absl::MutexLock lock(&round_mu_);
  return store_->CreateRound(round, tasks).status();
}

absl::Status Coordinator::CloseRoundIfDue(RoundRecord round) {
  ASSIGN_OR_RETURN(std::vector<ParticipantRecord> participants, store_->ListParticipants(round.round));
  bool all_done = true;
  for (const ParticipantRecord& p : participants) all_done = all_done && Terminal(p.status);
  const int64_t now = clock_->NowMs();
  if (!all_done && now < round.deadline_ms) return absl::OkStatus();
  {
    absl::MutexLock lock(&round_mu_);
    // An admin may have cancelled the round since Step() read it.
    ASSIGN_OR_RETURN(const RoundRecord current, store_->GetRound(round.round));
    if (current.state != "open") return absl::OkStatus();
    if (!all_done) {
      for (const ParticipantRecord& p : participants) {
        if (!Terminal(p.status) && p.status != "uploaded") {
          RETURN_IF_ERROR(store_->SetParticipantStatus(round.round, p.device_id, "dropped",
                                                       "missed the round deadline"));
        }
      }
    }
    round.state = "aggregating";
    RETURN_IF_ERROR(store_->UpdateRound(round));
  }
  return Aggregate(round);
}

absl::Status Coordinator::Aggregate(RoundRecord round) {
  ASSIGN_OR_RETURN(std::optional<CampaignRecord> campaign, store_->ActiveCampaign());
  CampaignConfig config;
  if (campaign.has_value()) {
    ASSIGN_OR_RETURN(config, CampaignConfig::FromJson(campaign->config_json));
  }
  ASSIGN_OR_RETURN(std::vector<UpdateRecord> updates, store_->ListUpdates(round.round));
  ASSIGN_OR_RETURN(std::vector<ReportRecord> reports, store_->ListReports(round.round));
  ASSIGN_OR_RETURN(round.sim_seconds,
                   AccountRound(campaign.has_value() ? &*campaign : nullptr, config, round, updates,
                                reports));
  round.bytes_up = 0;
  round.bytes_down = 0;
  for (const UpdateRecord& u : updates) round.bytes_up += u.bytes;
  for (const ReportRecord& r : reports) round.bytes_down += r.bytes_down;

  auto fail = [&](const std::string& why) -> absl::Status {
    round.state = "failed";
    round.detail = why;
    round.finished_ms = clock_->NowMs();
    return store_->UpdateRound(round);
  };
  if (config.IsEval()) return FinishEvalRound(config, round, reports);
  // Only updates whose participant finished cleanly (uploaded or reported:
  // not rejected, not dropped -- a device revoked or reset mid-round is
  // dropped) and whose device may still contribute count; each weighs at
  // most the sample count its device registered.
  ASSIGN_OR_RETURN(std::vector<ParticipantRecord> participants, store_->ListParticipants(round.round));
  std::map<uint64_t, std::string> status;
  for (const ParticipantRecord& p : participants) status[p.device_id] = p.status;
  std::vector<UpdateRecord> counted;
  std::vector<double> sample_weights;
  nlohmann::json excluded = nlohmann::json::array();
  for (const UpdateRecord& u : updates) {
    std::string why;
    const auto it = status.find(u.device_id);
    ASSIGN_OR_RETURN(const DeviceRecord device, store_->GetDevice(u.device_id));
    const uint64_t registered = device.sample_count;
    if (it == status.end() || (it->second != "uploaded" && it->second != "reported")) {
      why = "participant " + (it == status.end() ? std::string("unknown") : it->second);
    } else if (device.state == "revoked" || device.token_hash.empty()) {
      why = "device " + (device.state == "revoked" ? std::string("revoked") : "reset");
    } else if (registered == 0) {
      why = "device registered no samples";
    }
    if (!why.empty()) {
      excluded.push_back({{"device", u.device_id}, {"reason", why}});
      continue;
    }
    counted.push_back(u);
    sample_weights.push_back(static_cast<double>(std::min<uint64_t>(u.sample_count, registered)));
  }
  updates = std::move(counted);
  if (!excluded.empty()) {
    round.detail = nlohmann::json{{"aggregated", updates.size()}, {"excluded", excluded}}.dump();
  }
  if (updates.size() < std::max<uint32_t>(1, config.min_updates)) {
    return fail(absl::StrFormat("%d accepted updates, %d required", updates.size(),
                                std::max<uint32_t>(1, config.min_updates)));
  }
  ASSIGN_OR_RETURN(ModelBlob base_blob, GetModel(round.model_version_in));
  ASSIGN_OR_RETURN(TensorContainer base, DecodeContainer(*base_blob.bytes));
  std::vector<TensorContainer> models;
  std::vector<double> weights;
  std::vector<bool> deltas;
  for (size_t k = 0; k < updates.size(); ++k) {  // ordered by device id
    const UpdateRecord& u = updates[k];
    absl::StatusOr<std::string> bytes = blobs_->Get(u.blob_hash);
    if (!bytes.ok()) return fail("update blob unreadable: " + std::string(bytes.status().message()));
    absl::StatusOr<TensorContainer> model = DecodeContainer(*bytes);
    if (!model.ok()) return fail("stored update corrupt: " + std::string(model.status().message()));
    ASSIGN_OR_RETURN(TaskRecord task, store_->GetTask(u.task_id));
    models.push_back(*std::move(model));
    weights.push_back(sample_weights[k]);
    deltas.push_back(UploadsDelta(task));
  }
  // No device outweighs its share of the round (default 4 / participants),
  // whatever it registered; then the campaign's rule (FedAvg by default).
  absl::StatusOr<std::vector<double>> capped =
      CapWeights(weights, config.MaxUpdateShare(participants.size()));
  if (!capped.ok()) return fail("aggregation weights: " + std::string(capped.status().message()));
  absl::StatusOr<TensorContainer> next =
      cloud::Aggregate(base, models, *capped, deltas, config.Aggregation());
  if (!next.ok()) return fail("aggregation failed: " + std::string(next.status().message()));
  ServeSpec serve;
  serve.weight_bits = static_cast<int>(config.weight_bits);  // every strategy is served quantized
  serve.activation_bits = static_cast<int>(config.activation_bits);
  ASSIGN_OR_RETURN(Evaluation eval, backend_->Evaluate(*next, serve));
  ASSIGN_OR_RETURN(std::string bytes, EncodeContainer(*next));
  ASSIGN_OR_RETURN(std::string hash, blobs_->Put(bytes));

  ASSIGN_OR_RETURN(std::optional<ModelVersionRecord> latest, store_->LatestModelVersion());
  ModelVersionRecord rec;
  rec.version = latest.has_value() ? latest->version + 1 : 1;
  rec.blob_hash = hash;
  rec.bytes = bytes.size();
  rec.round = round.round;
  rec.acc_fp32 = eval.acc_fp32;
  rec.acc_q8 = eval.acc_q8;
  rec.created_ms = clock_->NowMs();
  round.state = "done";
  round.model_version_out = rec.version;
  round.acc_fp32 = eval.acc_fp32;
  round.acc_q8 = eval.acc_q8;
  round.acc_served = eval.acc_served;
  round.finished_ms = rec.created_ms;
  RETURN_IF_ERROR(store_->RunInTransaction([&]() -> absl::Status {
    RETURN_IF_ERROR(store_->InsertModelVersion(rec));
    return store_->UpdateRound(round);
  }));
  absl::MutexLock lock(&model_mu_);
  latest_.version = rec.version;
  latest_.sha256 = hash;
  latest_.bytes = std::make_shared<const std::string>(std::move(bytes));
  latest_container_ = std::make_shared<const TensorContainer>(*std::move(next));
  return absl::OkStatus();
}

absl::Status Coordinator::FinishEvalRound(const CampaignConfig& config, RoundRecord& round,
                                          const std::vector<ReportRecord>& reports) {
  // Mean of every metric over the error-free reports.
  std::map<std::string, std::pair<double, uint64_t>> sums;
  uint64_t counted = 0;
  for (const ReportRecord& r : reports) {
    if (!r.error.empty()) continue;
    ++counted;
    for (const auto& [name, v] : r.metrics) {
      sums[name].first += v;
      ++sums[name].second;
    }
  }
  nlohmann::json summary = nlohmann::json::object();
  summary["reports"] = counted;
  for (const auto& [name, sum] : sums) summary[name] = sum.first / static_cast<double>(sum.second);
  round.finished_ms = clock_->NowMs();
  round.model_version_out = round.model_version_in;
  if (counted < std::max<uint32_t>(1, config.min_updates)) {
    round.state = "failed";
    round.detail = absl::StrFormat("%d error-free evaluation reports, %d required", counted,
                                   std::max<uint32_t>(1, config.min_updates));
    return store_->UpdateRound(round);
  }
  round.state = "done";
  round.detail = summary.dump();
  if (sums.count("hr10") > 0) round.acc_served = summary["hr10"].get<double>();
  return store_->UpdateRound(round);
}

}  // namespace qfleet::cloud
