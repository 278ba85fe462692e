#include "common/seqrec/ranking_metrics.h"

#include <cmath>

#include "absl/strings/str_format.h"

namespace qfleet::seqrec {

double RankAmongNegatives(float true_score, absl::Span<const float> negative_scores) {
  if (std::isnan(true_score)) return static_cast<double>(negative_scores.size());
  int64_t higher = 0, equal = 0;
  for (float s : negative_scores) {
    if (std::isnan(s) || s > true_score) {
      ++higher;
    } else if (s == true_score) {
      ++equal;
    }
  }
  return static_cast<double>(higher) + 0.5 * static_cast<double>(equal);
}

double HitAt(double rank, int k) { return rank < k ? 1.0 : 0.0; }

double NdcgAt(double rank, int k) { return rank < k ? 1.0 / std::log2(rank + 2.0) : 0.0; }

std::string RankingMetrics::ToString() const {
  return absl::StrFormat("HR@5 %.4f HR@10 %.4f NDCG@5 %.4f NDCG@10 %.4f (%d users)", hr5, hr10,
                         ndcg5, ndcg10, users);
}

RankingMetrics AverageRankingMetrics(absl::Span<const double> ranks) {
  RankingMetrics m;
  if (ranks.empty()) return m;
  for (double r : ranks) {
    m.hr5 += HitAt(r, 5);
    m.hr10 += HitAt(r, 10);
    m.ndcg5 += NdcgAt(r, 5);
    m.ndcg10 += NdcgAt(r, 10);
  }
  const double n = static_cast<double>(ranks.size());
  m.hr5 /= n;
  m.hr10 /= n;
  m.ndcg5 /= n;
  m.ndcg10 /= n;
  m.users = static_cast<int64_t>(ranks.size());
  return m;
}

void AddRankMetrics(double rank, std::map<std::string, double>& metrics) {
  metrics["hr5"] = HitAt(rank, 5);
  metrics["hr10"] = HitAt(rank, 10);
  metrics["ndcg5"] = NdcgAt(rank, 5);
  metrics["ndcg10"] = NdcgAt(rank, 10);
}

std::string PairedDifference::ToString() const {
  return absl::StrFormat("%+.4f +- %.4f (higher for %d, lower for %d of %d users)", mean,
                         std_error, higher, lower, users);
}

absl::StatusOr<PairedDifference> ComparePaired(absl::Span<const double> a,
                                               absl::Span<const double> b) {
  if (a.size() != b.size()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("paired comparison of %d and %d values", a.size(), b.size()));
  }
  PairedDifference d;
  d.users = static_cast<int64_t>(a.size());
  if (a.empty()) return d;
  double sum = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!std::isfinite(a[i]) || !std::isfinite(b[i])) {
      return absl::InvalidArgumentError(absl::StrFormat("value %d is not finite", i));
    }
    sum += a[i] - b[i];
    if (a[i] > b[i]) ++d.higher;
    if (a[i] < b[i]) ++d.lower;
  }
  const double n = static_cast<double>(a.size());
  d.mean = sum / n;
  if (a.size() >= 2) {
    double ss = 0;
    for (size_t i = 0; i < a.size(); ++i) ss += (a[i] - b[i] - d.mean) * (a[i] - b[i] - d.mean);
    d.std_error = std::sqrt(ss / (n - 1) / n);
  }
  return d;
}

}  // namespace qfleet::seqrec
