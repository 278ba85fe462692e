#include "common/budget_decode.h"

#include <random>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "common/status_matchers.h"

namespace qfleet {
namespace {

PrecisionPlan RandomPlan(uint64_t seed, std::vector<uint32_t> channels) {
  PrecisionPlan p;
  p.version = 1;
  std::mt19937 rng(seed);
  for (size_t l = 0; l < channels.size(); ++l) {
    p.layer_names.push_back("layer" + std::to_string(l));
    p.channels.push_back(channels[l]);
    for (uint32_t c = 0; c < channels[l]; ++c) p.codes.push_back(rng() % 4);
  }
  return p;
}

TEST(BudgetDecodeTest, MeetsEveryBudgetAndSpendsMostOfIt) {
  PrecisionPlan plan = RandomPlan(1, {16, 32, 128, 10});
  std::vector<uint32_t> rows = {25, 400, 1568, 128};
  for (double budget : {1.0, 2.0, 2.5, 3.0, 4.0, 6.0, 8.0}) {
    ASSERT_OK_AND_ASSIGN(BudgetDecision d, DecodeForBudget(plan, rows, budget));
    EXPECT_LE(d.avg_bits, budget + 1e-9) << budget;
    EXPECT_GE(d.avg_bits, budget - 1.0) << budget;
    for (int t = 1; t < 4; ++t) EXPECT_LE(d.tier_bits[t], d.tier_bits[t - 1]);
    // The reported average is the real per-channel average.
    auto bits = ChannelBits(plan, d.tier_bits);
    double sum = 0, n = 0;
    for (size_t l = 0; l < bits.size(); ++l) {
      for (int b : bits[l]) {
        sum += static_cast<double>(b) * rows[l];
        n += rows[l];
      }
    }
    EXPECT_NEAR(sum / n, d.avg_bits, 1e-9);
  }
}

TEST(BudgetDecodeTest, ImportantTiersGetMoreBits) {
  // Equal-size tiers, budget 3: the error model gives tier 0 more than tier 3.
  PrecisionPlan p;
  p.version = 1;
  p.layer_names = {"l"};
  p.channels = {4};
  p.codes = {0, 1, 2, 3};
  ASSERT_OK_AND_ASSIGN(BudgetDecision d, DecodeForBudget(p, {100}, 3.0));
  EXPECT_GT(d.tier_bits[0], d.tier_bits[3]);
  EXPECT_NEAR(d.avg_bits, 3.0, 1e-9);
  // Without importance differences the uniform table is optimal.
  BudgetDecodeOptions flat;
  flat.tier_importance = {1, 1, 1, 1};
  ASSERT_OK_AND_ASSIGN(BudgetDecision u, DecodeForBudget(p, {100}, 3.0, flat));
  EXPECT_THAT(u.tier_bits, testing::ElementsAre(3, 3, 3, 3));
}

TEST(BudgetDecodeErrorTest, RejectsImpossibleBudgetsAndMismatches) {
  PrecisionPlan plan = RandomPlan(2, {8});
  BudgetDecodeOptions no_prune;
  no_prune.allowed_bits = {2, 4, 8};
  EXPECT_THAT(DecodeForBudget(plan, {10}, 1.5, no_prune),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(DecodeForBudget(plan, {10, 20}, 3), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(DecodeForBudget(plan, {10}, NAN), StatusIs(absl::StatusCode::kInvalidArgument));
  BudgetDecodeOptions bad;
  bad.allowed_bits = {9};
  EXPECT_THAT(DecodeForBudget(plan, {10}, 3, bad), StatusIs(absl::StatusCode::kInvalidArgument));
  plan.codes[0] = 7;
  EXPECT_THAT(DecodeForBudget(plan, {10}, 3), StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace qfleet
