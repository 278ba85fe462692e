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
    RETURN_IF_ERROR(DropOpenTask(device_id, "device revoked"));
    // A per-device join token (one use, spent on this device) would enroll
    // nothing else: it goes with its device, so it cannot re-enroll the name.
    if (device.enrolled_by != 0) {
      ASSIGN_OR_RETURN(JoinTokenRecord token, store_->GetJoinToken(device.enrolled_by));
      if (token.max_uses == 1 && token.revoked_ms == 0) {
        token.revoked_ms = clock_->NowMs();
        RETURN_IF_ERROR(store_->UpdateJoinToken(token));
      }
    }
    return absl::OkStatus();
  }));
  return device;
}

absl::Status Coordinator::DropOpenTask(uint64_t device_id, absl::string_view why) {
  // Pulled or not, uploaded or not: a participant of the open round that
  // has not finished is dropped, so its update does not count and the round
  // does not wait for its report.
  ASSIGN_OR_RETURN(std::optional<RoundRecord> round, store_->LatestRound());
  if (!round.has_value() || round->state != "open") return absl::OkStatus();
  ASSIGN_OR_RETURN(std::vector<ParticipantRecord> participants,
                   store_->ListParticipants(round->round));
  for (const ParticipantRecord& p : participants) {
    if (p.device_id != device_id) continue;
    if (p.status != "assigned" && p.status != "pulled" && p.status != "uploaded") break;
    return store_->SetParticipantStatus(round->round, device_id, "dropped", std::string(why));
  }
  return absl::OkStatus();
}

absl::StatusOr<DeviceRecord> Coordinator::ResetDevice(uint64_t device_id) {
  DeviceRecord device;
  RETURN_IF_ERROR(store_->RunInTransaction([&]() -> absl::Status {
    ASSIGN_OR_RETURN(device, store_->GetDevice(device_id));
    if (device.state == "revoked") {
      return absl::FailedPreconditionError(absl::StrFormat(
          "device %d is revoked; enable it (qfleetctl devices enable %d), which also clears its "
          "token",
          device_id, device_id));
    }
    device.token_hash.clear();
    if (device.state != "drained") device.state = "offline";
    RETURN_IF_ERROR(store_->UpdateDevice(device));
    return DropOpenTask(device_id, "device reset by an admin");
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
