#include "cloud/robust_aggregator.h"

#include <cmath>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "cloud/aggregator.h"
#include "common/container_quant.h"
#include "common/status_matchers.h"

namespace qfleet::cloud {
namespace {

using testing::ElementsAre;
using testing::FloatNear;
using testing::HasSubstr;

// Tensors "w" (2x2) and "b" (2), in that order.
TensorContainer Model(std::vector<float> w, std::vector<float> b) {
  TensorContainer c;
  Tensor tw;
  tw.name = "w";
  tw.shape = {2, 2};
  tw.values = std::move(w);
  Tensor tb;
  tb.name = "b";
  tb.shape = {2};
  tb.values = std::move(b);
  c.tensors = {tw, tb};
  return c;
}

TensorContainer Flat(float v) { return Model({v, v, v, v}, {v, v}); }

AggregatorOptions Rule(const std::string& rule, double clip_norm = 0) {
  AggregatorOptions o;
  o.rule = rule;
  o.clip_norm = clip_norm;
  return o;
}

// L2 distance between two FP32 containers with the same tensors.
double Distance(const TensorContainer& a, const TensorContainer& b) {
  double sum = 0;
  for (const Tensor& t : a.tensors) {
    const Tensor* u = b.Find(t.name);
    for (size_t i = 0; i < t.values.size(); ++i) {
      const double d = double{t.values[i]} - double{u->values[i]};
      sum += d * d;
    }
  }
  return std::sqrt(sum);
}

TEST(AggregateFedAvgTest, IsBitIdenticalToFedAvgUpdates) {
  TensorContainer global = Model({0.3f, -1.7f, 2.9f, 0.01f}, {0.5f, -0.25f});
  ASSERT_OK_AND_ASSIGN(TensorContainer packed,
                       QuantizeContainer(Model({0.11f, -0.6f, 0.7f, 0.2f}, {0.3f, 0.1f}), 4));
  std::vector<TensorContainer> uploads = {Model({1.1f, 0.7f, -0.3f, 3.3f}, {0.9f, 0.2f}), packed,
                                          Model({0.01f, 0.02f, -0.03f, 0.04f}, {0.1f, 0.3f})};
  std::vector<double> weights = {3.7, 1.1, 2.9};
  std::vector<bool> is_delta = {false, true, true};
  ASSERT_OK_AND_ASSIGN(TensorContainer want, FedAvgUpdates(global, uploads, weights, is_delta));
  ASSERT_OK_AND_ASSIGN(TensorContainer got,
                       Aggregate(global, uploads, weights, is_delta, AggregatorOptions()));
  ASSERT_EQ(got.tensors.size(), 2u);
  for (size_t t = 0; t < 2; ++t) {
    EXPECT_EQ(got.tensors[t].name, want.tensors[t].name);
    EXPECT_EQ(got.tensors[t].values, want.tensors[t].values);
  }
  // A clip norm no update reaches changes nothing either.
  ASSERT_OK_AND_ASSIGN(got, Aggregate(global, uploads, weights, is_delta, Rule("fedavg", 1e6)));
  for (size_t t = 0; t < 2; ++t) EXPECT_EQ(got.tensors[t].values, want.tensors[t].values);
}

TEST(AggregateMedianTest, TakesTheCoordinateWiseMedianUnweighted) {
  TensorContainer global = Flat(0);
  std::vector<TensorContainer> uploads = {Model({1, 5, -2, 0}, {7, 1}), Model({3, 4, -1, 0}, {8, 2}),
                                          Model({2, 6, -3, 9}, {6, 3})};
  // Weights do not matter for the median as long as they are positive.
  ASSERT_OK_AND_ASSIGN(TensorContainer out, Aggregate(global, uploads, {1, 100, 1},
                                                      {false, false, false}, Rule("median")));
  EXPECT_THAT(out.Find("w")->values, ElementsAre(2, 5, -2, 0));
  EXPECT_THAT(out.Find("b")->values, ElementsAre(7, 2));
  // An even count averages the two middle values; a zero weight drops out.
  uploads.push_back(Model({10, 10, 10, 10}, {10, 10}));
  ASSERT_OK_AND_ASSIGN(out, Aggregate(global, uploads, {1, 1, 1, 1}, {false, false, false, false},
                                      Rule("median")));
  EXPECT_THAT(out.Find("w")->values, ElementsAre(2.5f, 5.5f, -1.5f, 4.5f));
  EXPECT_THAT(out.Find("b")->values, ElementsAre(7.5f, 2.5f));
  ASSERT_OK_AND_ASSIGN(out, Aggregate(global, uploads, {1, 1, 1, 0}, {false, false, false, false},
                                      Rule("median")));
  EXPECT_THAT(out.Find("w")->values, ElementsAre(2, 5, -2, 0));
}

TEST(AggregateMedianTest, OneThousandfoldUpdateMovesItNoFurtherThanTheHonestSpread) {
  TensorContainer global = Flat(1);
  // Honest deltas of -0.1..+0.1; the attacker sends 1000 times the largest.
  std::vector<TensorContainer> uploads = {Flat(-0.1f), Flat(0.05f), Flat(0.1f), Flat(0), Flat(100)};
  std::vector<bool> is_delta(5, true);
  std::vector<double> weights(5, 1.0);
  ASSERT_OK_AND_ASSIGN(TensorContainer median,
                       Aggregate(global, uploads, weights, is_delta, Rule("median")));
  for (const Tensor& t : median.tensors) {
    for (float v : t.values) {
      EXPECT_GE(v, 0.9f);
      EXPECT_LE(v, 1.1f);
    }
  }
  ASSERT_OK_AND_ASSIGN(TensorContainer honest,
                       Aggregate(global, {Flat(-0.1f), Flat(0.05f), Flat(0.1f), Flat(0)},
                                 {1, 1, 1, 1}, {true, true, true, true}, Rule("median")));
  EXPECT_LE(Distance(median, honest), Distance(Flat(1.1f), Flat(0.9f)));
  // FedAvg, by contrast, is dragged 20 units away.
  ASSERT_OK_AND_ASSIGN(TensorContainer mean,
                       Aggregate(global, uploads, weights, is_delta, AggregatorOptions()));
  EXPECT_THAT(mean.Find("w")->values, testing::Each(FloatNear(21.01f, 1e-4f)));
}

TEST(AggregateTrimmedMeanTest, DropsTheExtremesAtEachEnd) {
  TensorContainer global = Flat(0);
  std::vector<TensorContainer> uploads = {Flat(4), Flat(100), Flat(1), Flat(3), Flat(2)};
  std::vector<bool> models(5, false);
  std::vector<double> weights(5, 1.0);
  AggregatorOptions o = Rule("trimmed_mean");
  o.trim_fraction = 0.2;  // floor(0.2 * 5) = 1 each end: mean(2, 3, 4)
  ASSERT_OK_AND_ASSIGN(TensorContainer out, Aggregate(global, uploads, weights, models, o));
  EXPECT_THAT(out.Find("w")->values, testing::Each(3.0f));
  EXPECT_THAT(out.Find("b")->values, testing::Each(3.0f));
  o.trim_fraction = 0.1;  // floor(0.5) = 0: the plain mean, 110 / 5
  ASSERT_OK_AND_ASSIGN(out, Aggregate(global, uploads, weights, models, o));
  EXPECT_THAT(out.Find("w")->values, testing::Each(22.0f));
  o.trim_fraction = 0.49;  // floor(2.45) = 2 each end: the median 3
  ASSERT_OK_AND_ASSIGN(out, Aggregate(global, uploads, weights, models, o));
  EXPECT_THAT(out.Find("w")->values, testing::Each(3.0f));
  // Unweighted, and counted over the 4 updates with weight > 0:
  // floor(0.49 * 4) = 1 each end of {1, 2, 3, 4}: 2.5.
  ASSERT_OK_AND_ASSIGN(out, Aggregate(global, uploads, {9, 0, 1, 1, 5}, models, o));
  EXPECT_THAT(out.Find("w")->values, testing::Each(2.5f));
}

TEST(AggregateRobustTest, DoesNotDependOnTheOrderOfTheUploads) {
  TensorContainer global = Model({0.1f, 0.2f, 0.3f, 0.4f}, {0, 1});
  TensorContainer a = Model({0.7f, -0.2f, 1e-3f, 5}, {0.3f, 0.3f});
  TensorContainer b = Model({0.6f, 0.25f, 2e-3f, -5}, {0.1f, 0.7f});
  TensorContainer c = Model({-0.9f, 0.21f, 3e-3f, 1}, {0.2f, 0.1f});
  TensorContainer d = Model({0.3f, 0.3f, 4e-3f, 2}, {0.9f, 0.4f});
  for (const std::string rule : {"median", "trimmed_mean"}) {
    AggregatorOptions o = Rule(rule);
    o.trim_fraction = 0.25;
    ASSERT_OK_AND_ASSIGN(TensorContainer x, Aggregate(global, {a, b, c, d}, {1, 2, 3, 4},
                                                      {false, true, false, true}, o));
    ASSERT_OK_AND_ASSIGN(TensorContainer y, Aggregate(global, {d, c, b, a}, {4, 3, 2, 1},
                                                      {true, false, true, false}, o));
    EXPECT_EQ(x.Find("w")->values, y.Find("w")->values) << rule;
    EXPECT_EQ(x.Find("b")->values, y.Find("b")->values) << rule;
  }
}

TEST(AggregateRobustTest, MixesDeltasAndModelsAndWritesFp32InTheGlobalOrder) {
  TensorContainer global = Flat(2);
  // Models 2+1 = 3 (a delta), 5 and 4: median 4.
  ASSERT_OK_AND_ASSIGN(TensorContainer out, Aggregate(global, {Flat(1), Flat(5), Flat(4)},
                                                      {1, 1, 1}, {true, false, false},
                                                      Rule("median")));
  EXPECT_THAT(out.Find("w")->values, testing::Each(4.0f));
  // A packed delta is dequantized, then added: 2 + 0.5 (within a step).
  ASSERT_OK_AND_ASSIGN(TensorContainer packed, QuantizeContainer(Flat(0.5f), 4));
  ASSERT_OK_AND_ASSIGN(out, Aggregate(global, {packed, Flat(2.5f), Flat(9)}, {1, 1, 1},
                                      {true, false, false}, Rule("median")));
  for (float v : out.Find("w")->values) EXPECT_NEAR(v, 2.5f, 0.5f / 7);
  // Names, order and dtype follow `global`, even when it is packed and the
  // uploads list their tensors the other way round.
  ASSERT_OK_AND_ASSIGN(TensorContainer packed_global, QuantizeContainer(Flat(1), 8));
  TensorContainer reversed = Flat(3);
  std::swap(reversed.tensors[0], reversed.tensors[1]);
  ASSERT_OK_AND_ASSIGN(out, Aggregate(packed_global, {reversed, Flat(5)}, {1, 1}, {false, false},
                                      Rule("trimmed_mean")));
  ASSERT_EQ(out.tensors.size(), 2u);
  EXPECT_EQ(out.tensors[0].name, "w");
  EXPECT_EQ(out.tensors[1].name, "b");
  for (const Tensor& t : out.tensors) {
    EXPECT_EQ(t.dtype, DType::kFloat32);
    EXPECT_THAT(t.values, testing::Each(4.0f));
  }
}

TEST(AggregateClipTest, ScalesLargeUpdatesToTheNormAndLeavesSmallOnesAlone) {
  TensorContainer global = Model({1, 2, 3, 4}, {-1, 0.5f});
  // Update of the model upload: (3, 4, 0, 0 | 0, 0), norm 5; of the delta
  // upload: (0.1, 0, 0, 0 | 0, 0.1), norm 0.14.
  TensorContainer big = Model({4, 6, 3, 4}, {-1, 0.5f});
  TensorContainer small = Model({0.1f, 0, 0, 0}, {0, 0.1f});
  ASSERT_OK_AND_ASSIGN(TensorContainer clipped,
                       Aggregate(global, {big}, {1}, {false}, Rule("fedavg", 2.0)));
  EXPECT_NEAR(Distance(clipped, global), 2.0, 1e-5);
  EXPECT_THAT(clipped.Find("w")->values,
              ElementsAre(FloatNear(1 + 1.2f, 1e-6f), FloatNear(2 + 1.6f, 1e-6f), 3, 4));
  EXPECT_THAT(clipped.Find("b")->values, ElementsAre(-1, 0.5f));
  // The same update sent as a delta is clipped alike.
  ASSERT_OK_AND_ASSIGN(TensorContainer as_delta,
                       Aggregate(global, {Model({3, 4, 0, 0}, {0, 0})}, {1}, {true},
                                 Rule("median", 2.0)));
  EXPECT_NEAR(Distance(as_delta, global), 2.0, 1e-5);
  // The small update keeps its exact values (global + delta in float).
  ASSERT_OK_AND_ASSIGN(TensorContainer kept,
                       Aggregate(global, {small}, {1}, {true}, Rule("median", 2.0)));
  ASSERT_OK_AND_ASSIGN(TensorContainer unclipped,
                       FedAvgUpdates(global, {small}, {1}, {true}));
  EXPECT_EQ(kept.Find("w")->values, unclipped.Find("w")->values);
  EXPECT_EQ(kept.Find("b")->values, unclipped.Find("b")->values);
}

TEST(AggregateClipTest, BoundsWhatOneUpdateCanDoToFedAvg) {
  TensorContainer global = Flat(0);
  std::vector<TensorContainer> uploads = {Flat(0.1f), Flat(-0.1f), Flat(0.05f), Flat(1000)};
  std::vector<bool> models(4, false);
  // Each update's norm is clipped to 1 (the honest ones are within it), so
  // the attacker adds at most 1/4 of that to the mean update; the honest
  // three add 0.05 / 4 per element, 0.03 in norm.
  ASSERT_OK_AND_ASSIGN(TensorContainer out,
                       Aggregate(global, uploads, {1, 1, 1, 1}, models, Rule("fedavg", 1.0)));
  EXPECT_LE(Distance(out, global), 0.25 + 0.0125 * std::sqrt(6.0) + 1e-6);
  EXPECT_GT(Distance(out, global), 0.2);
}

TEST(AggregateErrorTest, RejectsBadOptions) {
  TensorContainer global = Flat(0);
  auto run = [&](const AggregatorOptions& o) {
    return Aggregate(global, {Flat(1)}, {1}, {false}, o).status();
  };
  EXPECT_THAT(run(Rule("mean")), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("mean")));
  EXPECT_THAT(run(Rule("")), StatusIs(absl::StatusCode::kInvalidArgument));
  for (double trim : {-0.1, 0.5, 0.9, double{NAN}}) {
    AggregatorOptions o = Rule("trimmed_mean");
    o.trim_fraction = trim;
    EXPECT_THAT(run(o), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("trim_fraction")));
  }
  for (double clip : {-1.0, double{NAN}, double{INFINITY}}) {
    EXPECT_THAT(run(Rule("fedavg", clip)),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("clip_norm")));
  }
  EXPECT_TRUE(IsKnownAggregator("median"));
  EXPECT_FALSE(IsKnownAggregator("krum"));
}

TEST(AggregateErrorTest, RejectsWhatFedAvgUpdatesRejects) {
  TensorContainer global = Flat(0);
  TensorContainer wrong = Flat(0);
  wrong.tensors[0].shape = {4, 1};
  TensorContainer nan = Flat(0);
  nan.tensors[1].values[0] = NAN;
  for (const AggregatorOptions& o :
       {Rule("median"), Rule("trimmed_mean"), Rule("fedavg", 1.0), Rule("median", 1.0)}) {
    auto bad = [&](const std::vector<TensorContainer>& uploads, const std::vector<double>& weights,
                   const std::vector<bool>& is_delta, const std::string& why) {
      EXPECT_THAT(Aggregate(global, uploads, weights, is_delta, o),
                  StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(why)))
          << o.rule << " clip " << o.clip_norm << ": " << why;
    };
    bad({}, {}, {}, "no updates");
    bad({Flat(1)}, {1, 1}, {false}, "weights differ");
    bad({Flat(1)}, {1}, {}, "delta flags");
    bad({Flat(1), Flat(2)}, {1, -1}, {false, false}, "negative");
    bad({Flat(1)}, {double{NAN}}, {false}, "not finite");
    bad({Flat(1), Flat(2)}, {0, 0}, {false, false}, "every weight is 0");
    bad({Flat(1), wrong}, {1, 1}, {false, false}, "wrong shape");
    bad({nan}, {1}, {true}, "NaN");
    // Finite on its own, not once added to the model (unclipped).
    if (o.clip_norm == 0) {
      EXPECT_THAT(Aggregate(Flat(3e38f), {Flat(3e38f)}, {1}, {true}, o),
                  StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("overflows")));
    }
  }
  // Clipped to 3e38 / sqrt(6) per element, still past the float range.
  EXPECT_THAT(Aggregate(Flat(3e38f), {Flat(3e38f)}, {1}, {true}, Rule("median", 3e38)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("overflows")));
}

}  // namespace
}  // namespace qfleet::cloud
