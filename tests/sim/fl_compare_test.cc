#include "sim/fl_compare.h"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "common/idx_dataset.h"
#include "common/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/test_util.h"

namespace qfleet::apps {
namespace {

using ::qfleet::testing_util::HaveFashionMnist;
using ::qfleet::testing_util::MakeTempDir;

using ::testing::HasSubstr;

void Write(const std::filesystem::path& p, const std::string& text) {
  std::ofstream(p, std::ios::binary | std::ios::trunc) << text;
}

// Fixed step costs (QAT 3x an FP32 step), so runs do not depend on how busy
// the machine is.
constexpr char kCalibration[] =
    R"({"wbits":4,"abits":8,"batch_size":32,)"
    R"("costs":{"ref_gflops":5.0,"fp32_step_s":0.02,"qat_step_s":0.06,"ptq_quantize_s":0.05,)"
    R"("gap_check_s":0.03}})";

TEST(FlCompareCalibrationTest, FileIsReusedWithoutMeasuring) {
  const auto dir = MakeTempDir("qfleet-cmp-test");
  Write(dir / "cal.json", kCalibration);
  std::ostringstream log;
  // An empty dataset: measuring would fail, so success means the file was used.
  ASSERT_OK_AND_ASSIGN(StepCosts c,
                       LoadOrCalibrate((dir / "cal.json").string(), ImageDataset{}, 4, 8, 32, 0.05f, log));
  EXPECT_DOUBLE_EQ(c.ref_gflops, 5.0);
  EXPECT_DOUBLE_EQ(c.fp32_step_s, 0.02);
  EXPECT_DOUBLE_EQ(c.qat_step_s, 0.06);
  EXPECT_DOUBLE_EQ(c.ptq_quantize_s, 0.05);
  EXPECT_DOUBLE_EQ(c.gap_check_s, 0.03);
  EXPECT_THAT(log.str(), HasSubstr("calibration from"));
  std::filesystem::remove_all(dir);
}

TEST(FlCompareCalibrationTest, RejectsMismatchedAndMalformedFiles) {
  const auto dir = MakeTempDir("qfleet-cmp-test");
  const std::string path = (dir / "cal.json").string();
  std::ostringstream log;
  Write(path, kCalibration);
  EXPECT_THAT(LoadOrCalibrate(path, ImageDataset{}, 2, 8, 32, 0.05f, log),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("wbits 4")));
  EXPECT_THAT(LoadOrCalibrate(path, ImageDataset{}, 4, 8, 64, 0.05f, log),
              StatusIs(absl::StatusCode::kInvalidArgument));
  for (const char* bad :
       {"", "not json", "[1,2]", R"({"wbits":4,"abits":8,"batch_size":32})",
        R"({"wbits":4,"abits":8,"batch_size":32,"costs":{"ref_gflops":-1,"fp32_step_s":1,"qat_step_s":1}})",
        R"({"wbits":4,"abits":8,"batch_size":32,"costs":{"ref_gflops":5,"fp32_step_s":0,"qat_step_s":1}})",
        R"({"wbits":"4","abits":8,"batch_size":32,"costs":{}})",
        // Measured before the gap check had its own field.
        R"({"wbits":4,"abits":8,"batch_size":32,"costs":{"ref_gflops":5,"fp32_step_s":0.02,)"
        R"("qat_step_s":0.06,"ptq_quantize_s":0.05}})"}) {
    Write(path, bad);
    EXPECT_THAT(LoadOrCalibrate(path, ImageDataset{}, 4, 8, 32, 0.05f, log),
                StatusIs(absl::StatusCode::kInvalidArgument))
        << bad;
  }
  std::filesystem::remove_all(dir);
}

FlCompareOptions Small(const std::string& calibration) {
  FlCompareOptions o;
  o.strategies = {"qat", "fedhq"};
  o.calibration_path = calibration;
  o.target_acc = 0.3;
  // Let the selector move any critical-path client: this test is about the
  // mechanism, not the harm threshold (unit-tested on constructed fleets).
  o.sim.keep_qat_ratio = 100;
  o.sim.devices = 6;
  o.sim.rounds = 2;
  o.sim.seed = 5;
  o.sim.alpha = 0.5;
  o.sim.weight_bits = 4;
  o.sim.activation_bits = 8;
  o.sim.max_steps = 10;
  o.sim.data_dir = kDefaultFashionMnistDir;
  o.sim.train_limit = 1800;
  o.sim.test_limit = 300;
  o.sim.progress = false;
  return o;
}

// The comparison end to end through real coordinators and agents: the same
// seed and calibration give the same table; FedHQ moves the critical path to
// PTQ and so finishes its rounds sooner than all-QAT; under a simulated
// deadline that all-QAT stragglers miss, no round stalls and FedHQ keeps at
// least as many updates per round as all-QAT.
TEST(FlCompareIntegrationTest, DeterministicFasterThanQatAndDeadlineSafe) {
  if (!HaveFashionMnist()) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  const auto dir = MakeTempDir("qfleet-cmp-test");
  Write(dir / "cal.json", kCalibration);
  std::ostringstream log;
  FlCompareOptions o = Small((dir / "cal.json").string());
  ASSERT_OK_AND_ASSIGN(auto a, RunFlCompare(o, log));
  FlCompareOptions again = o;
  again.strategies = {"fedhq"};
  ASSERT_OK_AND_ASSIGN(auto b, RunFlCompare(again, log));
  ASSERT_EQ(a.size(), 2u);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(a[1].final_acc, b[0].final_acc);
  EXPECT_EQ(a[1].final_acc_last5, b[0].final_acc_last5);
  // Two finished rounds: the last-five mean is their mean.
  EXPECT_NEAR(a[1].final_acc_last5,
              0.5 * (a[1].rounds[0].acc_served + a[1].rounds[1].acc_served), 1e-12);
  EXPECT_EQ(a[1].total_time_s, b[0].total_time_s);
  EXPECT_EQ(a[1].bytes, b[0].bytes);
  for (size_t s = 0; s < a.size(); ++s) {
    ASSERT_EQ(a[s].rounds.size(), 2u);
    for (const auto& r : a[s].rounds) EXPECT_EQ(r.state, "done");
  }
  const StrategyResult& qat = a[0];
  const StrategyResult& fedhq = a[1];
  EXPECT_LT(fedhq.total_time_s, qat.total_time_s);
  EXPECT_GT(fedhq.selector_overhead_s, 0.0);
  EXPECT_EQ(qat.selector_overhead_s, 0.0);

  // A deadline between FedHQ's round and all-QAT's: QAT's critical client
  // misses it.
  o.sim.sim_deadline_s = 0.5 * (qat.rounds[0].sim_seconds + fedhq.rounds[0].sim_seconds);
  ASSERT_OK_AND_ASSIGN(auto d, RunFlCompare(o, log));
  ASSERT_EQ(d.size(), 2u);
  for (const auto& s : d) {
    ASSERT_EQ(s.rounds.size(), 2u) << s.name;
    for (const auto& r : s.rounds) {
      EXPECT_EQ(r.state, "done") << s.name;
      EXPECT_LE(r.sim_seconds, o.sim.sim_deadline_s + 1e-9) << s.name;
      EXPECT_GE(r.acc_served, 0.0) << s.name;
    }
  }
  for (size_t r = 0; r < 2; ++r) {
    EXPECT_GE(d[1].rounds[r].updates, d[0].rounds[r].updates) << r;
  }
  EXPECT_LT(d[0].rounds[0].updates, d[0].rounds[0].participants);
  std::filesystem::remove_all(dir);
}

// --warmup-rounds: an FP32 campaign on the same fleet first, its model
// exported through the admin API and loaded as version 1 of each
// strategy's coordinator. The warm-started strategy starts where the
// warm-up ended, far above a cold start with the same seed.
TEST(FlCompareIntegrationTest, WarmupModelIsExportedAndStartsEveryStrategy) {
  if (!HaveFashionMnist()) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  const auto dir = MakeTempDir("qfleet-cmp-test");
  Write(dir / "cal.json", kCalibration);
  std::ostringstream log;
  FlCompareOptions cold = Small((dir / "cal.json").string());
  cold.strategies = {"ptq"};
  cold.sim.rounds = 1;
  FlCompareOptions warm = cold;
  warm.warmup_rounds = 3;
  warm.warmup_model_path = (dir / "warm.qftc").string();
  ASSERT_OK_AND_ASSIGN(auto c, RunFlCompare(cold, log));
  ASSERT_OK_AND_ASSIGN(auto w, RunFlCompare(warm, log));
  EXPECT_THAT(log.str(), HasSubstr("warm-up done"));
  ASSERT_TRUE(std::filesystem::exists(warm.warmup_model_path));
  ASSERT_EQ(c.size(), 1u);
  ASSERT_EQ(w.size(), 1u);
  ASSERT_EQ(w[0].rounds.size(), 1u);
  EXPECT_EQ(w[0].rounds[0].state, "done");
  EXPECT_GT(w[0].rounds[0].acc_fp32, c[0].rounds[0].acc_fp32 + 0.1);
  // A file that is not a model is refused before any round starts.
  Write(dir / "junk.qftc", "not a model");
  FlCompareOptions junk = cold;
  junk.sim.init_model_path = (dir / "junk.qftc").string();
  EXPECT_THAT(RunFlCompare(junk, log).status(), StatusIs(testing::_, HasSubstr("junk.qftc")));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace qfleet::apps
