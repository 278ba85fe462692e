#ifndef QFLEET_CLOUD_SERVICE_FLEET_CONVERSIONS_H_
#define QFLEET_CLOUD_SERVICE_FLEET_CONVERSIONS_H_

#include "absl/status/statusor.h"
#include "cloud/coordinator.h"
#include "qfleet/fleet/v1/fleet.pb.h"

namespace qfleet::cloud {

// Generated fleet.v1 types stop here: these turn them into store records
// and back. Conversions that can fail return InvalidArgument naming the field.
DeviceRecord DeviceFromRegister(const fleet::v1::RegisterRequest& req);
absl::StatusOr<fleet::v1::Task> TaskToProto(const PulledTask& pulled);
ReportRecord ReportFromProto(const fleet::v1::Report& report);
UploadHeader UploadHeaderFromProto(const fleet::v1::UpdateChunk::Header& header);
fleet::v1::UploadStatusResponse UploadProgressToProto(const UploadProgress& progress);
absl::StatusOr<fleet::v1::Strategy> StrategyToProto(absl::string_view strategy);

}  // namespace qfleet::cloud

#endif  // QFLEET_CLOUD_SERVICE_FLEET_CONVERSIONS_H_
