// qfleet-coordinator: the cloud coordinator service.
#include <signal.h>

#include <cstdio>
#include <iostream>

#include "apps/cli_util.h"
#include "cloud/coordinator.h"
#include "cloud/fmnist_backend.h"
#include "cloud/service/coordinator_server.h"
#include "common/idx_dataset.h"

int main(int argc, char** argv) {
  CLI::App app{"qfleet-coordinator: the qfleet cloud coordinator (gRPC)", "qfleet-coordinator"};
  qfleet::cloud::CoordinatorOptions copts;
  qfleet::cloud::ServerOptions sopts;
  std::string data_dir = qfleet::kDefaultFashionMnistDir;
  sopts.listen = "127.0.0.1:7070";
  app.add_option("--listen", sopts.listen, "HOST:PORT to serve on (port 0 = any)");
  app.add_option("--db", copts.db_path, "SQLite state file (created if absent)")->required();
  app.add_option("--blob-dir", copts.blob_dir, "model/update blob directory (default: DB.blobs)");
  app.add_option("--data-dir", data_dir, "Fashion-MNIST IDX directory (test split for evaluation)");
  app.add_option("--seed", copts.model_seed, "seed of the first model version");
  app.add_option("--join-secret", copts.join_secret, "enrollment secret devices must present");
  app.add_option("--lease-ms", copts.lease_ms, "device lease after its last call, ms")
      ->check(CLI::Range(int64_t{1000}, int64_t{86400000}));
  app.add_option("--heartbeat-ms", copts.heartbeat_interval_ms, "heartbeat interval asked of devices")
      ->check(CLI::Range(int64_t{100}, int64_t{3600000}));
  if (int rc = qfleet::apps::ParseOrExit(app, argc, argv); rc >= 0) return rc;

  // Block termination signals before any thread starts; main waits for them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto backend = qfleet::cloud::FmnistBackend::Create(data_dir);
  if (!backend.ok()) {
    std::cerr << "qfleet-coordinator: " << backend.status().message() << "\n";
    return 1;
  }
  auto coordinator = qfleet::cloud::Coordinator::Open(copts, *std::move(backend));
  if (!coordinator.ok()) {
    std::cerr << "qfleet-coordinator: " << coordinator.status().message() << "\n";
    return 1;
  }
  auto server = qfleet::cloud::CoordinatorServer::Start(coordinator->get(), sopts);
  if (!server.ok()) {
    std::cerr << "qfleet-coordinator: " << server.status().message() << "\n";
    return 1;
  }
  (*coordinator)->StartEngine();
  std::cerr << "qfleet-coordinator: serving on " << (*server)->address() << " with state in "
            << copts.db_path << "\n";
  int sig = 0;
  sigwait(&signals, &sig);
  std::cerr << "qfleet-coordinator: signal " << sig << ", shutting down\n";
  (*server)->Shutdown(5000);
  (*coordinator)->StopEngine();
  return 0;
}
