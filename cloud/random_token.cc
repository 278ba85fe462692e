#include "cloud/random_token.h"

#include <openssl/rand.h>

#include "absl/strings/escaping.h"

namespace qfleet::cloud {

absl::StatusOr<std::string> RandomToken() {
  unsigned char raw[32];
  if (RAND_bytes(raw, sizeof(raw)) != 1) return absl::InternalError("RAND_bytes failed");
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(raw), sizeof(raw)));
}

}  // namespace qfleet::cloud
