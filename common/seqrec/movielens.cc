#include "common/seqrec/movielens.h"

#include <algorithm>
#include <cstdint>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"

namespace qfleet::seqrec {
namespace {

struct Event {
  int64_t user;
  int64_t item;
  int64_t timestamp;
};

absl::Status ParseField(absl::string_view field, const char* what, int64_t line_no,
                        int64_t min_value, int64_t max_value, int64_t* out) {
  field = absl::StripAsciiWhitespace(field);
  int64_t value = 0;
  if (!absl::SimpleAtoi(field, &value)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("line %d: %s '%s' is not an integer", line_no, what, field));
  }
  if (value < min_value || value > max_value) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "line %d: %s %d is out of range [%d, %d]", line_no, what, value, min_value, max_value));
  }
  *out = value;
  return absl::OkStatus();
}

// Splits one data line into exactly four fields and checks that the rating
// is a number, or explains what is wrong.
absl::Status SplitFields(absl::string_view line, bool dat, int64_t line_no,
                         std::vector<absl::string_view>* fields) {
  if (dat) {
    *fields = absl::StrSplit(line, "::");
  } else {
    *fields = absl::StrSplit(line, ',');
  }
  if (fields->size() != 4) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "line %d: expected 4 '%s'-separated fields (user, item, rating, timestamp), got %d: '%s'",
        line_no, dat ? "::" : ",", fields->size(), line));
  }
  double rating = 0;
  if (!absl::SimpleAtod(absl::StripAsciiWhitespace((*fields)[2]), &rating)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("line %d: rating '%s' is not a number", line_no, (*fields)[2]));
  }
  return absl::OkStatus();
}

// Dense ids in ascending order of the original ids: returns the sorted unique
// originals; the new id of x is its index in that list (+ `base`).
std::vector<int64_t> SortedUnique(std::vector<int64_t> ids) {
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

int64_t IndexOf(const std::vector<int64_t>& sorted, int64_t x) {
  return std::lower_bound(sorted.begin(), sorted.end(), x) - sorted.begin();
}

}  // namespace

absl::StatusOr<Interactions> ParseMovieLensRatings(absl::string_view text) {
  std::vector<Event> events;
  int64_t line_no = 0;
  bool layout_known = false, dat = false;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_no;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty()) continue;
    if (!layout_known) {
      layout_known = true;
      dat = absl::StrContains(line, "::");
      // An optional CSV header: its first field is not a number.
      int64_t ignored;
      if (!dat && !absl::SimpleAtoi(absl::StripAsciiWhitespace(
                                        line.substr(0, line.find(','))), &ignored)) {
        if (!absl::StartsWithIgnoreCase(line, "userId,")) {
          return absl::InvalidArgumentError(absl::StrFormat(
              "line %d: expected a header 'userId,movieId,rating,timestamp' or a rating, got '%s'",
              line_no, line));
        }
        continue;
      }
    }
    std::vector<absl::string_view> fields;
    absl::Status s = SplitFields(line, dat, line_no, &fields);
    Event e{0, 0, 0};
    if (s.ok()) s = ParseField(fields[0], "user id", line_no, 1, kMaxSeqRecId, &e.user);
    if (s.ok()) s = ParseField(fields[1], "item id", line_no, 1, kMaxSeqRecId, &e.item);
    if (s.ok()) s = ParseField(fields[3], "timestamp", line_no, 0, INT64_MAX, &e.timestamp);
    if (!s.ok()) return s;
    events.push_back(e);
  }
  if (events.empty()) return absl::InvalidArgumentError("no interactions in input");

  std::vector<int64_t> users, items;
  users.reserve(events.size());
  items.reserve(events.size());
  for (const Event& e : events) {
    users.push_back(e.user);
    items.push_back(e.item);
  }
  users = SortedUnique(std::move(users));
  items = SortedUnique(std::move(items));
  std::stable_sort(events.begin(), events.end(), [](const Event& a, const Event& b) {
    return a.timestamp < b.timestamp;
  });
  Interactions out;
  out.num_users = static_cast<int64_t>(users.size());
  out.num_items = static_cast<int64_t>(items.size());
  out.sequences.resize(users.size());
  for (const Event& e : events) {
    out.sequences[IndexOf(users, e.user)].push_back(static_cast<int32_t>(IndexOf(items, e.item) + 1));
  }
  return out;
}

absl::StatusOr<Interactions> LoadMovieLensFile(const std::string& path) {
  absl::StatusOr<std::string> bytes = ReadFileToString(path);
  if (!bytes.ok()) return bytes.status();
  absl::StatusOr<Interactions> data = ParseMovieLensRatings(*bytes);
  if (!data.ok()) {
    return absl::Status(data.status().code(), absl::StrCat(path, ": ", data.status().message()));
  }
  return data;
}

}  // namespace qfleet::seqrec
