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

namespace qfleet::cloud {
namespace {

// Whether a task's upload is a PTQ delta (set in its train config when the
// task is made or its strategy assigned).
bool UploadsDelta(const TaskRecord& task) {
  nlohmann::json j = nlohmann::json::parse(task.train_config_json, nullptr, false);
  return j.is_object() && j.value("upload_delta", false);
}

bool ValidDeviceName(absl::string_view name) {
  if (name.empty() || name.size() > 128) return false;
  for (char c : name) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-')) {
      return false;
    }
  }
  return true;
}

// splitmix64: a stable mix of (seed, round, device) for per-task seeds.
uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

bool Terminal(absl::string_view status) {
  return status == "reported" || status == "rejected" || status == "dropped";
}

}  // namespace

Coordinator::Coordinator(CoordinatorOptions options, std::unique_ptr<CoordinatorStore> store,
                         std::unique_ptr<BlobStore> blobs, std::unique_ptr<ModelBackend> backend)
    : options_(std::move(options)),
      clock_(options_.clock != nullptr ? options_.clock : Clock::Real()),
      store_(std::move(store)),
      blobs_(std::move(blobs)),
      backend_(std::move(backend)) {
  started_ms_ = clock_->NowMs();
}

Coordinator::~Coordinator() {
  StopEngine();
  StopPlanThread();
}

absl::StatusOr<std::unique_ptr<Coordinator>> Coordinator::Open(
    const CoordinatorOptions& options, std::unique_ptr<ModelBackend> backend) {
  if (backend == nullptr) return absl::InvalidArgumentError("coordinator needs a model backend");
  if (options.db_path.empty()) return absl::InvalidArgumentError("coordinator needs --db");
  std::string blob_dir = options.blob_dir;
  if (blob_dir.empty()) {
    if (options.db_path == ":memory:") {
      blob_dir = (std::filesystem::temp_directory_path() /
                  absl::StrFormat("qfleet-blobs-%d-%p", ::getpid(), &options))
                     .string();
    } else {
      blob_dir = options.db_path + ".blobs";
    }
  }
  ASSIGN_OR_RETURN(std::unique_ptr<CoordinatorStore> store, CoordinatorStore::Open(options.db_path));
  ASSIGN_OR_RETURN(std::unique_ptr<BlobStore> blobs, BlobStore::Open(blob_dir));
  std::unique_ptr<Coordinator> c(
      new Coordinator(options, std::move(store), std::move(blobs), std::move(backend)));
  RETURN_IF_ERROR(c->LoadOrCreateModel());
  return c;
}

absl::Status Coordinator::LoadOrCreateModel() {
  ASSIGN_OR_RETURN(std::optional<ModelVersionRecord> latest, store_->LatestModelVersion());
  std::string bytes;
  ModelVersionRecord rec;
  if (latest.has_value()) {
    rec = *latest;
    ASSIGN_OR_RETURN(bytes, blobs_->Get(rec.blob_hash));
  } else {
    ASSIGN_OR_RETURN(TensorContainer initial, backend_->InitialModel(options_.model_seed));
    if (!options_.initial_model_path.empty()) {
      // The file must have the seeded model's tensors, names and shapes,
      // with finite values (what an accepted update must have).
      const std::string& path = options_.initial_model_path;
      ASSIGN_OR_RETURN(std::string file, ReadFileToString(path, 1ull << 30));
      absl::StatusOr<TensorContainer> loaded = DecodeContainer(file);
      absl::Status fits = loaded.ok() ? ValidateUpdate(initial, *loaded) : loaded.status();
      if (!fits.ok()) {
        return absl::Status(fits.code(),
                            absl::StrCat("initial model ", path, ": ", fits.message()));
      }
      initial = *std::move(loaded);
    }
    ASSIGN_OR_RETURN(bytes, EncodeContainer(initial));
    ASSIGN_OR_RETURN(rec.blob_hash, blobs_->Put(bytes));
    rec.version = 1;
    rec.bytes = bytes.size();
    rec.round = 0;
    rec.created_ms = clock_->NowMs();
    ASSIGN_OR_RETURN(Evaluation eval, backend_->Evaluate(initial, ServeSpec()));
    rec.acc_fp32 = eval.acc_fp32;
    rec.acc_q8 = eval.acc_q8;
    RETURN_IF_ERROR(store_->InsertModelVersion(rec));
  }
  ASSIGN_OR_RETURN(TensorContainer container, DecodeContainer(bytes));
  absl::MutexLock lock(&model_mu_);
  latest_.version = rec.version;
  latest_.sha256 = rec.blob_hash;
  latest_.bytes = std::make_shared<const std::string>(std::move(bytes));
  latest_container_ = std::make_shared<const TensorContainer>(std::move(container));
  return absl::OkStatus();
}

std::shared_ptr<const TensorContainer> Coordinator::current_model() const {
  absl::MutexLock lock(&model_mu_);
  return latest_container_;
}

// --- Device API ---------------------------------------------------------------

absl::StatusOr<Registration> Coordinator::Register(DeviceRecord device,
                                                   absl::string_view join_secret) {
  const int64_t now = clock_->NowMs();
  ASSIGN_OR_RETURN(const uint64_t join_token_id, CheckJoinSecret(join_secret, now));
  if (!ValidDeviceName(device.name)) {
    return absl::InvalidArgumentError(
        "device name must be 1..128 characters of [A-Za-z0-9._-], got '" +
        device.name.substr(0, 140) + "'");
  }
  if (!std::isfinite(device.compute_gflops) || device.compute_gflops < 0 ||
      !std::isfinite(device.availability) || device.availability < 0 || device.availability > 1) {
    return absl::InvalidArgumentError("device profile holds out-of-range values");
  }
  if (device.label_histogram.size() > 100000) {
    return absl::InvalidArgumentError("label histogram too long");
  }
  ASSIGN_OR_RETURN(std::string token, RandomHexToken());
  device.token_hash = Sha256Hex(token);
  device.state = "active";
  device.last_seen_ms = now;
  Registration reg;
  // Read and write in one transaction, so a concurrent revocation is either
  // seen here or applied after this registration.
  RETURN_IF_ERROR(store_->RunInTransaction([&]() -> absl::Status {
    absl::StatusOr<DeviceRecord> existing = store_->GetDeviceByName(device.name);
    if (existing.ok()) {
      if (existing->state == "revoked") {
        return absl::PermissionDeniedError(absl::StrFormat(
            "device '%s' (id %d) has been revoked; an admin must re-enable it "
            "(qfleetctl devices enable %d)",
            device.name, existing->id, existing->id));
      }
      if (existing->state == "drained") device.state = "drained";
      device.id = existing->id;
      device.registered_ms = existing->registered_ms;
      RETURN_IF_ERROR(store_->UpdateDevice(device));
      reg.device_id = device.id;
      return absl::OkStatus();
    }
    if (!absl::IsNotFound(existing.status())) return existing.status();
    // Only a new device spends a use of its join token (re-checked here, so
    // concurrent enrollments cannot overrun max_uses).
    if (join_token_id != 0) RETURN_IF_ERROR(ConsumeJoinToken(join_token_id, now));
    device.registered_ms = now;
    ASSIGN_OR_RETURN(reg.device_id, store_->InsertDevice(device));
    return absl::OkStatus();
  }));
  reg.token = std::move(token);
  reg.heartbeat_interval_ms = options_.heartbeat_interval_ms;
  return reg;
}

absl::Status Coordinator::Authenticate(uint64_t device_id, absl::string_view token) {
  absl::StatusOr<CoordinatorStore::DeviceAuth> device = store_->GetDeviceAuth(device_id);
  if (!device.ok()) {
    if (absl::IsNotFound(device.status())) return absl::UnauthenticatedError("unknown device or bad token");
    return device.status();
  }
  // Only the hash is stored; compare hashes in constant time.
  if (token.empty() || !ConstantTimeEquals(Sha256Hex(token), device->token_hash)) {
    return absl::UnauthenticatedError("unknown device or bad token");
  }
  if (device->state == "revoked") return absl::UnauthenticatedError("device token revoked");
  return absl::OkStatus();
}

absl::Status Coordinator::FlushLastSeen() {
  std::unordered_map<uint64_t, int64_t> batch;
  {
    absl::MutexLock lock(&seen_mu_);
    batch.swap(seen_);
  }
  std::vector<std::pair<uint64_t, int64_t>> rows(batch.begin(), batch.end());
  absl::Status s = store_->TouchDevices(rows);
  if (!s.ok()) {
    // Keep what could not be written for the next flush.
    absl::MutexLock lock(&seen_mu_);
    for (const auto& [id, ms] : batch) {
      int64_t& slot = seen_[id];
      slot = std::max(slot, ms);
    }
  }
  return s;
}

// The service authenticates the device (a store read) before these; they
// only record when it was seen.
absl::StatusOr<int64_t> Coordinator::Heartbeat(uint64_t device_id) {
  const int64_t now = clock_->NowMs();
  {
    absl::MutexLock lock(&seen_mu_);
    seen_[device_id] = now;
  }
  return now + options_.lease_ms;
}

absl::StatusOr<PulledTask> Coordinator::PullTask(uint64_t device_id) {
  {
    absl::MutexLock lock(&seen_mu_);
    seen_[device_id] = clock_->NowMs();
  }
  PulledTask out;
  out.retry_after_ms = options_.poll_interval_ms;
  ASSIGN_OR_RETURN(std::optional<TaskRecord> task, store_->OpenTaskForDevice(device_id));
  if (!task.has_value()) {
    ASSIGN_OR_RETURN(std::optional<CampaignRecord> campaign, store_->ActiveCampaign());
    out.fleet_idle = !campaign.has_value();
    if (out.fleet_idle) out.retry_after_ms = std::max<uint32_t>(out.retry_after_ms, 1000);
    return out;
  }
  ASSIGN_OR_RETURN(out.model, GetModel(task->model_version));
  if (task->plan_id != 0) {
    ASSIGN_OR_RETURN(PlanRecord plan, store_->GetPlan(task->plan_id));
    out.plan_bytes = std::move(plan.bytes);
  }
  RETURN_IF_ERROR(store_->SetParticipantStatus(task->round, device_id, "pulled", ""));
  out.task = std::move(task);
  return out;
}

absl::StatusOr<ModelBlob> Coordinator::GetModel(uint64_t version) {
  {
    absl::MutexLock lock(&model_mu_);
    if (version == 0 || version == latest_.version) return latest_;
  }
  ASSIGN_OR_RETURN(ModelVersionRecord rec, store_->GetModelVersion(version));
  ASSIGN_OR_RETURN(std::string bytes, blobs_->Get(rec.blob_hash));
  ModelBlob blob;
  blob.version = rec.version;
  blob.sha256 = rec.blob_hash;
  blob.bytes = std::make_shared<const std::string>(std::move(bytes));
  return blob;
}

absl::Status Coordinator::RejectParticipant(uint64_t round, uint64_t device_id,
                                            const std::string& why) {
  return store_->SetParticipantStatus(round, device_id, "rejected", why);
}

absl::Status Coordinator::CheckRequestId(const std::string& request_id) {
  if (request_id.empty() || request_id.size() > 128) {
    return absl::InvalidArgumentError("request_id must be 1..128 bytes");
  }
  return absl::OkStatus();
}

absl::StatusOr<TaskRecord> Coordinator::OwnTask(uint64_t device_id, uint64_t task_id) {
  absl::StatusOr<TaskRecord> task = store_->GetTask(task_id);
  if (absl::IsNotFound(task.status())) {
    return absl::NotFoundError(absl::StrFormat("unknown task %d", task_id));
  }
  RETURN_IF_ERROR(task.status());
  if (task->device_id != device_id) {
    return absl::PermissionDeniedError(
        absl::StrFormat("task %d belongs to another device", task_id));
  }
  return task;
}

absl::StatusOr<std::pair<UpdateRecord, bool>> Coordinator::AcceptUpdate(
    uint64_t device_id, uint64_t task_id, const std::string& request_id, uint64_t sample_count,
    const std::string& bytes) {
  RETURN_IF_ERROR(CheckRequestId(request_id));
  ASSIGN_OR_RETURN(const TaskRecord task, OwnTask(device_id, task_id));
  if (task.strategy == "eval") {
    return absl::FailedPreconditionError(
        absl::StrFormat("task %d is an evaluation; it takes a report, not an update", task_id));
  }
  if (bytes.size() > options_.max_update_bytes) {
    return absl::InvalidArgumentError(absl::StrFormat("update of %d bytes exceeds the limit of %d",
                                                      bytes.size(), options_.max_update_bytes));
  }
  if (sample_count == 0) return absl::InvalidArgumentError("update trained on 0 samples");

  // Validate before taking the round lock: decoding is the expensive part.
  absl::Status valid = absl::OkStatus();
  absl::StatusOr<TensorContainer> update = DecodeContainer(bytes);
  if (!update.ok()) {
    valid = update.status();
  } else {
    // A delta must also stay finite once added to the model, or it would
    // fail the whole round at aggregation; FedAvgUpdates validates both.
    valid = UploadsDelta(task)
                ? FedAvgUpdates(*current_model(), {*update}, {1.0}, {true}).status()
                : ValidateUpdate(*current_model(), *update);
  }
  std::string blob_hash;
  if (valid.ok()) {
    ASSIGN_OR_RETURN(blob_hash, blobs_->Put(bytes));
  }

  absl::MutexLock lock(&round_mu_);
  ASSIGN_OR_RETURN(RoundRecord round, store_->GetRound(task.round));
  RETURN_IF_ERROR(CheckNotCancelled(round, "update"));
  if (round.state != "open") {
    return absl::FailedPreconditionError(
        absl::StrFormat("round %d is %s; update not accepted", round.round, round.state));
  }
  if (clock_->NowMs() > task.deadline_ms) {
    return absl::FailedPreconditionError(
        absl::StrFormat("round %d deadline has passed", round.round));
  }
  if (!valid.ok()) {
    RETURN_IF_ERROR(RejectParticipant(task.round, device_id, std::string(valid.message())));
    return absl::InvalidArgumentError("update rejected: " + std::string(valid.message()));
  }
  UpdateRecord rec;
  rec.round = task.round;
  rec.device_id = device_id;
  rec.task_id = task_id;
  rec.request_id = request_id;
  rec.blob_hash = blob_hash;
  rec.sample_count = sample_count;
  rec.bytes = bytes.size();
  rec.received_ms = clock_->NowMs();
  return store_->InsertUpdate(rec);
}

absl::StatusOr<bool> Coordinator::AcceptReport(ReportRecord report) {
  RETURN_IF_ERROR(CheckRequestId(report.request_id));
  ASSIGN_OR_RETURN(const TaskRecord task, OwnTask(report.device_id, report.task_id));
  for (double v : {report.train_loss, report.train_accuracy, report.compute_seconds,
                   report.quantize_seconds}) {
    if (!std::isfinite(v)) return absl::InvalidArgumentError("report holds a non-finite metric");
  }
  for (const auto& [name, v] : report.metrics) {
    // Bounded so that a round's sums stay finite; ranking metrics are
    // shares and must lie in [0, 1].
    const bool ranking = absl::StartsWith(name, "hr") || absl::StartsWith(name, "ndcg");
    if (!std::isfinite(v) || name.empty() || name.size() > 64 || std::fabs(v) > 1e15 ||
        (ranking && (v < 0 || v > 1))) {
      return absl::InvalidArgumentError("report metric '" + name.substr(0, 64) + "' is invalid");
    }
  }
  if (report.error.size() > 4096) report.error.resize(4096);
  report.round = task.round;
  report.created_ms = clock_->NowMs();
  absl::MutexLock lock(&round_mu_);
  ASSIGN_OR_RETURN(const RoundRecord round, store_->GetRound(task.round));
  RETURN_IF_ERROR(CheckNotCancelled(round, "report"));
  return store_->InsertReport(report);
}

// --- Admin ----------------------------------------------------------------------

absl::StatusOr<CampaignRecord> Coordinator::StartCampaign(const CampaignConfig& config) {
  RETURN_IF_ERROR(config.Validate());
  absl::MutexLock lock(&round_mu_);
  ASSIGN_OR_RETURN(std::optional<CampaignRecord> active, store_->ActiveCampaign());
  if (active.has_value()) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "campaign %d (rounds %d..%d) is still running", active->id, active->first_round,
        active->last_round));
  }
  if (config.IsEval()) {
    for (const std::string& m : config.eval_methods) {
      if (!EvalMethodNeedsPlan(m)) continue;
      std::shared_ptr<PlanGenerator> generator = CurrentPlanGenerator();
      if (generator == nullptr) {
        return absl::FailedPreconditionError("eval method '" + m +
                                             "' needs CHORD hypernetworks, which this "
                                             "coordinator does not serve");
      }
      if (m != "chord") {
        absl::StatusOr<FleetPlan> fleet = generator->FleetPlanFor(m);
        if (!fleet.ok()) {
          return absl::FailedPreconditionError("eval method '" + m + "' has no fleet-wide plan: " +
                                               std::string(fleet.status().message()));
        }
      }
    }
  }
  ASSIGN_OR_RETURN(uint64_t max_round, store_->MaxRoundNumber());
  CampaignRecord rec;
  rec.config_json = config.ToJson();
  rec.first_round = max_round + 1;
  rec.last_round = max_round + config.rounds;
  rec.state = "running";
  rec.created_ms = clock_->NowMs();
  ASSIGN_OR_RETURN(rec.id, store_->InsertCampaign(rec));
  return rec;
}

// --- Round engine -----------------------------------------------------------------

absl::Status Coordinator::Step() {
  absl::MutexLock step_lock(&step_mu_);
  if (const int64_t now = clock_->NowMs();
      last_seen_flush_at_ms_ == 0 || now - last_seen_flush_at_ms_ >= options_.last_seen_flush_ms) {
    last_seen_flush_at_ms_ = now;
    RETURN_IF_ERROR(FlushLastSeen());
  }
  RETURN_IF_ERROR(MaybePrunePartialUploads());
  ASSIGN_OR_RETURN(std::optional<RoundRecord> latest, store_->LatestRound());
  if (latest.has_value()) {
    if (latest->state == "open") return CloseRoundIfDue(*latest);
    if (latest->state == "aggregating") return Aggregate(*latest);
  }
  return MaybeStartRound();
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
  if (updates.size() < std::max<uint32_t>(1, config.min_updates)) {
    return fail(absl::StrFormat("%d accepted updates, %d required", updates.size(),
                                std::max<uint32_t>(1, config.min_updates)));
  }
  ASSIGN_OR_RETURN(ModelBlob base_blob, GetModel(round.model_version_in));
  ASSIGN_OR_RETURN(TensorContainer base, DecodeContainer(*base_blob.bytes));
  std::vector<TensorContainer> models;
  std::vector<double> weights;
  std::vector<bool> deltas;
  for (const UpdateRecord& u : updates) {  // ordered by device id
    absl::StatusOr<std::string> bytes = blobs_->Get(u.blob_hash);
    if (!bytes.ok()) return fail("update blob unreadable: " + std::string(bytes.status().message()));
    absl::StatusOr<TensorContainer> model = DecodeContainer(*bytes);
    if (!model.ok()) return fail("stored update corrupt: " + std::string(model.status().message()));
    ASSIGN_OR_RETURN(TaskRecord task, store_->GetTask(u.task_id));
    models.push_back(*std::move(model));
    weights.push_back(static_cast<double>(u.sample_count));
    deltas.push_back(UploadsDelta(task));
  }
  absl::StatusOr<TensorContainer> next = FedAvgUpdates(base, models, weights, deltas);
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

void Coordinator::StartEngine(int64_t period_ms) {
  if (engine_.joinable()) return;
  stop_engine_ = std::make_unique<absl::Notification>();
  engine_ = std::thread([this, period_ms] {
    while (!stop_engine_->WaitForNotificationWithTimeout(absl::Milliseconds(period_ms))) {
      absl::Status s = Step();
      if (!s.ok()) std::fprintf(stderr, "qfleet: round engine: %s\n", s.ToString().c_str());
    }
  });
}

void Coordinator::StopEngine() {
  if (!engine_.joinable()) return;
  stop_engine_->Notify();
  engine_.join();
}

}  // namespace qfleet::cloud
