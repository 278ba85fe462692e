#ifndef QFLEET_COMMON_SHA256_H_
#define QFLEET_COMMON_SHA256_H_

#include <string>

#include "absl/strings/string_view.h"

namespace qfleet {

// Returns the SHA-256 digest of `bytes` as 64 lowercase hex characters,
// computed with OpenSSL's EVP interface. Returns an empty string only if
// OpenSSL fails internally (allocation failure). Thread-safe.
std::string Sha256Hex(absl::string_view bytes);

// Returns true iff `s` is exactly 64 characters from [0-9a-f] (the form
// Sha256Hex produces; uppercase is rejected). Thread-safe.
bool IsSha256Hex(absl::string_view s);

}  // namespace qfleet

#endif  // QFLEET_COMMON_SHA256_H_
