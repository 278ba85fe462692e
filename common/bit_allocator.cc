#include "common/bit_allocator.h"

#include <cmath>
#include <queue>
#include <tuple>

#include "absl/strings/str_format.h"
#include "common/status_macros.h"

namespace qfleet {
namespace {

bool FiniteNonNegative(double v) { return std::isfinite(v) && v >= 0.0; }

absl::Status ValidateAllocation(const std::vector<ChannelBitCost>& channels,
                                const BitAllocOptions& options) {
  if (channels.empty()) return absl::InvalidArgumentError("no channels to allocate bits to");
  const std::vector<int>& allowed = options.allowed_bits;
  if (allowed.empty()) return absl::InvalidArgumentError("no allowed bit-widths");
  for (size_t i = 0; i < allowed.size(); ++i) {
    if (allowed[i] < 1 || allowed[i] > 8) {
      return absl::InvalidArgumentError(absl::StrFormat("allowed bit-width %d not in 1..8", allowed[i]));
    }
    if (i > 0 && allowed[i] <= allowed[i - 1]) {
      return absl::InvalidArgumentError("allowed bit-widths must be strictly increasing");
    }
  }
  if (!(options.average_bits >= allowed.front() && options.average_bits <= allowed.back())) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "average bit budget %g outside the allowed range [%d, %d]", options.average_bits,
        allowed.front(), allowed.back()));
  }
  for (size_t c = 0; c < channels.size(); ++c) {
    const ChannelBitCost& ch = channels[c];
    if (!FiniteNonNegative(ch.sensitivity)) {
      return absl::InvalidArgumentError(
          absl::StrFormat("channel %d: sensitivity %g is not finite and >= 0", c, ch.sensitivity));
    }
    if (ch.elements < 1) {
      return absl::InvalidArgumentError(absl::StrFormat("channel %d: %d elements", c, ch.elements));
    }
    if (ch.error.empty()) {
      if (!FiniteNonNegative(ch.range)) {
        return absl::InvalidArgumentError(
            absl::StrFormat("channel %d: range %g is not finite and >= 0", c, ch.range));
      }
      continue;
    }
    if (ch.error.size() != allowed.size()) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "channel %d: %d error entries for %d allowed widths", c, ch.error.size(), allowed.size()));
    }
    for (double e : ch.error) {
      if (!FiniteNonNegative(e)) {
        return absl::InvalidArgumentError(
            absl::StrFormat("channel %d: error entry %g is not finite and >= 0", c, e));
      }
    }
  }
  return absl::OkStatus();
}

// Squared-error table of every channel, [channel][level].
std::vector<std::vector<double>> ErrorTables(const std::vector<ChannelBitCost>& channels,
                                             const std::vector<int>& allowed) {
  std::vector<std::vector<double>> err(channels.size());
  for (size_t c = 0; c < channels.size(); ++c) {
    if (!channels[c].error.empty()) {
      err[c] = channels[c].error;
      continue;
    }
    for (int b : allowed) err[c].push_back(UniformQuantMse(channels[c].range, b));
  }
  return err;
}

// A candidate upgrade of one channel to level `to`. Ordered so that
// std::priority_queue pops the largest gain per bit, then the lowest channel,
// then the smallest target level.
struct Upgrade {
  double gain_per_bit;
  size_t channel;
  size_t to;
  bool operator<(const Upgrade& o) const {
    if (gain_per_bit != o.gain_per_bit) return gain_per_bit < o.gain_per_bit;
    return std::tie(channel, to) > std::tie(o.channel, o.to);
  }
};

}  // namespace

double UniformQuantMse(double range, int bits) {
  const double levels = std::ldexp(1.0, bits) - 1.0;
  return range * range / (12.0 * levels * levels);
}

absl::StatusOr<std::vector<int>> AllocateBits(const std::vector<ChannelBitCost>& channels,
                                              const BitAllocOptions& options) {
  RETURN_IF_ERROR(ValidateAllocation(channels, options));
  const std::vector<int>& allowed = options.allowed_bits;
  const std::vector<std::vector<double>> err = ErrorTables(channels, allowed);

  int64_t total_elements = 0;
  for (const ChannelBitCost& ch : channels) total_elements += ch.elements;
  // A relative slack of 1e-12 keeps budgets such as 3.0 * n from losing a
  // bit to floating-point rounding.
  const int64_t budget = static_cast<int64_t>(
      std::floor(options.average_bits * static_cast<double>(total_elements) * (1.0 + 1e-12)));
  int64_t remaining = budget - total_elements * allowed.front();

  std::vector<size_t> level(channels.size(), 0);
  // Best affordable, non-loss-increasing upgrade of channel c, if any.
  auto best_upgrade = [&](size_t c, Upgrade* out) {
    bool found = false;
    for (size_t to = level[c] + 1; to < allowed.size(); ++to) {
      const int64_t cost = channels[c].elements * (allowed[to] - allowed[level[c]]);
      if (cost > remaining) break;  // wider targets cost more
      const double gain = channels[c].sensitivity * (err[c][level[c]] - err[c][to]) /
                          (allowed[to] - allowed[level[c]]);
      if (gain < 0.0) continue;
      if (!found || gain > out->gain_per_bit) {
        *out = Upgrade{gain, c, to};
        found = true;
      }
    }
    return found;
  };

  std::priority_queue<Upgrade> queue;
  for (size_t c = 0; c < channels.size(); ++c) {
    Upgrade u;
    if (best_upgrade(c, &u)) queue.push(u);
  }
  // Each channel has at most one entry in the queue. The remaining budget
  // only shrinks, so an entry's gain can only fall: re-evaluate an entry
  // that no longer fits and push it back (lazy greedy).
  while (!queue.empty()) {
    const Upgrade top = queue.top();
    queue.pop();
    const size_t c = top.channel;
    const int64_t cost = channels[c].elements * (allowed[top.to] - allowed[level[c]]);
    if (cost > remaining) {
      Upgrade u;
      if (best_upgrade(c, &u)) queue.push(u);
      continue;
    }
    level[c] = top.to;
    remaining -= cost;
    Upgrade u;
    if (best_upgrade(c, &u)) queue.push(u);
  }

  std::vector<int> bits(channels.size());
  for (size_t c = 0; c < channels.size(); ++c) bits[c] = allowed[level[c]];
  return bits;
}

double AverageBits(const std::vector<ChannelBitCost>& channels, const std::vector<int>& bits) {
  if (channels.empty() || channels.size() != bits.size()) return 0.0;
  double weighted = 0, total = 0;
  for (size_t c = 0; c < channels.size(); ++c) {
    weighted += static_cast<double>(channels[c].elements) * bits[c];
    total += static_cast<double>(channels[c].elements);
  }
  return weighted / total;
}

}  // namespace qfleet
