#ifndef QFLEET_CLOUD_SERVICE_COORDINATOR_SERVER_H_
#define QFLEET_CLOUD_SERVICE_COORDINATOR_SERVER_H_

#include <memory>
#include <string>

#include <grpcpp/server.h>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "cloud/coordinator.h"
#include "cloud/metrics/coordinator_metrics.h"
#include "cloud/service/admin_service_impl.h"
#include "cloud/service/fleet_service_impl.h"
#include "cloud/service/health_service_impl.h"
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
  // Bearer token AdminService calls must carry (CheckAdminTokenStrength:
  // at least 32 characters, no placeholder). Empty: the admin API is
  // refused (PermissionDenied), except on an insecure server listening on
  // a loopback address, where it is open (see AdminAuthorizer).
  std::string admin_token;
  // Resource bounds (issue 23): concurrent HTTP/2 streams per connection,
  // gRPC's thread cap and memory quota for the server, and keepalive (a
  // ping after this long without traffic; a peer that does not answer
  // within keepalive_timeout_ms is dropped).
  int max_concurrent_streams = 64;
  int max_threads = 256;
  int64_t memory_quota_bytes = 1ll << 30;
  int keepalive_time_ms = 60000;
  int keepalive_timeout_ms = 20000;
  // /metrics reads the fleet gauges from SQLite at most this often; scrapes
  // in between get the cached values.
  int64_t gauge_cache_ms = 5000;
  // The standard gRPC health service (grpc.health.v1.Health, service "";
  // health_service_impl.h) answers SERVING from the start when true; otherwise NOT_SERVING until
  // SetServing(true), so a program can listen before it can hand out tasks.
  bool serving_at_start = true;
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
  // What the health service answers (SERVING or NOT_SERVING) from now on.
  void SetServing(bool serving);
  // Stops accepting calls, answers long-polls at once (ShutdownWaiters) and
  // waits up to `grace_ms` for calls in flight.
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
  int64_t gauge_cache_ms_;
  absl::Mutex gauges_mu_;
  FleetGauges gauges_ ABSL_GUARDED_BY(gauges_mu_);
  int64_t gauges_read_ms_ ABSL_GUARDED_BY(gauges_mu_) = -1;
  CoordinatorMetrics metrics_;
  FleetServiceImpl fleet_;
  AdminServiceImpl admin_;
  HealthServiceImpl health_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::string address_;
  bool shut_down_ = false;
};

}  // namespace qfleet::cloud

#endif  // QFLEET_CLOUD_SERVICE_COORDINATOR_SERVER_H_
