#ifndef QFLEET_CLOUD_SERVICE_ADMIN_SERVICE_IMPL_H_
#define QFLEET_CLOUD_SERVICE_ADMIN_SERVICE_IMPL_H_

#include "cloud/coordinator.h"
#include "qfleet/admin/v1/admin.grpc.pb.h"

namespace qfleet::cloud {

// gRPC adapter of the operator API; converts with admin_conversions.h and
// reads the coordinator's store. The coordinator is not owned and must
// outlive the service.
class AdminServiceImpl final : public qfleet::admin::v1::AdminService::Service {
 public:
  explicit AdminServiceImpl(Coordinator* coordinator, size_t chunk_bytes = 1 << 20);

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

 private:
  Coordinator* coordinator_;
  size_t chunk_bytes_;
};

}  // namespace qfleet::cloud

#endif  // QFLEET_CLOUD_SERVICE_ADMIN_SERVICE_IMPL_H_
