#include "common/file_io.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "common/status_matchers.h"

namespace qfleet {
namespace {

std::string TempPath(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          ("qfleet-fileio-" + std::to_string(::getpid()) + "-" + name))
      .string();
}

TEST(FileIoTest, WriteThenReadRoundTripsWithMode) {
  const std::string path = TempPath("key");
  const std::string data("secret\0bytes", 12);
  ASSERT_OK(WriteStringToFile(path, data, 0600));
  ASSERT_OK_AND_ASSIGN(std::string back, ReadFileToString(path));
  EXPECT_EQ(back, data);
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  std::filesystem::remove(path);
}

// --- Error paths -------------------------------------------------------------

TEST(FileIoTest, MissingTooLargeAndUnwritableFilesFail) {
  EXPECT_THAT(ReadFileToString("/nonexistent/qfleet/file"),
              StatusIs(absl::StatusCode::kNotFound, testing::HasSubstr("/nonexistent/qfleet")));
  const std::string path = TempPath("big");
  ASSERT_OK(WriteStringToFile(path, std::string(100, 'x')));
  EXPECT_THAT(ReadFileToString(path, 99), StatusIs(absl::StatusCode::kInvalidArgument));
  std::filesystem::remove(path);
  EXPECT_THAT(WriteStringToFile("/nonexistent/qfleet/file", "x"),
              StatusIs(absl::StatusCode::kUnavailable));
}

}  // namespace
}  // namespace qfleet
