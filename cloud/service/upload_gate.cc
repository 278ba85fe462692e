#include "cloud/service/upload_gate.h"

#include <utility>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/time/time.h"

namespace qfleet::cloud {

UploadGate::Ticket& UploadGate::Ticket::operator=(Ticket&& other) noexcept {
  if (this != &other) {
    if (gate_ != nullptr) gate_->Release(id_);
    gate_ = other.gate_;
    id_ = other.id_;
    other.gate_ = nullptr;
  }
  return *this;
}

UploadGate::Ticket::~Ticket() {
  if (gate_ != nullptr) gate_->Release(id_);
}

UploadGate::UploadGate(uint64_t max_inflight_bytes, int64_t stream_timeout_ms, Clock* clock,
                       int64_t watchdog_period_ms, int64_t same_device_wait_ms)
    : max_inflight_bytes_(max_inflight_bytes),
      stream_timeout_ms_(stream_timeout_ms),
      same_device_wait_ms_(same_device_wait_ms),
      clock_(clock != nullptr ? clock : Clock::Real()) {
  if (watchdog_period_ms > 0) {
    watchdog_ = std::thread([this, watchdog_period_ms] {
      while (!stop_.WaitForNotificationWithTimeout(absl::Milliseconds(watchdog_period_ms))) {
        CancelOverdue();
      }
    });
  }
}

UploadGate::~UploadGate() {
  stop_.Notify();
  if (watchdog_.joinable()) watchdog_.join();
}

absl::StatusOr<UploadGate::Ticket> UploadGate::Admit(uint64_t device_id, uint64_t bytes,
                                                     std::function<void()> cancel) {
  absl::MutexLock lock(&mu_);
  if (by_device_.count(device_id) > 0 && same_device_wait_ms_ > 0) {
    auto free = [this, device_id]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return by_device_.count(device_id) == 0;
    };
    mu_.AwaitWithTimeout(absl::Condition(&free), absl::Milliseconds(same_device_wait_ms_));
  }
  if (by_device_.count(device_id) > 0) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "device %d already has an upload in flight; one at a time (resume this one after the "
        "other ends: UploadStatus)",
        device_id));
  }
  if (bytes > max_inflight_bytes_ || inflight_bytes_ > max_inflight_bytes_ - bytes) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "the coordinator has %d bytes of uploads in flight (limit %d); retry later",
        inflight_bytes_, max_inflight_bytes_));
  }
  const uint64_t id = next_id_++;
  Entry e;
  e.device_id = device_id;
  e.bytes = bytes;
  e.started_ms = clock_->NowMs();
  e.cancel = std::move(cancel);
  entries_.emplace(id, std::move(e));
  by_device_[device_id] = id;
  inflight_bytes_ += bytes;
  return Ticket(this, id);
}

void UploadGate::Release(uint64_t id) {
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(id);
  if (it == entries_.end()) return;
  inflight_bytes_ -= it->second.bytes;
  by_device_.erase(it->second.device_id);
  entries_.erase(it);
}

int UploadGate::CancelOverdue() {
  // Under the lock: a stream's ticket (and the context `cancel` reaches)
  // cannot be released meanwhile. `cancel` must not block or call back into
  // the gate (ServerContext::TryCancel does neither).
  absl::MutexLock lock(&mu_);
  const int64_t now = clock_->NowMs();
  int cancelled = 0;
  for (auto& [id, e] : entries_) {
    if (!e.cancelled && now - e.started_ms > stream_timeout_ms_) {
      e.cancelled = true;
      if (e.cancel) e.cancel();
      ++cancelled;
    }
  }
  return cancelled;
}

size_t UploadGate::streams() const {
  absl::MutexLock lock(&mu_);
  return entries_.size();
}

uint64_t UploadGate::inflight_bytes() const {
  absl::MutexLock lock(&mu_);
  return inflight_bytes_;
}

}  // namespace qfleet::cloud
