// Coordinator: long-polls. Devices wait in PullTask for their next task and
// the campaign driver waits in WaitForStateChange for rounds to move, both on
// one version of the round state that the round engine and the admin
// operations bump; nobody polls.

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "cloud/coordinator.h"
#include "common/status_macros.h"

namespace qfleet::cloud {
namespace {

// A waiter re-checks its caller's cancellation this often (the gRPC call
// may be cancelled or the server shut down while it waits).
constexpr absl::Duration kCancelCheck = absl::Milliseconds(200);

}  // namespace

void Coordinator::NotifyStateChanged() {
  absl::MutexLock lock(&wait_mu_);
  ++state_version_;
  wait_cv_.SignalAll();
}

uint64_t Coordinator::StateVersion() {
  absl::MutexLock lock(&wait_mu_);
  return state_version_;
}

int Coordinator::waiters() {
  absl::MutexLock lock(&wait_mu_);
  return waiters_;
}

void Coordinator::ShutdownWaiters() {
  absl::MutexLock lock(&wait_mu_);
  waits_shut_down_ = true;
  wait_cv_.SignalAll();
}

bool Coordinator::EnterWait() {
  absl::MutexLock lock(&wait_mu_);
  if (waits_shut_down_ || waiters_ >= options_.max_waiters) return false;
  ++waiters_;
  return true;
}

void Coordinator::LeaveWait() {
  absl::MutexLock lock(&wait_mu_);
  --waiters_;
}

uint64_t Coordinator::AwaitVersionChange(uint64_t known, absl::Time deadline,
                                         const std::function<bool()>& cancelled) {
  absl::MutexLock lock(&wait_mu_);
  while (state_version_ == known && !waits_shut_down_) {
    const absl::Time now = absl::Now();
    if (now >= deadline) break;
    if (cancelled && cancelled()) break;
    wait_cv_.WaitWithDeadline(&wait_mu_, std::min(deadline, now + kCancelCheck));
  }
  return state_version_;
}

absl::Status Coordinator::NoteRoundState() {
  ASSIGN_OR_RETURN(std::optional<RoundRecord> latest, store_->LatestRound());
  ASSIGN_OR_RETURN(std::optional<CampaignRecord> campaign, store_->ActiveCampaign());
  std::string signature =
      absl::StrCat(latest.has_value() ? latest->round : 0, ":",
                   latest.has_value() ? latest->state : "", ":",
                   campaign.has_value() ? campaign->id : 0);
  if (signature != round_signature_) {
    round_signature_ = std::move(signature);
    NotifyStateChanged();
  }
  return absl::OkStatus();
}

absl::StatusOr<PulledTask> Coordinator::PullTask(uint64_t device_id, int64_t wait_ms,
                                                 const std::function<bool()>& cancelled) {
  const absl::Time start = absl::Now();
  uint64_t version = StateVersion();  // before the pull: a change after it wakes us
  ASSIGN_OR_RETURN(PulledTask pulled, PullTask(device_id));
  if (pulled.task.has_value() || wait_ms <= 0 || !EnterWait()) return pulled;
  const absl::Time deadline =
      start + absl::Milliseconds(std::min<int64_t>(wait_ms, options_.max_wait_ms));
  const bool idle_at_start = pulled.fleet_idle;
  absl::Status status = absl::OkStatus();
  for (;;) {
    const uint64_t now_version = AwaitVersionChange(version, deadline, cancelled);
    if (now_version == version) break;  // the wait is over, cancelled or shut down
    version = now_version;
    absl::StatusOr<PulledTask> again = PullTask(device_id);
    if (!again.ok()) {
      status = again.status();
      break;
    }
    pulled = *std::move(again);
    if (pulled.task.has_value() || pulled.fleet_idle != idle_at_start) break;
  }
  LeaveWait();
  RETURN_IF_ERROR(status);
  pulled.waited_ms = static_cast<uint32_t>(
      std::max<int64_t>(0, absl::ToInt64Milliseconds(absl::Now() - start)));
  return pulled;
}

uint64_t Coordinator::WaitForStateChange(uint64_t known, int64_t wait_ms,
                                         const std::function<bool()>& cancelled) {
  const absl::Time start = absl::Now();
  if (known == 0 || wait_ms <= 0 || known != StateVersion() || !EnterWait()) {
    return StateVersion();
  }
  const uint64_t version = AwaitVersionChange(
      known, start + absl::Milliseconds(std::min<int64_t>(wait_ms, options_.max_wait_ms)),
      cancelled);
  LeaveWait();
  return version;
}

}  // namespace qfleet::cloud
