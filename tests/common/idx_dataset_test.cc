#include "common/idx_dataset.h"

#include <zlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "common/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace qfleet {
namespace {

using ::testing::HasSubstr;
constexpr auto kInvalid = absl::StatusCode::kInvalidArgument;
constexpr auto kNotFound = absl::StatusCode::kNotFound;

std::string IdxBytes(uint8_t ndim, const std::vector<uint32_t>& dims,
                     const std::vector<uint8_t>& payload) {
  std::string out{'\0', '\0', '\x08', static_cast<char>(ndim)};
  for (uint32_t d : dims) {
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>(d >> shift));
  }
  out.append(payload.begin(), payload.end());
  return out;
}

class IdxDatasetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = std::filesystem::path(::testing::TempDir()) /
           (std::string("qfleet_idx_") + info->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    for (int i = 0; i < 3 * 2 * 4; ++i) pixels_.push_back(static_cast<uint8_t>(i * 7));
    labels_ = {9, 0, 4};
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Path(const std::string& name) const { return (dir_ / name).string(); }

  std::string WritePlain(const std::string& name, const std::string& bytes) const {
    std::ofstream(Path(name), std::ios::binary) << bytes;
    return Path(name);
  }

  std::string WriteGzip(const std::string& name, const std::string& bytes) const {
    gzFile f = gzopen(Path(name).c_str(), "wb");
    EXPECT_NE(f, nullptr);
    EXPECT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())),
              static_cast<int>(bytes.size()));
    gzclose(f);
    return Path(name);
  }

  std::string Images() const { return IdxBytes(3, {3, 2, 4}, pixels_); }
  std::string Labels() const { return IdxBytes(1, {3}, labels_); }

  void ExpectSample(const ImageDataset& ds) const {
    EXPECT_EQ(ds.count, 3);
    EXPECT_EQ(ds.rows, 2);
    EXPECT_EQ(ds.cols, 4);
    EXPECT_EQ(ds.num_classes, 10);
    EXPECT_EQ(ds.pixels, pixels_);
    EXPECT_EQ(ds.labels, labels_);
  }

  std::filesystem::path dir_;
  std::vector<uint8_t> pixels_, labels_;
};

TEST_F(IdxDatasetTest, LoadsPlainFiles) {
  ASSERT_OK_AND_ASSIGN(const ImageDataset ds,
                       LoadIdx(WritePlain("img", Images()), WritePlain("lbl", Labels())));
  ExpectSample(ds);
}

TEST_F(IdxDatasetTest, LoadsGzipFilesWhateverTheirName) {
  ASSERT_OK_AND_ASSIGN(const ImageDataset ds,
                       LoadIdx(WriteGzip("img.gz", Images()), WriteGzip("lbl_no_suffix", Labels())));
  ExpectSample(ds);
}

TEST_F(IdxDatasetTest, FashionMnistNamingWithAndWithoutGz) {
  WriteGzip("train-images-idx3-ubyte.gz", Images());
  WritePlain("train-labels-idx1-ubyte", Labels());
  ASSERT_OK_AND_ASSIGN(const ImageDataset ds, LoadFashionMnist(dir_.string(), true));
  ExpectSample(ds);
  EXPECT_THAT(LoadFashionMnist(dir_.string(), false),
              StatusIs(kNotFound, HasSubstr("t10k-images-idx3-ubyte")));
}

TEST_F(IdxDatasetTest, EmptyDatasetIsValid) {
  ASSERT_OK_AND_ASSIGN(const ImageDataset ds, LoadIdx(WritePlain("i", IdxBytes(3, {0, 28, 28}, {})),
                                                      WritePlain("l", IdxBytes(1, {0}, {}))));
  EXPECT_EQ(ds.count, 0);
  EXPECT_TRUE(ds.pixels.empty());
}

// --- Error paths -----------------------------------------------------------

TEST_F(IdxDatasetTest, ErrorPathMissingFile) {
  const std::string labels = WritePlain("lbl", Labels());
  EXPECT_THAT(LoadIdx(Path("nope"), labels), StatusIs(kNotFound, HasSubstr("nope")));
  const std::string images = WritePlain("img", Images());
  EXPECT_THAT(LoadIdx(images, Path("nope")), StatusIs(kNotFound));
}

TEST_F(IdxDatasetTest, ErrorPathBadMagic) {
  const std::string labels = WritePlain("lbl", Labels());
  std::string bad = Images();
  bad[0] = 1;
  EXPECT_THAT(LoadIdx(WritePlain("a", bad), labels), StatusIs(kInvalid, HasSubstr("bad IDX magic")));
  bad = Images();
  bad[2] = 0x0D;  // float elements
  EXPECT_THAT(LoadIdx(WritePlain("b", bad), labels), StatusIs(kInvalid, HasSubstr("not ubyte")));
  EXPECT_THAT(LoadIdx(labels, labels), StatusIs(kInvalid, HasSubstr("has 1 dims, expected 3")));
  EXPECT_THAT(LoadIdx(WritePlain("c", "\0\0"), labels), StatusIs(kInvalid, HasSubstr("magic")));
}

TEST_F(IdxDatasetTest, ErrorPathTruncatedPlainAndGzip) {
  const std::string labels = WritePlain("lbl", Labels());
  const std::string images = Images();
  for (size_t len : {size_t{6}, size_t{16}, images.size() - 1}) {
    EXPECT_THAT(LoadIdx(WritePlain("p" + std::to_string(len), images.substr(0, len)), labels),
                StatusIs(kInvalid, HasSubstr("truncated")))
        << len;
  }
  // A gzip stream cut short: the decompressor must report it, not return zeros.
  std::string big(4096, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 131) ^ (i >> 3));
  const std::vector<uint8_t> payload(big.begin(), big.end());
  const std::string gz = WriteGzip("full.gz", IdxBytes(3, {1, 64, 64}, payload));
  std::ifstream in(gz, std::ios::binary);
  const std::string compressed((std::istreambuf_iterator<char>(in)), {});
  const std::string cut = WritePlain("cut.gz", compressed.substr(0, compressed.size() / 2));
  const std::string one_label = WritePlain("one", IdxBytes(1, {1}, {3}));
  EXPECT_THAT(LoadIdx(cut, one_label), StatusIs(kInvalid));
  const std::string no_trailer = WritePlain("cut2.gz", compressed.substr(0, compressed.size() - 4));
  EXPECT_THAT(LoadIdx(no_trailer, one_label), StatusIs(kInvalid, HasSubstr("corrupt stream")));
  ASSERT_OK(LoadIdx(gz, one_label).status());
}

TEST_F(IdxDatasetTest, ErrorPathTrailingBytes) {
  EXPECT_THAT(LoadIdx(WritePlain("img", Images() + "x"), WritePlain("lbl", Labels())),
              StatusIs(kInvalid, HasSubstr("trailing")));
}

TEST_F(IdxDatasetTest, ErrorPathCountMismatchZeroDimsAndBadLabels) {
  const std::string images = WritePlain("img", Images());
  EXPECT_THAT(LoadIdx(images, WritePlain("l2", IdxBytes(1, {2}, {1, 2}))),
              StatusIs(kInvalid, HasSubstr("3 images but")));
  EXPECT_THAT(LoadIdx(images, WritePlain("l3", IdxBytes(1, {3}, {1, 10, 2}))),
              StatusIs(kInvalid, HasSubstr("label 10 at index 1")));
  EXPECT_THAT(LoadIdx(WritePlain("zero", IdxBytes(3, {3, 0, 4}, {})), WritePlain("l", Labels())),
              StatusIs(kInvalid, HasSubstr("rows and cols")));
  EXPECT_THAT(LoadIdx(WritePlain("huge", IdxBytes(3, {0xFFFFFFFF, 0xFFFF, 0xFFFF}, {})),
                      WritePlain("l", Labels())),
              StatusIs(kInvalid, HasSubstr("exceeds")));
}

// --- The real data set (skipped where the Debian package is absent) ---------

void CheckRealSplit(bool train, int64_t expected_count) {
  if (!std::filesystem::exists(kDefaultFashionMnistDir)) {
    GTEST_SKIP() << kDefaultFashionMnistDir << " not installed";
  }
  ASSERT_OK_AND_ASSIGN(const ImageDataset ds, LoadFashionMnist("", train));
  EXPECT_EQ(ds.count, expected_count);
  EXPECT_EQ(ds.rows, 28);
  EXPECT_EQ(ds.cols, 28);
  EXPECT_EQ(ds.pixels.size(), static_cast<size_t>(expected_count * 28 * 28));
  ASSERT_EQ(ds.labels.size(), static_cast<size_t>(expected_count));
  std::vector<int64_t> per_class(10, 0);
  for (uint8_t l : ds.labels) ++per_class[l];
  for (int64_t n : per_class) EXPECT_EQ(n, expected_count / 10);  // Fashion-MNIST is balanced
}

TEST(SelectImagesTest, CopiesTheChosenImagesInOrderAndRefusesBadIndices) {
  ImageDataset d;
  d.count = 3;
  d.rows = 1;
  d.cols = 2;
  d.pixels = {1, 2, 3, 4, 5, 6};
  d.labels = {7, 8, 9};
  ASSERT_OK_AND_ASSIGN(ImageDataset s, SelectImages(d, {2, 0, 2}));
  EXPECT_EQ(s.count, 3);
  EXPECT_EQ(s.rows, 1);
  EXPECT_EQ(s.cols, 2);
  EXPECT_EQ(s.pixels, (std::vector<uint8_t>{5, 6, 1, 2, 5, 6}));
  EXPECT_EQ(s.labels, (std::vector<uint8_t>{9, 7, 9}));
  ASSERT_OK_AND_ASSIGN(ImageDataset none, SelectImages(d, {}));
  EXPECT_EQ(none.count, 0);
  EXPECT_THAT(SelectImages(d, {0, 3}), StatusIs(kInvalid, HasSubstr("image index 3")));
  EXPECT_THAT(SelectImages(d, {-1}), StatusIs(kInvalid));
}

TEST(FashionMnistTest, RealTrainSplitHas60000Images) { CheckRealSplit(true, 60000); }
TEST(FashionMnistTest, RealTestSplitHas10000Images) { CheckRealSplit(false, 10000); }

}  // namespace
}  // namespace qfleet
