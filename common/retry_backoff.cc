#include "common/retry_backoff.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"

namespace qfleet {

bool IsTransient(const absl::Status& status) {
  return absl::IsUnavailable(status) || absl::IsDeadlineExceeded(status) ||
         absl::IsResourceExhausted(status) || absl::IsAborted(status);
}

absl::StatusOr<int64_t> ParseOutageMs(absl::string_view text, absl::string_view flag) {
  absl::Duration d;
  if (text == "0") return 0;
  if (!absl::ParseDuration(std::string(text), &d) || d < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s '%s' is not a duration such as 10m, 90s or 1h (0 = never give up)", flag, text));
  }
  return absl::ToInt64Milliseconds(d);
}

RetryBackoff::RetryBackoff(BackoffOptions options, Clock* clock, uint64_t seed)
    : options_(options), clock_(clock != nullptr ? clock : Clock::Real()), random_(seed) {
  options_.initial_ms = std::max<int64_t>(1, options_.initial_ms);
  options_.max_ms = std::max(options_.initial_ms, options_.max_ms);
  options_.multiplier = std::max(1.0, options_.multiplier);
  options_.jitter = std::clamp(options_.jitter, 0.0, 1.0);
}

absl::StatusOr<int64_t> RetryBackoff::NextDelayMs(const absl::Status& status,
                                                  absl::string_view what) {
  const int64_t now = clock_->NowMs();
  if (failures_ == 0) {
    outage_start_ms_ = now;
    delay_ms_ = static_cast<double>(options_.initial_ms);
  } else {
    delay_ms_ = std::min(delay_ms_ * options_.multiplier, static_cast<double>(options_.max_ms));
  }
  ++failures_;
  const int64_t outage = now - outage_start_ms_;
  if (options_.max_outage_ms > 0 && outage >= options_.max_outage_ms) {
    return absl::UnavailableError(absl::StrCat(
        what, " unreachable for ", absl::FormatDuration(absl::Milliseconds(outage)), " (limit ",
        absl::FormatDuration(absl::Milliseconds(options_.max_outage_ms)),
        ", --max-outage); last error: ", status.ToString()));
  }
  const double low = delay_ms_ * (1.0 - options_.jitter);
  double wait = low + (delay_ms_ - low) * random_.Uniform01();
  if (options_.max_outage_ms > 0) {
    // Try once more right at the limit rather than sleeping past it.
    wait = std::min(wait, static_cast<double>(options_.max_outage_ms - outage));
  }
  return std::max<int64_t>(1, static_cast<int64_t>(std::llround(wait)));
}

void RetryBackoff::Reset() {
  failures_ = 0;
  outage_start_ms_ = 0;
  delay_ms_ = 0;
}

int64_t RetryBackoff::OutageMs() const {
  return failures_ == 0 ? 0 : clock_->NowMs() - outage_start_ms_;
}

}  // namespace qfleet
