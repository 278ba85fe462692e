#ifndef QFLEET_APPS_ADMIN_CLIENT_H_
#define QFLEET_APPS_ADMIN_CLIENT_H_

#include <cstdint>
#include <memory>
#include <string>

#include <grpcpp/channel.h>

#include "absl/status/statusor.h"
#include "qfleet/admin/v1/admin.grpc.pb.h"

namespace qfleet::apps {

// Client of AdminService used by qfleetctl and qfleet-sim. Every call has a
// deadline (`timeout_ms`) and, when `admin_token` is non-empty, carries it
// as "authorization: Bearer <token>"; an unreachable coordinator yields
// Unavailable or DeadlineExceeded. Thread-safe.
class AdminClient {
 public:
  AdminClient(std::shared_ptr<grpc::Channel> channel, int64_t timeout_ms = 5000,
              std::string admin_token = "");

  // Waits up to timeout_ms for the channel to connect; Unavailable naming
  // `target` otherwise.
  absl::Status WaitConnected(const std::string& target);
  absl::StatusOr<admin::v1::ListDevicesResponse> ListDevices();
  absl::StatusOr<admin::v1::GetDeviceResponse> GetDevice(uint64_t id);
  absl::StatusOr<admin::v1::ListRoundsResponse> ListRounds();
  // Long-poll ListRounds: held by the coordinator up to `wait_ms` while its
  // state_version equals `known_version` (0 = answer at once); the call's
  // deadline is timeout_ms + wait_ms.
  absl::StatusOr<admin::v1::ListRoundsResponse> ListRounds(uint64_t known_version,
                                                           int64_t wait_ms);
  // Readiness from the standard health service (grpc.health.v1, service
  // ""): OK when the coordinator answers SERVING, Unavailable when it
  // answers otherwise; transport errors as they come. Needs no admin token.
  absl::Status CheckServing();
  absl::StatusOr<admin::v1::GetRoundResponse> GetRound(uint64_t round);
  absl::StatusOr<admin::v1::GetPlanResponse> GetPlan(uint64_t device_id);
  absl::StatusOr<admin::v1::StartRoundsResponse> StartRounds(const admin::v1::CampaignConfig& c);
  absl::StatusOr<admin::v1::StatusResponse> GetStatus();
  absl::StatusOr<admin::v1::DeviceInfo> RevokeDevice(uint64_t device_id);
  absl::StatusOr<admin::v1::DeviceInfo> DrainDevice(uint64_t device_id);
  absl::StatusOr<admin::v1::DeviceInfo> EnableDevice(uint64_t device_id);
  absl::StatusOr<admin::v1::DeviceInfo> ResetDevice(uint64_t device_id);
  absl::StatusOr<admin::v1::CreateJoinTokenResponse> CreateJoinToken(
      const admin::v1::CreateJoinTokenRequest& req);
  absl::StatusOr<admin::v1::ListJoinTokensResponse> ListJoinTokens();
  absl::StatusOr<admin::v1::JoinTokenInfo> RevokeJoinToken(uint64_t token_id);
  absl::StatusOr<admin::v1::RoundInfo> CancelRound(uint64_t round, const std::string& reason);
  absl::StatusOr<admin::v1::ListModelsResponse> ListModels();
  absl::StatusOr<admin::v1::ModelVersionInfo> PinModel(uint64_t version, bool pinned);
  // Downloads a model version (0 = latest), verifying chunk CRCs and the
  // SHA-256 of the whole. DataLoss on a mismatch.
  absl::StatusOr<std::string> ExportModel(uint64_t version, uint64_t* actual_version);

 private:
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<admin::v1::AdminService::Stub> stub_;
  int64_t timeout_ms_;
  std::string admin_token_;
};

}  // namespace qfleet::apps

#endif  // QFLEET_APPS_ADMIN_CLIENT_H_
