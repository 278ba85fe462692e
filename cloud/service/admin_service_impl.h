#ifndef QFLEET_CLOUD_SERVICE_ADMIN_SERVICE_IMPL_H_
#define QFLEET_CLOUD_SERVICE_ADMIN_SERVICE_IMPL_H_

#include "cloud/coordinator.h"
#include "cloud/service/admin_auth.h"
#include "qfleet/admin/v1/admin.grpc.pb.h"

namespace qfleet::cloud {

// gRPC adapter of the operator API; checks every call's admin token with
// `auth` first, converts with admin_conversions.h and reads the
// coordinator's store. The coordinator is not owned and must outlive the
// service.
class AdminServiceImpl final : public qfleet::admin::v1::AdminService::Service {
 public:
  AdminServiceImpl(Coordinator* coordinator, AdminAuthorizer auth, size_t chunk_bytes = 1 << 20);

  grpc::Status ListDevices(grpc::ServerContext*, const admin::v1::ListDevicesRequest*,
                           admin::v1::ListDevicesResponse*) override;
  grpc::Status GetDevice(grpc::ServerContext*, const admin::v1::GetDeviceRequest*,
                         admin::v1::GetDeviceResponse*) override;
  grpc::Status ListRounds(grpc::ServerContext*, const admin::v1::ListRoundsRequest*,
                          admin::v1::ListRoundsResponse*) override;
  grpc::Status GetRound(grpc::ServerContext*, const admin::v1::GetRoundRequest*,
                        admin::v1::GetRoundResponse*) override;
  grpc::Status GetPlan(grpc::ServerContext*, const admin::v1::GetPlanRequest*,
                       admin::v1::GetPlanResponse*) override;
  grpc::Status StartRounds(grpc::ServerContext*, const admin::v1::StartRoundsRequest*,
                           admin::v1::StartRoundsResponse*) override;
  grpc::Status ExportModel(grpc::ServerContext*, const admin::v1::ExportModelRequest*,
                           grpc::ServerWriter<admin::v1::ExportModelChunk>*) override;
  grpc::Status GetStatus(grpc::ServerContext*, const admin::v1::StatusRequest*,
                         admin::v1::StatusResponse*) override;
  grpc::Status RevokeDevice(grpc::ServerContext*, const admin::v1::RevokeDeviceRequest*,
                            admin::v1::RevokeDeviceResponse*) override;
  grpc::Status DrainDevice(grpc::ServerContext*, const admin::v1::DrainDeviceRequest*,
                           admin::v1::DrainDeviceResponse*) override;
  grpc::Status EnableDevice(grpc::ServerContext*, const admin::v1::EnableDeviceRequest*,
                            admin::v1::EnableDeviceResponse*) override;
  grpc::Status ResetDevice(grpc::ServerContext*, const admin::v1::ResetDeviceRequest*,
                           admin::v1::ResetDeviceResponse*) override;
  grpc::Status CreateJoinToken(grpc::ServerContext*, const admin::v1::CreateJoinTokenRequest*,
                               admin::v1::CreateJoinTokenResponse*) override;
  grpc::Status ListJoinTokens(grpc::ServerContext*, const admin::v1::ListJoinTokensRequest*,
                              admin::v1::ListJoinTokensResponse*) override;
  grpc::Status RevokeJoinToken(grpc::ServerContext*, const admin::v1::RevokeJoinTokenRequest*,
                               admin::v1::RevokeJoinTokenResponse*) override;
  grpc::Status CancelRound(grpc::ServerContext*, const admin::v1::CancelRoundRequest*,
                           admin::v1::CancelRoundResponse*) override;
  grpc::Status ListModels(grpc::ServerContext*, const admin::v1::ListModelsRequest*,
                          admin::v1::ListModelsResponse*) override;
  grpc::Status PinModel(grpc::ServerContext*, const admin::v1::PinModelRequest*,
                        admin::v1::PinModelResponse*) override;

  // ExportModel's body over the stream interface, so the fuzzers
  // (tests/fuzz) drive it without a transport. Same contract.
  grpc::Status SendExport(grpc::ServerContext* ctx, const admin::v1::ExportModelRequest* req,
                          grpc::ServerWriterInterface<admin::v1::ExportModelChunk>* writer);

 private:
  // OK when the call carries the admin token (see AdminAuthorizer).
  absl::Status Authorize(grpc::ServerContext* ctx) const;

  Coordinator* coordinator_;
  AdminAuthorizer auth_;
  size_t chunk_bytes_;
};

}  // namespace qfleet::cloud

#endif  // QFLEET_CLOUD_SERVICE_ADMIN_SERVICE_IMPL_H_
