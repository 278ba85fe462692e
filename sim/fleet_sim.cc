#include "sim/fleet_sim.h"

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <thread>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "apps/admin_client.h"
#include "sim/enrollment.h"
#include "sim/local_coordinator.h"
#include "cloud/coordinator.h"
#include "cloud/fmnist_backend.h"
#include "cloud/service/coordinator_server.h"
#include "common/file_io.h"
#include "common/idx_dataset.h"
#include "common/partition.h"
#include "common/security/pki.h"
#include "common/security/random_token.h"
#include "common/status_macros.h"
#include "device/agent.h"
#include "device/profile_probe.h"

namespace qfleet::apps {
namespace {

absl::StatusOr<std::unique_ptr<LocalCoordinator>> StartLocal(const FlSimOptions& o) {
  ASSIGN_OR_RETURN(auto backend, cloud::FmnistBackend::Create(o.data_dir, o.test_limit));
  LocalCoordinatorOptions lo;
  lo.db = o.db;
  lo.model_seed = o.seed;
  lo.initial_model_path = o.init_model_path;
  lo.insecure = o.insecure;
  return StartLocalCoordinator(lo, std::move(backend));
}

// Runs `call` until it succeeds, fails for good, or transient failures
// outlast backoff.max_outage_ms.
template <typename Call>
absl::Status RetryTransient(const BackoffOptions& options, const std::string& target, Call call) {
  RetryBackoff backoff(options, nullptr, 1);
  for (;;) {
    absl::Status s = call();
    if (s.ok() || !IsTransient(s)) return s;
    ASSIGN_OR_RETURN(int64_t delay, backoff.NextDelayMs(s, target));
    std::this_thread::sleep_for(std::chrono::milliseconds(delay));
  }
}

// Stops and joins agent threads on every exit path.
struct AgentFleet {
  std::atomic<bool> stop{false};
  std::vector<std::unique_ptr<device::FleetClient>> clients;
  std::vector<std::unique_ptr<device::Agent>> agents;
  std::vector<std::thread> threads;
  std::vector<absl::Status> results;
  std::atomic<int> finished{0};
  ~AgentFleet() {
    stop = true;
    for (auto& t : threads) t.join();
  }
};

}  // namespace

absl::StatusOr<FlSimResult> RunFlSim(const FlSimOptions& o, std::ostream& progress) {
  if (o.devices < 1) return absl::InvalidArgumentError("--devices must be >= 1");
  if (o.rounds < 1) return absl::InvalidArgumentError("--rounds must be >= 1");
  if (o.alpha.has_value() && !(*o.alpha > 0)) {
    return absl::InvalidArgumentError("--alpha must be > 0");
  }
  // One intra-op thread per agent keeps local training deterministic; the
  // agents themselves run in parallel.
  torch::set_num_threads(1);

  ASSIGN_OR_RETURN(ImageDataset train, LoadFashionMnist(o.data_dir, /*train=*/true));
  if (o.train_limit > 0 && o.train_limit < train.count) {
    train.count = o.train_limit;
    train.pixels.resize(train.count * train.rows * train.cols);
    train.labels.resize(train.count);
  }
  ShardSpec spec;
  spec.kind = o.alpha.has_value() ? PartitionKind::kDirichlet : PartitionKind::kIid;
  spec.alpha = o.alpha.value_or(1.0);
  spec.num_clients = o.devices;
  spec.seed = o.seed;
  ASSIGN_OR_RETURN(auto shards, PartitionIndices(train.labels, train.num_classes, spec));

  std::unique_ptr<LocalCoordinator> local;
  FlSimResult result;
  result.coordinator = o.coordinator;
  ChannelSecurity security = o.security;
  std::string admin_token = o.admin_token;
  if (o.coordinator.empty()) {
    ASSIGN_OR_RETURN(local, StartLocal(o));
    result.coordinator = local->server->address();
    security = local->security;
    admin_token = local->admin_token;
  }
  AdminClient admin(MakeChannel(result.coordinator, security), 10000, admin_token);
  const std::string target = "the coordinator at " + result.coordinator;
  RETURN_IF_ERROR(admin.WaitConnected(result.coordinator));

  admin::v1::CampaignConfig campaign;
  campaign.set_rounds(o.rounds);
  campaign.set_min_devices(o.devices);
  campaign.set_round_deadline_s(o.round_deadline_s);
  campaign.set_strategy(o.strategy);
  campaign.set_weight_bits(o.weight_bits);
  campaign.set_local_epochs(o.local_epochs);
  campaign.set_batch_size(o.batch_size);
  campaign.set_learning_rate(o.learning_rate);
  campaign.set_max_steps(o.max_steps);
  campaign.set_seed(o.seed);
  campaign.set_activation_bits(o.activation_bits);
  campaign.set_sim_deadline_s(o.sim_deadline_s);
  campaign.set_fedhq_keep_qat_ratio(o.keep_qat_ratio);
  campaign.set_ptq_upload(o.ptq_upload);
  campaign.mutable_step_costs()->set_ref_gflops(o.step_costs.ref_gflops);
  campaign.mutable_step_costs()->set_fp32_step_s(o.step_costs.fp32_step_s);
  campaign.mutable_step_costs()->set_qat_step_s(o.step_costs.qat_step_s);
  campaign.mutable_step_costs()->set_ptq_quantize_s(o.step_costs.ptq_quantize_s);
  campaign.mutable_step_costs()->set_gap_check_s(o.step_costs.gap_check_s);
  ASSIGN_OR_RETURN(const std::string join_secret,
                   EnrollmentSecret(admin, "", o.devices, "qfleet-sim fleet"));
  ASSIGN_OR_RETURN(auto started, admin.StartRounds(campaign));
  if (!o.fleet.empty() && static_cast<int>(o.fleet.size()) != o.devices) {
    return absl::InvalidArgumentError("fleet size differs from --devices");
  }

  // All virtual devices run on this machine: probe once; a heterogeneous
  // fleet scales the probe by each device's class speed.
  device::DeviceProfile base;
  base.compute_gflops =
      o.step_costs.valid() ? o.step_costs.ref_gflops : device::MeasureMatmulGflops(100);
  base.memory_mib = device::AvailableMemoryMib() / std::max(1, o.devices);

  AgentFleet fleet;
  for (int i = 0; i < o.devices; ++i) {
    fleet.clients.push_back(
        std::make_unique<device::FleetClient>(MakeChannel(result.coordinator, security)));
    device::AgentOptions aopts;
    aopts.device_name = absl::StrFormat("sim-%04d", i);
    aopts.profile = base;
    if (!o.fleet.empty()) {
      const SimDevice& d = o.fleet[i];
      aopts.profile.compute_gflops = base.compute_gflops * d.speed;
      aopts.profile.downlink_kbps = d.downlink_kbps;
      aopts.profile.uplink_kbps = d.uplink_kbps;
      aopts.profile.memory_mib = d.memory_mib;
      aopts.profile.lowbit_support = d.lowbit_support;
      aopts.profile.availability = d.availability;
      aopts.sim_load = d.load;
    }
    aopts.join_secret = join_secret;
    aopts.sim_costs = o.step_costs;
    aopts.backoff = o.backoff;
    aopts.pull_wait_ms = o.pull_wait_ms;
    aopts.train = &train;
    aopts.indices = shards[i];
    fleet.agents.push_back(std::make_unique<device::Agent>(fleet.clients.back().get(), aopts));
    // Register in index order so device ids follow shard order (determinism).
    RETURN_IF_ERROR(RetryTransient(o.backoff, target, [&] { return fleet.agents.back()->Register(); }));
  }
  fleet.results.resize(o.devices);
  for (int i = 0; i < o.devices; ++i) {
    fleet.threads.emplace_back([&fleet, i] { 
      fleet.results[i] = fleet.agents[i]->Run(fleet.stop);
      ++fleet.finished;
    });
  }

  if (o.progress) {
    progress << absl::StrFormat("qfleet-sim: %d devices, rounds %d..%d, coordinator %s\n", o.devices,
                                started.first_round(), started.last_round(), result.coordinator);
  }
  size_t reported = 0;
  const auto t0 = std::chrono::steady_clock::now();
  // Follows the rounds with a long-poll on their state (no polling), riding
  // through coordinator restarts.
  RetryBackoff backoff(o.backoff, nullptr, o.seed);
  uint64_t version = 0;
  while (reported < static_cast<size_t>(o.rounds)) {
    absl::StatusOr<admin::v1::ListRoundsResponse> listed =
        admin.ListRounds(version, o.round_wait_ms);
    if (!listed.ok()) {
      if (!IsTransient(listed.status())) return listed.status();
      if (backoff.failures() == 0) {  // outages are reported even with --quiet
        progress << "qfleet-sim: lost " << target << " (" << listed.status()
                 << "); retrying for up to "
                 << absl::FormatDuration(absl::Milliseconds(o.backoff.max_outage_ms)) << "\n";
      }
      ASSIGN_OR_RETURN(int64_t delay, backoff.NextDelayMs(listed.status(), target));
      std::this_thread::sleep_for(std::chrono::milliseconds(delay));
      continue;
    }
    if (backoff.failures() > 0) {
      progress << absl::StrFormat("qfleet-sim: %s is back after %.1fs\n", target,
                                  backoff.OutageMs() / 1000.0);
    }
    backoff.Reset();
    version = listed->state_version();
    const admin::v1::ListRoundsResponse& rounds = *listed;
    for (const auto& r : rounds.rounds()) {
      if (r.round() < started.first_round() + reported || r.round() > started.last_round()) continue;
      if (r.round() != started.first_round() + reported) continue;
      if (r.state() != "done" && r.state() != "failed" && r.state() != "cancelled") break;
      RoundRow row;
      row.round = r.round();
      row.state = r.state();
      row.participants = r.participants();
      row.updates = r.updates_accepted();
      row.acc_fp32 = r.acc_fp32();
      row.acc_q8 = r.acc_q8();
      row.acc_served = r.acc_served();
      row.sim_seconds = r.sim_seconds();
      row.selector_seconds = r.selector_seconds();
      row.bytes_down = r.bytes_down();
      row.bytes_up = r.bytes_up();
      row.seconds = (r.finished_ms() - r.started_ms()) / 1000.0;
      result.rounds.push_back(row);
      ++reported;
      if (o.progress) {
        progress << absl::StrFormat(
            "[%3d/%d] %s round %d %s: %d participants, %d updates, acc fp32 %.4f q8 %.4f served %.4f "
            "(%.1fs, elapsed %.0fs)\n",
            reported, o.rounds, o.strategy, row.round, row.state, row.participants, row.updates,
            row.acc_fp32,
            row.acc_q8, row.acc_served, row.seconds,
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        progress.flush();
      }
    }
    if (fleet.finished.load() == o.devices && reported < static_cast<size_t>(o.rounds)) {
      for (int i = 0; i < o.devices; ++i) {
        if (!fleet.results[i].ok()) {
          return absl::AbortedError(absl::StrFormat("every agent stopped; agent %d: %s", i,
                                                    fleet.results[i].ToString()));
        }
      }
      return absl::AbortedError("every agent stopped before the campaign finished");
    }
  }
  fleet.stop = true;
  for (auto& t : fleet.threads) t.join();
  fleet.threads.clear();
  if (!o.export_model_path.empty()) {
    uint64_t version = 0;
    ASSIGN_OR_RETURN(std::string model, admin.ExportModel(0, &version));
    RETURN_IF_ERROR(WriteStringToFile(o.export_model_path, model));
    if (o.progress) {
      progress << absl::StrFormat("exported model version %d (%d bytes) to %s\n", version,
                                  model.size(), o.export_model_path);
    }
  }
  for (int i = 0; i < o.devices; ++i) {
    if (!fleet.results[i].ok()) {
      progress << "warning: agent " << i << " ended with " << fleet.results[i] << "\n";
    }
  }
  return result;
}

std::string FormatRoundTable(const FlSimResult& result) {
  std::string out = absl::StrFormat("%-6s %-7s %-13s %-9s %-9s %-12s %-12s %-8s\n", "round", "state",
                                    "participants", "acc_fp32", "acc_q8", "bytes_down", "bytes_up",
                                    "seconds");
  for (const RoundRow& r : result.rounds) {
    out += absl::StrFormat("%-6d %-7s %-13d %-9.4f %-9.4f %-12d %-12d %-8.1f\n", r.round, r.state,
                           r.participants, r.acc_fp32, r.acc_q8, r.bytes_down, r.bytes_up,
                           r.seconds);
  }
  return out;
}

std::string RoundsToJson(const FlSimResult& result) {
  nlohmann::json rounds = nlohmann::json::array();
  for (const RoundRow& r : result.rounds) {
    rounds.push_back({{"round", r.round},
                      {"state", r.state},
                      {"participants", r.participants},
                      {"updates", r.updates},
                      {"acc_fp32", r.acc_fp32},
                      {"acc_q8", r.acc_q8},
                      {"acc_served", r.acc_served},
                      {"sim_seconds", r.sim_seconds},
                      {"bytes_down", r.bytes_down},
                      {"bytes_up", r.bytes_up},
                      {"seconds", r.seconds}});
  }
  return nlohmann::json{{"rounds", rounds}}.dump(2) + "\n";
}

}  // namespace qfleet::apps
