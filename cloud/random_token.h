#ifndef QFLEET_CLOUD_RANDOM_TOKEN_H_
#define QFLEET_CLOUD_RANDOM_TOKEN_H_

#include <string>

#include "absl/status/statusor.h"

namespace qfleet::cloud {

// A fresh bearer secret: 32 bytes from OpenSSL's CSPRNG as 64 lowercase hex
// characters. Internal if the generator fails. Thread-safe.
absl::StatusOr<std::string> RandomToken();

}  // namespace qfleet::cloud

#endif  // QFLEET_CLOUD_RANDOM_TOKEN_H_
