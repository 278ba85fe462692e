#include "sim/light_sim.h"

#include <filesystem>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/idx_dataset.h"
#include "common/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/test_util.h"

namespace qfleet::apps {
namespace {

using ::qfleet::testing_util::HaveFashionMnist;

using ::testing::HasSubstr;

// 300 light devices, `clients` selected in one round, against a coordinator
// started as a separate process.
LightSimOptions SmallFleet(int clients) {
  LightSimOptions o;
  o.devices = 300;
  o.rounds = 1;
  o.clients_per_round = clients;
  o.workers = 8;
  o.channels = 2;
  o.max_seconds = 120;
  return o;
}

// 300 light devices against a coordinator started as a separate process
// over TLS: every RPC kind runs, the round completes with exactly the
// selected devices' updates, and no call fails.
TEST(LightSimIntegrationTest, SeparateCoordinatorProcessServesAFleet) {
  if (!HaveFashionMnist()) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  LightSimOptions o = SmallFleet(3);
  std::ostringstream log;
  ASSERT_OK_AND_ASSIGN(LightSimResult r, RunLightSim(o, log));
  EXPECT_EQ(r.rounds_done, 1) << log.str();
  EXPECT_GT(r.rpcs, 300u);
  EXPECT_GT(r.rpcs_per_s, 0.0);
  ASSERT_EQ(r.kinds.size(), 6u);
  for (const RpcKindStats& k : r.kinds) {
    EXPECT_EQ(k.errors, 0u) << k.kind;
    EXPECT_LE(k.p50_ms, k.p99_ms) << k.kind;
    if (k.kind == "register") EXPECT_EQ(k.calls, 300u);
    if (k.kind == "download" || k.kind == "upload" || k.kind == "report") EXPECT_EQ(k.calls, 3u) << k.kind;
  }
  EXPECT_GT(r.coordinator_peak_rss_mb, 0.0);
  ASSERT_EQ(r.coordinator_rss_by_round_mb.size(), 1u);
  const nlohmann::json j = nlohmann::json::parse(LightResultToJson(r));
  EXPECT_EQ(j.at("devices").get<int>(), 300);
  EXPECT_TRUE(j.at("p99_ms").contains("pull_task"));
  EXPECT_TRUE(j.contains("coordinator_peak_rss_mb"));
  EXPECT_THAT(FormatLightTable(r), HasSubstr("pull_task"));
}

// Fault injection: 30% of the participants take their task and vanish. The round
// does not stall: it closes at its deadline with exactly the updates and
// reports of the devices that stayed, as the coordinator's database counts
// them.
TEST(LightSimIntegrationTest, RoundSurvivesThirtyPercentDroppingMidRound) {
  if (!HaveFashionMnist()) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  LightSimOptions o = SmallFleet(10);
  o.round_deadline_s = 4;
  o.drop_fraction = 0.3;
  std::ostringstream log;
  ASSERT_OK_AND_ASSIGN(LightSimResult r, RunLightSim(o, log));
  ASSERT_EQ(r.rounds.size(), 1u) << log.str();
  const LightRound& round = r.rounds[0];
  EXPECT_EQ(round.state, "done");
  EXPECT_EQ(round.participants, 10u);
  EXPECT_EQ(round.abandoned, 3u);  // 30% of the 10 participants
  EXPECT_EQ(round.uploaded + round.abandoned, round.participants);
  EXPECT_EQ(round.updates_accepted, round.uploaded);
  EXPECT_EQ(round.reports, round.uploaded);
  for (const RpcKindStats& k : r.kinds) EXPECT_EQ(k.errors, 0u) << k.kind;
}

TEST(LightSimIntegrationTest, RejectsBadOptionsAndAMissingBinary) {
  std::ostringstream log;
  LightSimOptions o;
  o.devices = 5;
  o.clients_per_round = 6;
  EXPECT_THAT(RunLightSim(o, log), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("clients")));
  o = LightSimOptions{};
  o.workers = 0;
  EXPECT_THAT(RunLightSim(o, log), StatusIs(absl::StatusCode::kInvalidArgument));
  o = LightSimOptions{};
  o.drop_fraction = 1.0;
  EXPECT_THAT(RunLightSim(o, log), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("drop")));
  o = LightSimOptions{};
  o.coordinator_binary = "/nonexistent/qfleet-coordinator";
  EXPECT_THAT(RunLightSim(o, log), StatusIs(absl::StatusCode::kUnavailable, HasSubstr("nonexistent")));
}

TEST(LightSimIntegrationTest, CommandLine) {
  const char* light[] = {"qfleet-sim", "--devices", "10", "--light"};
  EXPECT_TRUE(SelectsLightSim(4, const_cast<char**>(light)));
  const char* fl[] = {"qfleet-sim", "--devices", "10"};
  EXPECT_FALSE(SelectsLightSim(3, const_cast<char**>(fl)));
  const char* bad[] = {"qfleet-sim", "--light", "--devices", "0"};
  EXPECT_EQ(LightSimMain(4, const_cast<char**>(bad)), 2);
}

}  // namespace
}  // namespace qfleet::apps
