#ifndef QFLEET_CLOUD_STORE_BLOB_STORE_H_
#define QFLEET_CLOUD_STORE_BLOB_STORE_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace qfleet::cloud {

// Content-addressed files (model containers, client updates) under one
// directory: the blob with SHA-256 "abcdef..." (64 lowercase hex digits)
// lives at <dir>/ab/abcdef.... Writes go to a temp file in the same folder,
// are fsynced and renamed into place, so a blob is either absent or
// complete. Hashes are accepted only in that lowercase form. All methods
// are thread-safe (the filesystem is the only shared state); a crash may
// leave "<dir>/ab/.tmp-*" files, which are safe to delete.
class BlobStore {
 public:
  // Opens the store at `dir`, creating it (and parents) if needed.
  // FailedPrecondition if `dir` exists and is not a directory,
  // PermissionDenied / Unavailable if it cannot be created. Thread-safe.
  static absl::StatusOr<std::unique_ptr<BlobStore>> Open(
      const std::string& dir);

  // Stores `bytes` and returns their SHA-256 (lowercase hex). Idempotent:
  // an intact existing copy is kept, a damaged one is replaced.
  // ResourceExhausted when the disk is full, PermissionDenied /
  // Unavailable on other I/O failures. Thread-safe.
  absl::StatusOr<std::string> Put(absl::string_view bytes);

  // Returns the blob's bytes after checking their hash. InvalidArgument if
  // `sha256_hex` is not 64 lowercase hex digits, NotFound if absent, DataLoss
  // (with the path) if the content no longer matches. Thread-safe.
  absl::StatusOr<std::string> Get(absl::string_view sha256_hex) const;

  // True when a file for the hash exists (content not verified); false for
  // a malformed hash. Thread-safe.
  bool Has(absl::string_view sha256_hex) const;

  // Deletes the blob. InvalidArgument for a malformed hash, NotFound if
  // absent. Thread-safe.
  absl::Status Remove(absl::string_view sha256_hex);

  // Where the blob for `sha256_hex` lives (whether or not it exists), for
  // callers that stream ranges of it. InvalidArgument for a malformed hash.
  // Thread-safe.
  absl::StatusOr<std::string> PathOf(absl::string_view sha256_hex) const;

  // Deletes the ".tmp-*" files a crashed or failed Put left behind that are
  // at least `min_age_s` seconds old (0 = all: only while no Put runs, e.g.
  // at start). Returns how many were deleted; never touches a blob.
  // Thread-safe.
  int RemoveStaleTemps(int64_t min_age_s);

  // Deletes every blob whose hash is not in `live` and whose file was last
  // written (or re-Put) at least `min_age_s` seconds ago, so a blob being
  // stored right now, before its row is written, is spared. Returns the
  // blobs and bytes deleted; files that are not blobs are left alone.
  // Thread-safe.
  struct Removed {
    uint64_t blobs = 0;
    uint64_t bytes = 0;
  };
  Removed RemoveUnreferenced(const absl::flat_hash_set<std::string>& live, int64_t min_age_s);

  // The directory given to Open. Thread-safe.
  const std::string& dir() const { return dir_; }

 private:
  explicit BlobStore(std::string dir) : dir_(std::move(dir)) {}

  const std::string dir_;
};

}  // namespace qfleet::cloud

#endif  // QFLEET_CLOUD_STORE_BLOB_STORE_H_
