#ifndef QFLEET_COMMON_SEQREC_INTERACTIONS_H_
#define QFLEET_COMMON_SEQREC_INTERACTIONS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace qfleet::seqrec {

// Largest user or item id the loaders accept, so a corrupt line cannot make
// them allocate without bound (ids are dense indices into vectors).
constexpr int64_t kMaxSeqRecId = int64_t{1} << 24;

// Implicit-feedback interaction sequences, one per user.
//   sequences[u] is user u's history (u is 0-based, 0..num_users-1) in time
//   order, oldest first. Item ids are 1..num_items; 0 is reserved as the
//   padding id and never appears in a sequence. A user may have an empty
//   sequence and may interact with one item more than once.
struct Interactions {
  int64_t num_users = 0;
  int64_t num_items = 0;
  std::vector<std::vector<int32_t>> sequences;  // size num_users

  // Total number of (user, item) events. Thread-compatible.
  int64_t NumEvents() const;
};

// Checks the invariants above: sequences.size() == num_users, 1 <= num_items
// <= kMaxSeqRecId, num_users <= kMaxSeqRecId and every id in 1..num_items.
// Returns InvalidArgument naming the first violation. Thread-safe.
absl::Status ValidateInteractions(const Interactions& data);

// Parses the `user item` line format: one interaction per line, two
// whitespace-separated decimal ids, both 1-based, each user's lines in time
// order (a user's lines need not be adjacent). User u becomes index u-1;
// num_users / num_items are the largest ids seen (ids that never occur give
// empty sequences / unused items). Blank lines are skipped. Returns
// InvalidArgument with the 1-based line number for a line without exactly two
// fields, a non-numeric field, an id < 1 or > kMaxSeqRecId, and for input with
// no interaction at all. Thread-safe.
absl::StatusOr<Interactions> ParseUserItemLines(absl::string_view text);

// Reads `path` and parses it with ParseUserItemLines. NotFound if the file
// does not exist, PermissionDenied / Unknown if it cannot be read, otherwise
// ParseUserItemLines' errors prefixed with the path. Thread-safe.
absl::StatusOr<Interactions> LoadUserItemFile(const std::string& path);

// Reads a whole file into memory. NotFound if it does not exist,
// PermissionDenied if it may not be read, Unknown for other I/O errors.
// Thread-safe.
absl::StatusOr<std::string> ReadFileToString(const std::string& path);

}  // namespace qfleet::seqrec

#endif  // QFLEET_COMMON_SEQREC_INTERACTIONS_H_
