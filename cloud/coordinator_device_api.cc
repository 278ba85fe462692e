// Coordinator: the device API (enrolment, authentication, heartbeats, task
// pulls, model downloads, update and report acceptance).

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
namespace {

// Bounds on what one device may make the coordinator store.
constexpr size_t kMaxReportMetrics = 64;
constexpr size_t kMaxLowbitSupport = 16;

bool ValidDeviceName(absl::string_view name) {
  if (name.empty() || name.size() > 128) return false;
  for (char c : name) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-')) {
      return false;
    }
  }
  return true;
}

}  // namespace

using coordinator_internal::UploadsDelta;

// --- Device API ---------------------------------------------------------------

absl::StatusOr<Registration> Coordinator::Register(DeviceRecord device,
                                                   absl::string_view join_secret,
                                                   absl::string_view current_token) {
  const int64_t now = clock_->NowMs();
  // With its current token a device needs no enrollment credential: the
  // token proves more than the fleet-wide secret does.
  absl::StatusOr<uint64_t> join_token_id = CheckJoinSecret(join_secret, now);
  if (!join_token_id.ok() && current_token.empty()) return join_token_id.status();
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
  if (device.lowbit_support.size() > kMaxLowbitSupport) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "profile lists %d low-bit widths; at most %d", device.lowbit_support.size(),
        kMaxLowbitSupport));
  }
  for (uint32_t b : device.lowbit_support) {
    if (b < 1 || b > 32) return absl::InvalidArgumentError("profile lists a low-bit width outside 1..32");
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
      // The name belongs to the credential that enrolled it.
      const bool token_ok = !current_token.empty() && !existing->token_hash.empty() &&
                            ConstantTimeEquals(Sha256Hex(current_token), existing->token_hash);
      const bool cleared = existing->token_hash.empty() && join_token_id.ok();
      const bool same_join_token =
          join_token_id.ok() && *join_token_id != 0 && *join_token_id == existing->enrolled_by;
      if (!token_ok && !cleared && !same_join_token) {
        return absl::PermissionDeniedError(absl::StrFormat(
            "device name '%s' is enrolled (id %d); re-registering it needs its current token "
            "(qfleet-agent --state-file keeps it), the join token that enrolled it, or an "
            "admin reset (qfleetctl devices reset %d)",
            device.name, existing->id, existing->id));
      }
      if (existing->state == "drained") device.state = "drained";
      device.id = existing->id;
      device.registered_ms = existing->registered_ms;
      if (cleared && !token_ok && !same_join_token && *join_token_id != 0) {
        // Taking over a cleared name is an enrollment: it spends a use.
        RETURN_IF_ERROR(ConsumeJoinToken(*join_token_id, now));
      }
      device.enrolled_by = cleared || same_join_token ? *join_token_id : existing->enrolled_by;
      RETURN_IF_ERROR(store_->UpdateDevice(device));
      reg.device_id = device.id;
      return absl::OkStatus();
    }
    if (!absl::IsNotFound(existing.status())) return existing.status();
    // A new name needs an enrollment credential (a token alone names no one).
    if (!join_token_id.ok()) return join_token_id.status();
    // Only a new device spends a use of its join token (re-checked here, so
    // concurrent enrollments cannot overrun max_uses).
    if (*join_token_id != 0) RETURN_IF_ERROR(ConsumeJoinToken(*join_token_id, now));
    device.enrolled_by = *join_token_id;
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
  if (rec.pruned_ms != 0) {
    return absl::NotFoundError(absl::StrCat(
        "model version ", version,
        " was removed by the retention policy (--keep-models); pin versions to keep them"));
  }
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

absl::Status Coordinator::CheckMayContribute(uint64_t device_id, const TaskRecord& task) {
  ASSIGN_OR_RETURN(const DeviceRecord device, store_->GetDevice(device_id));
  if (device.state == "revoked" || device.token_hash.empty()) {
    return absl::PermissionDeniedError(absl::StrFormat(
        "device %d is %s; its updates are not accepted", device_id,
        device.state == "revoked" ? "revoked" : "reset"));
  }
  ASSIGN_OR_RETURN(const RoundRecord round, store_->GetRound(task.round));
  RETURN_IF_ERROR(CheckNotCancelled(round, "update"));
  if (round.state != "open") {
    return absl::FailedPreconditionError(
        absl::StrFormat("round %d is %s; update not accepted", round.round, round.state));
  }
  if (clock_->NowMs() > task.deadline_ms) {
    return absl::FailedPreconditionError(absl::StrFormat("round %d deadline has passed", round.round));
  }
  ASSIGN_OR_RETURN(const std::optional<ParticipantRecord> p,
                   store_->GetParticipant(task.round, device_id));
  if (!p.has_value()) {
    return absl::FailedPreconditionError(
        absl::StrFormat("device %d is not a participant of round %d", device_id, task.round));
  }
  if (p->status == "rejected" || p->status == "dropped") {
    return absl::FailedPreconditionError(absl::StrFormat("device %d was %s from round %d%s%s",
                                                         device_id, p->status, task.round,
                                                         p->detail.empty() ? "" : ": ", p->detail));
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
  // Nothing is decoded or written for a round that is not open or a device
  // or participant that may not contribute; re-checked under the lock.
  RETURN_IF_ERROR(CheckMayContribute(device_id, task));

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
  RETURN_IF_ERROR(CheckMayContribute(device_id, task));
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
  if (report.metrics.size() > kMaxReportMetrics) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "report carries %d metrics; at most %d", report.metrics.size(), kMaxReportMetrics));
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

}  // namespace qfleet::cloud
