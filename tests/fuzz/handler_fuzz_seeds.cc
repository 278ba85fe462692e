// Valid inputs for the handler fuzzers (see handler_fuzz_targets.h): the
// replay test runs them and writes them out as the fuzzers' seed corpora.
#include <string>
#include <vector>

#include "qfleet/admin/v1/admin.pb.h"
#include "qfleet/fleet/v1/fleet.pb.h"
#include "tests/fuzz/handler_fuzz_targets.h"

namespace qfleet::cloud::fuzz {
namespace {

namespace fv1 = qfleet::fleet::v1;
namespace av1 = qfleet::admin::v1;

std::string WithPrefix(uint8_t a, uint8_t b, const std::string& message) {
  return std::string(1, static_cast<char>(a)) + std::string(1, static_cast<char>(b)) + message;
}

}  // namespace

std::vector<std::string> FleetRequestSeeds() {
  std::vector<std::string> seeds;
  fv1::RegisterRequest reg;
  reg.set_device_name("seed-device");
  reg.mutable_profile()->set_compute_gflops(10);
  reg.mutable_profile()->add_lowbit_support(4);
  reg.mutable_data()->set_sample_count(100);
  reg.mutable_data()->add_label_histogram(50);
  seeds.push_back(WithPrefix(0, 0, reg.SerializeAsString()));
  fv1::HeartbeatRequest hb;
  hb.set_device_id(1);
  seeds.push_back(WithPrefix(1, 0, hb.SerializeAsString()));
  fv1::PullTaskRequest pull;
  pull.set_device_id(1);
  seeds.push_back(WithPrefix(2, 1, pull.SerializeAsString()));
  fv1::DownloadModelRequest dl;
  dl.set_model_version(1);
  seeds.push_back(WithPrefix(3, 0, dl.SerializeAsString()));
  dl.set_offset(100);
  seeds.push_back(WithPrefix(3, 0, dl.SerializeAsString()));
  fv1::SubmitReportRequest rep;
  rep.mutable_report()->set_task_id(1);
  rep.mutable_report()->set_request_id("seed-report");
  rep.mutable_report()->set_train_loss(0.5);
  (*rep.mutable_report()->mutable_metrics())["avg_bits"] = 4;
  seeds.push_back(WithPrefix(4, 0, rep.SerializeAsString()));
  fv1::UploadStatusRequest st;
  st.set_task_id(1);
  st.set_request_id("seed-upload");
  seeds.push_back(WithPrefix(5, 0, st.SerializeAsString()));
  fv1::PlanRequest plan;
  plan.set_method("chord");
  for (float v : {0.5f, -1.0f, 2.0f, 0.0f}) plan.add_user_embedding(v);
  seeds.push_back(WithPrefix(6, 0, plan.SerializeAsString()));
  plan.set_method("chord-mean");
  seeds.push_back(WithPrefix(6, 1, plan.SerializeAsString()));
  return seeds;
}

std::vector<std::string> UploadStreamSeeds() {
  std::vector<std::string> seeds;
  for (uint8_t flags : {0x0f, 0x07, 0x0b, 0x1f}) {
    std::string in(1, static_cast<char>(flags));
    for (int i = 0; i < 3; ++i) {
      fv1::UpdateChunk c;
      if (i == 0) {
        c.mutable_header()->set_request_id("seed-upload");
        c.mutable_header()->set_sample_count(10);
      }
      c.set_offset(static_cast<uint64_t>(i) * 40);
      c.set_data(std::string(40, static_cast<char>('a' + i)));
      const std::string bytes = c.SerializeAsString();
      in += static_cast<char>(bytes.size() & 0xff);
      in += static_cast<char>(bytes.size() >> 8);
      in += bytes;
    }
    seeds.push_back(in);
  }
  return seeds;
}

std::vector<std::string> AdminRequestSeeds() {
  std::vector<std::string> seeds;
  for (uint8_t rpc = 0; rpc < 15; ++rpc) {
    av1::GetDeviceRequest by_device;  // same wire shape as the other id-only requests
    by_device.set_device_id(1);
    seeds.push_back(std::string(1, static_cast<char>(rpc)) + by_device.SerializeAsString());
  }
  av1::StartRoundsRequest start;
  start.mutable_config()->set_rounds(2);
  start.mutable_config()->set_strategy("ptq");
  start.mutable_config()->set_weight_bits(4);
  seeds.push_back(std::string(1, 5) + start.SerializeAsString());
  av1::CreateJoinTokenRequest token;
  token.set_label("fleet-a");
  token.set_ttl_s(3600);
  token.set_max_uses(2);
  seeds.push_back(std::string(1, 10) + token.SerializeAsString());
  av1::CancelRoundRequest cancel;
  cancel.set_round(1);
  cancel.set_reason("fuzz");
  seeds.push_back(std::string(1, 13) + cancel.SerializeAsString());
  av1::ExportModelRequest latest;  // version 0: the latest model
  seeds.push_back(std::string(1, 14) + latest.SerializeAsString());
  return seeds;
}

}  // namespace qfleet::cloud::fuzz
