#include "cloud/fedhq/fedhq_selector.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "common/status_matchers.h"

namespace qfleet::cloud {
namespace {

RoundContext Ctx() {
  RoundContext ctx;
  ctx.costs.ref_gflops = 10;
  ctx.costs.fp32_step_s = 0.01;
  ctx.costs.qat_step_s = 0.03;  // QAT 3x slower per step
  ctx.costs.ptq_quantize_s = 0.05;
  ctx.batch_size = 10;
  ctx.local_epochs = 1;
  ctx.model_bytes = 1000000;
  ctx.upload_bytes = 150000;
  return ctx;
}

ClientView Client(uint64_t id, double gflops, uint64_t samples, std::vector<uint64_t> hist) {
  ClientView c;
  c.device_id = id;
  c.gflops = gflops;
  c.downlink_kbps = 20000;
  c.uplink_kbps = 5000;
  c.samples = samples;
  c.label_histogram = std::move(hist);
  return c;
}

TEST(LabelDistanceTest, HandWorkedCases) {
  EXPECT_DOUBLE_EQ(LabelDistance({5, 5}, {1, 1}), 0.0);
  EXPECT_DOUBLE_EQ(LabelDistance({1, 0}, {0, 1}), 1.0);
  EXPECT_DOUBLE_EQ(LabelDistance({3, 1}, {1, 1}), 0.25);
  EXPECT_DOUBLE_EQ(LabelDistance({}, {1, 1}), 0.0);
}

TEST(FedHqAnalysisTest, PredictsTimesFromCostsSpeedAndBandwidth) {
  FedHqSelector sel;
  // 100 samples / batch 10 = 10 steps; speed 5 GFLOP/s = half the reference.
  ASSERT_OK_AND_ASSIGN(auto a, sel.Analyze({Client(1, 5, 100, {10, 10})}, Ctx()));
  const double transfer = 1000000 * 8 / 20e6 + 150000 * 8 / 5e6;
  EXPECT_NEAR(a[0].t_qat, 10 * 0.03 * 2 + transfer, 1e-9);
  EXPECT_NEAR(a[0].t_ptq, (10 * 0.01 + 0.05) * 2 + transfer, 1e-9);
  EXPECT_DOUBLE_EQ(a[0].weight, 1.0);
}

// A slow client with IID data gets PTQ; a fast client with skewed data gets
// QAT.
TEST(FedHqSelectorTest, SlowIidClientGetsPtqFastSkewedClientGetsQat) {
  FedHqSelector sel;
  std::vector<ClientView> fleet = {
      Client(1, 1, 500, {50, 50, 50, 50, 50, 50, 50, 50, 50, 50}),  // slow, IID
      Client(2, 40, 500, {500, 0, 0, 0, 0, 0, 0, 0, 0, 0}),         // fast, skewed
      Client(3, 10, 500, {50, 50, 50, 50, 50, 50, 50, 50, 50, 50}),
      Client(4, 10, 500, {0, 250, 250, 0, 0, 0, 0, 0, 0, 0}),
  };
  ASSERT_OK_AND_ASSIGN(auto s, sel.Assign(fleet, Ctx()));
  EXPECT_EQ(s[0], "ptq");
  EXPECT_EQ(s[1], "qat");
}

TEST(FedHqSelectorTest, SlowSkewedHeavyClientKeepsQat) {
  FedHqSelector sel;
  std::vector<ClientView> fleet = {
      Client(1, 1, 3000, {3000, 0, 0, 0}),  // slow, skewed and big: too harmful for PTQ
      Client(2, 10, 300, {75, 75, 75, 75}),
      Client(3, 10, 300, {75, 75, 75, 75}),
  };
  ASSERT_OK_AND_ASSIGN(auto s, sel.Assign(fleet, Ctx()));
  EXPECT_EQ(s[0], "qat");
}

// Under a deadline, the same harmful client gets PTQ when QAT would miss the
// deadline and PTQ makes it; a client that misses either way does not drag
// the others to PTQ.
TEST(FedHqSelectorTest, DeadlineRescuesClientsThatQatWouldDrop) {
  FedHqSelector sel;
  std::vector<ClientView> fleet = {
      Client(1, 1, 3000, {3000, 0, 0, 0}),   // t_qat ~90.6 s, t_ptq ~31.1 s
      Client(2, 10, 300, {75, 75, 75, 75}),  // t_qat ~1.5 s
      Client(3, 10, 300, {75, 75, 75, 75}),
      Client(4, 0.1, 3000, {750, 750, 750, 750}),  // t_ptq ~305 s: misses either way
  };
  RoundContext ctx = Ctx();
  ctx.deadline_s = 60;
  std::vector<ClientAnalysis> a;
  ASSERT_OK_AND_ASSIGN(auto s, sel.Assign(fleet, ctx, &a));
  ASSERT_GT(a[0].t_qat, ctx.deadline_s);
  ASSERT_LE(a[0].t_ptq, ctx.deadline_s);
  ASSERT_GT(a[3].t_ptq, ctx.deadline_s);
  EXPECT_EQ(s[0], "ptq");
  EXPECT_EQ(s[1], "qat");
  EXPECT_EQ(s[2], "qat");
  // Without the deadline the harm rule keeps client 1 on QAT.
  ASSERT_OK_AND_ASSIGN(auto free_run, sel.Assign(fleet, Ctx()));
  EXPECT_EQ(free_run[0], "qat");
}

// The gap check is asked only of PTQ clients whose PTQ time with it still
// fits inside the round as assigned, and only by a learning selector.
TEST(FedHqSelectorTest, GapChecksOnlyWhereTheyFitInsideTheRound) {
  std::vector<ClientView> fleet = {
      Client(1, 1, 3000, {3000, 0, 0, 0}),  // rescued to PTQ by the deadline, ~31 s
      Client(5, 2, 3000, {0, 3000, 0, 0}),  // QAT ~45 s; heavy and skewed: keeps QAT
      Client(2, 10, 300, {75, 75, 75, 75}),
      Client(3, 10, 300, {75, 75, 75, 75}),
  };
  RoundContext ctx = Ctx();
  ctx.deadline_s = 60;
  const auto run = [&](double gap_check_s, bool learned, std::vector<ClientAnalysis>* a) {
    RoundContext c = ctx;
    c.costs.gap_check_s = gap_check_s;
    FedHqOptions o;
    o.learned = learned;
    FedHqSelector sel(o);
    std::vector<bool> checks;
    absl::StatusOr<std::vector<std::string>> s = sel.Assign(fleet, c, a, &checks);
    EXPECT_TRUE(s.ok()) << s.status();
    EXPECT_THAT(*s, ::testing::ElementsAre("ptq", "qat", "qat", "qat"));
    return checks;
  };
  std::vector<ClientAnalysis> a;
  // 1 s of check (10 s on this device): 41 s, inside the 45 s round.
  EXPECT_THAT(run(1.0, true, &a), ::testing::ElementsAre(true, false, false, false));
  ASSERT_LE(a[0].t_ptq_gap, a[1].t_qat);
  EXPECT_NEAR(a[0].t_ptq_gap - a[0].t_ptq, 10.0, 1e-9);
  // 2 s (20 s here): 51 s would lengthen the round, so no check.
  EXPECT_THAT(run(2.0, true, &a), ::testing::ElementsAre(false, false, false, false));
  ASSERT_GT(a[0].t_ptq_gap, a[1].t_qat);
  ASSERT_LE(a[0].t_ptq_gap, ctx.deadline_s);
  // fedhq-init learns nothing from a gap: it never asks.
  EXPECT_THAT(run(1.0, false, &a), ::testing::ElementsAre(false, false, false, false));
}

TEST(FedHqSelectorTest, ClientsThatFitInsideTheRoundStayOnQat) {
  FedHqSelector sel;
  std::vector<ClientView> fleet = {Client(1, 1, 500, {1, 1}), Client(2, 10, 500, {1, 1}),
                                   Client(3, 10, 500, {1, 1})};
  std::vector<ClientAnalysis> a;
  ASSERT_OK_AND_ASSIGN(auto s, sel.Assign(fleet, Ctx(), &a));
  double round_s = 0;
  for (size_t i = 0; i < s.size(); ++i) round_s = std::max(round_s, s[i] == "qat" ? a[i].t_qat : a[i].t_ptq);
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == "ptq") {
      EXPECT_GT(a[i].t_qat, round_s);
    }
  }
  EXPECT_EQ(s[0], "ptq");
  EXPECT_EQ(s[1], "qat");
}

TEST(FedHqSelectorTest, LearnedTimeCorrectionFlipsAHiddenStraggler) {
  FedHqSelector learned;
  // Client 3 is slow, big and skewed: it keeps QAT and sets the round; the
  // others fit inside it.
  std::vector<ClientView> fleet = {Client(1, 10, 500, {1, 1}), Client(2, 10, 500, {1, 1}),
                                   Client(3, 5, 2000, {1, 0})};
  ASSERT_OK_AND_ASSIGN(auto before, learned.Assign(fleet, Ctx()));
  EXPECT_THAT(before, testing::Each("qat"));
  std::vector<ClientAnalysis> a;
  ASSERT_OK(learned.Assign(fleet, Ctx(), &a).status());
  // Client 2 turns out 10x slower than its profile says (background load).
  std::vector<ClientOutcome> out;
  for (const ClientAnalysis& c : a) {
    ClientOutcome o;
    o.device_id = c.device_id;
    o.strategy = "qat";
    o.predicted_s = c.t_qat;
    o.observed_s = c.device_id == 2 ? 10 * c.t_qat : c.t_qat;
    out.push_back(o);
  }
  for (int r = 0; r < 3; ++r) learned.Observe(out);
  ASSERT_OK_AND_ASSIGN(auto after, learned.Assign(fleet, Ctx()));
  EXPECT_EQ(after[1], "ptq");
  // The init-only selector ignores outcomes.
  FedHqOptions init_only;
  init_only.learned = false;
  FedHqSelector coarse(init_only);
  coarse.Observe(out);
  ASSERT_OK_AND_ASSIGN(auto same, coarse.Assign(fleet, Ctx()));
  EXPECT_THAT(same, testing::Each("qat"));
}

TEST(FedHqSelectorTest, StateRoundTripsAndIsDeterministic) {
  FedHqSelector a;
  std::vector<ClientOutcome> out;
  for (int i = 0; i < 6; ++i) {
    ClientOutcome o;
    o.device_id = i;
    o.strategy = "ptq";
    o.predicted_s = 1;
    o.observed_s = 1 + i * 0.1;
    o.quant_gap = 0.01 * i;
    o.label_distance = 0.1 * i;
    o.weight = 0.1;
    out.push_back(o);
  }
  a.Observe(out);
  FedHqSelector b;
  ASSERT_OK(b.Restore(a.Serialize()));
  EXPECT_EQ(a.Serialize(), b.Serialize());
  std::vector<ClientView> fleet = {Client(1, 1, 500, {5, 1}), Client(2, 10, 500, {1, 1}),
                                   Client(3, 3, 800, {1, 9})};
  ASSERT_OK_AND_ASSIGN(auto sa, a.Assign(fleet, Ctx()));
  ASSERT_OK_AND_ASSIGN(auto sb, b.Assign(fleet, Ctx()));
  EXPECT_EQ(sa, sb);
}

TEST(FedHqSelectorErrorTest, RejectsUncalibratedCostsBadSpeedsAndBadState) {
  FedHqSelector sel;
  RoundContext ctx = Ctx();
  ctx.costs.fp32_step_s = 0;
  EXPECT_THAT(sel.Assign({Client(1, 1, 10, {1})}, ctx), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(sel.Assign({Client(1, 0, 10, {1})}, Ctx()), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(sel.Restore("{"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(sel.Restore(R"({"time_correction":{},"xs":[[1,2]],"ys":[1]})"),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace qfleet::cloud
