#include "cloud/service/fleet_conversions.h"

#include <filesystem>
#include <optional>
#include <thread>

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "cloud/service/coordinator_server.h"
#include "cloud/service/fleet_conversions.h"
#include "common/container_quant.h"
#include "common/crc32c.h"
#include "common/plan_codec.h"
#include "common/sha256.h"
#include "common/status_matchers.h"
#include "tests/cloud/fake_backend.h"
#include "tests/cloud/service/fleet_service_fixture.h"

namespace qfleet::cloud {
namespace {

TEST(TaskToProtoTest, CarriesTheDeltaUploadFlagAndRefusesACorruptConfig) {
  PulledTask pulled;
  TaskRecord t;
  t.task_id = 3;
  t.round = 1;
  t.device_id = 2;
  t.strategy = "ptq";
  t.weight_bits = 2;
  t.train_config_json = R"({"local_epochs":1,"upload_delta":true,"quant_gap":true})";
  pulled.task = t;
  ASSERT_OK_AND_ASSIGN(fv1::Task proto, TaskToProto(pulled));
  EXPECT_EQ(proto.strategy(), fv1::STRATEGY_PTQ);
  EXPECT_TRUE(proto.upload_delta());
  EXPECT_TRUE(proto.report_quant_gap());
  pulled.task->train_config_json = R"({"local_epochs":1})";
  ASSERT_OK_AND_ASSIGN(proto, TaskToProto(pulled));
  EXPECT_FALSE(proto.upload_delta());
  EXPECT_FALSE(proto.report_quant_gap());
  // Unparseable, or a field of the wrong type: an error, never a crash.
  for (const char* bad : {"{not json", R"({"upload_delta":"yes"})", R"({"quant_gap":1})",
                          R"({"local_epochs":"one"})"}) {
    pulled.task->train_config_json = bad;
    EXPECT_THAT(TaskToProto(pulled),
                StatusIs(absl::StatusCode::kInternal, testing::HasSubstr("corrupt")))
        << bad;
  }
}

TEST(TaskToProtoTest, CarriesTheCoordinatorsActivationStepsAndRefusesCorruptOnes) {
  PulledTask pulled;
  TaskRecord t;
  t.task_id = 4;
  t.strategy = "qat";
  t.weight_bits = 2;
  t.activation_bits = 3;
  t.train_config_json = R"({"local_epochs":1,"act_steps":[0.5,0.25,0.125]})";
  pulled.task = t;
  ASSERT_OK_AND_ASSIGN(fv1::Task proto, TaskToProto(pulled));
  EXPECT_THAT(proto.activation_steps(), testing::ElementsAre(0.5, 0.25, 0.125));
  pulled.task->train_config_json = R"({"local_epochs":1})";
  ASSERT_OK_AND_ASSIGN(proto, TaskToProto(pulled));
  EXPECT_EQ(proto.activation_steps_size(), 0);
  pulled.task->train_config_json = R"({"act_steps":[0.5,"x",0.1]})";
  EXPECT_THAT(TaskToProto(pulled),
              StatusIs(absl::StatusCode::kInternal, testing::HasSubstr("activation step")));
}

}  // namespace
}  // namespace qfleet::cloud
