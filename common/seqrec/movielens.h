#ifndef QFLEET_COMMON_SEQREC_MOVIELENS_H_
#define QFLEET_COMMON_SEQREC_MOVIELENS_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/seqrec/interactions.h"

namespace qfleet::seqrec {

// Parses MovieLens ratings as implicit feedback (every rating is one
// interaction, whatever its value). Two layouts, told apart by the first
// non-blank line:
//   ratings.dat  `user::item::rating::timestamp` (MovieLens 1M / 10M)
//   ratings.csv  `userId,movieId,rating,timestamp`, the header line optional
// Each user's events are sorted by timestamp, ties kept in file order
// (stable). Users and items are re-mapped densely in ascending order of their
// original ids: users to 0..U-1, items to 1..N. Blank lines are skipped.
// Returns InvalidArgument with the 1-based line number for a wrong field
// count, a non-numeric field, an id < 1 or > kMaxSeqRecId, a negative
// timestamp, or input without interactions. Thread-safe.
absl::StatusOr<Interactions> ParseMovieLensRatings(absl::string_view text);

// Reads `path` and parses it with ParseMovieLensRatings. NotFound if the file
// does not exist; parse errors are prefixed with the path. Thread-safe.
absl::StatusOr<Interactions> LoadMovieLensFile(const std::string& path);

}  // namespace qfleet::seqrec

#endif  // QFLEET_COMMON_SEQREC_MOVIELENS_H_
