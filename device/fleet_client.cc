#include "device/fleet_client.h"

#include <algorithm>
#include <chrono>
#include <thread>

#include "absl/strings/str_format.h"
#include "common/crc32c.h"
#include "common/sha256.h"
#include "protos/status_conversion.h"

namespace qfleet::device {

namespace fv1 = qfleet::fleet::v1;

FleetClient::FleetClient(std::shared_ptr<grpc::Channel> channel, FleetClientOptions options)
    : stub_(fv1::FleetService::NewStub(channel)), options_(options) {}

uint64_t FleetClient::device_id() const {
  absl::MutexLock lock(&mu_);
  return device_id_;
}

std::string FleetClient::token() const {
  absl::MutexLock lock(&mu_);
  return token_;
}

int64_t FleetClient::heartbeat_interval_ms() const {
  absl::MutexLock lock(&mu_);
  return heartbeat_interval_ms_;
}

void FleetClient::Prepare(grpc::ClientContext* ctx, int64_t timeout_ms) const {
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(timeout_ms));
  if (options_.wait_for_ready) ctx->set_wait_for_ready(true);
  absl::MutexLock lock(&mu_);
  if (!token_.empty()) ctx->AddMetadata("authorization", "Bearer " + token_);
}

absl::Status FleetClient::RequireRegistered() const {
  absl::MutexLock lock(&mu_);
  if (device_id_ == 0) return absl::FailedPreconditionError("device is not registered");
  return absl::OkStatus();
}

absl::Status FleetClient::Register(const RegisterInfo& info) {
  fv1::RegisterRequest req;
  req.set_device_name(info.device_name);
  auto* p = req.mutable_profile();
  p->set_compute_gflops(info.profile.compute_gflops);
  p->set_memory_mib(info.profile.memory_mib);
  for (uint32_t b : info.profile.lowbit_support) p->add_lowbit_support(b);
  p->set_uplink_kbps(info.profile.uplink_kbps);
  p->set_downlink_kbps(info.profile.downlink_kbps);
  p->set_availability(info.profile.availability);
  req.mutable_data()->set_sample_count(info.sample_count);
  for (uint64_t h : info.label_histogram) req.mutable_data()->add_label_histogram(h);
  req.set_join_secret(info.join_secret);
  req.set_agent_version(info.agent_version);
  req.set_current_token(info.current_token.empty() ? token() : info.current_token);
  grpc::ClientContext ctx;
  Prepare(&ctx, options_.rpc_timeout_ms);
  fv1::RegisterResponse resp;
  absl::Status s = FromGrpcStatus(stub_->Register(&ctx, req, &resp));
  if (!s.ok()) return s;
  absl::MutexLock lock(&mu_);
  device_id_ = resp.device_id();
  token_ = resp.token();
  if (resp.heartbeat_interval_ms() > 0) heartbeat_interval_ms_ = resp.heartbeat_interval_ms();
  return absl::OkStatus();
}

absl::Status FleetClient::Heartbeat() {
  if (absl::Status s = RequireRegistered(); !s.ok()) return s;
  fv1::HeartbeatRequest req;
  req.set_device_id(device_id());
  grpc::ClientContext ctx;
  Prepare(&ctx, options_.rpc_timeout_ms);
  fv1::HeartbeatResponse resp;
  return FromGrpcStatus(stub_->Heartbeat(&ctx, req, &resp));
}

absl::StatusOr<PullResult> FleetClient::PullTask(int64_t wait_ms) {
  if (absl::Status s = RequireRegistered(); !s.ok()) return s;
  wait_ms = std::clamp<int64_t>(wait_ms, 0, 3600000);
  grpc::ClientContext ctx;
  {
    absl::MutexLock lock(&mu_);
    if (waits_cancelled_) wait_ms = 0;
    pull_ctx_ = &ctx;
  }
  fv1::PullTaskRequest req;
  req.set_device_id(device_id());
  req.set_wait_ms(static_cast<uint32_t>(wait_ms));
  Prepare(&ctx, options_.rpc_timeout_ms + wait_ms);
  fv1::PullTaskResponse resp;
  absl::Status s = FromGrpcStatus(stub_->PullTask(&ctx, req, &resp));
  {
    absl::MutexLock lock(&mu_);
    pull_ctx_ = nullptr;
  }
  if (!s.ok()) return s;
  PullResult out;
  out.retry_after_ms = resp.retry_after_ms();
  out.fleet_idle = resp.fleet_idle();
  out.waited_ms = resp.waited_ms();
  if (resp.has_task()) {
    const fv1::Task& t = resp.task();
    DeviceTask task;
    task.task_id = t.task_id();
    task.round = t.round();
    switch (t.strategy()) {
      case fv1::STRATEGY_FP32: task.strategy = "fp32"; break;
      case fv1::STRATEGY_PTQ: task.strategy = "ptq"; break;
      case fv1::STRATEGY_QAT: task.strategy = "qat"; break;
      case fv1::STRATEGY_EVAL: task.strategy = "eval"; break;
      default:
        return absl::InvalidArgumentError(
            absl::StrFormat("task %d has unknown strategy %d", t.task_id(), t.strategy()));
    }
    task.weight_bits = t.weight_bits();
    task.activation_bits = t.activation_bits();
    task.model_version = t.model_version();
    task.model_bytes = t.model_bytes();
    task.model_sha256 = t.model_sha256();
    task.local_epochs = t.train().local_epochs();
    task.batch_size = t.train().batch_size();
    task.learning_rate = t.train().learning_rate();
    task.max_steps = t.train().max_steps();
    task.seed = t.train().seed();
    task.precision_plan = t.precision_plan();
    task.eval_method = t.eval_method();
    task.budget_bits = t.budget_bits();
    task.upload_delta = t.upload_delta();
    task.activation_steps.assign(t.activation_steps().begin(), t.activation_steps().end());
    task.report_quant_gap = t.report_quant_gap();
    task.deadline_ms = t.deadline_ms();
    out.task = std::move(task);
  }
  return out;
}

void FleetClient::CancelWaits() {
  absl::MutexLock lock(&mu_);
  waits_cancelled_ = true;
  if (pull_ctx_ != nullptr) pull_ctx_->TryCancel();
}

absl::StatusOr<std::string> FleetClient::DownloadModel(uint64_t version,
                                                       const std::string& expected_sha256) {
  if (absl::Status s = RequireRegistered(); !s.ok()) return s;
  std::string bytes;
  uint64_t total = 0;
  std::string sha;
  absl::Status last = absl::OkStatus();
  for (int attempt = 0; attempt <= options_.download_resumes; ++attempt) {
    fv1::DownloadModelRequest req;
    req.set_device_id(device_id());
    req.set_model_version(version);
    req.set_offset(bytes.size());
    grpc::ClientContext ctx;
    Prepare(&ctx, options_.transfer_timeout_ms);
    auto reader = stub_->DownloadModel(&ctx, req);
    fv1::ModelChunk chunk;
    while (reader->Read(&chunk)) {
      if (chunk.offset() != bytes.size()) {
        ctx.TryCancel();
        return absl::DataLossError(absl::StrFormat("model chunk at offset %d, expected %d",
                                                   chunk.offset(), bytes.size()));
      }
      if (Crc32c(chunk.data().data(), chunk.data().size()) != chunk.crc32c()) {
        ctx.TryCancel();
        return absl::DataLossError(
            absl::StrFormat("model chunk at offset %d fails its CRC-32C", chunk.offset()));
      }
      if (total == 0) {
        total = chunk.total_bytes();
        sha = chunk.sha256();
      } else if (chunk.total_bytes() != total || chunk.sha256() != sha) {
        ctx.TryCancel();
        return absl::DataLossError("model changed during download");
      }
      if (bytes.size() + chunk.data().size() > total) {
        ctx.TryCancel();
        return absl::DataLossError("model stream longer than announced");
      }
      bytes.append(chunk.data());
    }
    last = FromGrpcStatus(reader->Finish());
    if (last.ok()) break;
    // Resume only after transport failures; anything else is final.
    if (!absl::IsUnavailable(last) && !absl::IsDeadlineExceeded(last)) return last;
  }
  if (!last.ok()) return last;
  if (total == 0 || bytes.size() != total) {
    return absl::DataLossError(
        absl::StrFormat("model stream truncated: %d of %d bytes", bytes.size(), total));
  }
  const std::string actual = Sha256Hex(bytes);
  if (actual != sha || (!expected_sha256.empty() && actual != expected_sha256)) {
    return absl::DataLossError("downloaded model fails its SHA-256");
  }
  return bytes;
}

namespace {

// Failures after which the coordinator may hold part of the upload and a
// new stream can continue it.
bool UploadResumable(const absl::Status& s) {
  return absl::IsUnavailable(s) || absl::IsDeadlineExceeded(s) || absl::IsAborted(s) ||
         absl::IsOutOfRange(s);
}

}  // namespace

absl::StatusOr<bool> FleetClient::UploadUpdate(uint64_t task_id, const std::string& request_id,
                                               uint64_t sample_count, const std::string& bytes) {
  if (absl::Status s = RequireRegistered(); !s.ok()) return s;
  fv1::UpdateChunk::Header header;
  header.set_device_id(device_id());
  header.set_task_id(task_id);
  header.set_request_id(request_id);
  header.set_sample_count(sample_count);
  header.set_total_bytes(bytes.size());
  header.set_sha256(Sha256Hex(bytes));
  bool ask_first = false;
  {
    absl::MutexLock lock(&mu_);
    ask_first = broken_upload_ == request_id;
  }
  absl::Status last = absl::OkStatus();
  int64_t delay_ms = options_.upload_retry_delay_ms;
  for (int attempt = 0; attempt <= options_.upload_resumes; ++attempt) {
    uint64_t offset = 0;
    if (attempt > 0 || ask_first) {
      if (attempt > 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
        delay_ms *= 2;
      }
      absl::StatusOr<std::optional<uint64_t>> resume = ResumeOffset(header);
      if (!resume.ok()) {
        last = resume.status();
        if (UploadResumable(last)) continue;
        return last;
      }
      if (!resume->has_value()) {
        last = absl::OkStatus();
        break;  // recorded by an earlier stream
      }
      offset = **resume;
    }
    absl::StatusOr<bool> done = UploadFrom(header, bytes, offset);
    if (done.ok()) {
      absl::MutexLock lock(&mu_);
      if (broken_upload_ == request_id) broken_upload_.clear();
      return done;
    }
    last = done.status();
    if (!UploadResumable(last)) return last;
  }
  absl::MutexLock lock(&mu_);
  if (last.ok()) {
    if (broken_upload_ == request_id) broken_upload_.clear();
    return true;
  }
  broken_upload_ = request_id;
  return last;
}

absl::StatusOr<std::optional<uint64_t>> FleetClient::ResumeOffset(
    const fv1::UpdateChunk::Header& header) {
  fv1::UploadStatusRequest req;
  req.set_device_id(header.device_id());
  req.set_task_id(header.task_id());
  req.set_request_id(header.request_id());
  grpc::ClientContext ctx;
  Prepare(&ctx, options_.rpc_timeout_ms);
  fv1::UploadStatusResponse resp;
  absl::Status s = FromGrpcStatus(stub_->UploadStatus(&ctx, req, &resp));
  // A coordinator from before resumable uploads: start over.
  if (absl::IsUnimplemented(s)) return std::optional<uint64_t>(0);
  if (!s.ok()) return s;
  if (resp.accepted()) return std::optional<uint64_t>();
  const bool same = resp.total_bytes() == header.total_bytes() && resp.sha256() == header.sha256();
  return std::optional<uint64_t>(same ? resp.committed_bytes() : 0);
}

absl::StatusOr<bool> FleetClient::UploadFrom(const fv1::UpdateChunk::Header& header,
                                             const std::string& bytes, uint64_t offset) {
  if (offset > bytes.size()) {
    return absl::OutOfRangeError(
        absl::StrFormat("coordinator kept %d bytes of a %d-byte update", offset, bytes.size()));
  }
  grpc::ClientContext ctx;
  Prepare(&ctx, options_.transfer_timeout_ms);
  fv1::UploadUpdateResponse resp;
  auto writer = stub_->UploadUpdate(&ctx, &resp);
  fv1::UpdateChunk first;
  *first.mutable_header() = header;
  first.set_offset(offset);
  bool ok = writer->Write(first);
  for (size_t off = offset; ok && off < bytes.size(); off += options_.chunk_bytes) {
    const size_t n = std::min(options_.chunk_bytes, bytes.size() - off);
    fv1::UpdateChunk chunk;
    chunk.set_offset(off);
    chunk.set_data(bytes.data() + off, n);
    chunk.set_crc32c(Crc32c(bytes.data() + off, n));
    ok = writer->Write(chunk);
  }
  writer->WritesDone();
  absl::Status s = FromGrpcStatus(writer->Finish());
  if (!s.ok()) return s;
  return resp.duplicate();
}

absl::StatusOr<bool> FleetClient::SubmitReport(const TaskReport& r) {
  if (absl::Status s = RequireRegistered(); !s.ok()) return s;
  fv1::SubmitReportRequest req;
  fv1::Report* out = req.mutable_report();
  out->set_device_id(device_id());
  out->set_task_id(r.task_id);
  out->set_request_id(r.request_id);
  out->set_train_loss(r.train_loss);
  out->set_train_accuracy(r.train_accuracy);
  out->set_compute_seconds(r.compute_seconds);
  out->set_quantize_seconds(r.quantize_seconds);
  out->set_bytes_down(r.bytes_down);
  out->set_bytes_up(r.bytes_up);
  out->set_steps(r.steps);
  out->mutable_metrics()->insert(r.metrics.begin(), r.metrics.end());
  out->set_error(r.error);
  grpc::ClientContext ctx;
  Prepare(&ctx, options_.rpc_timeout_ms);
  fv1::SubmitReportResponse resp;
  absl::Status s = FromGrpcStatus(stub_->SubmitReport(&ctx, req, &resp));
  if (!s.ok()) return s;
  return resp.duplicate();
}

absl::StatusOr<DevicePlan> FleetClient::RequestPlan(const std::string& method,
                                                    const std::vector<float>& embedding) {
  if (absl::Status s = RequireRegistered(); !s.ok()) return s;
  fv1::PlanRequest req;
  req.set_device_id(device_id());
  req.set_method(method);
  req.mutable_user_embedding()->Add(embedding.begin(), embedding.end());
  grpc::ClientContext ctx;
  Prepare(&ctx, options_.rpc_timeout_ms);
  fv1::PlanResponse resp;
  absl::Status s = FromGrpcStatus(stub_->RequestPlan(&ctx, req, &resp));
  if (!s.ok()) return s;
  DevicePlan out;
  out.bytes = resp.plan();
  out.plan_version = resp.plan_version();
  out.model_version = resp.model_version();
  out.tier_bits.assign(resp.tier_bits().begin(), resp.tier_bits().end());
  out.tier_importance.assign(resp.tier_importance().begin(), resp.tier_importance().end());
  out.cached = resp.cached();
  out.generation_us = resp.generation_us();
  return out;
}

}  // namespace qfleet::device
