// Agent: a PTQ delta upload (the quantized change, not the model; refused
// for other strategies); delivering a task across a coordinator that goes away (the upload
// and report are resumed with the same request ids, not re-pulled), and a
// task whose round was cancelled (the refusal is reported and the agent
// goes on).

#include "device/agent.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "absl/synchronization/mutex.h"
#include "common/crc32c.h"
#include "common/sha256.h"
#include "common/status_matchers.h"
#include "common/tensor_container.h"
#include "ml/fmnist_cnn.h"
#include "ml/model_io.h"
#include "qfleet/fleet/v1/fleet.grpc.pb.h"
#include "tests/device/loopback_server.h"

namespace qfleet::device {
namespace {

namespace fv1 = qfleet::fleet::v1;
using ::testing::HasSubstr;

// A FleetService with one task whose upload and report fail as scripted.
class OneTaskService final : public fv1::FleetService::Service {
 public:
  // Statuses returned by the next calls, in order; OK once exhausted.
  std::vector<grpc::Status> upload_script, report_script;
  std::string model;
  fv1::Strategy strategy = fv1::STRATEGY_FP32;
  bool upload_delta = false;
  bool report_quant_gap = false;
  uint32_t activation_bits = 0;
  std::vector<double> activation_steps;  // sent with the task
  std::string uploaded;  // the bytes of the last upload
  int pulls = 0;
  std::vector<uint32_t> pull_wait_ms;  // each PullTask's long-poll wait
  std::vector<std::string> upload_ids, report_ids;  // every call's request id
  std::vector<std::string> report_errors;
  std::vector<bool> report_has_gap;  // "quant_gap" among the metrics

  grpc::Status Register(grpc::ServerContext*, const fv1::RegisterRequest*,
                        fv1::RegisterResponse* resp) override {
    resp->set_device_id(7);
    resp->set_token("tok");
    resp->set_heartbeat_interval_ms(60000);
    return grpc::Status::OK;
  }
  grpc::Status PullTask(grpc::ServerContext*, const fv1::PullTaskRequest* req,
                        fv1::PullTaskResponse* resp) override {
    absl::MutexLock lock(&mu_);
    ++pulls;
    pull_wait_ms.push_back(req->wait_ms());
    fv1::Task* t = resp->mutable_task();
    t->set_task_id(pulls);
    t->set_round(1);
    t->set_strategy(strategy);
    t->set_upload_delta(upload_delta);
    t->set_report_quant_gap(report_quant_gap);
    t->set_activation_bits(activation_bits);
    for (double s : activation_steps) t->add_activation_steps(s);
    t->set_weight_bits(8);
    t->set_model_version(1);
    t->set_model_bytes(model.size());
    t->set_model_sha256(Sha256Hex(model));
    t->mutable_train()->set_local_epochs(1);
    t->mutable_train()->set_batch_size(4);
    t->mutable_train()->set_learning_rate(0.01f);
    t->mutable_train()->set_max_steps(1);
    return grpc::Status::OK;
  }
  grpc::Status DownloadModel(grpc::ServerContext*, const fv1::DownloadModelRequest*,
                             grpc::ServerWriter<fv1::ModelChunk>* w) override {
    fv1::ModelChunk c;
    c.set_data(model);
    c.set_crc32c(Crc32c(model.data(), model.size()));
    c.set_total_bytes(model.size());
    c.set_sha256(Sha256Hex(model));
    w->Write(c);
    return grpc::Status::OK;
  }
  grpc::Status UploadUpdate(grpc::ServerContext*, grpc::ServerReader<fv1::UpdateChunk>* r,
                            fv1::UploadUpdateResponse*) override {
    fv1::UpdateChunk chunk;
    std::string id, bytes;
    while (r->Read(&chunk)) {
      if (chunk.has_header()) id = chunk.header().request_id();
      bytes += chunk.data();
    }
    absl::MutexLock lock(&mu_);
    upload_ids.push_back(id);
    uploaded = bytes;
    return Next(upload_script);
  }
  grpc::Status SubmitReport(grpc::ServerContext*, const fv1::SubmitReportRequest* req,
                            fv1::SubmitReportResponse*) override {
    absl::MutexLock lock(&mu_);
    report_ids.push_back(req->report().request_id());
    report_errors.push_back(req->report().error());
    report_has_gap.push_back(req->report().metrics().count("quant_gap") == 1);
    return Next(report_script);
  }

 private:
  static grpc::Status Next(std::vector<grpc::Status>& script) {
    if (script.empty()) return grpc::Status::OK;
    grpc::Status s = script.front();
    script.erase(script.begin());
    return s;
  }
  absl::Mutex mu_;
};

class AgentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    service_.model = *EncodeContainer(ml::ModuleToContainer(*ml::MakeFmnistCnn(1)));
    // The client's own upload resumes are off: these tests are about what
    // the agent does when a call still fails (fleet_client_test covers the
    // client's resumes).
    FleetClientOptions client_options;
    client_options.upload_resumes = 0;
    LoopbackServer loopback = StartLoopbackServer(&service_, client_options);
    server_ = std::move(loopback.server);
    client_ = std::move(loopback.client);
    // Eight blank 28x28 images, labels 0..7.
    data_.count = 8;
    data_.rows = data_.cols = 28;
    data_.pixels.assign(8 * 28 * 28, 0);
    for (uint8_t i = 0; i < 8; ++i) data_.labels.push_back(i);
    AgentOptions o;
    o.device_name = "dev";
    o.train = &data_;
    o.indices = {0, 1, 2, 3, 4, 5, 6, 7};
    agent_ = std::make_unique<Agent>(client_.get(), o);
    ASSERT_OK(agent_->Register());
  }
  void TearDown() override { server_->Shutdown(); }

  OneTaskService service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<FleetClient> client_;
  ImageDataset data_;
  std::unique_ptr<Agent> agent_;
};

const grpc::Status kDown(grpc::StatusCode::UNAVAILABLE, "coordinator restarting");

TEST_F(AgentTest, TransientFailuresResumeDeliveryWithTheSameRequestIds) {
  service_.upload_script = {kDown};
  service_.report_script = {kDown, kDown};
  // Upload fails: the task is kept.
  EXPECT_THAT(agent_->RunOnce(), StatusIs(absl::StatusCode::kUnavailable));
  // Upload succeeds, report fails: kept again.
  EXPECT_THAT(agent_->RunOnce(), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(agent_->RunOnce(), StatusIs(absl::StatusCode::kUnavailable));
  ASSERT_OK_AND_ASSIGN(bool ran, agent_->RunOnce());
  EXPECT_TRUE(ran);
  EXPECT_EQ(service_.pulls, 1);  // never pulled (or trained) again
  EXPECT_THAT(service_.upload_ids, ::testing::ElementsAre("dev-t1-update", "dev-t1-update"));
  EXPECT_THAT(service_.report_ids,
              ::testing::ElementsAre("dev-t1-report", "dev-t1-report", "dev-t1-report"));
  EXPECT_EQ(service_.report_errors.back(), "");
  EXPECT_EQ(agent_->stats().tasks_done, 1u);
  // Delivered: the next call pulls a new task.
  ASSERT_OK(agent_->RunOnce().status());
  EXPECT_EQ(service_.pulls, 2);
}

TEST_F(AgentTest, CancelledRoundIsReportedAndTheAgentMovesOn) {
  const grpc::Status cancelled(grpc::StatusCode::FAILED_PRECONDITION,
                               "round 1 was cancelled by an admin; update not accepted");
  service_.upload_script = {cancelled};
  service_.report_script = {grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                                         "round 1 was cancelled by an admin; report not accepted")};
  EXPECT_THAT(agent_->RunOnce(),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("cancelled")));
  ASSERT_EQ(service_.report_errors.size(), 1u);
  EXPECT_THAT(service_.report_errors[0], HasSubstr("round 1 was cancelled"));
  EXPECT_EQ(agent_->stats().tasks_failed, 1u);
  // The task is over: the agent pulls the next one, which goes through.
  ASSERT_OK(agent_->RunOnce().status());
  EXPECT_EQ(service_.pulls, 2);
  EXPECT_EQ(service_.upload_ids.size(), 2u);
  EXPECT_EQ(agent_->stats().tasks_done, 1u);
}

TEST_F(AgentTest, QatUsesTheCoordinatorsActivationStepsAndRefusesWrongOnes) {
  service_.strategy = fv1::STRATEGY_QAT;
  service_.activation_bits = 3;
  service_.activation_steps = {0.5, 0.25, 0.125};  // one per activation point
  ASSERT_OK(agent_->RunOnce().status());
  ASSERT_EQ(service_.report_errors.size(), 1u);
  EXPECT_EQ(service_.report_errors[0], "");
  EXPECT_FALSE(service_.report_has_gap[0]);  // only PTQ pays for the gap check
  // Two steps for three points, or a zero step: the task fails with a reason.
  for (std::vector<double> bad : {std::vector<double>{0.5, 0.25}, std::vector<double>{0.5, 0, 0.1}}) {
    service_.activation_steps = bad;
    ASSERT_OK(agent_->RunOnce().status());
    ASSERT_FALSE(service_.report_errors.empty());
    EXPECT_NE(service_.report_errors.back(), "");
  }
}

TEST_F(AgentTest, PtqDeltaUploadIsTheQuantizedChangeFromTheGlobalModel) {
  ASSERT_OK_AND_ASSIGN(TensorContainer global, DecodeContainer(service_.model));
  service_.strategy = fv1::STRATEGY_PTQ;
  service_.upload_delta = true;
  service_.report_quant_gap = true;
  ASSERT_OK(agent_->RunOnce().status());
  ASSERT_EQ(service_.report_errors.size(), 1u);
  EXPECT_EQ(service_.report_errors[0], "");
  EXPECT_TRUE(service_.report_has_gap[0]);  // asked for: the gap is reported
  ASSERT_OK_AND_ASSIGN(TensorContainer delta, DecodeContainer(service_.uploaded));
  // One SGD step at lr 0.01 moves the weights far less than their size: the
  // upload is the change, packed per channel, not the model.
  for (const Tensor& g : global.tensors) {
    const Tensor* d = delta.Find(g.name);
    ASSERT_NE(d, nullptr) << g.name;
    if (g.shape.size() >= 2) {
      EXPECT_EQ(d->dtype, DType::kPackedPerChannel) << g.name;
    }
    ASSERT_OK_AND_ASSIGN(std::vector<float> dv, DequantizeTensor(*d));
    float max_d = 0, max_g = 0;
    for (size_t i = 0; i < dv.size(); ++i) {
      max_d = std::max(max_d, std::fabs(dv[i]));
      max_g = std::max(max_g, std::fabs(g.values[i]));
    }
    EXPECT_LT(max_d, 0.2f * max_g) << g.name;
  }
  // The same task as a model upload carries the weights themselves; not
  // asked for a gap check, it runs none.
  service_.upload_delta = false;
  service_.report_quant_gap = false;
  ASSERT_OK(agent_->RunOnce().status());
  EXPECT_FALSE(service_.report_has_gap.back());
  ASSERT_OK_AND_ASSIGN(TensorContainer model, DecodeContainer(service_.uploaded));
  ASSERT_OK_AND_ASSIGN(std::vector<float> w, DequantizeTensor(*model.Find("fc1.weight")));
  float max_w = 0;
  for (float v : w) max_w = std::max(max_w, std::fabs(v));
  EXPECT_GT(max_w, 0.5f * *std::max_element(global.Find("fc1.weight")->values.begin(),
                                            global.Find("fc1.weight")->values.end()));
}

TEST_F(AgentTest, DeltaUploadForAStrategyOtherThanPtqIsReportedAsAnError) {
  service_.strategy = fv1::STRATEGY_QAT;
  service_.upload_delta = true;
  ASSERT_OK(agent_->RunOnce().status());
  ASSERT_EQ(service_.report_errors.size(), 1u);
  EXPECT_THAT(service_.report_errors[0], HasSubstr("ptq only"));
  EXPECT_TRUE(service_.upload_ids.empty());
  EXPECT_EQ(agent_->stats().tasks_failed, 1u);
}

TEST_F(AgentTest, PullsWithTheConfiguredLongPoll) {
  ASSERT_OK(agent_->RunOnce().status());
  ASSERT_EQ(service_.pull_wait_ms.size(), 1u);
  EXPECT_EQ(service_.pull_wait_ms[0], AgentOptions().pull_wait_ms);
}

// --- Outages ---------------------------------------------------------------------

TEST_F(AgentTest, RunGivesUpAfterMaxOutageWithAClearMessage) {
  server_->Shutdown();  // nothing listens any more
  AgentOptions o;
  o.device_name = "dev";
  o.train = &data_;
  o.indices = {0, 1, 2, 3};
  o.backoff.initial_ms = 10;
  o.backoff.max_ms = 50;
  o.backoff.max_outage_ms = 300;
  Agent agent(client_.get(), o);
  std::atomic<bool> stop{false};
  const auto start = std::chrono::steady_clock::now();
  absl::Status s = agent.Run(stop);
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kUnavailable, HasSubstr("unreachable for")));
  EXPECT_THAT(std::string(s.message()), HasSubstr("--max-outage"));
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(300));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(30));
}

}  // namespace
}  // namespace qfleet::device
