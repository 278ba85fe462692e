#include "cloud/service/admin_service_impl.h"

#include <map>
#include <set>

#include "absl/strings/str_format.h"
#include "cloud/service/admin_conversions.h"
#include "common/crc32c.h"
#include "protos/status_conversion.h"

namespace qfleet::cloud {

namespace av1 = qfleet::admin::v1;

AdminServiceImpl::AdminServiceImpl(Coordinator* coordinator, AdminAuthorizer auth,
                                   size_t chunk_bytes)
    : coordinator_(coordinator), auth_(std::move(auth)), chunk_bytes_(chunk_bytes) {}

absl::Status AdminServiceImpl::Authorize(grpc::ServerContext* ctx) const {
  const auto& md = ctx->client_metadata();
  auto it = md.find("authorization");
  if (it == md.end()) return auth_.Check(nullptr);
  const absl::string_view value(it->second.data(), it->second.size());
  return auth_.Check(&value);
}

grpc::Status AdminServiceImpl::ListDevices(grpc::ServerContext* ctx, const av1::ListDevicesRequest*,
                                           av1::ListDevicesResponse* resp) {
  if (absl::Status s = Authorize(ctx); !s.ok()) return ToGrpcStatus(s);
  if (absl::Status f = coordinator_->FlushLastSeen(); !f.ok()) return ToGrpcStatus(f);
  auto devices = coordinator_->store().ListDevices();
  if (!devices.ok()) return ToGrpcStatus(devices.status());
  const int64_t now = coordinator_->NowMs();
  for (const DeviceRecord& d : *devices) {
    *resp->add_devices() = DeviceToProto(d, now, coordinator_->lease_ms());
  }
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::GetDevice(grpc::ServerContext* ctx, const av1::GetDeviceRequest* req,
                                         av1::GetDeviceResponse* resp) {
  if (absl::Status s = Authorize(ctx); !s.ok()) return ToGrpcStatus(s);
  if (absl::Status f = coordinator_->FlushLastSeen(); !f.ok()) return ToGrpcStatus(f);
  auto device = coordinator_->store().GetDevice(req->device_id());
  if (!device.ok()) return ToGrpcStatus(device.status());
  *resp->mutable_device() = DeviceToProto(*device, coordinator_->NowMs(), coordinator_->lease_ms());
  return grpc::Status::OK;
}

namespace {

absl::StatusOr<av1::RoundInfo> RoundInfo(CoordinatorStore& store, const RoundRecord& r) {
  auto participants = store.ListParticipants(r.round);
  if (!participants.ok()) return participants.status();
  auto updates = store.ListUpdates(r.round);
  if (!updates.ok()) return updates.status();
  auto reports = store.ListReports(r.round);
  if (!reports.ok()) return reports.status();
  // Accepted = stored and not later dropped (e.g. past the simulated
  // deadline) or rejected: the updates that went into the aggregate.
  std::set<uint64_t> excluded;
  for (const ParticipantRecord& p : *participants) {
    if (p.status == "dropped" || p.status == "rejected") excluded.insert(p.device_id);
  }
  uint64_t accepted = 0;
  for (const UpdateRecord& u : *updates) accepted += excluded.count(u.device_id) == 0 ? 1 : 0;
  return RoundToProto(r, participants->size(), accepted, reports->size());
}

}  // namespace

grpc::Status AdminServiceImpl::ListRounds(grpc::ServerContext* ctx, const av1::ListRoundsRequest* req,
                                          av1::ListRoundsResponse* resp) {
  if (absl::Status s = Authorize(ctx); !s.ok()) return ToGrpcStatus(s);
  // Read the version before the rounds: a change in between makes the
  // caller's next wait answer at once.
  resp->set_state_version(coordinator_->WaitForStateChange(
      req->known_version(), req->wait_for_change_ms(), [ctx] { return ctx->IsCancelled(); }));
  auto rounds = coordinator_->store().ListRounds();
  if (!rounds.ok()) return ToGrpcStatus(rounds.status());
  for (const RoundRecord& r : *rounds) {
    auto info = RoundInfo(coordinator_->store(), r);
    if (!info.ok()) return ToGrpcStatus(info.status());
    *resp->add_rounds() = *std::move(info);
  }
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::GetRound(grpc::ServerContext* ctx, const av1::GetRoundRequest* req,
                                        av1::GetRoundResponse* resp) {
  if (absl::Status s = Authorize(ctx); !s.ok()) return ToGrpcStatus(s);
  CoordinatorStore& store = coordinator_->store();
  auto round = store.GetRound(req->round());
  if (!round.ok()) return ToGrpcStatus(round.status());
  auto info = RoundInfo(store, *round);
  if (!info.ok()) return ToGrpcStatus(info.status());
  *resp->mutable_round() = *std::move(info);
  auto participants = store.ListParticipants(req->round());
  if (!participants.ok()) return ToGrpcStatus(participants.status());
  for (const ParticipantRecord& p : *participants) {
    auto task = store.GetTask(p.task_id);
    *resp->add_participants() = ParticipantToProto(p, task.ok() ? &*task : nullptr);
  }
  auto reports = store.ListReports(req->round());
  if (!reports.ok()) return ToGrpcStatus(reports.status());
  for (const ReportRecord& r : *reports) *resp->add_reports() = ReportToProto(r);
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::GetPlan(grpc::ServerContext* ctx, const av1::GetPlanRequest* req,
                                       av1::GetPlanResponse* resp) {
  if (absl::Status s = Authorize(ctx); !s.ok()) return ToGrpcStatus(s);
  if (absl::Status f = coordinator_->FlushLastSeen(); !f.ok()) return ToGrpcStatus(f);
  auto device = coordinator_->store().GetDevice(req->device_id());
  if (!device.ok()) return ToGrpcStatus(device.status());
  auto plan = coordinator_->store().LatestPlanForDevice(req->device_id());
  if (!plan.ok()) return ToGrpcStatus(plan.status());
  resp->set_device_id(req->device_id());
  if (plan->has_value()) {
    resp->set_plan_version((*plan)->version);
    resp->set_plan((*plan)->bytes);
    resp->set_created_ms((*plan)->created_ms);
  }
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::StartRounds(grpc::ServerContext* ctx,
                                           const av1::StartRoundsRequest* req,
                                           av1::StartRoundsResponse* resp) {
  if (absl::Status s = Authorize(ctx); !s.ok()) return ToGrpcStatus(s);
  auto campaign = coordinator_->StartCampaign(CampaignFromProto(req->config()));
  if (!campaign.ok()) return ToGrpcStatus(campaign.status());
  resp->set_first_round(campaign->first_round);
  resp->set_last_round(campaign->last_round);
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::ExportModel(grpc::ServerContext* ctx,
                                           const av1::ExportModelRequest* req,
                                           grpc::ServerWriter<av1::ExportModelChunk>* writer) {
  return SendExport(ctx, req, writer);
}

grpc::Status AdminServiceImpl::SendExport(
    grpc::ServerContext* ctx, const av1::ExportModelRequest* req,
    grpc::ServerWriterInterface<av1::ExportModelChunk>* writer) {
  if (absl::Status s = Authorize(ctx); !s.ok()) return ToGrpcStatus(s);
  auto blob = coordinator_->GetModel(req->version());
  if (!blob.ok()) return ToGrpcStatus(blob.status());
  const std::string& bytes = *blob->bytes;
  size_t offset = 0;
  do {
    if (ctx->IsCancelled()) return grpc::Status::CANCELLED;
    const size_t n = std::min(chunk_bytes_, bytes.size() - offset);
    av1::ExportModelChunk chunk;
    chunk.set_version(blob->version);
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

grpc::Status AdminServiceImpl::GetStatus(grpc::ServerContext* ctx, const av1::StatusRequest*,
                                         av1::StatusResponse* resp) {
  if (absl::Status s = Authorize(ctx); !s.ok()) return ToGrpcStatus(s);
  if (absl::Status f = coordinator_->FlushLastSeen(); !f.ok()) return ToGrpcStatus(f);
  CoordinatorStore& store = coordinator_->store();
  auto devices = store.ListDevices();
  if (!devices.ok()) return ToGrpcStatus(devices.status());
  const int64_t now = coordinator_->NowMs();
  uint64_t online = 0;
  for (const DeviceRecord& d : *devices) {
    online += d.state == "active" && now - d.last_seen_ms <= coordinator_->lease_ms();
  }
  resp->set_devices(devices->size());
  resp->set_devices_online(online);
  auto rounds = store.ListRounds();
  if (!rounds.ok()) return ToGrpcStatus(rounds.status());
  uint64_t done = 0;
  for (const RoundRecord& r : *rounds) done += r.state == "done";
  resp->set_rounds_done(done);
  auto campaign = store.ActiveCampaign();
  if (!campaign.ok()) return ToGrpcStatus(campaign.status());
  if (campaign->has_value()) resp->set_rounds_planned((*campaign)->last_round);
  if (!rounds->empty()) {
    resp->set_current_round(rounds->back().round);
    resp->set_current_round_state(rounds->back().state);
  }
  auto latest = store.LatestModelVersion();
  if (!latest.ok()) return ToGrpcStatus(latest.status());
  if (latest->has_value()) {
    resp->set_latest_model_version((*latest)->version);
    resp->set_latest_acc_fp32((*latest)->acc_fp32);
    resp->set_latest_acc_q8((*latest)->acc_q8);
  }
  resp->set_uptime_s((now - coordinator_->started_ms()) / 1000);
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::RevokeDevice(grpc::ServerContext* ctx,
                                            const av1::RevokeDeviceRequest* req,
                                            av1::RevokeDeviceResponse* resp) {
  if (absl::Status s = Authorize(ctx); !s.ok()) return ToGrpcStatus(s);
  auto device = coordinator_->RevokeDevice(req->device_id());
  if (!device.ok()) return ToGrpcStatus(device.status());
  *resp->mutable_device() = DeviceToProto(*device, coordinator_->NowMs(), coordinator_->lease_ms());
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::DrainDevice(grpc::ServerContext* ctx,
                                           const av1::DrainDeviceRequest* req,
                                           av1::DrainDeviceResponse* resp) {
  if (absl::Status s = Authorize(ctx); !s.ok()) return ToGrpcStatus(s);
  auto device = coordinator_->DrainDevice(req->device_id());
  if (!device.ok()) return ToGrpcStatus(device.status());
  *resp->mutable_device() = DeviceToProto(*device, coordinator_->NowMs(), coordinator_->lease_ms());
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::EnableDevice(grpc::ServerContext* ctx,
                                            const av1::EnableDeviceRequest* req,
                                            av1::EnableDeviceResponse* resp) {
  if (absl::Status s = Authorize(ctx); !s.ok()) return ToGrpcStatus(s);
  auto device = coordinator_->EnableDevice(req->device_id());
  if (!device.ok()) return ToGrpcStatus(device.status());
  *resp->mutable_device() = DeviceToProto(*device, coordinator_->NowMs(), coordinator_->lease_ms());
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::ResetDevice(grpc::ServerContext* ctx,
                                           const av1::ResetDeviceRequest* req,
                                           av1::ResetDeviceResponse* resp) {
  if (absl::Status s = Authorize(ctx); !s.ok()) return ToGrpcStatus(s);
  auto device = coordinator_->ResetDevice(req->device_id());
  if (!device.ok()) return ToGrpcStatus(device.status());
  *resp->mutable_device() = DeviceToProto(*device, coordinator_->NowMs(), coordinator_->lease_ms());
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::CreateJoinToken(grpc::ServerContext* ctx,
                                               const av1::CreateJoinTokenRequest* req,
                                               av1::CreateJoinTokenResponse* resp) {
  if (absl::Status s = Authorize(ctx); !s.ok()) return ToGrpcStatus(s);
  constexpr uint64_t kMaxTtlS = 10ull * 366 * 24 * 3600;
  if (req->ttl_s() > kMaxTtlS) {
    return ToGrpcStatus(absl::InvalidArgumentError(
        absl::StrFormat("ttl_s %d is over ten years (%d s)", req->ttl_s(), kMaxTtlS)));
  }
  auto token = coordinator_->CreateJoinToken(req->label(),
                                             static_cast<int64_t>(req->ttl_s()) * 1000,
                                             req->max_uses());
  if (!token.ok()) return ToGrpcStatus(token.status());
  *resp->mutable_token() = JoinTokenToProto(token->record, coordinator_->NowMs());
  resp->set_secret(token->secret);
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::ListJoinTokens(grpc::ServerContext* ctx,
                                              const av1::ListJoinTokensRequest*,
                                              av1::ListJoinTokensResponse* resp) {
  if (absl::Status s = Authorize(ctx); !s.ok()) return ToGrpcStatus(s);
  auto tokens = coordinator_->ListJoinTokens();
  if (!tokens.ok()) return ToGrpcStatus(tokens.status());
  const int64_t now = coordinator_->NowMs();
  for (const JoinTokenRecord& t : *tokens) *resp->add_tokens() = JoinTokenToProto(t, now);
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::RevokeJoinToken(grpc::ServerContext* ctx,
                                               const av1::RevokeJoinTokenRequest* req,
                                               av1::RevokeJoinTokenResponse* resp) {
  if (absl::Status s = Authorize(ctx); !s.ok()) return ToGrpcStatus(s);
  auto token = coordinator_->RevokeJoinToken(req->token_id());
  if (!token.ok()) return ToGrpcStatus(token.status());
  *resp->mutable_token() = JoinTokenToProto(*token, coordinator_->NowMs());
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::CancelRound(grpc::ServerContext* ctx,
                                           const av1::CancelRoundRequest* req,
                                           av1::CancelRoundResponse* resp) {
  if (absl::Status s = Authorize(ctx); !s.ok()) return ToGrpcStatus(s);
  auto round = coordinator_->CancelRound(req->round(), req->reason());
  if (!round.ok()) return ToGrpcStatus(round.status());
  auto info = RoundInfo(coordinator_->store(), *round);
  if (!info.ok()) return ToGrpcStatus(info.status());
  *resp->mutable_round() = *std::move(info);
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::ListModels(grpc::ServerContext* ctx, const av1::ListModelsRequest*,
                                          av1::ListModelsResponse* resp) {
  if (absl::Status s = Authorize(ctx); !s.ok()) return ToGrpcStatus(s);
  auto models = coordinator_->store().ListModelVersions();
  if (!models.ok()) return ToGrpcStatus(models.status());
  for (const ModelVersionRecord& m : *models) *resp->add_models() = ModelVersionToProto(m);
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::PinModel(grpc::ServerContext* ctx, const av1::PinModelRequest* req,
                                        av1::PinModelResponse* resp) {
  if (absl::Status s = Authorize(ctx); !s.ok()) return ToGrpcStatus(s);
  auto model = coordinator_->PinModel(req->version(), req->pinned());
  if (!model.ok()) return ToGrpcStatus(model.status());
  *resp->mutable_model() = ModelVersionToProto(*model);
  return grpc::Status::OK;
}

}  // namespace qfleet::cloud
