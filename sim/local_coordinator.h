#ifndef QFLEET_SIM_LOCAL_COORDINATOR_H_
#define QFLEET_SIM_LOCAL_COORDINATOR_H_

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "apps/client_channel.h"
#include "cloud/coordinator.h"
#include "cloud/model_backend.h"
#include "cloud/service/coordinator_server.h"

namespace qfleet::apps {

// An in-process coordinator and its gRPC server on a loopback port, torn
// down in order (server, engine, coordinator, temporary files).
struct LocalCoordinator {
  std::unique_ptr<cloud::Coordinator> coordinator;
  std::unique_ptr<cloud::CoordinatorServer> server;
  std::filesystem::path temp_dir;
  // How clients reach it.
  ChannelSecurity security;
  std::string admin_token;
  ~LocalCoordinator();
};

struct LocalCoordinatorOptions {
  std::string db;        // SQLite file; empty = a temporary directory
  uint64_t model_seed = 1;
  std::string initial_model_path;  // CoordinatorOptions::initial_model_path
  bool insecure = false; // else TLS with a throw-away PKI
  uint32_t poll_interval_ms = 100;
  // CoordinatorOptions::open_enrollment (tests that register devices
  // without a credential); simulators mint a join token instead.
  bool open_enrollment = false;
};

// Opens the coordinator over `backend`, starts its round engine and serves
// it with a random admin token.
absl::StatusOr<std::unique_ptr<LocalCoordinator>> StartLocalCoordinator(
    const LocalCoordinatorOptions& options, std::unique_ptr<cloud::ModelBackend> backend);

}  // namespace qfleet::apps

#endif  // QFLEET_SIM_LOCAL_COORDINATOR_H_
