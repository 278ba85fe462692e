#ifndef QFLEET_COMMON_SEQREC_SYNTHETIC_H_
#define QFLEET_COMMON_SEQREC_SYNTHETIC_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "common/seqrec/interactions.h"

namespace qfleet::seqrec {

// Parameters of the synthetic interaction generator (the default data when
// no file is given). The model it draws from:
//   - items are dealt round-robin, in a seeded random order, into `clusters`
//     interest clusters; item popularity is Zipf-like, weight 1 / r^zipf for a
//     seeded random popularity rank r in 1..num_items;
//   - every item has `successors` successor items in its own cluster, drawn
//     by popularity (a Markov item-to-item transition table);
//   - each user has a main and a second cluster (chosen uniformly; picked
//     with probability 0.8 / 0.2 when a fresh item is drawn) and a length
//     3 + Geometric with mean (mean_length - 3), capped at 20 * mean_length;
//   - the first item is fresh (cluster, then popularity within it); every
//     next item is, with probability markov_prob, a uniformly chosen successor
//     of the previous item, otherwise fresh; an immediate repeat is redrawn.
struct SyntheticOptions {
  int64_t num_users = 2000;
  int64_t num_items = 1000;
  int64_t clusters = 20;
  double mean_length = 12.0;
  double zipf = 1.0;
  double markov_prob = 0.6;
  int64_t successors = 3;
  uint64_t seed = 1;
};

// Generates interactions as described on SyntheticOptions. Deterministic: a
// seed gives the same data on every build of a platform (SeededRandom only).
// InvalidArgument unless 1 <= num_users <= kMaxSeqRecId, 2 <= num_items <=
// kMaxSeqRecId, 1 <= clusters <= num_items / 2, 3 <= mean_length <= 10000,
// zipf in [0, 10], markov_prob in [0, 1] and 1 <= successors <= 64.
// Thread-safe.
absl::StatusOr<Interactions> GenerateSynthetic(const SyntheticOptions& options);

}  // namespace qfleet::seqrec

#endif  // QFLEET_COMMON_SEQREC_SYNTHETIC_H_
