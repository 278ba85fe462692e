#ifndef QFLEET_CLOUD_COORDINATOR_INTERNAL_H_
#define QFLEET_CLOUD_COORDINATOR_INTERNAL_H_

// Helpers the Coordinator's source files share (coordinator*.cc); not part
// of its interface.

#include <cstdint>

#include <nlohmann/json.hpp>

#include "absl/strings/string_view.h"
#include "cloud/store/records.h"

namespace qfleet::cloud::coordinator_internal {

// Whether a task's upload is a PTQ delta (set in its train config when the
// task is made or its strategy assigned).
inline bool UploadsDelta(const TaskRecord& task) {
  nlohmann::json j = nlohmann::json::parse(task.train_config_json, nullptr, false);
  return j.is_object() && j.value("upload_delta", false);
}

// splitmix64: a stable mix of (seed, round, device) for per-task seeds.
inline uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Whether a participant's status is final.
inline bool Terminal(absl::string_view status) {
  return status == "reported" || status == "rejected" || status == "dropped";
}

}  // namespace qfleet::cloud::coordinator_internal

#endif  // QFLEET_CLOUD_COORDINATOR_INTERNAL_H_
