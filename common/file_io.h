#ifndef QFLEET_COMMON_FILE_IO_H_
#define QFLEET_COMMON_FILE_IO_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace qfleet {

// Reads the whole file at `path`. NotFound if it does not exist,
// PermissionDenied if it cannot be opened for reading, DataLoss on a read
// error; every message names the path. Files over `max_bytes` are refused
// with InvalidArgument (certificates and tokens are small). Thread-safe.
absl::StatusOr<std::string> ReadFileToString(const std::string& path, size_t max_bytes = 16 << 20);

// Writes `data` to `path` (created or truncated) with permission bits
// `mode` (e.g. 0600 for private keys). Unavailable on failure, naming the
// path. Thread-safe for distinct paths.
absl::Status WriteStringToFile(const std::string& path, absl::string_view data, int mode = 0644);

}  // namespace qfleet

#endif  // QFLEET_COMMON_FILE_IO_H_
