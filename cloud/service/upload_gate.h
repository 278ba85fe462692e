#ifndef QFLEET_CLOUD_SERVICE_UPLOAD_GATE_H_
#define QFLEET_CLOUD_SERVICE_UPLOAD_GATE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "common/clock.h"

namespace qfleet::cloud {

// Admission of upload streams (issue 23, bounded resources): at most one
// stream in flight per device, at most `max_inflight_bytes` announced bytes
// in flight over all streams, and no stream open longer than
// `stream_timeout_ms` (a watchdog cancels it: the stream then ends like a
// broken one and its verified prefix is kept for resuming). Nothing is
// buffered for a stream the gate refuses. Thread-safe.
class UploadGate {
 public:
  // Releases the admission when destroyed. Movable, not copyable.
  class Ticket {
   public:
    Ticket() = default;
    Ticket(Ticket&& other) noexcept : gate_(other.gate_), id_(other.id_) { other.gate_ = nullptr; }
    Ticket& operator=(Ticket&& other) noexcept;
    Ticket(const Ticket&) = delete;
    Ticket& operator=(const Ticket&) = delete;
    ~Ticket();

   private:
    friend class UploadGate;
    Ticket(UploadGate* gate, uint64_t id) : gate_(gate), id_(id) {}
    UploadGate* gate_ = nullptr;
    uint64_t id_ = 0;
  };

  // `clock` is not owned (nullptr = the real clock). The watchdog runs
  // every `watchdog_period_ms` (0 = no thread; call CancelOverdue).
  UploadGate(uint64_t max_inflight_bytes, int64_t stream_timeout_ms, Clock* clock = nullptr,
             int64_t watchdog_period_ms = 1000, int64_t same_device_wait_ms = 1000);
  ~UploadGate();
  UploadGate(const UploadGate&) = delete;
  UploadGate& operator=(const UploadGate&) = delete;

  // Admits a stream of `bytes` announced bytes from `device_id`; `cancel`
  // ends the stream when it overruns the timeout (e.g. ServerContext::
  // TryCancel; called with the gate's lock held, so it must not block or
  // call back into the gate). When the device's previous stream is still in flight, waits
  // up to `same_device_wait_ms` for it to end (a client resuming right after
  // a cut meets its old stream still closing). ResourceExhausted when the
  // device still has a stream in flight or the byte budget would be
  // exceeded (the message says which and that a retry later works).
  absl::StatusOr<Ticket> Admit(uint64_t device_id, uint64_t bytes, std::function<void()> cancel);
  // Cancels every stream admitted more than stream_timeout_ms ago (once
  // each); returns how many.
  int CancelOverdue();
  // Streams and announced bytes in flight now.
  size_t streams() const;
  uint64_t inflight_bytes() const;

 private:
  struct Entry {
    uint64_t device_id = 0;
    uint64_t bytes = 0;
    int64_t started_ms = 0;
    bool cancelled = false;
    std::function<void()> cancel;
  };
  void Release(uint64_t id);

  const uint64_t max_inflight_bytes_;
  const int64_t stream_timeout_ms_;
  const int64_t same_device_wait_ms_;
  Clock* clock_;
  mutable absl::Mutex mu_;
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t inflight_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<uint64_t, Entry> entries_ ABSL_GUARDED_BY(mu_);
  std::map<uint64_t, uint64_t> by_device_ ABSL_GUARDED_BY(mu_);
  absl::Notification stop_;
  std::thread watchdog_;
};

}  // namespace qfleet::cloud

#endif  // QFLEET_CLOUD_SERVICE_UPLOAD_GATE_H_
