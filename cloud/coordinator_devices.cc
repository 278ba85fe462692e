// Coordinator: the admin side of the device lifecycle (revoke, drain,
// enable) and the fleet gauges. Enrollment and authentication are in
// coordinator.cc.

#include "absl/strings/str_format.h"
#include "cloud/coordinator.h"
#include "common/status_macros.h"

namespace qfleet::cloud {

absl::StatusOr<DeviceRecord> Coordinator::RevokeDevice(uint64_t device_id) {
  DeviceRecord device;
  RETURN_IF_ERROR(store_->RunInTransaction([&]() -> absl::Status {
    ASSIGN_OR_RETURN(device, store_->GetDevice(device_id));
    if (device.state == "revoked") return absl::OkStatus();
    device.state = "revoked";
    RETURN_IF_ERROR(store_->UpdateDevice(device));
    // The device can no longer upload or report: drop it from an open round
    // now instead of letting the round wait for its deadline.
    ASSIGN_OR_RETURN(std::optional<TaskRecord> task, store_->OpenTaskForDevice(device_id));
    if (task.has_value()) {
      RETURN_IF_ERROR(
          store_->SetParticipantStatus(task->round, device_id, "dropped", "device revoked"));
    }
    return absl::OkStatus();
  }));
  return device;
}

absl::StatusOr<DeviceRecord> Coordinator::DrainDevice(uint64_t device_id) {
  DeviceRecord device;
  RETURN_IF_ERROR(store_->RunInTransaction([&]() -> absl::Status {
    ASSIGN_OR_RETURN(device, store_->GetDevice(device_id));
    if (device.state == "revoked") {
      return absl::FailedPreconditionError(
          absl::StrFormat("device %d is revoked; enable it before draining", device_id));
    }
    if (device.state == "drained") return absl::OkStatus();
    device.state = "drained";
    return store_->UpdateDevice(device);
  }));
  return device;
}

absl::StatusOr<DeviceRecord> Coordinator::EnableDevice(uint64_t device_id) {
  DeviceRecord device;
  RETURN_IF_ERROR(store_->RunInTransaction([&]() -> absl::Status {
    ASSIGN_OR_RETURN(device, store_->GetDevice(device_id));
    if (device.state == "drained") {
      device.state = "active";
    } else if (device.state == "revoked") {
      // The revoked token must never work again: the device re-registers.
      device.state = "offline";
      device.token_hash.clear();
    } else {
      return absl::OkStatus();
    }
    return store_->UpdateDevice(device);
  }));
  return device;
}

absl::StatusOr<FleetGauges> Coordinator::Gauges() {
  FleetGauges g;
  RETURN_IF_ERROR(FlushLastSeen());
  ASSIGN_OR_RETURN(std::vector<DeviceRecord> devices, store_->ListDevices());
  const int64_t now = clock_->NowMs();
  g.devices_registered = devices.size();
  for (const DeviceRecord& d : devices) {
    g.devices_online += d.state == "active" && now - d.last_seen_ms <= options_.lease_ms;
  }
  ASSIGN_OR_RETURN(std::vector<RoundRecord> rounds, store_->ListRounds());
  for (const RoundRecord& r : rounds) {
    g.rounds_completed += r.state == "done";
    g.rounds_cancelled += r.state == "cancelled";
    g.rounds_failed += r.state == "failed";
  }
  ASSIGN_OR_RETURN(std::vector<JoinTokenRecord> tokens, store_->ListJoinTokens());
  for (const JoinTokenRecord& t : tokens) {
    ++g.join_tokens[JoinTokenState(t, now)];
    g.join_token_enrollments += t.uses;
  }
  return g;
}

}  // namespace qfleet::cloud
