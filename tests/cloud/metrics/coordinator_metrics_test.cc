#include "cloud/metrics/coordinator_metrics.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/cloud/metrics/http_get.h"

namespace qfleet::cloud {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(CoordinatorMetricsTest, RendersEveryMetricAsParseableText) {
  CoordinatorMetrics m;
  m.RecordRpc("qfleet.fleet.v1.FleetService/PullTask", "OK", 0.002);
  m.RecordRpc("qfleet.fleet.v1.FleetService/PullTask", "OK", 0.2);
  m.RecordRpc("qfleet.fleet.v1.FleetService/PullTask", "UNAUTHENTICATED", 100);
  m.AddBytesReceived(10);
  m.AddBytesReceived(5);
  m.AddBytesSent(7);
  FleetGauges g;
  g.devices_registered = 4;
  g.devices_online = 3;
  g.rounds_completed = 2;
  g.rounds_cancelled = 1;
  g.rounds_failed = 3;
  g.join_tokens = {{"active", 2}, {"revoked", 1}};
  g.join_token_enrollments = 5;
  const std::string text = m.Render(g);
  std::string bad;
  EXPECT_TRUE(IsPrometheusText(text, &bad)) << bad;
  EXPECT_THAT(text, HasSubstr("qfleet_devices_registered 4\n"));
  EXPECT_THAT(text, HasSubstr("qfleet_devices_online 3\n"));
  EXPECT_THAT(text, HasSubstr("qfleet_rounds_completed_total 2\n"));
  EXPECT_THAT(text, HasSubstr("qfleet_rounds_cancelled_total 1\n"));
  EXPECT_THAT(text, HasSubstr("qfleet_rounds_failed_total 3\n"));
  EXPECT_THAT(text, HasSubstr("qfleet_join_token_enrollments_total 5\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE qfleet_join_tokens gauge\n"));
  // Every state has a sample, the ones with no token at 0.
  EXPECT_THAT(text, HasSubstr("qfleet_join_tokens{state=\"active\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("qfleet_join_tokens{state=\"revoked\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("qfleet_join_tokens{state=\"expired\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("qfleet_join_tokens{state=\"used_up\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("qfleet_bytes_received_total 15\n"));
  EXPECT_THAT(text, HasSubstr("qfleet_bytes_sent_total 7\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE qfleet_rpc_latency_seconds histogram\n"));
  const std::string m1 = "method=\"qfleet.fleet.v1.FleetService/PullTask\"";
  EXPECT_THAT(text, HasSubstr("qfleet_rpc_total{" + m1 + ",code=\"OK\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("qfleet_rpc_total{" + m1 + ",code=\"UNAUTHENTICATED\"} 1\n"));
  // Buckets are cumulative: 0.002 s is under 0.0025, 0.2 s under 0.25,
  // 100 s only under +Inf.
  EXPECT_THAT(text, HasSubstr("qfleet_rpc_latency_seconds_bucket{" + m1 + ",le=\"0.001\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("qfleet_rpc_latency_seconds_bucket{" + m1 + ",le=\"0.0025\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("qfleet_rpc_latency_seconds_bucket{" + m1 + ",le=\"0.25\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("qfleet_rpc_latency_seconds_bucket{" + m1 + ",le=\"30\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("qfleet_rpc_latency_seconds_bucket{" + m1 + ",le=\"+Inf\"} 3\n"));
  EXPECT_THAT(text, HasSubstr("qfleet_rpc_latency_seconds_count{" + m1 + "} 3\n"));
  EXPECT_THAT(text, HasSubstr("qfleet_rpc_latency_seconds_sum{" + m1 + "} 100.202\n"));
}

TEST(CoordinatorMetricsTest, EmptyRegistryStillHasTheFleetSeries) {
  CoordinatorMetrics m;
  const std::string text = m.Render(FleetGauges());
  std::string bad;
  EXPECT_TRUE(IsPrometheusText(text, &bad)) << bad;
  EXPECT_THAT(text, HasSubstr("qfleet_devices_online 0\n"));
  EXPECT_THAT(text, Not(HasSubstr("qfleet_rpc_total{")));
}

// --- Error paths -------------------------------------------------------------

TEST(CoordinatorMetricsTest, LabelValuesAreEscaped) {
  CoordinatorMetrics m;
  m.RecordRpc("a\"b\\c\nd", "OK", 0);
  const std::string text = m.Render(FleetGauges());
  EXPECT_THAT(text, HasSubstr("method=\"a\\\"b\\\\c\\nd\""));
  std::string bad;
  EXPECT_TRUE(IsPrometheusText(text, &bad)) << bad;
}

TEST(CoordinatorMetricsTest, CodeNamesCoverEveryGrpcCode) {
  EXPECT_EQ(GrpcCodeName(0), "OK");
  EXPECT_EQ(GrpcCodeName(7), "PERMISSION_DENIED");
  EXPECT_EQ(GrpcCodeName(16), "UNAUTHENTICATED");
  EXPECT_EQ(GrpcCodeName(17), "UNKNOWN");
  EXPECT_EQ(GrpcCodeName(-1), "UNKNOWN");
}

}  // namespace
}  // namespace qfleet::cloud
