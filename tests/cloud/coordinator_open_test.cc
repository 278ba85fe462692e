#include "cloud/coordinator.h"

#include <filesystem>
#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include <nlohmann/json.hpp>
#include "common/container_quant.h"
#include "common/sha256.h"
#include "common/status_matchers.h"
#include "tests/cloud/fake_backend.h"
#include "tests/cloud/coordinator_test_fixture.h"

namespace qfleet::cloud {
namespace {

TEST(CoordinatorOpenTest, CorruptDatabaseIsReportedAtStart) {
  auto dir = std::filesystem::temp_directory_path() / ("qfleet-corrupt-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::string path = (dir / "bad.db").string();
  {
    std::ofstream f(path, std::ios::binary);
    for (int i = 0; i < 8192; ++i) f.put(static_cast<char>((i * 131) % 251));
  }
  CoordinatorOptions o;
  o.db_path = path;
  auto c = Coordinator::Open(o, std::make_unique<FakeBackend>());
  EXPECT_FALSE(c.ok());
  EXPECT_THAT(c.status().code(), testing::AnyOf(absl::StatusCode::kDataLoss,
                                                absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("bad.db"));
  std::filesystem::remove_all(dir);
}

// The first model version from a file (--initial-model): used when the
// database is empty, checked against the backend's model, never used again.
TEST(CoordinatorOpenTest, InitialModelFileSeedsVersionOneAndIsValidated) {
  auto dir = std::filesystem::temp_directory_path() / ("qfleet-initial-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  auto write = [&](const std::string& name, const std::string& bytes) {
    std::ofstream f(dir / name, std::ios::binary);
    f << bytes;
    return (dir / name).string();
  };
  FakeBackend reference;
  ASSERT_OK_AND_ASSIGN(TensorContainer trained, reference.InitialModel(7));
  trained.tensors[1].values = {1, 2, 3, 4};
  ASSERT_OK_AND_ASSIGN(std::string trained_bytes, EncodeContainer(trained));
  auto open = [&](const std::string& db, const std::string& initial) {
    CoordinatorOptions o;
    o.db_path = (dir / db).string();
    o.initial_model_path = initial;
    return Coordinator::Open(o, std::make_unique<FakeBackend>());
  };
  {
    ASSERT_OK_AND_ASSIGN(auto c, open("good.db", write("trained.qftc", trained_bytes)));
    ASSERT_OK_AND_ASSIGN(ModelBlob v1, c->GetModel(0));
    EXPECT_EQ(v1.version, 1u);
    EXPECT_EQ(*v1.bytes, trained_bytes);
  }
  {
    // Reopened with another file: the database's version 1 stays.
    ASSERT_OK_AND_ASSIGN(auto seeded, FakeBackend().InitialModel(1));
    ASSERT_OK_AND_ASSIGN(std::string other, EncodeContainer(seeded));
    ASSERT_OK_AND_ASSIGN(auto c, open("good.db", write("other.qftc", other)));
    ASSERT_OK_AND_ASSIGN(ModelBlob v1, c->GetModel(0));
    EXPECT_EQ(*v1.bytes, trained_bytes);
  }
  // An absent or corrupt file, a wrong shape or a missing tensor: refused,
  // naming the file (the container codec itself refuses NaN/Inf values).
  EXPECT_THAT(open("a.db", (dir / "absent.qftc").string()).status(),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("absent.qftc")));
  std::string corrupt = trained_bytes;
  corrupt[corrupt.size() / 2] ^= 0x5a;
  EXPECT_THAT(open("b.db", write("corrupt.qftc", corrupt)).status(),
              StatusIs(testing::_, HasSubstr("corrupt.qftc")));
  EXPECT_FALSE(open("b2.db", write("truncated.qftc", trained_bytes.substr(0, 10))).ok());
  TensorContainer wrong = trained;
  wrong.tensors[1].shape = {2, 2};
  ASSERT_OK_AND_ASSIGN(std::string wrong_bytes, EncodeContainer(wrong));
  EXPECT_THAT(open("c.db", write("wrong.qftc", wrong_bytes)).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("wrong.qftc")));
  TensorContainer missing = trained;
  missing.tensors.pop_back();
  ASSERT_OK_AND_ASSIGN(std::string missing_bytes, EncodeContainer(missing));
  EXPECT_THAT(open("d.db", write("missing.qftc", missing_bytes)).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("missing.qftc")));
  std::filesystem::remove_all(dir);
}

// --- CancelRound ----------------------------------------------------------------

}  // namespace
}  // namespace qfleet::cloud
