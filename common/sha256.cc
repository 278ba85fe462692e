#include "common/sha256.h"

#include <openssl/evp.h>

namespace qfleet {

std::string Sha256Hex(absl::string_view bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), digest, &digest_len, EVP_sha256(),
                 nullptr) != 1) {
    return std::string();
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex(2 * static_cast<size_t>(digest_len), '\0');
  for (unsigned int i = 0; i < digest_len; ++i) {
    hex[2 * i] = kHex[digest[i] >> 4];
    hex[2 * i + 1] = kHex[digest[i] & 0x0F];
  }
  return hex;
}

bool IsSha256Hex(absl::string_view s) {
  if (s.size() != 64) return false;
  for (char ch : s) {
    const bool digit = ch >= '0' && ch <= '9';
    const bool lower_hex = ch >= 'a' && ch <= 'f';
    if (!digit && !lower_hex) return false;
  }
  return true;
}

}  // namespace qfleet
