#include "cloud/store/record_checks.h"

#include <initializer_list>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace qfleet::cloud {
namespace {

absl::Status CheckOneOf(absl::string_view value, absl::string_view field,
                        std::initializer_list<absl::string_view> allowed) {
  for (absl::string_view candidate : allowed) {
    if (value == candidate) return absl::OkStatus();
  }
  return absl::InvalidArgumentError(
      absl::StrCat(field, " must be one of ", absl::StrJoin(allowed, "|"),
                   ", got '", value.substr(0, 64), "'"));
}

}  // namespace

absl::Status CheckDeviceState(absl::string_view state) {
  return CheckOneOf(state, "device state", {"active", "offline", "drained", "revoked"});
}

absl::Status CheckParticipantStatus(absl::string_view status) {
  return CheckOneOf(
      status, "participant status",
      {"assigned", "pulled", "uploaded", "reported", "rejected", "dropped"});
}

absl::Status CheckDevice(const DeviceRecord& record) {
  if (record.name.empty()) {
    return absl::InvalidArgumentError("device name must not be empty");
  }
  return CheckDeviceState(record.state);
}

absl::Status CheckCampaign(const CampaignRecord& record) {
  return CheckOneOf(record.state, "campaign state",
                    {"running", "done", "cancelled"});
}

absl::Status CheckRound(const RoundRecord& record) {
  if (record.round == 0) {
    return absl::InvalidArgumentError("round numbers start at 1");
  }
  return CheckOneOf(record.state, "round state",
                    {"open", "aggregating", "done", "failed", "cancelled"});
}

absl::Status CheckTask(const TaskRecord& record) {
  if (record.device_id == 0) {
    return absl::InvalidArgumentError("task device_id must not be 0");
  }
  return CheckOneOf(record.strategy, "task strategy", {"fp32", "ptq", "qat", "eval"});
}

absl::Status CheckModelVersion(const ModelVersionRecord& record) {
  if (record.version == 0) {
    return absl::InvalidArgumentError("model versions start at 1");
  }
  return absl::OkStatus();
}

absl::Status ExplainIf(absl::Status status, absl::StatusCode code,
                       absl::string_view message) {
  if (status.code() != code) return status;
  return absl::Status(code, absl::StrCat(message, " (", status.message(), ")"));
}

}  // namespace qfleet::cloud
