#include "cloud/chord/tiering.h"

#include <cmath>

#include <torch/torch.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "common/budget_decode.h"
#include "common/plan_codec.h"
#include "common/status_matchers.h"
#include "cloud/chord/chord_setup.h"
#include "tests/cloud/chord/test_fixture.h"

namespace qfleet::ml::chord {
namespace {

TEST(TierFractionsTest, HitTheBudgetUnderTheReferenceWidths) {
  TierPolicy p;
  p.reference_bits = {8, 4, 3, 2};
  p.middle_share = {0.1, 0.1};
  for (double budget : {2.0, 2.2, 2.5, 3.0, 4.0, 6.0, 7.9, 8.0}) {
    auto f = TierFractions(budget, p);
    ASSERT_THAT(f.status(), IsOk()) << budget;
    double sum = 0, bits = 0;
    for (int t = 0; t < 4; ++t) {
      EXPECT_GE((*f)[t], 0.0);
      sum += (*f)[t];
      bits += (*f)[t] * p.reference_bits[t];
    }
    EXPECT_NEAR(sum, 1.0, 1e-9) << budget;
    EXPECT_NEAR(bits, budget, 1e-9) << budget;
  }
  auto f3 = TierFractions(3.0, p).value();
  EXPECT_NEAR(f3[1], 0.1, 1e-12);
  EXPECT_NEAR(f3[0], (3.0 - 2.3) / 6.0, 1e-12);
  // The default policy cuts equal quarters at 3 bits.
  auto q = TierFractions(3.0, TierPolicy()).value();
  for (int t = 0; t < 4; ++t) EXPECT_NEAR(q[t], 0.25, 1e-12);
  for (double budget : {2.0, 2.4, 3.3, 3.9, 4.0}) {
    auto f = TierFractions(budget, TierPolicy()).value();
    double bits = 0;
    for (int t = 0; t < 4; ++t) bits += f[t] * TierPolicy().reference_bits[t];
    EXPECT_NEAR(bits, budget, 1e-9) << budget;
  }
}

// Caser's relevance cut: tier 3 (the rows no device reads) at 1 bit, and
// the decoder weights the plans carry make a device decode exactly the
// 8/4/2/1 table the cloud sized the tiers for; SASRec keeps its quarters.
TEST(TierFractionsTest, CaserRelevanceCutDecodesToItsReferenceTable) {
  ChordSetupOptions caser;
  caser.backbone = "caser";
  UseRelevanceTiers(caser);
  EXPECT_EQ(caser.chord.tiers.reference_bits, (std::array<int, 4>{8, 4, 2, 1}));
  ASSERT_OK_AND_ASSIGN(const auto f, TierFractions(3.0, caser.chord.tiers));
  // 7 f0 + 3 f1 + f2 = 2 with f1 = 1/4, f2 = 1/10.
  EXPECT_NEAR(f[0], (2.0 - 0.75 - 0.1) / 7.0, 1e-12);
  EXPECT_NEAR(f[3], 1.0 - f[0] - 0.35, 1e-12);
  // One layer of 10,000 unit channels cut at those shares.
  PrecisionPlan plan;
  plan.layer_names = {"rows"};
  plan.channels = {10000};
  double acc = 0;
  for (int t = 0; t < 4; ++t) {
    const int64_t until = t == 3 ? 10000 : static_cast<int64_t>(std::floor((acc += f[t]) * 10000));
    while (static_cast<int64_t>(plan.codes.size()) < until) plan.codes.push_back(static_cast<uint8_t>(t));
  }
  ASSERT_OK_AND_ASSIGN(const BudgetDecision shipped, DecodeForBudget(plan, {1}, 3.0, caser.decode));
  EXPECT_EQ(shipped.tier_bits, (std::array<int, 4>{8, 4, 2, 1}));
  EXPECT_LE(shipped.avg_bits, 3.0 + 1e-9);
  // Without the shipped weights a device would spend its bits otherwise.
  BudgetDecodeOptions own = caser.decode;
  own.tier_importance = BudgetDecodeOptions().tier_importance;
  ASSERT_OK_AND_ASSIGN(const BudgetDecision plain, DecodeForBudget(plan, {1}, 3.0, own));
  EXPECT_NE(plain.tier_bits, shipped.tier_bits);

  ChordSetupOptions sasrec;
  UseRelevanceTiers(sasrec);
  EXPECT_EQ(sasrec.chord.tiers.reference_bits, (std::array<int, 4>{4, 3, 3, 2}));
  EXPECT_EQ(sasrec.decode.tier_importance, BudgetDecodeOptions().tier_importance);
}

TEST(TierFractionsTest, OverrideTiersSetsTheCutOrLeavesTheOptionsAlone) {
  ChordSetupOptions o;
  o.backbone = "caser";
  UseRelevanceTiers(o);
  ASSERT_THAT(OverrideTiers(o, {8, 4, 3, 2}, {0.2, 0.2}, {4096, 16, 4, 1}), IsOk());
  EXPECT_EQ(o.chord.tiers.reference_bits, (std::array<int, 4>{8, 4, 3, 2}));
  EXPECT_EQ(o.chord.tiers.middle_share, (std::array<double, 2>{0.2, 0.2}));
  EXPECT_EQ(o.decode.tier_importance, (std::array<double, 4>{4096, 16, 4, 1}));
  ASSERT_THAT(OverrideTiers(o, {}, {}, {}), IsOk());  // nothing given: as it was
  EXPECT_EQ(o.chord.tiers.reference_bits, (std::array<int, 4>{8, 4, 3, 2}));

  const ChordSetupOptions before = o;
  auto unchanged = [&] {
    EXPECT_EQ(o.chord.tiers.reference_bits, before.chord.tiers.reference_bits);
    EXPECT_EQ(o.chord.tiers.middle_share, before.chord.tiers.middle_share);
    EXPECT_EQ(o.decode.tier_importance, before.decode.tier_importance);
  };
  EXPECT_THAT(OverrideTiers(o, {2, 3, 4, 8}, {}, {}), StatusIs(absl::StatusCode::kInvalidArgument));
  unchanged();
  EXPECT_THAT(OverrideTiers(o, {8, 4}, {}, {}), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(OverrideTiers(o, {}, {0.7, 0.6}, {}), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(OverrideTiers(o, {}, {}, {1, 0, 1, 1}), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(OverrideTiers(o, {}, {}, {1, NAN, 1, 1}), StatusIs(absl::StatusCode::kInvalidArgument));
  // Widths that cannot make a cut (tier 0 no wider than tier 3).
  EXPECT_THAT(OverrideTiers(o, {4, 4, 4, 4}, {}, {}), StatusIs(absl::StatusCode::kInvalidArgument));
  unchanged();
}

TEST(TierFractionsTest, RejectsBudgetOutsideRangeAndBadPolicy) {
  TierPolicy p;
  EXPECT_THAT(TierFractions(1.9, p).status(), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(TierFractions(4.5, p).status(), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(TierFractions(NAN, p).status(), StatusIs(absl::StatusCode::kInvalidArgument));
  p.reference_bits = {2, 3, 4, 8};
  EXPECT_THAT(TierFractions(3.0, p).status(), StatusIs(absl::StatusCode::kInvalidArgument));
  p = TierPolicy();
  p.middle_share = {0.7, 0.6};
  EXPECT_THAT(TierFractions(3.0, p).status(), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(AssignTiersTest, TierSizesFollowTheBudgetQuantiles) {
  torch::manual_seed(1);
  const int64_t n = 4000;
  torch::Tensor scores = torch::randn({3, n});
  torch::Tensor elements = torch::randint(1, 60, {n}).to(torch::kFloat32);
  const std::array<double, 4> f = TierFractions(3.0, TierPolicy()).value();
  torch::Tensor codes = AssignTiers(scores, elements, f);
  ASSERT_EQ(codes.sizes(), scores.sizes());
  const double total = elements.sum().item<double>();
  for (int64_t u = 0; u < 3; ++u) {
    double avg = 0;
    for (int t = 0; t < 4; ++t) {
      const double share = (elements * codes[u].eq(t).to(torch::kFloat32)).sum().item<double>() / total;
      EXPECT_NEAR(share, f[t], 0.02) << "user " << u << " tier " << t;
      avg += share * TierPolicy().reference_bits[t];
    }
    EXPECT_LE(avg, 3.0 + 1e-9);
    // Higher scores never get a lower tier (a larger code).
    torch::Tensor order = std::get<1>(scores[u].sort(true, 0, true));
    torch::Tensor sorted_codes = codes[u].index_select(0, order);
    EXPECT_TRUE(sorted_codes.slice(0, 1).ge(sorted_codes.slice(0, 0, n - 1)).all().item<bool>());
  }
  EXPECT_TRUE(torch::equal(codes, AssignTiers(scores, elements, f)));  // deterministic
}

TEST(SoftTiersTest, ProbabilitiesSumToOneAndAgreeWithHardTiers) {
  torch::manual_seed(2);
  torch::Tensor scores = torch::randn({2, 500}).requires_grad_(true);
  torch::Tensor elements = torch::ones({500});
  const auto f = TierFractions(3.0, TierPolicy()).value();
  torch::Tensor p = SoftTiers(scores, elements, f, 0.01);
  ASSERT_EQ(p.sizes(), (std::vector<int64_t>{2, 500, 4}));
  EXPECT_TRUE(torch::allclose(p.sum(2), torch::ones({2, 500}), 1e-5, 1e-5));
  torch::Tensor hard = AssignTiers(scores, elements, f);
  const double agree = p.argmax(2).eq(hard).to(torch::kFloat32).mean().item<double>();
  EXPECT_GT(agree, 0.97);
  p.select(2, 0).sum().backward();
  EXPECT_GT(scores.grad().abs().sum().item<double>(), 0.0);
}

TEST(PlanFromCodesTest, RoundTripsThroughThePlanCodecAndMeetsTheBudget) {
  auto split = testing::TinySplit();
  auto model = testing::TinyModel(Backbone::kSasRec, split);
  auto catalog = ChannelCatalog::Create(*model).value();
  const auto f = TierFractions(3.0, TierPolicy()).value();
  torch::manual_seed(3);
  torch::Tensor codes = AssignTiers(torch::randn({1, catalog.total_channels()}), catalog.elements(), f);
  auto plan = PlanFromCodes(catalog, codes[0], 42);
  ASSERT_THAT(plan.status(), IsOk());
  auto bytes = EncodePlan(*plan);
  ASSERT_THAT(bytes.status(), IsOk());
  size_t names = 0;
  for (const auto& l : catalog.layers()) names += 1 + l.name.size() + 4;
  EXPECT_EQ(bytes->size(), kPlanHeaderBytes + names + (catalog.total_channels() + 3) / 4);
  auto back = DecodePlan(*bytes);
  ASSERT_THAT(back.status(), IsOk());
  EXPECT_EQ(back->codes, plan->codes);
  EXPECT_EQ(back->layer_names, plan->layer_names);
  EXPECT_EQ(back->version, 42u);
  for (double budget : {2.5, 3.0, 4.0}) {
    auto d = DecodeForBudget(*back, catalog.RowLengths(), budget);
    ASSERT_THAT(d.status(), IsOk());
    EXPECT_LE(d->avg_bits, budget + 1e-9);
  }
}

TEST(PlanFromCodesTest, RejectsWrongSizeAndOutOfRangeCodes) {
  auto split = testing::TinySplit();
  auto catalog = ChannelCatalog::Create(*testing::TinyModel(Backbone::kSasRec, split)).value();
  EXPECT_THAT(PlanFromCodes(catalog, torch::zeros({3}, torch::kLong), 0).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
  torch::Tensor bad = torch::zeros({catalog.total_channels()}, torch::kLong);
  bad[0] = 4;
  EXPECT_THAT(PlanFromCodes(catalog, bad, 0).status(), StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace qfleet::ml::chord
