// The light simulator's command line: its flags, its table and its JSON.

#include "sim/light_sim.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

#include <grpcpp/grpcpp.h>
#include <nlohmann/json.hpp>

#include "absl/strings/str_format.h"
#include "apps/admin_client.h"
#include "apps/cli_util.h"
#include "common/file_io.h"
#include "common/idx_dataset.h"
#include "common/seeded_random.h"
#include "common/security/pki.h"
#include "common/security/random_token.h"
#include "common/status_macros.h"
#include "device/fleet_client.h"

extern char** environ;

namespace qfleet::apps {

std::string FormatLightTable(const LightSimResult& r) {
  std::string out = absl::StrFormat(
      "%d devices against %s: %d RPCs in %.1f s = %.0f RPCs/s; %d rounds done; registration "
      "%.1f s\n",
      r.devices, r.coordinator, r.rpcs, r.load_seconds, r.rpcs_per_s, r.rounds_done,
      r.register_seconds);
  absl::StrAppendFormat(&out, "%-10s %10s %8s %9s %9s %9s\n", "rpc", "calls", "errors", "p50_ms",
                        "p99_ms", "max_ms");
  for (const RpcKindStats& k : r.kinds) {
    absl::StrAppendFormat(&out, "%-10s %10d %8d %9.2f %9.2f %9.2f\n", k.kind, k.calls, k.errors,
                          k.p50_ms, k.p99_ms, k.max_ms);
  }
  if (r.coordinator_peak_rss_mb >= 0) {
    absl::StrAppendFormat(&out, "coordinator peak RSS %.1f MiB; RSS after each round:",
                          r.coordinator_peak_rss_mb);
    for (double m : r.coordinator_rss_by_round_mb) absl::StrAppendFormat(&out, " %.1f", m);
    out += " MiB\n";
  }
  return out;
}

std::string LightResultToJson(const LightSimResult& r) {
  nlohmann::json j;
  j["devices"] = r.devices;
  j["rpcs"] = r.rpcs;
  j["load_seconds"] = r.load_seconds;
  j["rpcs_per_s"] = r.rpcs_per_s;
  j["register_seconds"] = r.register_seconds;
  j["rounds_done"] = r.rounds_done;
  j["p50_ms"] = nlohmann::json::object();
  j["p99_ms"] = nlohmann::json::object();
  j["calls"] = nlohmann::json::object();
  j["errors"] = nlohmann::json::object();
  for (const RpcKindStats& k : r.kinds) {
    j["p50_ms"][k.kind] = k.p50_ms;
    j["p99_ms"][k.kind] = k.p99_ms;
    j["calls"][k.kind] = k.calls;
    j["errors"][k.kind] = k.errors;
  }
  j["rounds"] = nlohmann::json::array();
  for (const LightRound& lr : r.rounds) {
    j["rounds"].push_back({{"round", lr.round},
                           {"state", lr.state},
                           {"participants", lr.participants},
                           {"updates_accepted", lr.updates_accepted},
                           {"reports", lr.reports},
                           {"uploaded", lr.uploaded},
                           {"abandoned", lr.abandoned}});
  }
  j["coordinator_peak_rss_mb"] = r.coordinator_peak_rss_mb;
  j["coordinator_rss_by_round_mb"] = r.coordinator_rss_by_round_mb;
  return j.dump(2) + "\n";
}

bool SelectsLightSim(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--light") == 0) return true;
  }
  return false;
}

int LightSimMain(int argc, char** argv) {
  CLI::App app{"qfleet-sim --light: load test of one coordinator with lightweight devices",
               "qfleet-sim"};
  LightSimOptions o;
  bool light = false;
  std::string json_path;
  app.add_flag("--light", light, "lightweight devices (this mode)");
  app.add_option("--devices", o.devices, "virtual devices")->check(CLI::Range(1, 1000000));
  app.add_option("--coordinator", o.coordinator,
                 "HOST:PORT of a running coordinator (default: start one as a child process)");
  app.add_option("--coordinator-pid", o.coordinator_pid,
                 "PID of that coordinator, to read its memory");
  app.add_option("--coordinator-binary", o.coordinator_binary,
                 "qfleet-coordinator to start (default: beside this program)");
  app.add_option("--join-secret", o.join_secret, "enrollment secret");
  app.add_option("--data-dir", o.data_dir, "Fashion-MNIST for the started coordinator");
  app.add_option("--rounds", o.rounds, "rounds to run")->check(CLI::Range(1, 100000));
  app.add_option("--clients-per-round", o.clients_per_round, "devices selected per round")
      ->check(CLI::Range(1, 1000000));
  app.add_option("--deadline-s", o.round_deadline_s, "round deadline, seconds")
      ->check(CLI::PositiveNumber);
  app.add_option("--workers", o.workers, "client threads")->check(CLI::Range(1, 4096));
  app.add_option("--channels", o.channels, "gRPC connections")->check(CLI::Range(1, 1024));
  app.add_option("--max-seconds", o.max_seconds, "cap on the load phase")->check(CLI::PositiveNumber);
  app.add_option("--seed", o.seed, "campaign seed");
  app.add_option("--drop-fraction", o.drop_fraction,
                 "share of each round's participants that vanish after taking their task (fault injection)")
      ->check(CLI::Range(0.0, 0.99));
  app.add_option("--json", json_path, "write the results as JSON");
  // Without --coordinator only --insecure matters (the started coordinator
  // gets a throw-away PKI and admin token).
  ClientTlsFlags tls;
  tls.AddTo(app);
  std::string admin_token_file;
  app.add_option("--admin-token-file", admin_token_file, "admin token of the remote --coordinator");
  if (int rc = ParseOrExit(app, argc, argv); rc >= 0) return rc;
  auto access = LoadClientAccess(tls, admin_token_file);
  if (!access.ok()) {
    std::cerr << "qfleet-sim: error: " << access.status().message() << "\n";
    return 2;
  }
  o.security = access->security;
  o.insecure = access->security.insecure;
  o.admin_token = access->admin_token;
  auto result = RunLightSim(o, std::cerr);
  if (!result.ok()) {
    std::cerr << "qfleet-sim: " << result.status().message() << "\n";
    return 1;
  }
  std::cout << FormatLightTable(*result);
  if (!json_path.empty()) {
    std::ofstream out(json_path);
    out << LightResultToJson(*result);
    if (!out) {
      std::cerr << "qfleet-sim: cannot write " << json_path << "\n";
      return 1;
    }
  }
  return 0;
}

}  // namespace qfleet::apps
