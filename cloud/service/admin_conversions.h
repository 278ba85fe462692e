#ifndef QFLEET_CLOUD_SERVICE_ADMIN_CONVERSIONS_H_
#define QFLEET_CLOUD_SERVICE_ADMIN_CONVERSIONS_H_

#include "cloud/campaign_config.h"
#include "cloud/store/records.h"
#include "qfleet/admin/v1/admin.pb.h"

namespace qfleet::cloud {

// Generated admin.v1 types stop here.
admin::v1::DeviceInfo DeviceToProto(const DeviceRecord& d, int64_t now_ms, int64_t lease_ms);
admin::v1::RoundInfo RoundToProto(const RoundRecord& r, uint64_t participants, uint64_t updates,
                                  uint64_t reports);
admin::v1::ParticipantInfo ParticipantToProto(const ParticipantRecord& p, const TaskRecord* task);
admin::v1::ReportInfo ReportToProto(const ReportRecord& r);
admin::v1::JoinTokenInfo JoinTokenToProto(const JoinTokenRecord& t, int64_t now_ms);
admin::v1::ModelVersionInfo ModelVersionToProto(const ModelVersionRecord& m);
CampaignConfig CampaignFromProto(const admin::v1::CampaignConfig& c);
admin::v1::CampaignConfig CampaignToProto(const CampaignConfig& c);

}  // namespace qfleet::cloud

#endif  // QFLEET_CLOUD_SERVICE_ADMIN_CONVERSIONS_H_
