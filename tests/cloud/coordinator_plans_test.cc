// CHORD plans through the coordinator: RequestPlan's checks, batching,
// SQLite versioning and caching, and eval campaigns (one round per method,
// no aggregation, the mean of the reports as the round's summary).
#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>
#include <stdexcept>
#include <thread>

#include <nlohmann/json.hpp>

#include "cloud/coordinator.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "common/plan_codec.h"
#include "common/status_matchers.h"
#include "tests/cloud/fake_backend.h"

namespace qfleet::cloud {
namespace {

using ::testing::HasSubstr;

// Plans over one 8-channel layer: channel c gets code (embedding[c % 4] > 0).
class FakePlanner : public PlanGenerator {
 public:
  std::string Id() const override { return "fake-1"; }
  int64_t EmbedDim() const override { return 4; }
  absl::StatusOr<std::vector<std::string>> Generate(const std::vector<float>& e,
                                                    const std::vector<uint64_t>& versions) override {
    max_batch = std::max<int>(max_batch, static_cast<int>(versions.size()));
    calls++;
    if (delay_ms.load() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms.load()));
    std::vector<std::string> out;
    for (size_t i = 0; i < versions.size(); ++i) {
      PrecisionPlan p;
      p.version = versions[i];
      p.layer_names = {"w"};
      p.channels = {8};
      for (int c = 0; c < 8; ++c) p.codes.push_back(e[i * 4 + c % 4] > 0 ? 0 : 3);
      out.push_back(*EncodePlan(p));
    }
    return out;
  }
  absl::StatusOr<FleetPlan> FleetPlanFor(const std::string& method) override {
    if (method != "chord-mean") return absl::NotFoundError("no " + method);
    PrecisionPlan p;
    p.layer_names = {"w"};
    p.channels = {8};
    p.codes.assign(8, 1);
    return FleetPlan{*EncodePlan(p), {}};
  }
  std::vector<double> TierImportance() const override { return importance; }
  std::vector<double> importance;
  std::atomic<int> max_batch{0}, calls{0}, delay_ms{0};
};

class CoordinatorPlansTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("qfleet-plans-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    CoordinatorOptions o;
    o.db_path = (dir_ / "state.db").string();
    o.open_enrollment = true;
    o.clock = &clock_;
    o.plan_batch_wait_us = 50000;
    auto c = Coordinator::Open(o, std::make_unique<FakeBackend>());
    ASSERT_OK(c.status());
    coordinator_ = *std::move(c);
    planner_ = std::make_shared<FakePlanner>();
  }
  void TearDown() override {
    coordinator_.reset();
    std::filesystem::remove_all(dir_);
  }
  uint64_t Enroll(const std::string& name) {
    DeviceRecord d;
    d.name = name;
    d.sample_count = 5;
    auto r = coordinator_->Register(d, "");
    EXPECT_OK(r.status());
    return r.ok() ? r->device_id : 0;
  }
  std::filesystem::path dir_;
  FakeClock clock_{1000000};
  std::unique_ptr<Coordinator> coordinator_;
  std::shared_ptr<FakePlanner> planner_;
};

// A device's fair share of the plan queue: one request waiting at a time.
TEST_F(CoordinatorPlansTest, ADeviceCannotQueueASecondPlanRequest) {
  const uint64_t busy = Enroll("busy");
  const uint64_t greedy = Enroll("greedy");
  planner_->delay_ms = 600;
  coordinator_->SetPlanGenerator(planner_);
  std::thread first([&] { (void)coordinator_->RequestPlan(busy, "chord", {1, 1, 1, 1}); });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the plan thread is generating
  std::thread queued([&] { EXPECT_OK(coordinator_->RequestPlan(greedy, "chord", {1, -1, 1, 1}).status()); });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  auto again = coordinator_->RequestPlan(greedy, "chord", {-1, 1, 1, 1});
  EXPECT_THAT(again.status(), StatusIs(absl::StatusCode::kResourceExhausted,
                                       HasSubstr("already has a plan request waiting")));
  first.join();
  queued.join();
  EXPECT_OK(coordinator_->RequestPlan(greedy, "chord", {-1, 1, 1, 1}).status());  // served later
}

TEST_F(CoordinatorPlansTest, RefusesWithoutHypernetworks) {
  const uint64_t dev = Enroll("a");
  auto r = coordinator_->RequestPlan(dev, "chord", {1, 1, 1, 1});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  CampaignConfig c;
  c.rounds = 1;
  c.strategy = "eval";
  c.eval_methods = {"chord"};
  EXPECT_EQ(coordinator_->StartCampaign(c).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(CoordinatorPlansTest, RejectsBadRequests) {
  coordinator_->SetPlanGenerator(planner_);
  const uint64_t dev = Enroll("a");
  EXPECT_THAT(coordinator_->RequestPlan(dev, "chord", {1, 1, 1}).status().message(),
              HasSubstr("3 values, the hypernetworks read 4"));
  const float nan = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(coordinator_->RequestPlan(dev, "chord", {1, nan, 1, 1}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(coordinator_->RequestPlan(dev, "bogus", {1, 1, 1, 1}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(coordinator_->RequestPlan(dev + 100, "chord", {1, 1, 1, 1}).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(coordinator_->RequestPlan(dev, "static", {}).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(planner_->calls.load(), 0);
}

TEST_F(CoordinatorPlansTest, StoresVersionsAndServesTheCachedPlan) {
  coordinator_->SetPlanGenerator(planner_);
  const uint64_t dev = Enroll("a");
  ASSERT_OK_AND_ASSIGN(PlanReply first, coordinator_->RequestPlan(dev, "chord", {1, -1, 1, -1}));
  EXPECT_EQ(first.plan_version, 1u);
  EXPECT_FALSE(first.cached);
  EXPECT_GT(first.generation_us, 0);
  ASSERT_OK_AND_ASSIGN(PrecisionPlan plan, DecodePlan(first.bytes));
  EXPECT_EQ(plan.version, 1u);
  EXPECT_EQ(plan.codes, (std::vector<uint8_t>{0, 3, 0, 3, 0, 3, 0, 3}));
  ASSERT_OK_AND_ASSIGN(auto stored, coordinator_->store().LatestPlanForDevice(dev));
  ASSERT_TRUE(stored.has_value());
  EXPECT_EQ(stored->bytes, first.bytes);
  EXPECT_EQ(stored->method, "chord");
  EXPECT_EQ(stored->generator, "fake-1");
  // Same embedding: the stored plan, no generation.
  ASSERT_OK_AND_ASSIGN(PlanReply again, coordinator_->RequestPlan(dev, "chord", {1, -1, 1, -1}));
  EXPECT_TRUE(again.cached);
  EXPECT_EQ(again.plan_version, 1u);
  EXPECT_EQ(again.bytes, first.bytes);
  EXPECT_EQ(planner_->calls.load(), 1);
  // A new embedding: version 2.
  ASSERT_OK_AND_ASSIGN(PlanReply second, coordinator_->RequestPlan(dev, "chord", {-1, -1, 1, 1}));
  EXPECT_EQ(second.plan_version, 2u);
  EXPECT_FALSE(second.cached);
  // The fleet-wide plan is the same for everyone and not versioned.
  ASSERT_OK_AND_ASSIGN(PlanReply mean, coordinator_->RequestPlan(dev, "chord-mean", {}));
  EXPECT_EQ(mean.plan_version, 0u);
  EXPECT_TRUE(mean.tier_bits.empty());
  EXPECT_TRUE(mean.tier_importance.empty());
}

TEST_F(CoordinatorPlansTest, RepliesCarryTheGeneratorsTierWeights) {
  planner_->importance = {8, 4, 2, 0.01};
  coordinator_->SetPlanGenerator(planner_);
  const uint64_t dev = Enroll("a");
  for (int k = 0; k < 2; ++k) {  // generated, then cached
    ASSERT_OK_AND_ASSIGN(PlanReply r, coordinator_->RequestPlan(dev, "chord", {1, -1, 1, -1}));
    EXPECT_EQ(r.cached, k == 1);
    EXPECT_EQ(r.tier_importance, planner_->importance);
  }
  ASSERT_OK_AND_ASSIGN(PlanReply mean, coordinator_->RequestPlan(dev, "chord-mean", {}));
  EXPECT_EQ(mean.tier_importance, planner_->importance);
}

TEST_F(CoordinatorPlansTest, BatchesConcurrentRequests) {
  coordinator_->SetPlanGenerator(planner_);
  constexpr int kDevices = 12;
  std::vector<uint64_t> ids;
  for (int i = 0; i < kDevices; ++i) ids.push_back(Enroll("d" + std::to_string(i)));
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < kDevices; ++i) {
    threads.emplace_back([&, i] {
      const float s = i % 2 == 0 ? 1.0f : -1.0f;
      auto r = coordinator_->RequestPlan(ids[i], "chord", {s, 1, 1, static_cast<float>(i)});
      if (r.ok() && r->plan_version == 1) ++ok;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), kDevices);
  // 50 ms of batching window: the requests share hypernetwork calls.
  EXPECT_GT(planner_->max_batch.load(), 1);
  EXPECT_LT(planner_->calls.load(), kDevices);
}

TEST_F(CoordinatorPlansTest, EvalCampaignRunsOneRoundPerMethodWithoutAggregating) {
  coordinator_->SetPlanGenerator(planner_);
  const uint64_t a = Enroll("a"), b = Enroll("b");
  CampaignConfig c;
  c.rounds = 2;
  c.strategy = "eval";
  c.eval_methods = {"rtn3", "chord"};
  c.budget_bits = 3;
  c.round_deadline_s = 10;
  ASSERT_OK(coordinator_->StartCampaign(c).status());
  const uint64_t version = coordinator_->GetModel(0)->version;
  for (int round = 0; round < 2; ++round) {
    ASSERT_OK(coordinator_->Step());
    double hr = 0;
    for (uint64_t dev : {a, b}) {
      ASSERT_OK_AND_ASSIGN(PulledTask t, coordinator_->PullTask(dev));
      ASSERT_TRUE(t.task.has_value());
      EXPECT_EQ(t.task->strategy, "eval");
      auto train = nlohmann::json::parse(t.task->train_config_json);
      EXPECT_EQ(train["eval_method"], c.eval_methods[round]);
      EXPECT_EQ(train["budget_bits"], 3.0);
      EXPECT_EQ(t.task->weight_bits, round == 0 ? 3u : 0u);
      ReportRecord r;
      r.device_id = dev;
      r.task_id = t.task->task_id;
      r.request_id = "r" + std::to_string(round);
      r.metrics["hr10"] = hr;
      r.metrics["ndcg10"] = 0.5;
      if (dev == a) r.metrics["apply_ms"] = 4;  // only some devices time it
      ASSERT_OK(coordinator_->AcceptReport(r).status());
      hr += 1;
    }
    ASSERT_OK(coordinator_->Step());
    ASSERT_OK_AND_ASSIGN(std::optional<RoundRecord> done, coordinator_->store().LatestRound());
    ASSERT_TRUE(done.has_value());
    EXPECT_EQ(done->state, "done") << done->detail;
    EXPECT_EQ(done->model_version_out, version);
    auto summary = nlohmann::json::parse(done->detail);
    EXPECT_EQ(summary["reports"], 2);
    EXPECT_DOUBLE_EQ(summary["hr10"].get<double>(), 0.5);
    EXPECT_DOUBLE_EQ(summary["apply_ms"].get<double>(), 4.0);
    EXPECT_DOUBLE_EQ(done->acc_served, 0.5);
  }
  EXPECT_EQ(coordinator_->GetModel(0)->version, version);  // nothing aggregated
}

TEST_F(CoordinatorPlansTest, EvalCampaignChecksItsPlansAndReports) {
  coordinator_->SetPlanGenerator(planner_);
  const uint64_t dev = Enroll("a");
  CampaignConfig c;
  c.rounds = 1;
  c.strategy = "eval";
  c.eval_methods = {"static"};  // the fake planner has no static plan
  EXPECT_EQ(coordinator_->StartCampaign(c).status().code(), absl::StatusCode::kFailedPrecondition);
  c.eval_methods = {"chord-mean"};
  ASSERT_OK(coordinator_->StartCampaign(c).status());
  ASSERT_OK(coordinator_->Step());
  ASSERT_OK_AND_ASSIGN(PulledTask t, coordinator_->PullTask(dev));
  ASSERT_TRUE(t.task.has_value());
  // An evaluation takes no update.
  EXPECT_EQ(coordinator_->AcceptUpdate(dev, t.task->task_id, "u1", 5, "x").status().code(),
            absl::StatusCode::kFailedPrecondition);
  ReportRecord r;
  r.device_id = dev;
  r.task_id = t.task->task_id;
  r.request_id = "r1";
  for (double bad : {1.5, -0.1}) {
    r.metrics = {{"ndcg10", bad}};
    EXPECT_EQ(coordinator_->AcceptReport(r).status().code(), absl::StatusCode::kInvalidArgument);
  }
  r.metrics = {{"plan_bytes", 1e300}};
  EXPECT_EQ(coordinator_->AcceptReport(r).status().code(), absl::StatusCode::kInvalidArgument);
  r.metrics = {{"ndcg10", 1.0}, {"plan_bytes", 34}};
  ASSERT_OK(coordinator_->AcceptReport(r).status());
  ASSERT_OK(coordinator_->Step());
  ASSERT_OK_AND_ASSIGN(std::optional<RoundRecord> done, coordinator_->store().LatestRound());
  ASSERT_TRUE(done.has_value());
  EXPECT_EQ(done->state, "done") << done->detail;
}

// A generator that throws (LibTorch reports errors as exceptions) fails
// the batch's requests; the coordinator keeps serving.
class ThrowingPlanner : public FakePlanner {
 public:
  absl::StatusOr<std::vector<std::string>> Generate(const std::vector<float>& e,
                                                    const std::vector<uint64_t>& v) override {
    if (e[0] < 0) throw std::runtime_error("shape mismatch");
    return FakePlanner::Generate(e, v);
  }
};

TEST_F(CoordinatorPlansTest, GeneratorExceptionsFailTheRequestNotTheProcess) {
  coordinator_->SetPlanGenerator(std::make_shared<ThrowingPlanner>());
  const uint64_t dev = Enroll("a");
  auto bad = coordinator_->RequestPlan(dev, "chord", {-1, 1, 1, 1});
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(bad.status().message(), HasSubstr("shape mismatch"));
  ASSERT_OK_AND_ASSIGN(PlanReply good, coordinator_->RequestPlan(dev, "chord", {1, 1, 1, 1}));
  EXPECT_EQ(good.plan_version, 1u);
}

}  // namespace
}  // namespace qfleet::cloud
