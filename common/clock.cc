#include "common/clock.h"

#include <chrono>
#include <thread>

namespace qfleet {
namespace {

class RealClock final : public Clock {
 public:
  int64_t NowMs() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  void SleepMs(int64_t ms) override {
    if (ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  }
};

}  // namespace

Clock::~Clock() = default;

Clock* Clock::Real() {
  static RealClock* const clock = new RealClock();
  return clock;
}

int64_t FakeClock::NowMs() const {
  absl::MutexLock lock(&mu_);
  return now_ms_;
}

void FakeClock::SleepMs(int64_t ms) { Advance(ms); }

void FakeClock::Advance(int64_t ms) {
  if (ms <= 0) return;
  absl::MutexLock lock(&mu_);
  now_ms_ += ms;
}

}  // namespace qfleet
