#ifndef QFLEET_TESTS_CLOUD_STORE_STORE_TEST_UTIL_H_
#define QFLEET_TESTS_CLOUD_STORE_STORE_TEST_UTIL_H_

// Helpers shared by the cloud/store tests: a scratch directory, file
// tampering, and bit-exact comparison of doubles.

#include <stdlib.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace qfleet::cloud::testing {

// A fresh directory under $TMPDIR (or /tmp), removed with its contents.
class TempDir {
 public:
  TempDir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "qfleet_store_XXXXXX")
            .string();
    path_ = ::mkdtemp(pattern.data()) != nullptr ? pattern : std::string();
    EXPECT_FALSE(path_.empty()) << "mkdtemp failed";
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline std::string ReadFileBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in),
                     std::istreambuf_iterator<char>());
}

inline void WriteFileBytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

// The IEEE-754 bit pattern of `value`.
inline uint64_t Bits(double value) {
  uint64_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  return bits;
}

// Matches an OK absl::StatusOr whose value matches `expected` (a value or
// a matcher).
MATCHER_P(IsOkAndHolds, expected, "is OK and holds a matching value") {
  if (!arg.ok()) {
    *result_listener << "whose status is " << arg.status();
    return false;
  }
  return ::testing::ExplainMatchResult(expected, *arg, result_listener);
}

}  // namespace qfleet::cloud::testing

// Expects two doubles to be bit-identical (so -0.0 != 0.0), except that any
// NaN equals any NaN (SQLite stores NaN as NULL and loses its payload).
#define EXPECT_SAME_DOUBLE(a, b)                                      \
  do {                                                                \
    const double qfleet_a_ = (a), qfleet_b_ = (b);                    \
    if (qfleet_a_ != qfleet_a_ || qfleet_b_ != qfleet_b_) {           \
      EXPECT_TRUE(qfleet_a_ != qfleet_a_ && qfleet_b_ != qfleet_b_)   \
          << #a << "=" << qfleet_a_ << " " << #b << "=" << qfleet_b_; \
    } else {                                                          \
      EXPECT_EQ(::qfleet::cloud::testing::Bits(qfleet_a_),            \
                ::qfleet::cloud::testing::Bits(qfleet_b_))            \
          << #a << "=" << qfleet_a_ << " " << #b << "=" << qfleet_b_; \
    }                                                                 \
  } while (false)

#endif  // QFLEET_TESTS_CLOUD_STORE_STORE_TEST_UTIL_H_
