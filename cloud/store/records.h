#ifndef QFLEET_CLOUD_STORE_RECORDS_H_
#define QFLEET_CLOUD_STORE_RECORDS_H_

// Plain rows of the coordinator database (cloud/store/migrations.cc has the
// schema). Times are Unix milliseconds; ids start at 1 and 0 means "none" or
// "assign one". Doubles round-trip bit-exactly except that every NaN reads
// back as the quiet NaN. No protobuf types here: the service adapters
// convert.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace qfleet::cloud {

struct DeviceRecord {
  uint64_t id = 0;
  std::string name;
  std::string token_hash;  // SHA-256 hex of the bearer token.
  double compute_gflops = 0;
  uint64_t memory_mib = 0;
  std::vector<uint32_t> lowbit_support;
  uint64_t uplink_kbps = 0, downlink_kbps = 0;
  double availability = 1;
  uint64_t sample_count = 0;
  std::vector<uint64_t> label_histogram;
  std::string agent_version;
  // active|offline|drained|revoked (no column change: the v1 schema stores
  // the state as free text).
  std::string state = "active";
  int64_t registered_ms = 0, last_seen_ms = 0;
  // The join token that enrolled the device (join_tokens.id); 0 when the
  // coordinator's shared join secret or open enrollment did. Only that
  // token may re-enroll the name without the device's current token.
  uint64_t enrolled_by = 0;
};

struct CampaignRecord {
  uint64_t id = 0;
  std::string config_json;
  uint64_t first_round = 0, last_round = 0;
  std::string state = "running";  // running|done|cancelled
  int64_t created_ms = 0;
};

struct RoundRecord {
  uint64_t round = 0;          // 1, 2, ...; chosen by the caller.
  uint64_t campaign_id = 0;    // 0 = not part of a campaign.
  std::string state = "open";  // open|aggregating|done|failed|cancelled
  uint64_t model_version_in = 0, model_version_out = 0;
  int64_t started_ms = 0, deadline_ms = 0, finished_ms = 0;
  double acc_fp32 = -1, acc_q8 = -1;  // -1 = not evaluated.
  uint64_t bytes_down = 0, bytes_up = 0;
  std::string detail;
  // Simulated duration of the round (slowest accepted participant's compute
  // plus transfer time from its profile), seconds; 0 = not simulated.
  double sim_seconds = 0;
  // Wall time the strategy selector spent planning this round, seconds.
  double selector_seconds = 0;
  // Test accuracy of the served (quantized) model; -1 = not evaluated.
  double acc_served = -1;
};

struct TaskRecord {
  uint64_t task_id = 0;
  uint64_t round = 0;
  uint64_t device_id = 0;
  std::string strategy;  // fp32|ptq|qat
  uint32_t weight_bits = 8, activation_bits = 0;
  uint64_t model_version = 0;
  std::string train_config_json;
  uint64_t plan_id = 0;  // 0 = none
  int64_t deadline_ms = 0;
  int64_t created_ms = 0;
};

struct ParticipantRecord {
  uint64_t round = 0;
  uint64_t device_id = 0;
  // assigned|pulled|uploaded|reported|rejected|dropped
  std::string status = "assigned";
  uint64_t task_id = 0;
  std::string detail;
};

struct PlanRecord {
  uint64_t plan_id = 0;
  uint64_t device_id = 0;
  uint64_t version = 0;  // 0 on insert = previous version for device + 1.
  std::string bytes;     // Packed plan (common/plan_codec.h).
  int64_t created_ms = 0;
  std::string method;        // "chord", ... ("" for plans from before v5)
  std::string input_sha256;  // hex SHA-256 of what the plan was made from
  std::string generator;     // id of the hypernetworks that made it
  uint64_t model_version = 0;  // the model whose channels it describes
};

struct UpdateRecord {
  uint64_t update_id = 0;
  uint64_t round = 0;
  uint64_t device_id = 0;
  uint64_t task_id = 0;
  std::string request_id;
  std::string blob_hash;  // SHA-256 hex of the update in the BlobStore.
  uint64_t sample_count = 0;
  uint64_t bytes = 0;
  int64_t received_ms = 0;
};

// The kept prefix of an upload whose stream broke, so the device can resume
// it. Keyed by (device_id, task_id, request_id); its bytes live in
// upload_chunks rows (offset, data), gapless from 0 to committed_bytes.
struct PartialUploadRecord {
  uint64_t id = 0;
  uint64_t device_id = 0;
  uint64_t task_id = 0;
  std::string request_id;
  // The header the upload started with; a resume must repeat it.
  uint64_t total_bytes = 0;
  std::string sha256;  // hex, of the whole update
  uint64_t sample_count = 0;
  uint64_t committed_bytes = 0;
  int64_t updated_ms = 0;  // last append
};

struct ReportRecord {
  uint64_t round = 0;
  uint64_t device_id = 0;
  uint64_t task_id = 0;
  std::string request_id;
  double train_loss = 0, train_accuracy = 0, compute_seconds = 0,
         quantize_seconds = 0;
  uint64_t bytes_down = 0, bytes_up = 0, steps = 0;
  std::map<std::string, double> metrics;
  std::string error;  // Non-empty: the device could not complete the task.
  int64_t created_ms = 0;
};

struct ModelVersionRecord {
  uint64_t version = 0;
  std::string blob_hash;  // SHA-256 hex of the container in the BlobStore.
  uint64_t bytes = 0;
  uint64_t round = 0;  // Round that produced it; 0 = initial model.
  double acc_fp32 = -1, acc_q8 = -1;  // -1 = not evaluated.
  int64_t created_ms = 0;
  bool pinned = false;     // kept by the retention policy whatever its age
  int64_t pruned_ms = 0;   // when retention deleted its blob; 0 = kept
};

// An enrollment (join) token minted by an admin. Only the SHA-256 of the
// secret is stored; the secret itself is shown once, at creation.
struct JoinTokenRecord {
  uint64_t id = 0;         // 1, 2, ...; assigned on insert.
  std::string token_hash;  // SHA-256 hex of the secret.
  std::string label;       // Free text naming what the token is for.
  int64_t created_ms = 0;
  int64_t expires_ms = 0;  // 0 = never expires.
  uint64_t max_uses = 0;   // New devices it may enroll; 0 = unlimited.
  uint64_t uses = 0;       // New devices it has enrolled.
  int64_t revoked_ms = 0;  // 0 = not revoked.
};

}  // namespace qfleet::cloud

#endif  // QFLEET_CLOUD_STORE_RECORDS_H_
