#ifndef QFLEET_SIM_FLEET_SIM_H_
#define QFLEET_SIM_FLEET_SIM_H_

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "apps/client_channel.h"
#include "sim/fleet_spec.h"
#include "common/retry_backoff.h"
#include "common/time_model.h"

namespace qfleet::apps {

struct FlSimOptions {
  int devices = 10;
  int rounds = 5;
  uint64_t seed = 1;
  // Dirichlet(alpha) label partition; unset = IID.
  std::optional<double> alpha;
  // host:port of a running coordinator; empty = start one in-process on a
  // loopback port over `db` (a temporary file when empty).
  std::string coordinator;
  std::string db;
  // In-process coordinator: TLS with a throw-away PKI (common/security/
  // pki.h) and a random admin token, or plaintext with `insecure`.
  // Remote coordinator: connect with `security` and `admin_token`.
  bool insecure = false;
  ChannelSecurity security;
  std::string admin_token;
  std::string data_dir;
  // fp32 | ptq | qat | fedhq | fedhq-init
  std::string strategy = "ptq";
  uint32_t weight_bits = 8;
  uint32_t activation_bits = 0;
  // Heterogeneous fleet (one entry per device); empty = every device is
  // this machine. With valid step_costs, devices report simulated compute
  // time and rounds get a simulated duration.
  std::vector<SimDevice> fleet;
  StepCosts step_costs;
  double sim_deadline_s = 0;
  double keep_qat_ratio = 1.0;
  // What PTQ clients upload: "model" or "delta" (CampaignConfig::ptq_upload).
  std::string ptq_upload = "model";
  uint32_t local_epochs = 1;
  uint32_t batch_size = 32;
  float learning_rate = 0.05f;
  uint32_t max_steps = 0;
  double round_deadline_s = 600;
  // Use only the first N training / test images (0 = all): quick runs.
  int64_t train_limit = 0;
  int64_t test_limit = 0;
  // In-process coordinator: its first model version comes from this file
  // (CoordinatorOptions::initial_model_path) instead of the seed.
  std::string init_model_path;
  // After the last round, export the global model to this file (through
  // the admin API's ExportModel).
  std::string export_model_path;
  // Print one line per finished round.
  bool progress = true;
  // Outages: every client (the virtual devices and the campaign driver)
  // retries failed calls with this backoff and gives up once the
  // coordinator has been unreachable for backoff.max_outage_ms
  // (--max-outage). pull_wait_ms: the devices' PullTask long-poll;
  // round_wait_ms: the driver's ListRounds long-poll.
  BackoffOptions backoff;
  int64_t pull_wait_ms = 20000;
  int64_t round_wait_ms = 20000;
};

struct RoundRow {
  uint64_t round = 0;
  std::string state;
  uint64_t participants = 0;
  uint64_t updates = 0;
  double acc_fp32 = -1;
  double acc_q8 = -1;
  double acc_served = -1;
  double sim_seconds = 0;
  double selector_seconds = 0;
  uint64_t bytes_down = 0;
  uint64_t bytes_up = 0;
  double seconds = 0;
};

struct FlSimResult {
  std::vector<RoundRow> rounds;
  std::string coordinator;  // address used
};

// Runs a federated campaign with `devices` virtual devices, each a real
// gRPC client with its own connection and its own shard of Fashion-MNIST,
// against an in-process or remote coordinator, and collects one row per
// round from the admin API. Deterministic for a seed, also across
// coordinator restarts: the devices and the driver ride through outages
// (options.backoff). NotFound when the dataset is missing; Unavailable when
// the coordinator cannot be reached at start or stays unreachable past
// backoff.max_outage_ms.
absl::StatusOr<FlSimResult> RunFlSim(const FlSimOptions& options, std::ostream& progress);

// Human table and the JSON document {"rounds":[{"round":…,…}]}.
std::string FormatRoundTable(const FlSimResult& result);
std::string RoundsToJson(const FlSimResult& result);

}  // namespace qfleet::apps

#endif  // QFLEET_SIM_FLEET_SIM_H_
