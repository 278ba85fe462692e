#include "sim/local_coordinator.h"

#include <chrono>

#include <unistd.h>

#include "absl/strings/str_format.h"
#include "common/security/pki.h"
#include "common/security/random_token.h"
#include "common/status_macros.h"

namespace qfleet::apps {

LocalCoordinator::~LocalCoordinator() {
  if (server) server->Shutdown(1000);
  if (coordinator) coordinator->StopEngine();
  server.reset();
  coordinator.reset();
  if (!temp_dir.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(temp_dir, ec);
  }
}

absl::StatusOr<std::unique_ptr<LocalCoordinator>> StartLocalCoordinator(
    const LocalCoordinatorOptions& o, std::unique_ptr<cloud::ModelBackend> backend) {
  auto local = std::make_unique<LocalCoordinator>();
  cloud::CoordinatorOptions copts;
  copts.db_path = o.db;
  copts.open_enrollment = o.open_enrollment;
  if (copts.db_path.empty()) {
    local->temp_dir = std::filesystem::temp_directory_path() /
                      absl::StrFormat("qfleet-sim-%d-%d", ::getpid(),
                                      std::chrono::steady_clock::now().time_since_epoch().count());
    std::filesystem::create_directories(local->temp_dir);
    copts.db_path = (local->temp_dir / "coordinator.db").string();
  }
  copts.model_seed = o.model_seed;
  copts.initial_model_path = o.initial_model_path;
  copts.poll_interval_ms = o.poll_interval_ms;
  ASSIGN_OR_RETURN(local->coordinator, cloud::Coordinator::Open(copts, std::move(backend)));
  // In process nobody waits for readiness: evaluate the first model here,
  // before the fleet trains, as the simulator always has.
  RETURN_IF_ERROR(local->coordinator->FinishStartup());
  local->coordinator->StartEngine(20);
  cloud::ServerOptions sopts;
  sopts.listen = "127.0.0.1:0";
  sopts.insecure = o.insecure;
  local->security.insecure = o.insecure;
  if (!o.insecure) {
    ASSIGN_OR_RETURN(Pki pki, GeneratePki());
    sopts.tls.cert_pem = pki.server_cert;
    sopts.tls.key_pem = pki.server_key;
    local->security.ca_pem = pki.ca_cert;
  }
  ASSIGN_OR_RETURN(local->admin_token, RandomHexToken());
  sopts.admin_token = local->admin_token;
  ASSIGN_OR_RETURN(local->server, cloud::CoordinatorServer::Start(local->coordinator.get(), sopts));
  return local;
}

}  // namespace qfleet::apps
