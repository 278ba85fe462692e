#include "common/plan_codec.h"

#include <random>
#include <string>
#include <vector>

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

PrecisionPlan SamplePlan() {
  PrecisionPlan p;
  p.version = 0x0102030405060708ull;
  p.layer_names = {"conv1", "fc"};
  p.channels = {3, 6};
  p.codes = {1, 2, 3, 0, 3, 0, 1, 1, 2};
  return p;
}

// Recomputes the header crc32c so semantic checks can be reached.
void Reseal(std::string* bytes) {
  const uint32_t head = Crc32c(bytes->data(), kPlanCrcOffset);
  const uint32_t crc =
      Crc32c(bytes->data() + kPlanHeaderBytes, bytes->size() - kPlanHeaderBytes, head);
  for (int i = 0; i < 4; ++i) (*bytes)[kPlanCrcOffset + i] = static_cast<char>(crc >> (8 * i));
}

TEST(PlanCodecTest, RoundTrips) {
  const PrecisionPlan plan = SamplePlan();
  ASSERT_OK_AND_ASSIGN(const std::string bytes, EncodePlan(plan));
  ASSERT_OK_AND_ASSIGN(const PrecisionPlan back, DecodePlan(bytes));
  EXPECT_EQ(back.version, plan.version);
  EXPECT_EQ(back.layer_names, plan.layer_names);
  EXPECT_EQ(back.channels, plan.channels);
  EXPECT_EQ(back.codes, plan.codes);
}

TEST(PlanCodecTest, RoundTripsLargeRandomPlans) {
  std::mt19937 rng(1);
  for (int trial = 0; trial < 20; ++trial) {
    PrecisionPlan plan;
    plan.version = rng();
    const int layers = 1 + static_cast<int>(rng() % 30);
    for (int l = 0; l < layers; ++l) {
      plan.layer_names.push_back("layer" + std::to_string(l));
      plan.channels.push_back(1 + rng() % 513);
      for (uint32_t c = 0; c < plan.channels.back(); ++c) plan.codes.push_back(rng() % 4);
    }
    ASSERT_OK_AND_ASSIGN(const std::string bytes, EncodePlan(plan));
    ASSERT_OK_AND_ASSIGN(const PrecisionPlan back, DecodePlan(bytes));
    EXPECT_EQ(back.codes, plan.codes);
    EXPECT_EQ(back.channels, plan.channels);
  }
}

TEST(PlanCodecTest, ByteLayoutMatchesTheHeaderComment) {
  ASSERT_OK_AND_ASSIGN(const std::string b, EncodePlan(SamplePlan()));
  ASSERT_EQ(b.size(), 32u + (1 + 5 + 4) + (1 + 2 + 4) + 3);
  EXPECT_EQ(b.substr(0, 28), std::string("QFPL\x01\x00\x00\x00"
                                         "\x02\x00\x00\x00"
                                         "\x09\x00\x00\x00"
                                         "\x08\x07\x06\x05\x04\x03\x02\x01"
                                         "\x00\x00\x00\x00",
                                         28));
  EXPECT_EQ(b.substr(32, 17), std::string("\x05"
                                          "conv1"
                                          "\x03\x00\x00\x00"
                                          "\x02"
                                          "fc"
                                          "\x06\x00\x00\x00",
                                          17));
  // codes 1,2,3,0 | 3,0,1,1 | 2: channel 0 in the low bits.
  EXPECT_EQ(b.substr(49), std::string("\x39\x53\x02", 3));
  std::string copy = b;
  Reseal(&copy);
  EXPECT_EQ(copy, b);  // the crc covers everything but itself
}

TEST(PlanCodecTest, EmptyPlanIsJustAHeader) {
  PrecisionPlan empty;
  empty.version = 9;
  ASSERT_OK_AND_ASSIGN(const std::string b, EncodePlan(empty));
  EXPECT_EQ(b.size(), kPlanHeaderBytes);
  ASSERT_OK_AND_ASSIGN(const PrecisionPlan back, DecodePlan(b));
  EXPECT_EQ(back.version, 9u);
  EXPECT_TRUE(back.codes.empty());
}

// --- Error paths: decoding -------------------------------------------------

TEST(PlanCodecTest, ErrorPathEveryTruncationIsInvalidArgument) {
  ASSERT_OK_AND_ASSIGN(const std::string b, EncodePlan(SamplePlan()));
  for (size_t len = 0; len < b.size(); ++len) {
    EXPECT_THAT(DecodePlan(absl::string_view(b.data(), len)), StatusIs(kInvalid)) << len;
  }
  EXPECT_THAT(DecodePlan(b + "x"), StatusIs(kInvalid, HasSubstr("trailing")));
}

TEST(PlanCodecTest, ErrorPathEverySingleBitFlipIsRejected) {
  ASSERT_OK_AND_ASSIGN(std::string b, EncodePlan(SamplePlan()));
  for (size_t bit = 0; bit < b.size() * 8; ++bit) {
    b[bit / 8] ^= static_cast<char>(1 << (bit % 8));
    EXPECT_THAT(DecodePlan(b), StatusIs(AnyOf(kInvalid, kDataLoss))) << "bit " << bit;
    b[bit / 8] ^= static_cast<char>(1 << (bit % 8));
  }
}

TEST(PlanCodecTest, ErrorPathCorruptHeaderFields) {
  ASSERT_OK_AND_ASSIGN(const std::string good, EncodePlan(SamplePlan()));
  struct Case {
    size_t offset;
    uint8_t value;
    const char* message;
  };
  const Case cases[] = {
      {1, 'X', "bad magic"},
      {4, 7, "unsupported QFPL version 7"},
      {7, 1, "flags"},
      {8, 3, "truncated"},       // 3 layers
      {8, 1, "trailing"},        // 1 layer: the second layer's bytes are left over
      {15, 0x7F, "out of range"},  // total channels ~ 2^31
      {11, 0x01, "out of range"},  // layers ~ 2^24
      {12, 8, "trailing"},       // 8 channels: codes need 2 bytes, 3 present
      {12, 13, "truncated"},     // 13 channels: codes need 4 bytes
      {27, 1, "reserved"},
  };
  for (const Case& c : cases) {
    std::string bad = good;
    bad[c.offset] = static_cast<char>(c.value);
    EXPECT_THAT(DecodePlan(bad), StatusIs(kInvalid, HasSubstr(c.message))) << c.offset;
  }
}

TEST(PlanCodecTest, ErrorPathCrcMismatchIsDataLoss) {
  ASSERT_OK_AND_ASSIGN(const std::string good, EncodePlan(SamplePlan()));
  std::string code_flip = good;
  code_flip.back() ^= 0x01;
  EXPECT_THAT(DecodePlan(code_flip), StatusIs(kDataLoss, HasSubstr("crc32c")));
  std::string version_flip = good;
  version_flip[16] ^= 0x10;  // plan_version is covered too
  EXPECT_THAT(DecodePlan(version_flip), StatusIs(kDataLoss));
  std::string crc_flip = good;
  crc_flip[kPlanCrcOffset] ^= 0x01;
  EXPECT_THAT(DecodePlan(crc_flip), StatusIs(kDataLoss));
}

TEST(PlanCodecTest, ErrorPathSemanticChecksBehindAValidCrc) {
  // Layout of SamplePlan: header [0, 32); conv1 name_len at 32, name at 33,
  // channels at 38; fc name_len at 42, name at 43, channels at 45; codes at 49.
  ASSERT_OK_AND_ASSIGN(const std::string good, EncodePlan(SamplePlan()));
  std::string padding = good;
  padding.back() = static_cast<char>(padding.back() | 0x40);  // bits after channel 8
  Reseal(&padding);
  EXPECT_THAT(DecodePlan(padding), StatusIs(kInvalid, HasSubstr("padding")));

  std::string sum = good;
  sum[38] = 4;  // conv1: 3 -> 4 channels; the header still says 9
  Reseal(&sum);
  EXPECT_THAT(DecodePlan(sum), StatusIs(kInvalid, HasSubstr("add up to 10")));

  std::string zero = good;
  zero[38] = 0;
  Reseal(&zero);
  EXPECT_THAT(DecodePlan(zero), StatusIs(kInvalid, HasSubstr("0 channels")));

  std::string empty_name = good;
  empty_name[42] = 0;  // fc's name becomes empty; its 2 bytes shift into channels
  empty_name.erase(43, 2);
  Reseal(&empty_name);
  EXPECT_THAT(DecodePlan(empty_name), StatusIs(kInvalid, HasSubstr("name length 0")));

  PrecisionPlan two = SamplePlan();
  two.layer_names = {"ab", "cd"};
  ASSERT_OK_AND_ASSIGN(std::string dup, EncodePlan(two));
  dup[32 + 1 + 2 + 4 + 1] = 'a';
  dup[32 + 1 + 2 + 4 + 2] = 'b';
  Reseal(&dup);
  EXPECT_THAT(DecodePlan(dup), StatusIs(kInvalid, HasSubstr("duplicate layer name 'ab'")));
}

TEST(PlanCodecTest, ErrorPathRandomGarbageIsRejectedWithoutCrashing) {
  ASSERT_OK_AND_ASSIGN(const std::string good, EncodePlan(SamplePlan()));
  std::mt19937 rng(11);
  for (int trial = 0; trial < 500; ++trial) {
    std::string bad = good;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) bad[rng() % bad.size()] = static_cast<char>(rng());
    if (bad == good) continue;
    if (trial % 3 == 0) bad.resize(rng() % (bad.size() + 8), '\xFF');
    EXPECT_THAT(DecodePlan(bad), StatusIs(AnyOf(kInvalid, kDataLoss))) << trial;
  }
}

// --- Error paths: encoding -------------------------------------------------

TEST(PlanCodecTest, ErrorPathEncodeValidates) {
  PrecisionPlan p = SamplePlan();
  p.codes[4] = 4;
  EXPECT_THAT(EncodePlan(p), StatusIs(kInvalid, HasSubstr("code 4 at channel 4")));
  p = SamplePlan();
  p.codes.pop_back();
  EXPECT_THAT(EncodePlan(p), StatusIs(kInvalid, HasSubstr("8 codes for 9 channels")));
  p = SamplePlan();
  p.channels.push_back(1);
  EXPECT_THAT(EncodePlan(p), StatusIs(kInvalid, HasSubstr("2 layer names but 3")));
  p = SamplePlan();
  p.layer_names[1] = "conv1";
  EXPECT_THAT(EncodePlan(p), StatusIs(kInvalid, HasSubstr("duplicate layer name")));
  p = SamplePlan();
  p.layer_names[0] = "";
  EXPECT_THAT(EncodePlan(p), StatusIs(kInvalid, HasSubstr("name length 0")));
  p.layer_names[0] = std::string(256, 'x');
  EXPECT_THAT(EncodePlan(p), StatusIs(kInvalid, HasSubstr("name length 256")));
  p = SamplePlan();
  p.channels[0] = 0;
  p.codes.erase(p.codes.begin(), p.codes.begin() + 3);
  EXPECT_THAT(EncodePlan(p), StatusIs(kInvalid, HasSubstr("0 channels")));
}

}  // namespace
}  // namespace qfleet
