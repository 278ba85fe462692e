#include "apps/admin_client.h"

#include <algorithm>
#include <chrono>

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include "absl/strings/str_format.h"
#include "common/crc32c.h"
#include "common/sha256.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "protos/status_conversion.h"

namespace qfleet::apps {

namespace av1 = qfleet::admin::v1;

AdminClient::AdminClient(std::shared_ptr<grpc::Channel> channel, int64_t timeout_ms,
                         std::string admin_token)
    : channel_(channel),
      stub_(av1::AdminService::NewStub(channel)),
      timeout_ms_(timeout_ms),
      admin_token_(std::move(admin_token)) {}

absl::Status AdminClient::WaitConnected(const std::string& target) {
  auto deadline = std::chrono::system_clock::now() + std::chrono::milliseconds(timeout_ms_);
  if (!channel_->WaitForConnected(deadline)) {
    return absl::UnavailableError(
        absl::StrFormat("cannot reach the coordinator at %s within %d ms (is it running? TLS: "
                        "check --tls-ca and the server name, or --insecure for a plaintext "
                        "coordinator)",
                        target, timeout_ms_));
  }
  return absl::OkStatus();
}

namespace {

void Prepare(grpc::ClientContext* ctx, int64_t timeout_ms, const std::string& token) {
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(timeout_ms));
  if (!token.empty()) ctx->AddMetadata("authorization", "Bearer " + token);
}

template <typename Resp, typename Call>
absl::StatusOr<Resp> Unary(int64_t timeout_ms, const std::string& token, Call call) {
  grpc::ClientContext ctx;
  Prepare(&ctx, timeout_ms, token);
  Resp resp;
  absl::Status s = FromGrpcStatus(call(&ctx, &resp));
  if (!s.ok()) return s;
  return resp;
}

}  // namespace

absl::StatusOr<av1::ListDevicesResponse> AdminClient::ListDevices() {
  return Unary<av1::ListDevicesResponse>(timeout_ms_, admin_token_, [&](auto* ctx, auto* resp) {
    return stub_->ListDevices(ctx, av1::ListDevicesRequest(), resp);
  });
}

absl::StatusOr<av1::GetDeviceResponse> AdminClient::GetDevice(uint64_t id) {
  av1::GetDeviceRequest req;
  req.set_device_id(id);
  return Unary<av1::GetDeviceResponse>(
      timeout_ms_, admin_token_,
      [&](auto* ctx, auto* resp) { return stub_->GetDevice(ctx, req, resp); });
}

absl::StatusOr<av1::ListRoundsResponse> AdminClient::ListRounds() {
  return Unary<av1::ListRoundsResponse>(timeout_ms_, admin_token_, [&](auto* ctx, auto* resp) {
    return stub_->ListRounds(ctx, av1::ListRoundsRequest(), resp);
  });
}

absl::StatusOr<av1::ListRoundsResponse> AdminClient::ListRounds(uint64_t known_version,
                                                                 int64_t wait_ms) {
  av1::ListRoundsRequest req;
  req.set_known_version(known_version);
  req.set_wait_for_change_ms(static_cast<uint32_t>(std::max<int64_t>(0, wait_ms)));
  return Unary<av1::ListRoundsResponse>(
      timeout_ms_ + std::max<int64_t>(0, wait_ms), admin_token_,
      [&](auto* ctx, auto* resp) { return stub_->ListRounds(ctx, req, resp); });
}

absl::Status AdminClient::CheckServing() {
  grpc::ClientContext ctx;
  Prepare(&ctx, timeout_ms_, "");
  grpc::health::v1::HealthCheckRequest req;
  grpc::health::v1::HealthCheckResponse resp;
  grpc::health::v1::Health::Stub health(channel_);
  absl::Status s = FromGrpcStatus(health.Check(&ctx, req, &resp));
  if (!s.ok()) return s;
  if (resp.status() != grpc::health::v1::HealthCheckResponse::SERVING) {
    return absl::UnavailableError(absl::StrFormat(
        "the coordinator is up but not serving yet (health %s)",
        grpc::health::v1::HealthCheckResponse::ServingStatus_Name(resp.status())));
  }
  return absl::OkStatus();
}

absl::StatusOr<av1::GetRoundResponse> AdminClient::GetRound(uint64_t round) {
  av1::GetRoundRequest req;
  req.set_round(round);
  return Unary<av1::GetRoundResponse>(
      timeout_ms_, admin_token_,
      [&](auto* ctx, auto* resp) { return stub_->GetRound(ctx, req, resp); });
}

absl::StatusOr<av1::GetPlanResponse> AdminClient::GetPlan(uint64_t device_id) {
  av1::GetPlanRequest req;
  req.set_device_id(device_id);
  return Unary<av1::GetPlanResponse>(
      timeout_ms_, admin_token_,
      [&](auto* ctx, auto* resp) { return stub_->GetPlan(ctx, req, resp); });
}

absl::StatusOr<av1::StartRoundsResponse> AdminClient::StartRounds(const av1::CampaignConfig& c) {
  av1::StartRoundsRequest req;
  *req.mutable_config() = c;
  return Unary<av1::StartRoundsResponse>(
      timeout_ms_, admin_token_,
      [&](auto* ctx, auto* resp) { return stub_->StartRounds(ctx, req, resp); });
}

absl::StatusOr<av1::StatusResponse> AdminClient::GetStatus() {
  return Unary<av1::StatusResponse>(timeout_ms_, admin_token_, [&](auto* ctx, auto* resp) {
    return stub_->GetStatus(ctx, av1::StatusRequest(), resp);
  });
}

absl::StatusOr<av1::DeviceInfo> AdminClient::RevokeDevice(uint64_t device_id) {
  av1::RevokeDeviceRequest req;
  req.set_device_id(device_id);
  auto resp = Unary<av1::RevokeDeviceResponse>(
      timeout_ms_, admin_token_,
      [&](auto* ctx, auto* resp) { return stub_->RevokeDevice(ctx, req, resp); });
  if (!resp.ok()) return resp.status();
  return resp->device();
}

absl::StatusOr<av1::DeviceInfo> AdminClient::DrainDevice(uint64_t device_id) {
  av1::DrainDeviceRequest req;
  req.set_device_id(device_id);
  auto resp = Unary<av1::DrainDeviceResponse>(
      timeout_ms_, admin_token_,
      [&](auto* ctx, auto* resp) { return stub_->DrainDevice(ctx, req, resp); });
  if (!resp.ok()) return resp.status();
  return resp->device();
}

absl::StatusOr<av1::DeviceInfo> AdminClient::EnableDevice(uint64_t device_id) {
  av1::EnableDeviceRequest req;
  req.set_device_id(device_id);
  auto resp = Unary<av1::EnableDeviceResponse>(
      timeout_ms_, admin_token_,
      [&](auto* ctx, auto* resp) { return stub_->EnableDevice(ctx, req, resp); });
  if (!resp.ok()) return resp.status();
  return resp->device();
}

absl::StatusOr<av1::DeviceInfo> AdminClient::ResetDevice(uint64_t device_id) {
  av1::ResetDeviceRequest req;
  req.set_device_id(device_id);
  auto resp = Unary<av1::ResetDeviceResponse>(
      timeout_ms_, admin_token_,
      [&](auto* ctx, auto* resp) { return stub_->ResetDevice(ctx, req, resp); });
  if (!resp.ok()) return resp.status();
  return resp->device();
}

absl::StatusOr<av1::CreateJoinTokenResponse> AdminClient::CreateJoinToken(
    const av1::CreateJoinTokenRequest& req) {
  return Unary<av1::CreateJoinTokenResponse>(
      timeout_ms_, admin_token_,
      [&](auto* ctx, auto* resp) { return stub_->CreateJoinToken(ctx, req, resp); });
}

absl::StatusOr<av1::ListJoinTokensResponse> AdminClient::ListJoinTokens() {
  return Unary<av1::ListJoinTokensResponse>(timeout_ms_, admin_token_, [&](auto* ctx, auto* resp) {
    return stub_->ListJoinTokens(ctx, av1::ListJoinTokensRequest(), resp);
  });
}

absl::StatusOr<av1::JoinTokenInfo> AdminClient::RevokeJoinToken(uint64_t token_id) {
  av1::RevokeJoinTokenRequest req;
  req.set_token_id(token_id);
  auto resp = Unary<av1::RevokeJoinTokenResponse>(
      timeout_ms_, admin_token_,
      [&](auto* ctx, auto* resp) { return stub_->RevokeJoinToken(ctx, req, resp); });
  if (!resp.ok()) return resp.status();
  return resp->token();
}

absl::StatusOr<av1::RoundInfo> AdminClient::CancelRound(uint64_t round, const std::string& reason) {
  av1::CancelRoundRequest req;
  req.set_round(round);
  req.set_reason(reason);
  auto resp = Unary<av1::CancelRoundResponse>(
      timeout_ms_, admin_token_,
      [&](auto* ctx, auto* resp) { return stub_->CancelRound(ctx, req, resp); });
  if (!resp.ok()) return resp.status();
  return resp->round();
}

absl::StatusOr<av1::ListModelsResponse> AdminClient::ListModels() {
  av1::ListModelsRequest req;
  return Unary<av1::ListModelsResponse>(
      timeout_ms_, admin_token_,
      [&](auto* ctx, auto* resp) { return stub_->ListModels(ctx, req, resp); });
}

absl::StatusOr<av1::ModelVersionInfo> AdminClient::PinModel(uint64_t version, bool pinned) {
  av1::PinModelRequest req;
  req.set_version(version);
  req.set_pinned(pinned);
  auto resp = Unary<av1::PinModelResponse>(
      timeout_ms_, admin_token_,
      [&](auto* ctx, auto* resp) { return stub_->PinModel(ctx, req, resp); });
  if (!resp.ok()) return resp.status();
  return resp->model();
}

absl::StatusOr<std::string> AdminClient::ExportModel(uint64_t version, uint64_t* actual_version) {
  av1::ExportModelRequest req;
  req.set_version(version);
  grpc::ClientContext ctx;
  Prepare(&ctx, timeout_ms_ * 12, admin_token_);
  auto reader = stub_->ExportModel(&ctx, req);
  av1::ExportModelChunk chunk;
  std::string bytes, sha;
  uint64_t total = 0;
  while (reader->Read(&chunk)) {
    if (chunk.offset() != bytes.size() ||
        Crc32c(chunk.data().data(), chunk.data().size()) != chunk.crc32c()) {
      ctx.TryCancel();
      return absl::DataLossError(absl::StrFormat("bad export chunk at offset %d", chunk.offset()));
    }
    total = chunk.total_bytes();
    sha = chunk.sha256();
    if (actual_version != nullptr) *actual_version = chunk.version();
    bytes.append(chunk.data());
  }
  absl::Status s = FromGrpcStatus(reader->Finish());
  if (!s.ok()) return s;
  if (bytes.size() != total || Sha256Hex(bytes) != sha) {
    return absl::DataLossError("exported model fails its size or SHA-256 check");
  }
  return bytes;
}

}  // namespace qfleet::apps
