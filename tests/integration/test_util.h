#ifndef QFLEET_TESTS_INTEGRATION_TEST_UTIL_H_
#define QFLEET_TESTS_INTEGRATION_TEST_UTIL_H_

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>

#include "common/idx_dataset.h"

namespace qfleet::testing_util {

// True when Debian's dataset-fashion-mnist is installed.
inline bool HaveFashionMnist() {
  return std::filesystem::exists(std::string(kDefaultFashionMnistDir) + "/t10k-labels-idx1-ubyte.gz");
}

// A fresh directory under the system temp dir, unique per process and call.
inline std::filesystem::path MakeTempDir(const std::string& prefix) {
  auto dir = std::filesystem::temp_directory_path() /
             (prefix + "-" + std::to_string(::getpid()) + "-" +
              std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
  std::filesystem::create_directories(dir);
  return dir;
}

}  // namespace qfleet::testing_util

#endif  // QFLEET_TESTS_INTEGRATION_TEST_UTIL_H_
