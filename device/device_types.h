#ifndef QFLEET_DEVICE_DEVICE_TYPES_H_
#define QFLEET_DEVICE_DEVICE_TYPES_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace qfleet::device {

// What the agent measured about its device (fleet.v1.DeviceProfile).
struct DeviceProfile {
  double compute_gflops = 0;
  uint64_t memory_mib = 0;
  std::vector<uint32_t> lowbit_support;
  uint64_t uplink_kbps = 0;
  uint64_t downlink_kbps = 0;
  double availability = 1;
};

struct RegisterInfo {
  std::string device_name;
  DeviceProfile profile;
  uint64_t sample_count = 0;
  std::vector<uint64_t> label_histogram;
  std::string join_secret;
  std::string agent_version;
  // The device's current bearer token, to re-register its own name (empty:
  // FleetClient sends the token it holds from an earlier Register, if any).
  std::string current_token;
};

// One task as the device sees it (fleet.v1.Task).
struct DeviceTask {
  uint64_t task_id = 0;
  uint64_t round = 0;
  std::string strategy;  // fp32 | ptq | qat | eval
  uint32_t weight_bits = 8;
  uint32_t activation_bits = 0;
  uint64_t model_version = 0;
  uint64_t model_bytes = 0;
  std::string model_sha256;
  uint32_t local_epochs = 1;
  uint32_t batch_size = 32;
  float learning_rate = 0.05f;
  uint32_t max_steps = 0;
  uint64_t seed = 1;
  std::string precision_plan;
  int64_t deadline_ms = 0;
  // strategy "eval": fp32 | rtnB | static | chord-mean | chord, and the
  // average bits to decode a plan for (0 = the device's own budget).
  std::string eval_method;
  double budget_bits = 0;
  // strategy "ptq": upload the quantized change from the downloaded model
  // instead of the quantized local model.
  bool upload_delta = false;
  // strategy "qat": the served model's activation steps from the
  // coordinator (one per activation point); empty = calibrate locally.
  std::vector<double> activation_steps;
  // PTQ: run the quantization-gap check and report "quant_gap".
  bool report_quant_gap = false;
};

// A CHORD plan as RequestPlan returns it (fleet.v1.PlanResponse).
struct DevicePlan {
  std::string bytes;
  uint64_t plan_version = 0;
  uint64_t model_version = 0;
  std::vector<int> tier_bits;  // empty: decode for the budget
  std::vector<double> tier_importance;  // empty: the device's own decoder weights
  bool cached = false;
  double generation_us = 0;
};

struct PullResult {
  std::optional<DeviceTask> task;
  uint32_t retry_after_ms = 200;
  bool fleet_idle = false;
  // Milliseconds the coordinator held a long-poll; 0 = it answered at once
  // (then wait retry_after_ms before pulling again).
  uint32_t waited_ms = 0;
};

// What the device reports after a task (fleet.v1.Report).
struct TaskReport {
  uint64_t task_id = 0;
  std::string request_id;
  double train_loss = 0;
  double train_accuracy = 0;
  double compute_seconds = 0;
  double quantize_seconds = 0;
  uint64_t bytes_down = 0;
  uint64_t bytes_up = 0;
  uint64_t steps = 0;
  std::map<std::string, double> metrics;
  std::string error;
};

}  // namespace qfleet::device

#endif  // QFLEET_DEVICE_DEVICE_TYPES_H_
