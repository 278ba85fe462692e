#ifndef QFLEET_CLOUD_SERVICE_COORDINATOR_SERVER_H_
#define QFLEET_CLOUD_SERVICE_COORDINATOR_SERVER_H_

#include <memory>
#include <string>

#include <grpcpp/server.h>

#include "absl/status/statusor.h"
#include "cloud/coordinator.h"
#include "cloud/service/admin_service_impl.h"
#include "cloud/service/fleet_service_impl.h"

namespace qfleet::cloud {

struct ServerOptions {
  // host:port; port 0 picks a free port (see CoordinatorServer::port()).
  std::string listen = "127.0.0.1:0";
  // Largest gRPC message accepted, bytes (chunks are far smaller).
  int max_message_bytes = 8 << 20;
};

// The gRPC server hosting FleetService and AdminService over one
// coordinator (not owned; must outlive the server).
class CoordinatorServer {
 public:
  // Unavailable when the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<CoordinatorServer>> Start(Coordinator* coordinator,
                                                                  const ServerOptions& options);
  ~CoordinatorServer();

  int port() const { return port_; }
  std::string address() const { return address_; }
  // Stops accepting calls and waits up to `grace_ms` for calls in flight.
  void Shutdown(int64_t grace_ms = 2000);
  // Blocks until Shutdown() has completed.
  void Wait();

 private:
  CoordinatorServer(Coordinator* coordinator);

  FleetServiceImpl fleet_;
  AdminServiceImpl admin_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::string address_;
  bool shut_down_ = false;
};

}  // namespace qfleet::cloud

#endif  // QFLEET_CLOUD_SERVICE_COORDINATOR_SERVER_H_
