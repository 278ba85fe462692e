#include "sim/chord_eval.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "common/seqrec/eval_sampler.h"
#include "common/seqrec/ranking_metrics.h"
#include "common/status_matchers.h"
#include "ml/chord/personalized_backbone.h"
#include "tests/cloud/chord/test_fixture.h"

namespace qfleet::ml::chord {
namespace {

// The evaluation harness on the tiny SASRec and an untrained CHORD.
using ChordEvalTest = testing::TinyChordTest;

TEST_F(ChordEvalTest, EvaluateRunsEveryMethod) {
  auto view = PersonalizedBackbone::Create(model_, chord_->catalog()).value();
  seqrec::EvalSampleOptions eo;
  eo.max_users = 30;
  eo.num_negatives = 20;
  auto sample = seqrec::BuildEvalSample(split_, seqrec::EvalStage::kTest, eo).value();
  ChordEvalOptions o;
  o.timing_devices = 2;
  o.static_bits.assign(catalog_->total_channels(), 3);
  auto r = EvaluateChordMethods(*chord_, *view, split_, sample, o);
  ASSERT_THAT(r.status(), IsOk());
  std::vector<std::string> names;
  for (const auto& m : *r) names.push_back(m.name);
  EXPECT_THAT(names, ::testing::ElementsAre("fp32", "rtn2", "rtn3", "rtn4", "rtn8", "static",
                                            "chord-mean", "chord"));
  for (const auto& m : *r) {
    EXPECT_EQ(m.metrics.users, 30);
    // The per-user ranks are the ones the metrics average.
    ASSERT_EQ(m.ranks.size(), 30u) << m.name;
    EXPECT_DOUBLE_EQ(seqrec::AverageRankingMetrics(m.ranks).ndcg10, m.metrics.ndcg10) << m.name;
    if (m.name != "fp32") {
      EXPECT_LE(m.avg_bits, 8.0 + 1e-9) << m.name;
    }
    if (m.name == "chord" || m.name == "chord-mean") {
      EXPECT_LE(m.avg_bits, 3.0 + 1e-9);
    }
  }
  EXPECT_NEAR(r->at(2).avg_bits, 3.0, 1e-9);  // rtn3
  EXPECT_GT(r->back().plan_bytes, 0);
  EXPECT_GT(r->back().apply_ms_per_device, 0.0);
}

}  // namespace
}  // namespace qfleet::ml::chord
