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

TEST(CampaignConfigAggregationTest, DefaultsToFedAvgAndRoundTrips) {
  CampaignConfig defaults;
  EXPECT_EQ(defaults.aggregator, "fedavg");
  EXPECT_EQ(defaults.trim_fraction, 0.1);
  EXPECT_EQ(defaults.clip_norm, 0);
  EXPECT_EQ(defaults.max_update_share, 0);
  CampaignConfig c;
  c.aggregator = "trimmed_mean";
  c.trim_fraction = 0.25;
  c.clip_norm = 3.5;
  c.max_update_share = 0.125;
  ASSERT_OK(c.Validate());
  ASSERT_OK_AND_ASSIGN(CampaignConfig d, CampaignConfig::FromJson(c.ToJson()));
  EXPECT_EQ(d.aggregator, "trimmed_mean");
  EXPECT_EQ(d.trim_fraction, 0.25);
  EXPECT_EQ(d.clip_norm, 3.5);
  EXPECT_EQ(d.max_update_share, 0.125);
  AggregatorOptions o = d.Aggregation();
  EXPECT_EQ(o.rule, "trimmed_mean");
  EXPECT_EQ(o.trim_fraction, 0.25);
  EXPECT_EQ(o.clip_norm, 3.5);
  EXPECT_EQ(d.MaxUpdateShare(100), 0.125);
}

TEST(CampaignConfigAggregationTest, OldStoredCampaignsLoadWithTheDefaults) {
  // A campaign stored before these fields existed.
  ASSERT_OK_AND_ASSIGN(CampaignConfig c,
                       CampaignConfig::FromJson(R"({"rounds":3,"strategy":"qat"})"));
  EXPECT_EQ(c.rounds, 3u);
  EXPECT_EQ(c.aggregator, "fedavg");
  EXPECT_EQ(c.trim_fraction, 0.1);
  EXPECT_EQ(c.clip_norm, 0);
  EXPECT_EQ(c.max_update_share, 0);
  EXPECT_OK(c.Validate());
  AggregatorOptions o = c.Aggregation();
  EXPECT_EQ(o.rule, "fedavg");
  EXPECT_EQ(o.clip_norm, 0);
  // Automatic share: 4 / participants, at most 1.
  EXPECT_EQ(c.MaxUpdateShare(8), 0.5);
  EXPECT_EQ(c.MaxUpdateShare(40), 0.1);
  EXPECT_EQ(c.MaxUpdateShare(3), 1.0);
  EXPECT_EQ(c.MaxUpdateShare(0), 1.0);
}

TEST(CampaignConfigAggregationErrorTest, NamesTheOffendingField) {
  auto invalid = [](void (*edit)(CampaignConfig&), const char* field) {
    CampaignConfig c;
    edit(c);
    EXPECT_THAT(c.Validate(), StatusIs(absl::StatusCode::kInvalidArgument, testing::HasSubstr(field)))
        << field;
  };
  invalid([](CampaignConfig& c) { c.aggregator = "krum"; }, "aggregator 'krum'");
  invalid([](CampaignConfig& c) { c.aggregator = ""; }, "aggregator");
  invalid([](CampaignConfig& c) { c.trim_fraction = 0.5; }, "trim_fraction");
  invalid([](CampaignConfig& c) { c.trim_fraction = -0.01; }, "trim_fraction");
  invalid([](CampaignConfig& c) { c.trim_fraction = NAN; }, "trim_fraction");
  invalid([](CampaignConfig& c) { c.clip_norm = -1; }, "clip_norm");
  invalid([](CampaignConfig& c) { c.clip_norm = INFINITY; }, "clip_norm");
  invalid([](CampaignConfig& c) { c.clip_norm = NAN; }, "clip_norm");
  invalid([](CampaignConfig& c) { c.max_update_share = 1.5; }, "max_update_share");
  invalid([](CampaignConfig& c) { c.max_update_share = -0.5; }, "max_update_share");
  invalid([](CampaignConfig& c) { c.max_update_share = NAN; }, "max_update_share");
  EXPECT_THAT(CampaignConfig::FromJson(R"({"aggregator":3})"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(CampaignConfig::FromJson(R"({"clip_norm":"big"})"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  CampaignConfig edge;
  edge.aggregator = "median";
  edge.trim_fraction = 0;
  edge.max_update_share = 1;
  EXPECT_OK(edge.Validate());
}

}  // namespace
}  // namespace qfleet::cloud
