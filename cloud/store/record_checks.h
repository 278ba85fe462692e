#ifndef QFLEET_CLOUD_STORE_RECORD_CHECKS_H_
#define QFLEET_CLOUD_STORE_RECORD_CHECKS_H_

// Validation of records before CoordinatorStore writes them. Each returns
// InvalidArgument naming the field and the allowed values. Thread-safe.

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "cloud/store/records.h"

namespace qfleet::cloud {

absl::Status CheckDeviceState(absl::string_view state);
absl::Status CheckParticipantStatus(absl::string_view status);
absl::Status CheckDevice(const DeviceRecord& record);
absl::Status CheckCampaign(const CampaignRecord& record);
absl::Status CheckRound(const RoundRecord& record);
absl::Status CheckTask(const TaskRecord& record);
absl::Status CheckModelVersion(const ModelVersionRecord& record);

// Returns `status` with `message` in front when its code is `code` (to turn
// "UNIQUE constraint failed: devices.name" into something a caller can act
// on); any other status is returned unchanged.
absl::Status ExplainIf(absl::Status status, absl::StatusCode code,
                       absl::string_view message);

}  // namespace qfleet::cloud

#endif  // QFLEET_CLOUD_STORE_RECORD_CHECKS_H_
