#include "common/seqrec/synthetic.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "absl/strings/str_format.h"
#include "common/seeded_random.h"

namespace qfleet::seqrec {
namespace {

// Items of one cluster with their cumulative popularity weights.
struct Cluster {
  std::vector<int32_t> items;
  std::vector<double> cumulative;
};

int32_t SampleByPopularity(const Cluster& c, SeededRandom& rng) {
  const double x = rng.Uniform01() * c.cumulative.back();
  const size_t i = std::upper_bound(c.cumulative.begin(), c.cumulative.end(), x) -
                   c.cumulative.begin();
  return c.items[std::min(i, c.items.size() - 1)];
}

absl::Status Validate(const SyntheticOptions& o) {
  if (o.num_users < 1 || o.num_users > kMaxSeqRecId || o.num_items < 2 ||
      o.num_items > kMaxSeqRecId || o.clusters < 1 || o.clusters > o.num_items / 2 ||
      !(o.mean_length >= 3 && o.mean_length <= 10000) || !(o.zipf >= 0 && o.zipf <= 10) ||
      !(o.markov_prob >= 0 && o.markov_prob <= 1) || o.successors < 1 || o.successors > 64) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "bad synthetic options: users=%d items=%d clusters=%d mean_length=%g zipf=%g "
        "markov_prob=%g successors=%d",
        o.num_users, o.num_items, o.clusters, o.mean_length, o.zipf, o.markov_prob,
        o.successors));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Interactions> GenerateSynthetic(const SyntheticOptions& o) {
  if (absl::Status s = Validate(o); !s.ok()) return s;
  SeededRandom rng(o.seed);
  const int64_t n = o.num_items;

  // Popularity rank and cluster of every item (index 0 unused).
  std::vector<int32_t> order(n);
  std::iota(order.begin(), order.end(), 1);
  rng.Shuffle(order);
  std::vector<double> weight(n + 1, 0.0);
  for (int64_t r = 0; r < n; ++r) weight[order[r]] = 1.0 / std::pow(static_cast<double>(r + 1), o.zipf);
  rng.Shuffle(order);
  std::vector<Cluster> clusters(o.clusters);
  std::vector<int32_t> cluster_of(n + 1, 0);
  for (int64_t p = 0; p < n; ++p) {
    const int32_t item = order[p];
    Cluster& c = clusters[p % o.clusters];
    cluster_of[item] = static_cast<int32_t>(p % o.clusters);
    c.items.push_back(item);
    c.cumulative.push_back((c.cumulative.empty() ? 0.0 : c.cumulative.back()) + weight[item]);
  }

  // Markov successors: same cluster, by popularity, not the item itself.
  std::vector<std::vector<int32_t>> successors(n + 1);
  for (int32_t item = 1; item <= n; ++item) {
    const Cluster& c = clusters[cluster_of[item]];
    for (int64_t k = 0; k < o.successors; ++k) {
      int32_t next = SampleByPopularity(c, rng);
      for (int tries = 0; next == item && tries < 16; ++tries) next = SampleByPopularity(c, rng);
      if (next != item) successors[item].push_back(next);
    }
  }

  Interactions out;
  out.num_users = o.num_users;
  out.num_items = n;
  out.sequences.resize(o.num_users);
  const double q = 1.0 / (o.mean_length - 2.0);  // geometric success probability
  const int64_t max_length = static_cast<int64_t>(20 * o.mean_length);
  for (int64_t u = 0; u < o.num_users; ++u) {
    const int64_t main_cluster = static_cast<int64_t>(rng.UniformBelow(o.clusters));
    const int64_t second_cluster = static_cast<int64_t>(rng.UniformBelow(o.clusters));
    int64_t extra = 0;
    if (q < 1.0) extra = static_cast<int64_t>(std::floor(std::log(rng.Uniform01()) / std::log1p(-q)));
    const int64_t length = std::min<int64_t>(3 + extra, max_length);
    auto fresh = [&]() {
      const int64_t c = rng.Uniform01() < 0.8 ? main_cluster : second_cluster;
      return SampleByPopularity(clusters[c], rng);
    };
    std::vector<int32_t>& seq = out.sequences[u];
    seq.reserve(length);
    seq.push_back(fresh());
    while (static_cast<int64_t>(seq.size()) < length) {
      const int32_t prev = seq.back();
      int32_t next = prev;
      for (int tries = 0; next == prev && tries < 16; ++tries) {
        const auto& succ = successors[prev];
        if (!succ.empty() && rng.Uniform01() < o.markov_prob) {
          next = succ[rng.UniformBelow(succ.size())];
        } else {
          next = fresh();
        }
      }
      if (next == prev) next = static_cast<int32_t>(prev % n + 1);
      seq.push_back(next);
    }
  }
  return out;
}

}  // namespace qfleet::seqrec
