#include "common/time_model.h"

#include <cmath>
#include <limits>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "common/status_matchers.h"

namespace qfleet {
namespace {

StepCosts Costs() {
  StepCosts c;
  c.ref_gflops = 4;
  c.fp32_step_s = 0.02;
  c.qat_step_s = 0.03;
  c.ptq_quantize_s = 0.005;
  c.gap_check_s = 0.04;
  return c;
}

TEST(TimeModelTest, ComputeScalesStepsByTheDevicesSpeedAndLoad) {
  const StepCosts c = Costs();
  // A device half as fast as the reference machine, all of it training.
  ASSERT_OK_AND_ASSIGN(double fp32, ComputeSeconds(c, "fp32", 20, 2.0));
  EXPECT_DOUBLE_EQ(fp32, 20 * 0.02 * 2);
  ASSERT_OK_AND_ASSIGN(double qat, ComputeSeconds(c, "qat", 20, 2.0));
  EXPECT_DOUBLE_EQ(qat, 20 * 0.03 * 2);
  ASSERT_OK_AND_ASSIGN(double ptq, ComputeSeconds(c, "ptq", 20, 2.0));
  EXPECT_DOUBLE_EQ(ptq, (20 * 0.02 + 0.005) * 2);
  // The gap check is charged only when asked for, and only to PTQ.
  ASSERT_OK_AND_ASSIGN(double ptq_gap, ComputeSeconds(c, "ptq", 20, 2.0, 1.0, true));
  EXPECT_DOUBLE_EQ(ptq_gap, (20 * 0.02 + 0.005 + 0.04) * 2);
  // Half the device's compute for training: twice the time.
  ASSERT_OK_AND_ASSIGN(double loaded, ComputeSeconds(c, "qat", 20, 2.0, 0.5));
  EXPECT_DOUBLE_EQ(loaded, 2 * qat);
}

TEST(TimeModelTest, ComputeRefusesUnknownStrategiesBadSpeedsAndMisplacedChecks) {
  const StepCosts c = Costs();
  EXPECT_THAT(ComputeSeconds(c, "int4", 20, 2.0), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ComputeSeconds(c, "qat", 20, 2.0, 1.0, true),
              StatusIs(absl::StatusCode::kInvalidArgument));
  for (double bad : {0.0, -1.0, std::nan(""), std::numeric_limits<double>::infinity()}) {
    EXPECT_THAT(ComputeSeconds(c, "ptq", 20, bad), StatusIs(absl::StatusCode::kInvalidArgument));
    EXPECT_THAT(ComputeSeconds(c, "ptq", 20, 2.0, bad),
                StatusIs(absl::StatusCode::kInvalidArgument));
  }
  EXPECT_THAT(ComputeSeconds(StepCosts{}, "ptq", 20, 2.0),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(TimeModelTest, TransferAndLocalSteps) {
  // 1 MB down at 8 Mbit/s and 0.5 MB up at 1 Mbit/s.
  EXPECT_DOUBLE_EQ(TransferSeconds(1000000, 500000, 8000, 1000), 1.0 + 4.0);
  EXPECT_DOUBLE_EQ(TransferSeconds(1000000, 500000, 0, 0), 0.0);  // unknown links
  EXPECT_EQ(LocalSteps(100, 32, 1, 0), 4);
  EXPECT_EQ(LocalSteps(100, 32, 3, 10), 10);
  EXPECT_EQ(LocalSteps(100, 0, 1, 0), 0);
}

TEST(TimeModelTest, JsonRoundTripsAndRefusesBadValues) {
  ASSERT_OK_AND_ASSIGN(StepCosts back, StepCosts::FromJson(Costs().ToJson()));
  EXPECT_DOUBLE_EQ(back.gap_check_s, 0.04);
  EXPECT_DOUBLE_EQ(back.ptq_quantize_s, 0.005);
  EXPECT_TRUE(back.valid());
  for (const char* bad : {"", "[]", R"({"fp32_step_s":"fast"})", R"({"gap_check_s":-1})",
                          R"({"qat_step_s":1e999})"}) {
    EXPECT_THAT(StepCosts::FromJson(bad), StatusIs(absl::StatusCode::kInvalidArgument)) << bad;
  }
}

}  // namespace
}  // namespace qfleet
