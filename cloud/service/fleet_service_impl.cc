#include "cloud/service/fleet_service_impl.h"

#include <algorithm>

#include "absl/strings/strip.h"
#include "absl/strings/str_format.h"
#include "cloud/service/fleet_conversions.h"
#include "cloud/service/upload_assembler.h"
#include "common/crc32c.h"
#include "protos/status_conversion.h"

namespace qfleet::cloud {

namespace fv1 = qfleet::fleet::v1;

FleetServiceImpl::FleetServiceImpl(Coordinator* coordinator, size_t chunk_bytes,
                                   size_t max_chunk_bytes, size_t checkpoint_bytes,
                                   uint64_t max_inflight_upload_bytes,
                                   int64_t upload_stream_timeout_ms)
    : coordinator_(coordinator),
      chunk_bytes_(chunk_bytes),
      max_chunk_bytes_(max_chunk_bytes),
      checkpoint_bytes_(checkpoint_bytes),
      upload_gate_(max_inflight_upload_bytes, upload_stream_timeout_ms) {}

absl::Status FleetServiceImpl::Authenticate(grpc::ServerContext* ctx, uint64_t device_id) {
  const auto& md = ctx->client_metadata();
  auto it = md.find("authorization");
  if (it == md.end()) return absl::UnauthenticatedError("missing authorization metadata");
  absl::string_view value(it->second.data(), it->second.size());
  if (!absl::ConsumePrefix(&value, "Bearer ")) {
    return absl::UnauthenticatedError("authorization must be 'Bearer <token>'");
  }
  return coordinator_->Authenticate(device_id, value);
}

grpc::Status FleetServiceImpl::Register(grpc::ServerContext* ctx, const fv1::RegisterRequest* req,
                                        fv1::RegisterResponse* resp) {
  absl::StatusOr<Registration> reg =
      coordinator_->Register(DeviceFromRegister(*req), req->join_secret(),
                             req->current_token());
  if (!reg.ok()) return ToGrpcStatus(reg.status());
  resp->set_device_id(reg->device_id);
  resp->set_token(reg->token);
  resp->set_heartbeat_interval_ms(static_cast<uint32_t>(reg->heartbeat_interval_ms));
  return grpc::Status::OK;
}

grpc::Status FleetServiceImpl::Heartbeat(grpc::ServerContext* ctx, const fv1::HeartbeatRequest* req,
                                         fv1::HeartbeatResponse* resp) {
  if (absl::Status s = Authenticate(ctx, req->device_id()); !s.ok()) return ToGrpcStatus(s);
  absl::StatusOr<int64_t> lease = coordinator_->Heartbeat(req->device_id());
  if (!lease.ok()) return ToGrpcStatus(lease.status());
  resp->set_server_time_ms(coordinator_->NowMs());
  resp->set_lease_expires_ms(*lease);
  return grpc::Status::OK;
}

grpc::Status FleetServiceImpl::PullTask(grpc::ServerContext* ctx, const fv1::PullTaskRequest* req,
                                        fv1::PullTaskResponse* resp) {
  if (absl::Status s = Authenticate(ctx, req->device_id()); !s.ok()) return ToGrpcStatus(s);
  absl::StatusOr<PulledTask> pulled = coordinator_->PullTask(
      req->device_id(), req->wait_ms(), [ctx] { return ctx->IsCancelled(); });
  if (!pulled.ok()) return ToGrpcStatus(pulled.status());
  resp->set_retry_after_ms(pulled->retry_after_ms);
  resp->set_fleet_idle(pulled->fleet_idle);
  resp->set_waited_ms(pulled->waited_ms);
  if (pulled->task.has_value()) {
    absl::StatusOr<fv1::Task> task = TaskToProto(*pulled);
    if (!task.ok()) return ToGrpcStatus(task.status());
    *resp->mutable_task() = *std::move(task);
  }
  return grpc::Status::OK;
}

grpc::Status FleetServiceImpl::DownloadModel(grpc::ServerContext* ctx,
                                             const fv1::DownloadModelRequest* req,
                                             grpc::ServerWriter<fv1::ModelChunk>* writer) {
  return SendModel(ctx, req, writer);
}

grpc::Status FleetServiceImpl::SendModel(grpc::ServerContext* ctx,
                                         const fv1::DownloadModelRequest* req,
                                         grpc::ServerWriterInterface<fv1::ModelChunk>* writer) {
  if (absl::Status s = Authenticate(ctx, req->device_id()); !s.ok()) return ToGrpcStatus(s);
  if (req->model_version() == 0) {
    return ToGrpcStatus(absl::InvalidArgumentError("model_version must be set"));
  }
  absl::StatusOr<ModelBlob> blob = coordinator_->GetModel(req->model_version());
  if (!blob.ok()) return ToGrpcStatus(blob.status());
  const std::string& bytes = *blob->bytes;
  if (req->offset() > bytes.size()) {
    return ToGrpcStatus(absl::OutOfRangeError(
        absl::StrFormat("offset %d beyond model size %d", req->offset(), bytes.size())));
  }
  size_t offset = req->offset();
  do {
    if (ctx->IsCancelled()) return grpc::Status::CANCELLED;
    const size_t n = std::min(chunk_bytes_, bytes.size() - offset);
    fv1::ModelChunk chunk;
    chunk.set_offset(offset);
    chunk.set_data(bytes.data() + offset, n);
    chunk.set_crc32c(Crc32c(bytes.data() + offset, n));
    chunk.set_total_bytes(bytes.size());
    chunk.set_sha256(blob->sha256);
    if (!writer->Write(chunk)) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "stream broken");
    offset += n;
  } while (offset < bytes.size());
  return grpc::Status::OK;
}

grpc::Status FleetServiceImpl::UploadUpdate(grpc::ServerContext* ctx,
                                            grpc::ServerReader<fv1::UpdateChunk>* reader,
                                            fv1::UploadUpdateResponse* resp) {
  return ReceiveUpdate(ctx, reader, resp);
}

grpc::Status FleetServiceImpl::ReceiveUpdate(grpc::ServerContext* ctx,
                                             grpc::ServerReaderInterface<fv1::UpdateChunk>* reader,
                                             fv1::UploadUpdateResponse* resp) {
  fv1::UpdateChunk chunk;
  if (!reader->Read(&chunk)) {
    return ToGrpcStatus(absl::InvalidArgumentError("empty upload stream"));
  }
  if (!chunk.has_header()) {
    return ToGrpcStatus(absl::InvalidArgumentError("first upload message must carry the header"));
  }
  if (absl::Status s = Authenticate(ctx, chunk.header().device_id()); !s.ok()) {
    return ToGrpcStatus(s);
  }
  // Admitted before anything is buffered (UploadAssembler::Start checks the
  // round and the device before it reserves the announced size).
  absl::StatusOr<UploadGate::Ticket> ticket = upload_gate_.Admit(
      // An oversized claim is refused by Start; what can be buffered is reserved.
      chunk.header().device_id(),
      std::min<uint64_t>(chunk.header().total_bytes(), coordinator_->max_update_bytes()),
      [ctx] { if (ctx != nullptr) ctx->TryCancel(); });
  if (!ticket.ok()) return ToGrpcStatus(ticket.status());
  UploadAssembler upload(coordinator_, max_chunk_bytes_, checkpoint_bytes_);
  absl::Status s = upload.Start(chunk);
  while (s.ok() && !upload.accepted().has_value() && reader->Read(&chunk)) s = upload.Add(chunk);
  // A stream that broke reads as ended: Finish keeps what arrived.
  if (!s.ok()) return ToGrpcStatus(upload.Abandon(s));
  auto accepted = upload.Finish();
  if (!accepted.ok()) return ToGrpcStatus(accepted.status());
  resp->set_update_id(accepted->first.update_id);
  resp->set_duplicate(accepted->second);
  return grpc::Status::OK;
}

grpc::Status FleetServiceImpl::UploadStatus(grpc::ServerContext* ctx,
                                            const fv1::UploadStatusRequest* req,
                                            fv1::UploadStatusResponse* resp) {
  if (absl::Status s = Authenticate(ctx, req->device_id()); !s.ok()) return ToGrpcStatus(s);
  absl::StatusOr<UploadProgress> progress =
      coordinator_->UploadStatus(req->device_id(), req->task_id(), req->request_id());
  if (!progress.ok()) return ToGrpcStatus(progress.status());
  *resp = UploadProgressToProto(*progress);
  return grpc::Status::OK;
}

grpc::Status FleetServiceImpl::SubmitReport(grpc::ServerContext* ctx,
                                            const fv1::SubmitReportRequest* req,
                                            fv1::SubmitReportResponse* resp) {
  if (absl::Status s = Authenticate(ctx, req->report().device_id()); !s.ok()) {
    return ToGrpcStatus(s);
  }
  absl::StatusOr<bool> duplicate = coordinator_->AcceptReport(ReportFromProto(req->report()));
  if (!duplicate.ok()) return ToGrpcStatus(duplicate.status());
  resp->set_duplicate(*duplicate);
  return grpc::Status::OK;
}

grpc::Status FleetServiceImpl::RequestPlan(grpc::ServerContext* ctx,
                                           const fv1::PlanRequest* req,
                                           fv1::PlanResponse* resp) {
  if (absl::Status s = Authenticate(ctx, req->device_id()); !s.ok()) return ToGrpcStatus(s);
  std::vector<float> embedding(req->user_embedding().begin(), req->user_embedding().end());
  absl::StatusOr<PlanReply> plan =
      coordinator_->RequestPlan(req->device_id(), req->method(), std::move(embedding));
  if (!plan.ok()) return ToGrpcStatus(plan.status());
  resp->set_plan(plan->bytes);
  resp->set_plan_version(plan->plan_version);
  resp->set_model_version(plan->model_version);
  for (int b : plan->tier_bits) resp->add_tier_bits(static_cast<uint32_t>(b));
  for (double w : plan->tier_importance) resp->add_tier_importance(w);
  resp->set_cached(plan->cached);
  resp->set_generation_us(plan->generation_us);
  return grpc::Status::OK;
}

}  // namespace qfleet::cloud
