#include "cloud/campaign_config.h"

#include <cmath>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "common/status_matchers.h"

namespace qfleet::cloud {
namespace {

TEST(CampaignConfigTest, JsonRoundTrip) {
  CampaignConfig c;
  c.rounds = 7;
  c.strategy = "fp32";
  c.learning_rate = 0.125f;
  c.seed = 99;
  c.ptq_upload = "delta";
  ASSERT_OK_AND_ASSIGN(CampaignConfig d, CampaignConfig::FromJson(c.ToJson()));
  EXPECT_EQ(d.ptq_upload, "delta");
  EXPECT_TRUE(d.PtqUploadsDelta());
  EXPECT_EQ(d.rounds, 7u);
  EXPECT_EQ(d.strategy, "fp32");
  EXPECT_EQ(d.learning_rate, 0.125f);
  EXPECT_EQ(d.seed, 99u);
  EXPECT_OK(d.Validate());
}

TEST(CampaignConfigErrorTest, RejectsMalformedJsonAndOutOfRangeFields) {
  EXPECT_THAT(CampaignConfig::FromJson("{"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(CampaignConfig::FromJson("[1]"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(CampaignConfig::FromJson(R"({"rounds":"x"})"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  CampaignConfig c;
  c.strategy = "magic";
  EXPECT_THAT(c.Validate(), StatusIs(absl::StatusCode::kInvalidArgument, testing::HasSubstr("magic")));
  c = CampaignConfig();
  c.weight_bits = 9;
  EXPECT_THAT(c.Validate(), StatusIs(absl::StatusCode::kInvalidArgument));
  c = CampaignConfig();
  c.round_deadline_s = 0;
  EXPECT_THAT(c.Validate(), StatusIs(absl::StatusCode::kInvalidArgument));
  c = CampaignConfig();
  c.learning_rate = NAN;
  EXPECT_THAT(c.Validate(), StatusIs(absl::StatusCode::kInvalidArgument));
  c = CampaignConfig();
  EXPECT_EQ(c.ptq_upload, "model");
  c.ptq_upload = "weights";
  EXPECT_THAT(c.Validate(),
              StatusIs(absl::StatusCode::kInvalidArgument, testing::HasSubstr("weights")));
}

TEST(CampaignConfigEvalTest, NeedsOneKnownMethodPerRoundAndRoundTrips) {
  CampaignConfig c;
  c.strategy = "eval";
  c.rounds = 3;
  c.eval_methods = {"fp32", "rtn3", "chord"};
  c.budget_bits = 2.5;
  ASSERT_OK(c.Validate());
  ASSERT_OK_AND_ASSIGN(CampaignConfig d, CampaignConfig::FromJson(c.ToJson()));
  EXPECT_EQ(d.eval_methods, c.eval_methods);
  EXPECT_EQ(d.budget_bits, 2.5);
  EXPECT_EQ(d.EvalMethod(2), "chord");
  EXPECT_EQ(d.EvalMethod(3), "");
  c.rounds = 2;
  EXPECT_THAT(c.Validate(), StatusIs(absl::StatusCode::kInvalidArgument, testing::HasSubstr("per round")));
  c.rounds = 3;
  c.eval_methods[1] = "rtn9";
  EXPECT_THAT(c.Validate(), StatusIs(absl::StatusCode::kInvalidArgument, testing::HasSubstr("rtn9")));
  c.eval_methods[1] = "rtn4";
  c.budget_bits = NAN;
  EXPECT_THAT(c.Validate(), StatusIs(absl::StatusCode::kInvalidArgument));
  CampaignConfig training;
  training.eval_methods = {"fp32"};
  EXPECT_THAT(training.Validate(), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_TRUE(IsKnownEvalMethod("rtn1"));
  EXPECT_FALSE(IsKnownEvalMethod("rtn"));
  EXPECT_TRUE(EvalMethodNeedsPlan("static"));
  EXPECT_FALSE(EvalMethodNeedsPlan("rtn8"));
}

}  // namespace
}  // namespace qfleet::cloud
