#ifndef QFLEET_CLOUD_SERVICE_HEALTH_SERVICE_IMPL_H_
#define QFLEET_CLOUD_SERVICE_HEALTH_SERVICE_IMPL_H_

#include <atomic>

#include "grpc/health/v1/health.grpc.pb.h"

namespace qfleet::cloud {

// The standard gRPC health protocol (grpc.health.v1.Health) for readiness
// probes: Check answers SERVING or NOT_SERVING for the server as a whole
// (service "") and for "qfleet.fleet.v1.FleetService" and
// "qfleet.admin.v1.AdminService", NOT_FOUND for any other name. Watch is
// UNIMPLEMENTED (probes use Check). A sync service of our own rather than
// grpc::EnableDefaultHealthCheckService, whose callback-based service makes
// gRPC run interceptors for unknown methods, turning client-chosen method
// names into metric labels. Thread-safe.
class HealthServiceImpl final : public grpc::health::v1::Health::Service {
 public:
  void SetServing(bool serving) { serving_.store(serving); }
  bool serving() const { return serving_.load(); }

  grpc::Status Check(grpc::ServerContext* ctx, const grpc::health::v1::HealthCheckRequest* req,
                     grpc::health::v1::HealthCheckResponse* resp) override;

 private:
  std::atomic<bool> serving_{false};
};

}  // namespace qfleet::cloud

#endif  // QFLEET_CLOUD_SERVICE_HEALTH_SERVICE_IMPL_H_
