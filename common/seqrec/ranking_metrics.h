#ifndef QFLEET_COMMON_SEQREC_RANKING_METRICS_H_
#define QFLEET_COMMON_SEQREC_RANKING_METRICS_H_

#include <cstdint>
#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace qfleet::seqrec {

// 0-based rank of the true item among sampled negatives: the number of
// negatives scored strictly higher, plus half the number scored exactly
// equal (a tie is a coin flip, so a constant model gets the expected rank
// num_negatives / 2 rather than the best or worst). A NaN true score ranks
// last (rank = number of negatives); a NaN negative counts as higher.
// Thread-safe.
double RankAmongNegatives(float true_score, absl::Span<const float> negative_scores);

// Hit ratio at k of one user: 1 if rank < k, else 0. k >= 1.
double HitAt(double rank, int k);

// NDCG at k of one user with a single relevant item: 1 / log2(rank + 2) if
// rank < k, else 0 (rank 0 gives 1). k >= 1.
double NdcgAt(double rank, int k);

// One user's HR and NDCG at 5 and 10 under the names devices report them
// ("hr5", "hr10", "ndcg5", "ndcg10"), added to `metrics`.
void AddRankMetrics(double rank, std::map<std::string, double>& metrics);

// Mean HR / NDCG at 5 and 10 over `users` evaluated users.
struct RankingMetrics {
  double hr5 = 0, hr10 = 0, ndcg5 = 0, ndcg10 = 0;
  int64_t users = 0;

  // "HR@5 0.1234 HR@10 ... NDCG@10 ... (n users)". Thread-compatible.
  std::string ToString() const;
};

// Averages HitAt/NdcgAt at 5 and 10 over `ranks` (one per user). An empty
// span gives all zeros and users = 0. Thread-safe.
RankingMetrics AverageRankingMetrics(absl::Span<const double> ranks);

// Paired comparison of two methods on the same users: per-user values a_i
// and b_i (e.g. NDCG@10), mean of a_i - b_i, its standard error (sample
// standard deviation of the differences / sqrt(n); 0 for n < 2) and how
// many users score higher / lower under a.
struct PairedDifference {
  double mean = 0, std_error = 0;
  int64_t higher = 0, lower = 0, users = 0;
  // "+0.0012 +- 0.0004 (higher for 101, lower for 87 of 3000 users)".
  std::string ToString() const;
};

// InvalidArgument if the spans differ in size or a value is not finite.
// Empty spans give all zeros. Thread-safe.
absl::StatusOr<PairedDifference> ComparePaired(absl::Span<const double> a,
                                               absl::Span<const double> b);

}  // namespace qfleet::seqrec

#endif  // QFLEET_COMMON_SEQREC_RANKING_METRICS_H_
