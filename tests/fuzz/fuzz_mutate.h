#ifndef QFLEET_TESTS_FUZZ_FUZZ_MUTATE_H_
#define QFLEET_TESTS_FUZZ_FUZZ_MUTATE_H_

// Helpers of the deterministic fuzz replays (GoogleTest stand-ins for the
// libFuzzer targets in tests/fuzz/): a byte mutator, and seed files for the
// fuzzers' corpora.

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

namespace qfleet::fuzz {

// With QFLEET_FUZZ_SEED_DIR set, writes `bytes` as <dir>/<kind>/seed<i>.
inline void WriteSeed(const std::string& kind, int i, const std::string& bytes) {
  const char* dir = std::getenv("QFLEET_FUZZ_SEED_DIR");
  if (dir == nullptr) return;
  std::filesystem::path p = std::filesystem::path(dir) / kind;
  std::filesystem::create_directories(p);
  std::ofstream(p / ("seed" + std::to_string(i)), std::ios::binary) << bytes;
}

// One random edit: flipped bits, a truncation, an extreme byte, or junk
// appended.
inline std::string Mutate(std::string s, std::mt19937& rng) {
  switch (rng() % 4) {
    case 0:  // flip bits
      for (int k = 0, n = 1 + rng() % 4; k < n && !s.empty(); ++k) s[rng() % s.size()] ^= 1 << (rng() % 8);
      break;
    case 1:  // truncate
      s.resize(s.empty() ? 0 : rng() % s.size());
      break;
    case 2:  // overwrite a byte with an extreme value
      if (!s.empty()) s[rng() % s.size()] = (rng() % 2) ? '\xff' : '\0';
      break;
    default:  // append junk
      s.append(1 + rng() % 8, static_cast<char>(rng()));
  }
  return s;
}

}  // namespace qfleet::fuzz

#endif  // QFLEET_TESTS_FUZZ_FUZZ_MUTATE_H_
