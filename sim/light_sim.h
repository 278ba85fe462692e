#ifndef QFLEET_SIM_LIGHT_SIM_H_
#define QFLEET_SIM_LIGHT_SIM_H_

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "apps/client_channel.h"

namespace qfleet::apps {

// qfleet-sim --light: a load test of one coordinator process. Thousands of
// lightweight virtual devices (no model, no training: each is a FleetClient
// and a few counters) register, heartbeat and poll for tasks in a closed
// loop from a pool of worker threads; the devices a round selects download
// the model, upload it back as their update and report, so every RPC kind
// runs on the real service and store. Measures RPCs per second, latency per
// RPC kind and the coordinator's memory per finished round.
struct LightSimOptions {
  int devices = 10000;
  // host:port of a running coordinator; empty = spawn `coordinator_binary`
  // as a separate process on a loopback port with a temporary database.
  std::string coordinator;
  std::string coordinator_binary;  // empty: qfleet-coordinator beside this program
  // PID of an external coordinator, for its memory (0 = not measured).
  int64_t coordinator_pid = 0;
  std::string join_secret;
  // Started coordinator: TLS with a throw-away PKI and a random admin token
  // unless `insecure`. Remote coordinator: reached with `security` and
  // `admin_token`.
  bool insecure = false;
  ChannelSecurity security;
  std::string admin_token;
  std::string data_dir;            // Fashion-MNIST for the spawned coordinator
  int rounds = 3;
  int clients_per_round = 50;
  double round_deadline_s = 120;
  int workers = 24;                // client threads (see docs/notebook/2026-12-07-platform.md, "Load test")
  int channels = 6;                // separate HTTP/2 connections
  // Stop the load phase after this many seconds even if rounds remain.
  double max_seconds = 600;
  int64_t rpc_timeout_ms = 20000;
  uint64_t seed = 1;
  // Fault injection: this share of each round's participants (rounded;
  // the first to take their task) take it and then vanish for the rest of
  // that round (no upload, no report, no heartbeat), like a phone that
  // lost its network mid-round.
  double drop_fraction = 0;
};

struct LightRound {
  uint64_t round = 0;
  std::string state;
  uint64_t participants = 0;
  uint64_t updates_accepted = 0;  // as the coordinator counts them
  uint64_t reports = 0;
  uint64_t uploaded = 0;          // uploads the devices saw succeed for this round
  uint64_t abandoned = 0;         // tasks taken by dropping devices
};

struct RpcKindStats {
  std::string kind;  // register, heartbeat, pull_task, download, upload, report
  uint64_t calls = 0;
  uint64_t errors = 0;
  double p50_ms = 0, p99_ms = 0, max_ms = 0;
};

struct LightSimResult {
  int devices = 0;
  uint64_t rpcs = 0;            // load phase (everything after registration)
  double load_seconds = 0;
  double rpcs_per_s = 0;        // load phase
  double register_seconds = 0;  // registering every device
  int rounds_done = 0;
  std::vector<LightRound> rounds;
  std::vector<RpcKindStats> kinds;
  double coordinator_peak_rss_mb = -1;          // VmHWM; -1 = not measured
  std::vector<double> coordinator_rss_by_round_mb;  // VmRSS when each round ended
  std::string coordinator;
};

// Runs the load test. InvalidArgument for bad options; Unavailable when the
// coordinator cannot be started or reached; Internal when devices fail to
// register.
absl::StatusOr<LightSimResult> RunLightSim(const LightSimOptions& options, std::ostream& progress);

std::string FormatLightTable(const LightSimResult& result);
// {"devices":…,"rpcs_per_s":…,"p50_ms":{kind:…},"p99_ms":{kind:…},
//  "coordinator_peak_rss_mb":…,…}
std::string LightResultToJson(const LightSimResult& result);

// True when argv has --light.
bool SelectsLightSim(int argc, char** argv);
// The qfleet-sim --light command line; returns the exit code (2: bad flag).
int LightSimMain(int argc, char** argv);

}  // namespace qfleet::apps

#endif  // QFLEET_SIM_LIGHT_SIM_H_
