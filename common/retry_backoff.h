#ifndef QFLEET_COMMON_RETRY_BACKOFF_H_
#define QFLEET_COMMON_RETRY_BACKOFF_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/clock.h"
#include "common/seeded_random.h"

namespace qfleet {

// How a client waits between retries while its server is unreachable.
struct BackoffOptions {
  // First wait after a failure, milliseconds; each further failure in a row
  // multiplies it by `multiplier`, up to `max_ms`.
  int64_t initial_ms = 100;
  int64_t max_ms = 10000;
  double multiplier = 2.0;
  // Each wait is drawn uniformly from [(1 - jitter) * d, d], d the capped
  // exponential delay; 0 = no jitter. In [0, 1].
  double jitter = 0.5;
  // Give up once failures have lasted this long without a success
  // (milliseconds of the injected clock); 0 = never give up.
  int64_t max_outage_ms = 10 * 60 * 1000;
};

// Whether a failed call may work when retried unchanged: Unavailable
// (connection refused or lost, server restarting), DeadlineExceeded,
// ResourceExhausted and Aborted. Everything else needs a decision.
bool IsTransient(const absl::Status& status);

// "10m", "90s", "1h30m" or "0" (never) as milliseconds (absl::ParseDuration
// syntax). InvalidArgument for anything else or a negative duration; `flag`
// names the option in the message.
absl::StatusOr<int64_t> ParseOutageMs(absl::string_view text, absl::string_view flag);

// Capped exponential backoff with jitter over one outage: the run of
// failures since the last success. Deterministic for a clock and a seed
// (FakeClock in tests). Not thread-safe; one per retry loop.
class RetryBackoff {
 public:
  // `clock` is not owned and must outlive the backoff; nullptr = the real
  // clock. `seed` drives the jitter.
  RetryBackoff(BackoffOptions options, Clock* clock, uint64_t seed);

  // Records a failure with `status` and returns how long to wait before the
  // next try, in milliseconds. Once failures have lasted max_outage_ms,
  // returns Unavailable instead: "<what> unreachable for <duration> (limit
  // <max>); last error: <status>", and keeps returning it until Reset().
  absl::StatusOr<int64_t> NextDelayMs(const absl::Status& status, absl::string_view what);
  // Records a success: the next failure starts a new outage at initial_ms.
  void Reset();
  // Milliseconds since the first failure of the current outage; 0 when
  // none is in progress.
  int64_t OutageMs() const;
  // Failures recorded in the current outage.
  int failures() const { return failures_; }
  const BackoffOptions& options() const { return options_; }

 private:
  BackoffOptions options_;
  Clock* clock_;
  SeededRandom random_;
  int failures_ = 0;
  int64_t outage_start_ms_ = 0;
  double delay_ms_ = 0;
};

}  // namespace qfleet

#endif  // QFLEET_COMMON_RETRY_BACKOFF_H_
