#include "cloud/service/health_service_impl.h"

namespace qfleet::cloud {

namespace hv1 = grpc::health::v1;

grpc::Status HealthServiceImpl::Check(grpc::ServerContext*, const hv1::HealthCheckRequest* req,
                                      hv1::HealthCheckResponse* resp) {
  const std::string& name = req->service();
  if (!name.empty() && name != "qfleet.fleet.v1.FleetService" &&
      name != "qfleet.admin.v1.AdminService") {
    return grpc::Status(grpc::StatusCode::NOT_FOUND, "unknown service");
  }
  resp->set_status(serving() ? hv1::HealthCheckResponse::SERVING
                             : hv1::HealthCheckResponse::NOT_SERVING);
  return grpc::Status::OK;
}

}  // namespace qfleet::cloud
