#ifndef QFLEET_COMMON_SECURITY_RANDOM_TOKEN_H_
#define QFLEET_COMMON_SECURITY_RANDOM_TOKEN_H_

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"

namespace qfleet {

// `bytes` bytes from OpenSSL's CSPRNG as 2*bytes lowercase hex characters
// (default: 256 bits). Internal if the generator fails. Thread-safe.
absl::StatusOr<std::string> RandomHexToken(size_t bytes = 32);

}  // namespace qfleet

#endif  // QFLEET_COMMON_SECURITY_RANDOM_TOKEN_H_
