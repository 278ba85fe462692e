#include "cloud/store/blob_store.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "common/sha256.h"
#include "common/status_macros.h"

namespace qfleet::cloud {
namespace {

absl::Status CheckHash(absl::string_view sha256_hex) {
  if (IsSha256Hex(sha256_hex)) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("not a SHA-256 digest (64 lowercase hex digits): '",
                   sha256_hex.substr(0, 80), "'"));
}

absl::Status ErrnoStatus(int error, absl::string_view what,
                         absl::string_view path) {
  return absl::ErrnoToStatus(error, absl::StrCat(what, " '", path, "'"));
}

// Closes the descriptor on scope exit.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

absl::Status WriteAll(int fd, absl::string_view bytes,
                      const std::string& path) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "writing", path);
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

absl::Status FsyncDir(const std::string& dir) {
  Fd d{::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
  if (d.fd < 0) return ErrnoStatus(errno, "opening directory", dir);
  if (::fsync(d.fd) != 0) return ErrnoStatus(errno, "fsync of directory", dir);
  return absl::OkStatus();
}

// Reads the whole file; NotFound (errno ENOENT) if it does not exist.
absl::StatusOr<std::string> ReadFile(const std::string& path) {
  Fd f{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (f.fd < 0) return ErrnoStatus(errno, "opening", path);
  struct stat st;
  if (::fstat(f.fd, &st) != 0) return ErrnoStatus(errno, "stat of", path);
  std::string bytes;
  bytes.reserve(static_cast<size_t>(st.st_size));
  char buffer[1 << 16];
  while (true) {
    const ssize_t n = ::read(f.fd, buffer, sizeof(buffer));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "reading", path);
    }
    if (n == 0) break;
    bytes.append(buffer, static_cast<size_t>(n));
  }
  return bytes;
}

// Writes `bytes` to `path` atomically: temp file, fsync, rename, fsync dir.
absl::Status WriteFileAtomically(const std::string& folder,
                                 const std::string& path,
                                 absl::string_view bytes) {
  static std::atomic<uint64_t> counter{0};
  const std::string temp = absl::StrCat(
      folder, "/.tmp-", std::filesystem::path(path).filename().string(), "-",
      ::getpid(), "-", counter.fetch_add(1));
  {
    Fd f{::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644)};
    if (f.fd < 0) return ErrnoStatus(errno, "creating", temp);
    absl::Status status = WriteAll(f.fd, bytes, temp);
    if (status.ok() && ::fsync(f.fd) != 0) {
      status = ErrnoStatus(errno, "fsync of", temp);
    }
    if (status.ok()) {
      const int fd = f.fd;
      f.fd = -1;
      if (::close(fd) != 0) status = ErrnoStatus(errno, "closing", temp);
    }
    if (!status.ok()) {
      ::unlink(temp.c_str());
      return status;
    }
  }
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    const int error = errno;
    ::unlink(temp.c_str());
    return ErrnoStatus(error, "renaming into place", path);
  }
  return FsyncDir(folder);
}

}  // namespace

absl::StatusOr<std::unique_ptr<BlobStore>> BlobStore::Open(
    const std::string& dir) {
  if (dir.empty()) return absl::InvalidArgumentError("blob store: empty dir");
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (std::filesystem::is_directory(dir)) {
    return std::unique_ptr<BlobStore>(new BlobStore(dir));
  }
  if (!ec || ec == std::errc::file_exists || ec == std::errc::not_a_directory) {
    return absl::FailedPreconditionError(
        absl::StrCat("blob store: '", dir, "' is not a directory"));
  }
  return ErrnoStatus(ec.value(), "blob store: creating", dir);
}

int BlobStore::RemoveStaleTemps(int64_t min_age_s) {
  int removed = 0;
  std::error_code ec;
  const auto now = std::filesystem::file_time_type::clock::now();
  for (auto it = std::filesystem::recursive_directory_iterator(dir_, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    std::error_code entry;  // an entry's error skips it, not the walk
    if (!it->is_regular_file(entry) || it->path().filename().string().rfind(".tmp-", 0) != 0) {
      continue;
    }
    const auto modified = it->last_write_time(entry);
    if (entry) continue;
    if (now - modified < std::chrono::seconds(min_age_s)) continue;
    std::error_code rm;
    if (std::filesystem::remove(it->path(), rm)) ++removed;
  }
  return removed;
}

BlobStore::Removed BlobStore::RemoveUnreferenced(const absl::flat_hash_set<std::string>& live,
                                                 int64_t min_age_s) {
  Removed removed;
  std::error_code ec;
  const auto now = std::filesystem::file_time_type::clock::now();
  for (auto it = std::filesystem::recursive_directory_iterator(dir_, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    std::error_code entry;  // an entry's error skips it, not the walk
    if (!it->is_regular_file(entry) || !IsSha256Hex(name) || live.contains(name)) continue;
    if (it->path().parent_path().filename().string() != name.substr(0, 2)) continue;
    const auto modified = it->last_write_time(entry);
    if (entry || now - modified < std::chrono::seconds(min_age_s)) continue;
    const uint64_t size = it->file_size(entry);
    if (entry) continue;
    std::error_code rm;
    if (std::filesystem::remove(it->path(), rm)) {
      ++removed.blobs;
      removed.bytes += size;
    }
  }
  return removed;
}

absl::StatusOr<std::string> BlobStore::PathOf(
    absl::string_view sha256_hex) const {
  RETURN_IF_ERROR(CheckHash(sha256_hex));
  return absl::StrCat(dir_, "/", sha256_hex.substr(0, 2), "/", sha256_hex);
}

absl::StatusOr<std::string> BlobStore::Put(absl::string_view bytes) {
  const std::string hex = Sha256Hex(bytes);
  if (hex.empty()) {
    return absl::ResourceExhaustedError("blob store: SHA-256 failed (OpenSSL)");
  }
  const std::string folder = absl::StrCat(dir_, "/", hex.substr(0, 2));
  ASSIGN_OR_RETURN(const std::string path, PathOf(hex));
  absl::StatusOr<std::string> existing = ReadFile(path);
  if (existing.ok() && *existing == bytes) {
    // Already stored. Its time is refreshed so that RemoveUnreferenced's age
    // guard spares it until the caller has written the row that refers to it.
    ::utimensat(AT_FDCWD, path.c_str(), nullptr, 0);
    return hex;
  }
  if (::mkdir(folder.c_str(), 0755) == 0) {
    RETURN_IF_ERROR(FsyncDir(dir_));
  } else if (errno != EEXIST) {
    return ErrnoStatus(errno, "blob store: creating", folder);
  }
  RETURN_IF_ERROR(WriteFileAtomically(folder, path, bytes));
  return hex;
}

absl::StatusOr<std::string> BlobStore::Get(absl::string_view sha256_hex) const {
  ASSIGN_OR_RETURN(const std::string path, PathOf(sha256_hex));
  absl::StatusOr<std::string> bytes = ReadFile(path);
  if (!bytes.ok()) {
    if (absl::IsNotFound(bytes.status())) {
      return absl::NotFoundError(
          absl::StrCat("blob ", sha256_hex, " not found in '", dir_, "'"));
    }
    return bytes.status();
  }
  const std::string actual = Sha256Hex(*bytes);
  if (actual != sha256_hex) {
    return absl::DataLossError(absl::StrCat(
        "blob '", path, "' is corrupt: content hashes to ", actual));
  }
  return bytes;
}

bool BlobStore::Has(absl::string_view sha256_hex) const {
  absl::StatusOr<std::string> path = PathOf(sha256_hex);
  if (!path.ok()) return false;
  struct stat st;
  return ::stat(path->c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

absl::Status BlobStore::Remove(absl::string_view sha256_hex) {
  ASSIGN_OR_RETURN(const std::string path, PathOf(sha256_hex));
  if (::unlink(path.c_str()) != 0) {
    if (errno == ENOENT) {
      return absl::NotFoundError(
          absl::StrCat("blob ", sha256_hex, " not found in '", dir_, "'"));
    }
    return ErrnoStatus(errno, "removing", path);
  }
  return absl::OkStatus();
}

}  // namespace qfleet::cloud
