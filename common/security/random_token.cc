#include "common/security/random_token.h"

#include <openssl/rand.h>

#include <vector>

#include "absl/strings/escaping.h"

namespace qfleet {

absl::StatusOr<std::string> RandomHexToken(size_t bytes) {
  std::vector<unsigned char> raw(bytes);
  if (bytes > 0 && RAND_bytes(raw.data(), static_cast<int>(bytes)) != 1) {
    return absl::InternalError("RAND_bytes failed");
  }
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(raw.data()), raw.size()));
}

}  // namespace qfleet
