#include "common/seqrec/interactions.h"

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"

namespace qfleet::seqrec {
namespace {

// Parses a positive id in [1, kMaxSeqRecId] from `field` of line `line_no`.
absl::Status ParseId(absl::string_view field, const char* what, int64_t line_no, int64_t* out) {
  int64_t value = 0;
  if (!absl::SimpleAtoi(field, &value)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("line %d: %s id '%s' is not an integer", line_no, what, field));
  }
  if (value < 1 || value > kMaxSeqRecId) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "line %d: %s id %d is out of range [1, %d]", line_no, what, value, kMaxSeqRecId));
  }
  *out = value;
  return absl::OkStatus();
}

}  // namespace

int64_t Interactions::NumEvents() const {
  int64_t n = 0;
  for (const auto& s : sequences) n += static_cast<int64_t>(s.size());
  return n;
}

absl::Status ValidateInteractions(const Interactions& data) {
  if (data.num_items < 1 || data.num_items > kMaxSeqRecId) {
    return absl::InvalidArgumentError(
        absl::StrFormat("num_items %d is out of range [1, %d]", data.num_items, kMaxSeqRecId));
  }
  if (data.num_users < 0 || data.num_users > kMaxSeqRecId) {
    return absl::InvalidArgumentError(
        absl::StrFormat("num_users %d is out of range [0, %d]", data.num_users, kMaxSeqRecId));
  }
  if (static_cast<int64_t>(data.sequences.size()) != data.num_users) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%d sequences for %d users", data.sequences.size(), data.num_users));
  }
  for (size_t u = 0; u < data.sequences.size(); ++u) {
    for (int32_t item : data.sequences[u]) {
      if (item < 1 || item > data.num_items) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "user %d has item id %d outside [1, %d]", u, item, data.num_items));
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<Interactions> ParseUserItemLines(absl::string_view text) {
  Interactions out;
  int64_t line_no = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_no;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty()) continue;
    std::vector<absl::string_view> fields =
        absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    if (fields.size() != 2) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "line %d: expected 'user item', got %d fields: '%s'", line_no, fields.size(), line));
    }
    int64_t user = 0, item = 0;
    absl::Status s = ParseId(fields[0], "user", line_no, &user);
    if (s.ok()) s = ParseId(fields[1], "item", line_no, &item);
    if (!s.ok()) return s;
    if (user > out.num_users) {
      out.num_users = user;
      out.sequences.resize(user);
    }
    if (item > out.num_items) out.num_items = item;
    out.sequences[user - 1].push_back(static_cast<int32_t>(item));
  }
  if (out.num_items == 0) return absl::InvalidArgumentError("no interactions in input");
  return out;
}

absl::StatusOr<std::string> ReadFileToString(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    const int err = errno;
    const std::string msg = absl::StrCat(path, ": ", std::strerror(err));
    if (err == ENOENT || err == ENOTDIR) return absl::NotFoundError(msg);
    if (err == EACCES || err == EPERM) return absl::PermissionDeniedError(msg);
    return absl::UnknownError(msg);
  }
  std::string bytes;
  char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) bytes.append(buf, n);
  const bool failed = std::ferror(f) != 0;
  std::fclose(f);
  if (failed) return absl::UnknownError(absl::StrCat(path, ": read error"));
  return bytes;
}

absl::StatusOr<Interactions> LoadUserItemFile(const std::string& path) {
  absl::StatusOr<std::string> bytes = ReadFileToString(path);
  if (!bytes.ok()) return bytes.status();
  absl::StatusOr<Interactions> data = ParseUserItemLines(*bytes);
  if (!data.ok()) {
    return absl::Status(data.status().code(), absl::StrCat(path, ": ", data.status().message()));
  }
  return data;
}

}  // namespace qfleet::seqrec
