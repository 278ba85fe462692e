#include "cloud/store/blob_store.h"

#include <chrono>
#include <filesystem>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "common/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "store_test_util.h"

namespace qfleet::cloud {
namespace {

using ::qfleet::cloud::testing::IsOkAndHolds;
using ::qfleet::cloud::testing::ReadFileBytes;
using ::qfleet::cloud::testing::TempDir;
using ::qfleet::cloud::testing::WriteFileBytes;
using ::testing::HasSubstr;

// FIPS 180-2 test vectors.
constexpr char kAbcHash[] =
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
constexpr char kEmptyHash[] =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

// Names of every file under `dir`, recursively, relative to it.
std::set<std::string> FilesUnder(const std::string& dir) {
  std::set<std::string> files;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    if (entry.is_regular_file()) {
      files.insert(std::filesystem::relative(entry.path(), dir).string());
    }
  }
  return files;
}

class BlobStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = temp_.File("blobs");
    ASSERT_OK_AND_ASSIGN(store_, BlobStore::Open(root_));
  }

  TempDir temp_;
  std::string root_;
  std::unique_ptr<BlobStore> store_;
};

TEST_F(BlobStoreTest, PutStoresUnderHashAndGetReturnsBytes) {
  EXPECT_THAT(store_->Put("abc"), IsOkAndHolds(std::string(kAbcHash)));
  const std::string path = root_ + "/ba/" + kAbcHash;
  EXPECT_EQ(ReadFileBytes(path), "abc");
  EXPECT_THAT(store_->PathOf(kAbcHash), IsOkAndHolds(path));
  EXPECT_TRUE(store_->Has(kAbcHash));
  EXPECT_THAT(store_->Get(kAbcHash), IsOkAndHolds(std::string("abc")));
}

TEST_F(BlobStoreTest, EmptyAndBinaryBlobsRoundTrip) {
  EXPECT_THAT(store_->Put(""), IsOkAndHolds(std::string(kEmptyHash)));
  EXPECT_THAT(store_->Get(kEmptyHash), IsOkAndHolds(std::string()));

  std::string binary(1 << 20, '\0');
  for (size_t i = 0; i < binary.size(); ++i) {
    binary[i] = static_cast<char>((i * 131) >> 3);
  }
  ASSERT_OK_AND_ASSIGN(const std::string hash, store_->Put(binary));
  EXPECT_THAT(store_->Get(hash), IsOkAndHolds(binary));
}

TEST_F(BlobStoreTest, PutIsIdempotentAndLeavesNoTempFiles) {
  ASSERT_OK(store_->Put("abc"));
  ASSERT_OK(store_->Put("abc"));
  EXPECT_EQ(FilesUnder(root_),
            std::set<std::string>{std::string("ba/") + kAbcHash});
}

TEST_F(BlobStoreTest, StaleTempFilesAreRemovedAndBlobsKept) {
  ASSERT_OK(store_->Put("abc"));
  std::filesystem::create_directories(root_ + "/ba");
  WriteFileBytes(root_ + "/ba/.tmp-old-1", "half a blob");
  WriteFileBytes(root_ + "/ba/.tmp-new-2", "in flight");
  std::filesystem::last_write_time(root_ + "/ba/.tmp-old-1",
                                   std::filesystem::file_time_type::clock::now() -
                                       std::chrono::hours(2));
  EXPECT_EQ(store_->RemoveStaleTemps(3600), 1);
  EXPECT_EQ(FilesUnder(root_), (std::set<std::string>{std::string("ba/") + kAbcHash, "ba/.tmp-new-2"}));
  EXPECT_EQ(store_->RemoveStaleTemps(0), 1);
  EXPECT_EQ(FilesUnder(root_), std::set<std::string>{std::string("ba/") + kAbcHash});
  EXPECT_OK(store_->Get(kAbcHash).status());
}

TEST_F(BlobStoreTest, BlobsSurviveReopen) {
  ASSERT_OK(store_->Put("abc"));
  store_.reset();
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<BlobStore> reopened,
                       BlobStore::Open(root_));
  EXPECT_THAT(reopened->Get(kAbcHash), IsOkAndHolds(std::string("abc")));
}

TEST_F(BlobStoreTest, RemoveDeletesTheBlob) {
  ASSERT_OK(store_->Put("abc"));
  EXPECT_OK(store_->Remove(kAbcHash));
  EXPECT_FALSE(store_->Has(kAbcHash));
  EXPECT_THAT(store_->Get(kAbcHash), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(store_->Remove(kAbcHash),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr(kAbcHash)));
}

TEST_F(BlobStoreTest, ConcurrentPutsOfTheSameBytesAgree) {
  const std::string bytes(100000, 'q');
  std::vector<std::thread> threads;
  std::vector<std::string> hashes(4);
  for (size_t t = 0; t < hashes.size(); ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 5; ++i) {
        absl::StatusOr<std::string> hash = store_->Put(bytes);
        EXPECT_THAT(hash, IsOk());
        if (hash.ok()) hashes[t] = *hash;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (const std::string& hash : hashes) EXPECT_EQ(hash, hashes[0]);
  EXPECT_THAT(store_->Get(hashes[0]), IsOkAndHolds(bytes));
  EXPECT_EQ(FilesUnder(root_).size(), 1u);
}

// --- error paths
// ----------------------------------------------------------------

TEST_F(BlobStoreTest, AbsentBlobIsNotFound) {
  EXPECT_FALSE(store_->Has(kAbcHash));
  EXPECT_THAT(store_->Get(kAbcHash),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr(kAbcHash)));
}

TEST_F(BlobStoreTest, TamperedBlobIsDataLossAndPutRepairsIt) {
  ASSERT_OK(store_->Put("abc"));
  const std::string path = root_ + "/ba/" + kAbcHash;
  WriteFileBytes(path, "abd");
  EXPECT_TRUE(store_->Has(kAbcHash));  // Has does not read content.
  EXPECT_THAT(store_->Get(kAbcHash),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr(path)));
  WriteFileBytes(path, "");  // Truncated.
  EXPECT_THAT(store_->Get(kAbcHash), StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_THAT(store_->Put("abc"), IsOkAndHolds(std::string(kAbcHash)));
  EXPECT_THAT(store_->Get(kAbcHash), IsOkAndHolds(std::string("abc")));
}

TEST_F(BlobStoreTest, MalformedHashIsInvalidArgument) {
  const std::string upper = absl::AsciiStrToUpper(kAbcHash);
  for (const std::string& bad :
       {std::string(""), std::string("abc"), std::string(kAbcHash) + "0",
        std::string(kAbcHash).substr(0, 63) + "g", upper,
        std::string("../") + std::string(kAbcHash).substr(3)}) {
    SCOPED_TRACE(bad);
    EXPECT_THAT(store_->Get(bad), StatusIs(absl::StatusCode::kInvalidArgument));
    EXPECT_THAT(store_->Remove(bad),
                StatusIs(absl::StatusCode::kInvalidArgument));
    EXPECT_THAT(store_->PathOf(bad),
                StatusIs(absl::StatusCode::kInvalidArgument));
    EXPECT_FALSE(store_->Has(bad));
  }
}

TEST(BlobStoreOpenTest, CreatesNestedDirectories) {
  TempDir temp;
  const std::string dir = temp.File("a/b/c");
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<BlobStore> store, BlobStore::Open(dir));
  EXPECT_TRUE(std::filesystem::is_directory(dir));
  EXPECT_EQ(store->dir(), dir);
}

TEST(BlobStoreOpenTest, RegularFileIsFailedPrecondition) {
  TempDir temp;
  const std::string file = temp.File("not_a_dir");
  WriteFileBytes(file, "x");
  EXPECT_THAT(BlobStore::Open(file),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr(file)));
  EXPECT_THAT(BlobStore::Open(file + "/sub"),
              StatusIs(absl::StatusCode::kFailedPrecondition));
}

}  // namespace
}  // namespace qfleet::cloud
