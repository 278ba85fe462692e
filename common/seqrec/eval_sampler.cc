#include "common/seqrec/eval_sampler.h"

#include <algorithm>

#include "absl/strings/str_format.h"
#include "common/seeded_random.h"

namespace qfleet::seqrec {
namespace {

// SplitMix64 finalizer: decorrelates the per-user seeds.
uint64_t Mix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

bool Contains(const std::vector<int32_t>& sorted, int32_t x) {
  return std::binary_search(sorted.begin(), sorted.end(), x);
}

// Draws `k` distinct items of 1..num_items outside `seen` (sorted, unique)
// into `out`. The caller guarantees num_items - seen.size() >= k.
void DrawNegatives(int64_t num_items, const std::vector<int32_t>& seen, int64_t k,
                   SeededRandom& rng, int32_t* out) {
  const int64_t available = num_items - static_cast<int64_t>(seen.size());
  if (available >= 4 * k && available * 2 >= num_items) {
    // Rejection sampling: at least half of all draws are usable.
    std::vector<int32_t> chosen;
    chosen.reserve(k);
    while (static_cast<int64_t>(chosen.size()) < k) {
      const int32_t item = static_cast<int32_t>(rng.UniformBelow(num_items) + 1);
      if (Contains(seen, item) || std::find(chosen.begin(), chosen.end(), item) != chosen.end()) {
        continue;
      }
      chosen.push_back(item);
    }
    std::copy(chosen.begin(), chosen.end(), out);
    return;
  }
  // Dense case: list the candidates, partial Fisher-Yates.
  std::vector<int32_t> pool;
  pool.reserve(available);
  for (int32_t item = 1; item <= num_items; ++item) {
    if (!Contains(seen, item)) pool.push_back(item);
  }
  for (int64_t i = 0; i < k; ++i) {
    const int64_t j = i + static_cast<int64_t>(rng.UniformBelow(pool.size() - i));
    std::swap(pool[i], pool[j]);
    out[i] = pool[i];
  }
}

}  // namespace

absl::StatusOr<EvalSample> BuildEvalSample(const LeaveOneOutSplit& split, EvalStage stage,
                                           const EvalSampleOptions& options) {
  if (options.num_negatives < 1 || options.max_users < 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "bad eval sample options: num_negatives=%d max_users=%d", options.num_negatives,
        options.max_users));
  }
  std::vector<int32_t> users;
  for (int64_t u = 0; u < split.num_users; ++u) {
    if (split.Evaluated(u)) users.push_back(static_cast<int32_t>(u));
  }
  if (users.empty()) return absl::InvalidArgumentError("no user has held-out items");
  if (options.max_users > 0 && static_cast<int64_t>(users.size()) > options.max_users) {
    SeededRandom pick(Mix(options.seed ^ 0x5EC7A11D05E25ull));
    for (int64_t i = 0; i < options.max_users; ++i) {
      const int64_t j = i + static_cast<int64_t>(pick.UniformBelow(users.size() - i));
      std::swap(users[i], users[j]);
    }
    users.resize(options.max_users);
    std::sort(users.begin(), users.end());
  }

  EvalSample sample;
  sample.stage = stage;
  sample.num_negatives = options.num_negatives;
  sample.users = users;
  sample.targets.resize(users.size());
  sample.negatives.resize(users.size() * options.num_negatives);
  const uint64_t stage_salt = stage == EvalStage::kValidation ? 0x7A1Dull : 0x7E57ull;
  for (size_t i = 0; i < users.size(); ++i) {
    const int32_t u = users[i];
    std::vector<int32_t> seen = split.train[u];
    seen.push_back(split.valid_target[u]);
    seen.push_back(split.test_target[u]);
    std::sort(seen.begin(), seen.end());
    seen.erase(std::unique(seen.begin(), seen.end()), seen.end());
    if (split.num_items - static_cast<int64_t>(seen.size()) < options.num_negatives) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "user %d touched %d of %d items, leaving fewer than %d negatives", u, seen.size(),
          split.num_items, options.num_negatives));
    }
    SeededRandom rng(Mix(Mix(options.seed) ^ Mix(stage_salt + (static_cast<uint64_t>(u) << 8))));
    sample.targets[i] = EvalTarget(split, u, stage);
    DrawNegatives(split.num_items, seen, options.num_negatives, rng,
                  sample.negatives.data() + i * options.num_negatives);
  }
  return sample;
}

}  // namespace qfleet::seqrec
