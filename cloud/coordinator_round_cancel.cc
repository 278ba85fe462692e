// Coordinator: an admin cancelling an open round. The round engine and the
// upload/report paths that honour the cancellation are in coordinator.cc.

#include "absl/strings/str_format.h"
#include "cloud/coordinator.h"
#include "common/status_macros.h"

namespace qfleet::cloud {

absl::Status Coordinator::CheckNotCancelled(const RoundRecord& round, absl::string_view what) {
  if (round.state != "cancelled") return absl::OkStatus();
  return absl::FailedPreconditionError(
      absl::StrFormat("round %d was cancelled by an admin; %s not accepted", round.round, what));
}

absl::StatusOr<RoundRecord> Coordinator::CancelRound(uint64_t number, absl::string_view reason) {
  if (reason.size() > 1024) {
    return absl::InvalidArgumentError("cancellation reason is longer than 1024 bytes");
  }
  // round_mu_ orders the cancellation against uploads, reports and the
  // engine closing the round: each re-reads the state under it.
  absl::MutexLock lock(&round_mu_);
  RoundRecord round;
  RETURN_IF_ERROR(store_->RunInTransaction([&]() -> absl::Status {
    absl::StatusOr<RoundRecord> found = store_->GetRound(number);
    if (absl::IsNotFound(found.status())) {
      return absl::NotFoundError(absl::StrFormat("round %d does not exist", number));
    }
    RETURN_IF_ERROR(found.status());
    round = *std::move(found);
    if (round.state != "open") {
      return absl::FailedPreconditionError(absl::StrFormat(
          "round %d is %s; only an open round can be cancelled", number, round.state));
    }
    ASSIGN_OR_RETURN(std::vector<ParticipantRecord> participants,
                     store_->ListParticipants(number));
    for (const ParticipantRecord& p : participants) {
      if (p.status == "assigned" || p.status == "pulled") {
        RETURN_IF_ERROR(
            store_->SetParticipantStatus(number, p.device_id, "dropped", "round cancelled"));
      }
    }
    round.state = "cancelled";
    round.detail = reason.empty() ? "cancelled by an admin"
                                  : absl::StrFormat("cancelled by an admin: %s", reason);
    round.finished_ms = clock_->NowMs();
    return store_->UpdateRound(round);
  }));
  NotifyStateChanged();
  return round;
}

}  // namespace qfleet::cloud
