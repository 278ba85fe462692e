#include "common/bit_allocator.h"

#include <cmath>
#include <limits>
#include <vector>

#include "common/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace qfleet {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
constexpr auto kInvalid = absl::StatusCode::kInvalidArgument;

ChannelBitCost Channel(double sensitivity, int64_t elements, double range = 1.0) {
  ChannelBitCost c;
  c.sensitivity = sensitivity;
  c.elements = elements;
  c.range = range;
  return c;
}

BitAllocOptions Budget(double average, std::vector<int> allowed) {
  BitAllocOptions o;
  o.average_bits = average;
  o.allowed_bits = std::move(allowed);
  return o;
}

int64_t TotalBits(const std::vector<ChannelBitCost>& ch, const std::vector<int>& bits) {
  int64_t t = 0;
  for (size_t c = 0; c < ch.size(); ++c) t += ch[c].elements * bits[c];
  return t;
}

TEST(UniformQuantMseTest, MatchesTheFormula) {
  EXPECT_DOUBLE_EQ(UniformQuantMse(3.0, 2), 9.0 / (12.0 * 9.0));
  EXPECT_DOUBLE_EQ(UniformQuantMse(1.0, 8), 1.0 / (12.0 * 255.0 * 255.0));
  EXPECT_DOUBLE_EQ(UniformQuantMse(0.0, 4), 0.0);
}

// Two equal channels, one 100x as sensitive, budget for one upgrade 2 -> 4:
// the sensitive one gets it.
TEST(AllocateBitsTest, SensitiveChannelGetsTheBits) {
  std::vector<ChannelBitCost> ch = {Channel(1.0, 10), Channel(100.0, 10)};
  ASSERT_OK_AND_ASSIGN(auto bits, AllocateBits(ch, Budget(3.0, {2, 4})));
  EXPECT_THAT(bits, ElementsAre(2, 4));
  ch[0].sensitivity = 1000.0;
  ASSERT_OK_AND_ASSIGN(bits, AllocateBits(ch, Budget(3.0, {2, 4})));
  EXPECT_THAT(bits, ElementsAre(4, 2));
}

// A wide channel with a small range is cheap to leave at low bits: with equal
// sensitivity the allocator spends bits where range^2 is large.
TEST(AllocateBitsTest, LargeRangeChannelGetsMoreBits) {
  std::vector<ChannelBitCost> ch = {Channel(1.0, 4, 0.1), Channel(1.0, 4, 10.0)};
  ASSERT_OK_AND_ASSIGN(auto bits, AllocateBits(ch, Budget(4.0, {1, 2, 3, 4, 5, 6, 7, 8})));
  EXPECT_EQ(TotalBits(ch, bits), 32);
  EXPECT_GT(bits[1], bits[0]);
}

// Four identical channels, integer budget: every upgrade has the same cost,
// so the budget is met exactly and spread evenly (err is convex in bits).
TEST(AllocateBitsTest, MeetsAnIntegerBudgetExactly) {
  std::vector<ChannelBitCost> ch(4, Channel(1.0, 10));
  ASSERT_OK_AND_ASSIGN(auto bits, AllocateBits(ch, Budget(3.0, {1, 2, 3, 4, 5, 6, 7, 8})));
  EXPECT_THAT(bits, ElementsAre(3, 3, 3, 3));
  EXPECT_EQ(TotalBits(ch, bits), 120);
  EXPECT_DOUBLE_EQ(AverageBits(ch, bits), 3.0);
}

// Budget 3 bits x 8 elements = 24; start at 2 bits = 16. Upgrading the
// 5-element channel to 4 bits costs 10 (> 8 left), so only the 3-element
// channel can move (cost 6): total 22, just below the budget, even though the
// 5-element channel is more sensitive.
TEST(AllocateBitsTest, EndsJustBelowWhenNothingElseFits) {
  std::vector<ChannelBitCost> ch = {Channel(1.0, 3), Channel(50.0, 5)};
  ASSERT_OK_AND_ASSIGN(auto bits, AllocateBits(ch, Budget(3.0, {2, 4})));
  EXPECT_THAT(bits, ElementsAre(4, 2));
  EXPECT_EQ(TotalBits(ch, bits), 22);
  EXPECT_LE(AverageBits(ch, bits), 3.0);
}

// Hand-worked with a measured error table, allowed {2, 3}, 1 element each,
// budget 5 bits for 2 channels (one upgrade). Gains: A 1.0 - 0.1 = 0.9, B
// 2 * (0.5 - 0.2) = 0.6, so A is upgraded. Scaling B's sensitivity to 4
// makes its gain 1.2 and flips the choice.
TEST(AllocateBitsTest, UsesTheSuppliedErrorTable) {
  ChannelBitCost a = Channel(1.0, 1), b = Channel(2.0, 1);
  a.error = {1.0, 0.1};
  b.error = {0.5, 0.2};
  ASSERT_OK_AND_ASSIGN(auto bits, AllocateBits({a, b}, Budget(2.5, {2, 3})));
  EXPECT_THAT(bits, ElementsAre(3, 2));
  b.sensitivity = 4.0;
  ASSERT_OK_AND_ASSIGN(bits, AllocateBits({a, b}, Budget(2.5, {2, 3})));
  EXPECT_THAT(bits, ElementsAre(2, 3));
}

// From {2,3,4,8} a channel may jump straight to 8 bits when that gives the
// best gain per bit: table gains per bit 2->3: 0.1, 2->8: (1.0 - 0) / 6 =
// 0.167, so the jump wins with a budget of exactly 8 bits.
TEST(AllocateBitsTest, ConsidersMultiLevelJumps) {
  ChannelBitCost a = Channel(1.0, 1);
  a.error = {1.0, 0.9, 0.85, 0.0};
  ASSERT_OK_AND_ASSIGN(auto bits, AllocateBits({a}, Budget(8.0, {2, 3, 4, 8})));
  EXPECT_THAT(bits, ElementsAre(8));
  // With 3 bits of budget only 2 -> 3 fits.
  ASSERT_OK_AND_ASSIGN(bits, AllocateBits({a}, Budget(3.0, {2, 3, 4, 8})));
  EXPECT_THAT(bits, ElementsAre(3));
}

// Loss-increasing upgrades are never taken, even with budget left.
TEST(AllocateBitsTest, SkipsUpgradesThatIncreaseTheModelledLoss) {
  ChannelBitCost a = Channel(1.0, 1);
  a.error = {0.1, 0.5};
  ASSERT_OK_AND_ASSIGN(auto bits, AllocateBits({a}, Budget(3.0, {2, 3})));
  EXPECT_THAT(bits, ElementsAre(2));
}

// Zero-sensitivity channels still receive spare budget (zero-gain upgrades).
TEST(AllocateBitsTest, SpendsTheBudgetOnInsensitiveChannels) {
  std::vector<ChannelBitCost> ch(3, Channel(0.0, 7));
  ASSERT_OK_AND_ASSIGN(auto bits, AllocateBits(ch, Budget(4.0, {2, 3, 4, 8})));
  EXPECT_EQ(TotalBits(ch, bits), 84);
}

TEST(AllocateBitsTest, BudgetAtTheEndsGivesUniformWidths) {
  std::vector<ChannelBitCost> ch = {Channel(1.0, 3), Channel(5.0, 9), Channel(0.5, 1)};
  ASSERT_OK_AND_ASSIGN(auto lo, AllocateBits(ch, Budget(2.0, {2, 3, 4, 8})));
  EXPECT_THAT(lo, ElementsAre(2, 2, 2));
  ASSERT_OK_AND_ASSIGN(auto hi, AllocateBits(ch, Budget(8.0, {2, 3, 4, 8})));
  EXPECT_THAT(hi, ElementsAre(8, 8, 8));
}

// Identical channels tie: the lower index is upgraded first, every time.
TEST(AllocateBitsTest, IsDeterministicWithTiesToTheLowerIndex) {
  std::vector<ChannelBitCost> ch(5, Channel(2.0, 4));
  ASSERT_OK_AND_ASSIGN(auto a, AllocateBits(ch, Budget(2.5, {2, 3, 4, 8})));
  ASSERT_OK_AND_ASSIGN(auto b, AllocateBits(ch, Budget(2.5, {2, 3, 4, 8})));
  EXPECT_EQ(a, b);
  EXPECT_THAT(a, ElementsAre(3, 3, 2, 2, 2));  // 50 bits budget: 40 + 4 + 4
}

// The greedy result is never worse than any uniform allocation that fits.
TEST(AllocateBitsTest, BeatsUniformAllocationOnTheModelledLoss) {
  std::vector<ChannelBitCost> ch;
  for (int c = 0; c < 20; ++c) ch.push_back(Channel(1.0 + (c * 7 % 11), 10 + c, 0.5 + 0.1 * c));
  ASSERT_OK_AND_ASSIGN(auto bits, AllocateBits(ch, Budget(3.0, {1, 2, 3, 4, 5, 6, 7, 8})));
  auto loss = [&](const std::vector<int>& b) {
    double l = 0;
    for (size_t c = 0; c < ch.size(); ++c)
      l += ch[c].sensitivity * ch[c].elements * UniformQuantMse(ch[c].range, b[c]);
    return l;
  };
  EXPECT_LE(AverageBits(ch, bits), 3.0);
  EXPECT_LT(loss(bits), loss(std::vector<int>(ch.size(), 3)));
}

// --- Error paths -------------------------------------------------------------

TEST(AllocateBitsTest, RejectsEmptyInput) {
  EXPECT_THAT(AllocateBits({}, Budget(3.0, {2, 4})), StatusIs(kInvalid, HasSubstr("no channels")));
}

TEST(AllocateBitsTest, RejectsBudgetOutsideTheAllowedRange) {
  std::vector<ChannelBitCost> ch = {Channel(1.0, 1)};
  EXPECT_THAT(AllocateBits(ch, Budget(1.9, {2, 4})), StatusIs(kInvalid, HasSubstr("budget")));
  EXPECT_THAT(AllocateBits(ch, Budget(4.1, {2, 4})), StatusIs(kInvalid, HasSubstr("budget")));
  EXPECT_THAT(AllocateBits(ch, Budget(std::nan(""), {2, 4})), StatusIs(kInvalid));
}

TEST(AllocateBitsTest, RejectsBadAllowedBits) {
  std::vector<ChannelBitCost> ch = {Channel(1.0, 1)};
  EXPECT_THAT(AllocateBits(ch, Budget(3.0, {})), StatusIs(kInvalid));
  EXPECT_THAT(AllocateBits(ch, Budget(3.0, {0, 4})), StatusIs(kInvalid, HasSubstr("1..8")));
  EXPECT_THAT(AllocateBits(ch, Budget(3.0, {2, 9})), StatusIs(kInvalid, HasSubstr("1..8")));
  EXPECT_THAT(AllocateBits(ch, Budget(3.0, {4, 2})), StatusIs(kInvalid, HasSubstr("increasing")));
  EXPECT_THAT(AllocateBits(ch, Budget(3.0, {2, 2, 4})), StatusIs(kInvalid));
}

TEST(AllocateBitsTest, RejectsBadChannels) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  const BitAllocOptions o = Budget(3.0, {2, 4});
  EXPECT_THAT(AllocateBits({Channel(nan, 1)}, o), StatusIs(kInvalid, HasSubstr("sensitivity")));
  EXPECT_THAT(AllocateBits({Channel(inf, 1)}, o), StatusIs(kInvalid, HasSubstr("sensitivity")));
  EXPECT_THAT(AllocateBits({Channel(-1.0, 1)}, o), StatusIs(kInvalid, HasSubstr("sensitivity")));
  EXPECT_THAT(AllocateBits({Channel(1.0, 0)}, o), StatusIs(kInvalid, HasSubstr("elements")));
  EXPECT_THAT(AllocateBits({Channel(1.0, 1, nan)}, o), StatusIs(kInvalid, HasSubstr("range")));
  ChannelBitCost table = Channel(1.0, 1);
  table.error = {0.5};
  EXPECT_THAT(AllocateBits({table}, o), StatusIs(kInvalid, HasSubstr("error entries")));
  table.error = {0.5, nan};
  EXPECT_THAT(AllocateBits({table}, o), StatusIs(kInvalid, HasSubstr("error entry")));
}

TEST(AverageBitsTest, WeightsByChannelSize) {
  std::vector<ChannelBitCost> ch = {Channel(1.0, 1), Channel(1.0, 3)};
  EXPECT_DOUBLE_EQ(AverageBits(ch, {8, 4}), 5.0);
  EXPECT_DOUBLE_EQ(AverageBits(ch, {8}), 0.0);
}

}  // namespace
}  // namespace qfleet
