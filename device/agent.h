#ifndef QFLEET_DEVICE_AGENT_H_
#define QFLEET_DEVICE_AGENT_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <ostream>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/clock.h"
#include "common/idx_dataset.h"
#include "common/retry_backoff.h"
#include "common/time_model.h"
#include "device/device_types.h"
#include "device/fleet_client.h"
#include "device/seqrec_eval.h"

namespace qfleet::device {

struct AgentOptions {
  std::string device_name;
  DeviceProfile profile;
  std::string join_secret;
  // Where the agent keeps its bearer token between runs (0600; "" = in
  // memory only). A known name re-registers only with its current token,
  // so a restarted agent without this file needs an admin reset.
  std::string state_file;
  // Local training data: `indices` into `*train` (not owned; must outlive
  // the agent). Several agents may share one dataset.
  const ImageDataset* train = nullptr;
  std::vector<int64_t> indices;
  // Exit Run() once the coordinator reports an idle fleet (simulation).
  bool exit_when_idle = false;
  // Simulation only: calibrated step costs and the share of its compute the
  // device actually gives training (1 = all; hidden from the coordinator).
  // When costs are valid the report carries metrics["sim_compute_s"], the
  // device's simulated compute time for the task.
  StepCosts sim_costs;
  double sim_load = 1.0;
  // A recommendation device: its own interactions, for CHORD evaluation
  // tasks (strategy "eval"). An agent needs image data, this, or both.
  std::optional<SeqRecDeviceData> seqrec;
  // Long-poll: how long each PullTask may be held by the coordinator while
  // there is no task (0 = poll every retry_after_ms, the old behaviour).
  int64_t pull_wait_ms = 20000;
  // Retries of failed calls in Run(): capped exponential backoff with
  // jitter (seeded by the device name); Run() gives up with Unavailable once
  // calls have failed for backoff.max_outage_ms (--max-outage) in a row.
  BackoffOptions backoff;
  // Clock of the backoff's outage account; nullptr = the real clock. Not
  // owned.
  Clock* clock = nullptr;
  // Where Run() says that the coordinator was lost and when it came back
  // (one line each per outage); nullptr = silent. Not owned.
  std::ostream* log = nullptr;
};

// Counters of what the agent did, for the simulator's table.
struct AgentStats {
  std::atomic<uint64_t> tasks_done{0};
  std::atomic<uint64_t> tasks_failed{0};
  std::atomic<uint64_t> bytes_down{0};
  std::atomic<uint64_t> bytes_up{0};
};

// The device daemon: registers, heartbeats, pulls tasks, downloads the
// global model, trains locally with LibTorch, quantizes its update per
// channel at the task's bit-width, uploads it and reports. Evaluation tasks
// (CHORD and its baselines) run RunSeqRecEvalTask on the device's own
// interactions and report its metrics; nothing is uploaded. A task that fails
// locally is reported with its error so the round does not wait for it.
class Agent {
 public:
  // `client` is not owned and must outlive the agent.
  Agent(FleetClient* client, AgentOptions options);
  ~Agent();

  // Validates the options (InvalidArgument for no data, out-of-range
  // indices or invalid recommendation data) and registers with the
  // coordinator.
  absl::Status Register();
  // Pulls and executes at most one task. Returns whether a task ran, and
  // fills `retry_after_ms` / `idle` from the coordinator's answer. A task
  // whose upload or report failed transiently (coordinator down or
  // restarting) is kept and its delivery resumed by the next call, with the
  // same request ids, instead of pulling: the coordinator records it once.
  // A refused upload (round closed or cancelled) is reported with its error;
  // a refused report ends the task and is returned.
  // `waited_ms` gets how long the coordinator held the pull (long-poll).
  absl::StatusOr<bool> RunOnce(uint32_t* retry_after_ms = nullptr, bool* idle = nullptr,
                               uint32_t* waited_ms = nullptr);
  // Loops RunOnce with a heartbeat thread until `stop` is set (or the fleet
  // goes idle with exit_when_idle). Failed calls (coordinator down or
  // restarting included) are retried with options.backoff, keeping the
  // device id, token and any task in flight; Run() returns Unavailable
  // ("the coordinator unreachable for ...") once they have failed for
  // backoff.max_outage_ms, and non-retryable errors at once.
  absl::Status Run(const std::atomic<bool>& stop);

  const AgentStats& stats() const { return stats_; }

 private:
  // A trained task on its way to the coordinator.
  struct PendingTask {
    DeviceTask task;
    std::string upload;  // encoded update
    TaskReport report;
    bool uploaded = false;  // uploaded, refused, or nothing to upload
  };

  // Downloads, trains and quantizes; fills `upload` and the report's
  // training fields.
  absl::Status Execute(const DeviceTask& task, TaskReport* report, std::string* upload);
  // Uploads (unless done) and reports pending_; clears it unless a call
  // failed transiently.
  absl::Status Deliver();
  // Says on options_.log that an outage is over, then resets `backoff`.
  void NoteRecovered(RetryBackoff& backoff);
  absl::StatusOr<std::string> ModelBytes(const DeviceTask& task, uint64_t* downloaded);

  FleetClient* client_;
  AgentOptions options_;
  AgentStats stats_;
  std::optional<PendingTask> pending_;
  uint64_t cached_version_ = 0;
  std::string cached_model_;
};

}  // namespace qfleet::device

#endif  // QFLEET_DEVICE_AGENT_H_
