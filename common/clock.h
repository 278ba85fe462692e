#ifndef QFLEET_COMMON_CLOCK_H_
#define QFLEET_COMMON_CLOCK_H_

#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace qfleet {

// Time source injected into everything that reads the time or waits, so
// tests can use FakeClock and run deterministically.
class Clock {
 public:
  virtual ~Clock();

  // Current time in milliseconds since the Unix epoch (wall clock for
  // Real(); a FakeClock's own counter otherwise). Thread-safe.
  virtual int64_t NowMs() const = 0;
  // Blocks the caller for `ms` milliseconds (Real()) or advances the fake
  // time by `ms` without blocking (FakeClock). ms <= 0 returns at once.
  // Thread-safe.
  virtual void SleepMs(int64_t ms) = 0;

  // The process-wide system clock. Never null, never deleted; thread-safe.
  static Clock* Real();
};

// Manually driven clock for tests. All methods are thread-safe.
class FakeClock : public Clock {
 public:
  explicit FakeClock(int64_t start_ms = 0) : now_ms_(start_ms) {}

  int64_t NowMs() const override;
  // Advances the time by ms (if positive) and returns immediately.
  void SleepMs(int64_t ms) override;
  // Moves the time forward by `ms`; negative values are ignored (time never
  // goes backwards).
  void Advance(int64_t ms);

 private:
  mutable absl::Mutex mu_;
  int64_t now_ms_ ABSL_GUARDED_BY(mu_);
};

}  // namespace qfleet

#endif  // QFLEET_COMMON_CLOCK_H_
