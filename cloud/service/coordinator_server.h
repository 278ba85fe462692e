#ifndef QFLEET_CLOUD_SERVICE_COORDINATOR_SERVER_H_
#define QFLEET_CLOUD_SERVICE_COORDINATOR_SERVER_H_

#include <memory>
#include <string>

#include <grpcpp/server.h>

#include "absl/status/statusor.h"
#include "cloud/coordinator.h"
#include "cloud/metrics/coordinator_metrics.h"
#include "cloud/service/admin_service_impl.h"
#include "cloud/service/fleet_service_impl.h"
#include "cloud/service/metrics_interceptor.h"

namespace qfleet::cloud {

// The server's TLS identity, PEM text (not file names).
struct ServerTls {
  std::string cert_pem;
  std::string key_pem;
  // Non-empty: mutual TLS. Every client (agents and admin tools alike) must
  // present a certificate that chains to one of these CAs.
  std::string client_ca_pem;
};

struct ServerOptions {
  // host:port; port 0 picks a free port (see CoordinatorServer::port()).
  std::string listen = "127.0.0.1:0";
  // Largest gRPC message accepted, bytes (chunks are far smaller).
  int max_message_bytes = 8 << 20;
  // Plaintext listener, for local development and tests only. Otherwise
  // `tls` must hold a certificate and key.
  bool insecure = false;
  ServerTls tls;
  // Bearer token AdminService calls must carry. Empty: the admin API is
  // refused (PermissionDenied), except on an insecure server where it is
  // open (see AdminAuthorizer).
  std::string admin_token;
};

// The gRPC server hosting FleetService and AdminService over one
// coordinator (not owned; must outlive the server), with per-RPC metrics.
class CoordinatorServer {
 public:
  // FailedPrecondition when neither `insecure` nor a certificate and key are
  // given; InvalidArgument for both, or for PEM that does not parse or a key
  // that does not match its certificate; Unavailable when the address
  // cannot be bound.
  static absl::StatusOr<std::unique_ptr<CoordinatorServer>> Start(Coordinator* coordinator,
                                                                  const ServerOptions& options);
  ~CoordinatorServer();

  int port() const { return port_; }
  std::string address() const { return address_; }
  // Stops accepting calls and waits up to `grace_ms` for calls in flight.
  void Shutdown(int64_t grace_ms = 2000);
  // Blocks until Shutdown() has completed.
  void Wait();

  // The Prometheus exposition of this server's RPC metrics and the fleet
  // gauges read from the coordinator's store. Thread-safe.
  std::string MetricsText();
  CoordinatorMetrics& metrics() { return metrics_; }

 private:
  CoordinatorServer(Coordinator* coordinator, const ServerOptions& options);

  Coordinator* coordinator_;
  CoordinatorMetrics metrics_;
  FleetServiceImpl fleet_;
  AdminServiceImpl admin_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::string address_;
  bool shut_down_ = false;
};

}  // namespace qfleet::cloud

#endif  // QFLEET_CLOUD_SERVICE_COORDINATOR_SERVER_H_
