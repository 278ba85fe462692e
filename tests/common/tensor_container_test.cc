#include "common/tensor_container.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "common/bit_packing.h"
#include "common/byte_writer.h"
#include "common/crc32c.h"
#include "common/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace qfleet {
namespace {

using ::testing::AnyOf;
using ::testing::HasSubstr;
constexpr auto kInvalid = absl::StatusCode::kInvalidArgument;
constexpr auto kDataLoss = absl::StatusCode::kDataLoss;

Tensor RandomFloat(const std::string& name, std::vector<int64_t> shape, uint32_t seed) {
  Tensor t;
  t.name = name;
  t.shape = std::move(shape);
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  t.values.resize(static_cast<size_t>(t.NumElements()));
  for (float& v : t.values) v = dist(rng);
  return t;
}

Tensor RandomPacked(const std::string& name, std::vector<int64_t> shape,
                    std::vector<uint8_t> bits, uint32_t seed) {
  Tensor t;
  t.name = name;
  t.dtype = DType::kPackedPerChannel;
  t.shape = std::move(shape);
  t.bits = std::move(bits);
  std::mt19937 rng(seed);
  size_t bytes = 0;
  for (uint8_t b : t.bits) {
    t.scales.push_back(0.01f * static_cast<float>(1 + rng() % 100));
    t.zero_points.push_back(static_cast<int32_t>(rng() % (1u << b)));
    bytes += PackedBytes(static_cast<size_t>(t.RowLength()), b);
  }
  t.packed.resize(bytes);
  for (uint8_t& p : t.packed) p = static_cast<uint8_t>(rng());
  return t;
}

TensorContainer SampleContainer() {
  TensorContainer c;
  c.tensors.push_back(RandomFloat("conv1.weight", {4, 3, 2, 2}, 1));
  c.tensors.push_back(RandomPacked("fc.weight", {3, 5}, {4, 3, 8}, 2));
  c.tensors.push_back(RandomFloat("scalar", {}, 3));
  c.tensors.push_back(RandomFloat("empty", {2, 0}, 4));
  c.tensors.push_back(RandomPacked("empty_packed", {0, 7}, {}, 5));
  return c;
}

void ExpectSameTensor(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.dtype, b.dtype);
  EXPECT_EQ(a.shape, b.shape);
  EXPECT_EQ(a.values, b.values);
  EXPECT_EQ(a.bits, b.bits);
  EXPECT_EQ(a.scales, b.scales);
  EXPECT_EQ(a.zero_points, b.zero_points);
  EXPECT_EQ(a.packed, b.packed);
}

// Test-side writer of a kFloat32 record that skips all validation, so the
// decoder's semantic checks can be reached with valid CRCs.
void AppendRawFloatRecord(std::string* out, const std::string& name,
                          const std::vector<int64_t>& dims, const std::vector<float>& values) {
  const size_t start = out->size();
  ByteWriter w(out);
  w.PutU16(static_cast<uint16_t>(name.size()));
  w.PutString(name);
  w.PutU8(0);
  w.PutU8(static_cast<uint8_t>(dims.size()));
  w.PutU16(0);
  for (int64_t d : dims) w.PutI64(d);
  w.PutU64(4 * values.size());
  for (float v : values) w.PutF32(v);
  w.PutU32(Crc32c(out->data() + start, out->size() - start));
}

std::string RawContainer(uint32_t count, const std::string& records) {
  std::string out("QFTC\x01\x00\x00\x00", 8);
  ByteWriter w(&out);
  w.PutU32(count);
  w.PutU32(0);
  out += records;
  w.PutU32(Crc32c(out.data(), out.size()));
  return out;
}

void PutU32At(std::string* s, size_t offset, uint32_t v) {
  for (int i = 0; i < 4; ++i) (*s)[offset + i] = static_cast<char>(v >> (8 * i));
}

TEST(TensorContainerTest, RoundTripsEveryKindOfTensor) {
  const TensorContainer c = SampleContainer();
  ASSERT_OK_AND_ASSIGN(const std::string bytes, EncodeContainer(c));
  ASSERT_OK_AND_ASSIGN(const TensorContainer back, DecodeContainer(bytes));
  ASSERT_EQ(back.tensors.size(), c.tensors.size());
  for (size_t i = 0; i < c.tensors.size(); ++i) ExpectSameTensor(back.tensors[i], c.tensors[i]);
  ASSERT_OK_AND_ASSIGN(const std::string again, EncodeContainer(back));
  EXPECT_EQ(again, bytes);
}

TEST(TensorContainerTest, EmptyContainerIsHeaderPlusTrailer) {
  ASSERT_OK_AND_ASSIGN(const std::string bytes, EncodeContainer(TensorContainer{}));
  EXPECT_EQ(bytes.size(), kContainerHeaderBytes + kContainerTrailerBytes);
  ASSERT_OK_AND_ASSIGN(const TensorContainer back, DecodeContainer(bytes));
  EXPECT_TRUE(back.tensors.empty());
}

TEST(TensorContainerTest, ByteLayoutMatchesTheHeaderComment) {
  TensorContainer c;
  Tensor t;
  t.name = "a";
  t.shape = {2};
  t.values = {1.0f, -2.0f};
  c.tensors.push_back(t);
  ASSERT_OK_AND_ASSIGN(const std::string bytes, EncodeContainer(c));
  const std::string header("QFTC\x01\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00", 16);
  const std::string record_body(
      "\x01\x00"
      "a"
      "\x00\x01\x00\x00"
      "\x02\x00\x00\x00\x00\x00\x00\x00"
      "\x08\x00\x00\x00\x00\x00\x00\x00"
      "\x00\x00\x80\x3F"
      "\x00\x00\x00\xC0",
      31);
  ASSERT_EQ(bytes.size(), 16 + 31 + 4 + 4u);
  EXPECT_EQ(bytes.substr(0, 16), header);
  EXPECT_EQ(bytes.substr(16, 31), record_body);
  std::string expected = header + record_body;
  ByteWriter w(&expected);
  w.PutU32(Crc32c(record_body.data(), record_body.size()));
  w.PutU32(Crc32c(expected.data(), expected.size()));
  EXPECT_EQ(bytes, expected);
}

TEST(TensorContainerTest, FindByName) {
  const TensorContainer c = SampleContainer();
  ASSERT_NE(c.Find("fc.weight"), nullptr);
  EXPECT_EQ(c.Find("fc.weight")->dtype, DType::kPackedPerChannel);
  EXPECT_EQ(c.Find("missing"), nullptr);
}

TEST(TensorContainerTest, RawWriterAgreesWithEncoder) {
  TensorContainer c;
  c.tensors.push_back(RandomFloat("x", {2, 3}, 9));
  std::string records;
  AppendRawFloatRecord(&records, "x", {2, 3}, c.tensors[0].values);
  ASSERT_OK_AND_ASSIGN(const std::string bytes, EncodeContainer(c));
  EXPECT_EQ(RawContainer(1, records), bytes);
}

// --- Error paths: decoding -------------------------------------------------

TEST(TensorContainerTest, ErrorPathEveryTruncationIsInvalidArgument) {
  ASSERT_OK_AND_ASSIGN(const std::string bytes, EncodeContainer(SampleContainer()));
  for (size_t len = 0; len < bytes.size(); ++len) {
    EXPECT_THAT(DecodeContainer(absl::string_view(bytes.data(), len)), StatusIs(kInvalid))
        << "prefix of " << len << " bytes";
  }
}

TEST(TensorContainerTest, ErrorPathEverySingleBitFlipIsRejected) {
  ASSERT_OK_AND_ASSIGN(std::string bytes, EncodeContainer(SampleContainer()));
  for (size_t bit = 0; bit < bytes.size() * 8; ++bit) {
    bytes[bit / 8] ^= static_cast<char>(1 << (bit % 8));
    EXPECT_THAT(DecodeContainer(bytes), StatusIs(AnyOf(kInvalid, kDataLoss))) << "bit " << bit;
    bytes[bit / 8] ^= static_cast<char>(1 << (bit % 8));
  }
}

TEST(TensorContainerTest, ErrorPathCorruptHeaderFields) {
  ASSERT_OK_AND_ASSIGN(const std::string good, EncodeContainer(SampleContainer()));
  struct Case {
    size_t offset;
    uint8_t value;
    const char* message;
  };
  const Case cases[] = {
      {0, 'X', "bad magic"},
      {3, 'D', "bad magic"},
      {4, 2, "unsupported QFTC version 2"},
      {6, 1, "unknown QFTC flags"},
      {8, 4, "trailing bytes"},  // tensor_count 5 -> 4
      {8, 6, "truncated"},       // tensor_count 5 -> 6
      {11, 0xFF, "exceeds the limit"},
      {12, 1, "reserved"},
  };
  for (const Case& c : cases) {
    std::string bad = good;
    bad[c.offset] = static_cast<char>(c.value);
    EXPECT_THAT(DecodeContainer(bad), StatusIs(kInvalid, HasSubstr(c.message)))
        << "offset " << c.offset;
  }
  std::string huge_count = good;
  PutU32At(&huge_count, 8, kMaxContainerTensors);  // allowed by the limit, not by the size
  EXPECT_THAT(DecodeContainer(huge_count), StatusIs(kInvalid, HasSubstr("cannot fit")));
}

TEST(TensorContainerTest, ErrorPathCrcMismatchIsDataLoss) {
  ASSERT_OK_AND_ASSIGN(const std::string good, EncodeContainer(SampleContainer()));
  std::string value_flip = good;
  value_flip[16 + 2 + 12 + 4 + 4 * 8 + 8] ^= 0x01;  // first value byte of conv1.weight
  EXPECT_THAT(DecodeContainer(value_flip), StatusIs(kDataLoss, HasSubstr("record 0")));
  std::string trailer_flip = good;
  trailer_flip[good.size() - 1] ^= 0x80;
  EXPECT_THAT(DecodeContainer(trailer_flip), StatusIs(kDataLoss, HasSubstr("file crc32c")));
}

TEST(TensorContainerTest, ErrorPathTrailingBytes) {
  ASSERT_OK_AND_ASSIGN(const std::string good, EncodeContainer(SampleContainer()));
  EXPECT_THAT(DecodeContainer(good + std::string(1, '\0')),
              StatusIs(kInvalid, HasSubstr("trailing")));
}

TEST(TensorContainerTest, ErrorPathNanAndInfWithValidCrcsAreRejected) {
  for (float bad : {std::nanf(""), std::numeric_limits<float>::infinity()}) {
    std::string records;
    AppendRawFloatRecord(&records, "w", {2}, {1.0f, bad});
    EXPECT_THAT(DecodeContainer(RawContainer(1, records)),
                StatusIs(kInvalid, HasSubstr("values[1] is")));
  }
}

TEST(TensorContainerTest, ErrorPathBadRecordFieldsWithValidCrcs) {
  std::string records;
  AppendRawFloatRecord(&records, "", {1}, {1.0f});
  EXPECT_THAT(DecodeContainer(RawContainer(1, records)),
              StatusIs(kInvalid, HasSubstr("name length 0")));
  records.clear();
  AppendRawFloatRecord(&records, "w", {3}, {1.0f, 2.0f});
  EXPECT_THAT(DecodeContainer(RawContainer(1, records)),
              StatusIs(kInvalid, HasSubstr("has 2 values, shape needs 3")));
  records.clear();
  AppendRawFloatRecord(&records, "w", {-2}, {});
  EXPECT_THAT(DecodeContainer(RawContainer(1, records)), StatusIs(kInvalid, HasSubstr("negative")));
  records.clear();
  AppendRawFloatRecord(&records, "w", {1, 1, 1, 1, 1, 1, 1, 1, 1}, {1.0f});
  EXPECT_THAT(DecodeContainer(RawContainer(1, records)), StatusIs(kInvalid, HasSubstr("ndim 9")));
  records.clear();
  AppendRawFloatRecord(&records, "dup", {1}, {1.0f});
  AppendRawFloatRecord(&records, "dup", {1}, {2.0f});
  EXPECT_THAT(DecodeContainer(RawContainer(2, records)),
              StatusIs(kInvalid, HasSubstr("duplicate tensor name 'dup'")));
}

TEST(TensorContainerTest, ErrorPathHugeLengthsDoNotAllocate) {
  std::string records;
  AppendRawFloatRecord(&records, "w", {1}, {1.0f});
  std::string bad = RawContainer(1, records);
  // data_len sits after name_len(2) + name(1) + dtype/ndim/reserved(4) + dims(8).
  const size_t data_len_at = 16 + 2 + 1 + 4 + 8;
  for (int i = 0; i < 8; ++i) bad[data_len_at + i] = '\xFF';
  EXPECT_THAT(DecodeContainer(bad), StatusIs(kInvalid, HasSubstr("field data")));

  std::string packed_bad = RawContainer(1, records);
  packed_bad[16 + 3] = 1;  // dtype -> packed with C = 1: params run into the data
  for (int i = 0; i < 8; ++i) packed_bad[16 + 7 + i] = i == 7 ? '\x00' : '\x7F';  // C ~ 2^55
  EXPECT_THAT(DecodeContainer(packed_bad), StatusIs(kInvalid, HasSubstr("channel count")));

  std::string dtype_bad = RawContainer(1, records);
  dtype_bad[16 + 3] = 9;
  EXPECT_THAT(DecodeContainer(dtype_bad), StatusIs(kInvalid, HasSubstr("unknown dtype 9")));
}

TEST(TensorContainerTest, ErrorPathRandomGarbageIsRejectedWithoutCrashing) {
  ASSERT_OK_AND_ASSIGN(const std::string good, EncodeContainer(SampleContainer()));
  std::mt19937 rng(7);
  for (int trial = 0; trial < 500; ++trial) {
    std::string bad = good;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      bad[rng() % bad.size()] = static_cast<char>(rng());
    }
    if (bad == good) continue;
    if (trial % 3 == 0) bad.resize(rng() % (bad.size() + 8), '\xFF');
    EXPECT_THAT(DecodeContainer(bad), StatusIs(AnyOf(kInvalid, kDataLoss))) << trial;
  }
}

// --- Error paths: encoding -------------------------------------------------

TEST(TensorContainerTest, ErrorPathEncodeValidatesEveryTensor) {
  TensorContainer c = SampleContainer();
  c.tensors[0].values[3] = std::nanf("");
  EXPECT_THAT(EncodeContainer(c), StatusIs(kInvalid, HasSubstr("values[3] is NaN")));
  c = SampleContainer();
  c.tensors[1].scales[2] = -1.0f;
  EXPECT_THAT(EncodeContainer(c), StatusIs(kInvalid, HasSubstr("scales[2]")));
  c = SampleContainer();
  c.tensors[2].name = c.tensors[0].name;
  EXPECT_THAT(EncodeContainer(c), StatusIs(kInvalid, HasSubstr("duplicate tensor name")));
}

}  // namespace
}  // namespace qfleet
