#include "apps/fleet_sim.h"

#include <filesystem>
#include <sstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "common/idx_dataset.h"
#include "common/status_matchers.h"

namespace qfleet::apps {
namespace {

bool HaveFashionMnist() {
  return std::filesystem::exists(std::string(kDefaultFashionMnistDir) + "/t10k-labels-idx1-ubyte.gz");
}

FlSimOptions Small() {
  FlSimOptions o;
  o.devices = 3;
  o.rounds = 1;
  o.seed = 3;
  o.data_dir = kDefaultFashionMnistDir;
  o.train_limit = 1200;
  o.test_limit = 500;
  o.progress = false;
  return o;
}

// An in-process coordinator and three agents (each a real gRPC client)
// doing one full round on real Fashion-MNIST images.
TEST(FleetSimIntegrationTest, ThreeAgentsCompleteOneRoundAndLearn) {
  if (!HaveFashionMnist()) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  std::ostringstream log;
  ASSERT_OK_AND_ASSIGN(FlSimResult r, RunFlSim(Small(), log));
  ASSERT_EQ(r.rounds.size(), 1u);
  const RoundRow& row = r.rounds[0];
  EXPECT_EQ(row.state, "done");
  EXPECT_EQ(row.participants, 3u);
  EXPECT_EQ(row.updates, 3u);
  // 1200 images, one epoch: far above the 10% of chance.
  EXPECT_GT(row.acc_fp32, 0.5);
  EXPECT_GT(row.acc_q8, 0.5);
  EXPECT_NEAR(row.acc_q8, row.acc_fp32, 0.05);
  EXPECT_GT(row.bytes_down, 3 * 800000u);  // every agent downloaded the FP32 model
  EXPECT_GT(row.bytes_up, 3 * 200000u);
  EXPECT_LT(row.bytes_up, row.bytes_down / 2);  // 8-bit uploads are ~4x smaller
}

TEST(FleetSimIntegrationTest, SameSeedGivesTheSameAccuracies) {
  if (!HaveFashionMnist()) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  FlSimOptions o = Small();
  o.alpha = 0.5;
  o.max_steps = 10;
  std::ostringstream log;
  ASSERT_OK_AND_ASSIGN(FlSimResult a, RunFlSim(o, log));
  ASSERT_OK_AND_ASSIGN(FlSimResult b, RunFlSim(o, log));
  ASSERT_EQ(a.rounds.size(), 1u);
  EXPECT_EQ(a.rounds[0].acc_fp32, b.rounds[0].acc_fp32);
  EXPECT_EQ(a.rounds[0].acc_q8, b.rounds[0].acc_q8);
}

TEST(FleetSimIntegrationTest, MissingDatasetIsAClearError) {
  FlSimOptions o = Small();
  o.data_dir = "/nonexistent/fashion";
  std::ostringstream log;
  auto r = RunFlSim(o, log);
  EXPECT_THAT(r, StatusIs(absl::StatusCode::kNotFound, testing::HasSubstr("/nonexistent/fashion")));
}

}  // namespace
}  // namespace qfleet::apps
