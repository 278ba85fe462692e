#include "cloud/coordinator.h"

#include <filesystem>
#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include <nlohmann/json.hpp>
#include "common/container_quant.h"
#include "common/sha256.h"
#include "common/status_matchers.h"
#include "tests/cloud/fake_backend.h"
#include "tests/cloud/coordinator_test_fixture.h"

namespace qfleet::cloud {
namespace {

TEST_F(CoordinatorTest, CreatesModelVersionOneOnFirstOpen) {
  ASSERT_OK_AND_ASSIGN(ModelBlob m, coordinator_->GetModel(0));
  EXPECT_EQ(m.version, 1u);
  ASSERT_OK_AND_ASSIGN(TensorContainer c, DecodeContainer(*m.bytes));
  EXPECT_NE(c.Find("w"), nullptr);
}

TEST_F(CoordinatorTest, RegisterAuthenticatesWithTokenOnly) {
  Registration a = Enroll("dev-a");
  EXPECT_OK(coordinator_->Authenticate(a.device_id, a.token));
  EXPECT_THAT(coordinator_->Authenticate(a.device_id, "wrong"),
              StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_THAT(coordinator_->Authenticate(a.device_id, ""),
              StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_THAT(coordinator_->Authenticate(999, a.token),
              StatusIs(absl::StatusCode::kUnauthenticated));
  // Re-enrolling under the same name needs the current token; it keeps the
  // id and rotates the token.
  DeviceRecord d;
  d.name = "dev-a";
  EXPECT_THAT(coordinator_->Register(d, "").status(),
              StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT(coordinator_->Register(d, "", "wrong").status(),
              StatusIs(absl::StatusCode::kPermissionDenied));
  ASSERT_OK_AND_ASSIGN(Registration again, coordinator_->Register(d, "", a.token));
  EXPECT_EQ(again.device_id, a.device_id);
  EXPECT_THAT(coordinator_->Authenticate(a.device_id, a.token),
              StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_OK(coordinator_->Authenticate(a.device_id, again.token));
}

TEST_F(CoordinatorTest, FullRoundAggregatesWeightedBySamples) {
  Registration a = Enroll("a", 30);
  Registration b = Enroll("b", 10);
  ASSERT_OK(coordinator_->StartCampaign(Config()).status());
  ASSERT_OK(coordinator_->Step());
  ASSERT_OK_AND_ASSIGN(PulledTask ta, coordinator_->PullTask(a.device_id));
  ASSERT_OK_AND_ASSIGN(PulledTask tb, coordinator_->PullTask(b.device_id));
  ASSERT_TRUE(ta.task.has_value());
  ASSERT_TRUE(tb.task.has_value());
  EXPECT_EQ(ta.task->round, 1u);
  EXPECT_EQ(ta.model.version, 1u);

  ASSERT_OK(coordinator_->AcceptUpdate(a.device_id, ta.task->task_id, "ua", 30, Delta(0.4f, 0)).status());
  ASSERT_OK(coordinator_->AcceptUpdate(b.device_id, tb.task->task_id, "ub", 10, Delta(0.8f, 0)).status());
  ASSERT_OK(coordinator_->AcceptReport(Report(a.device_id, ta.task->task_id, "ra")).status());
  ASSERT_OK(coordinator_->Step());  // a has reported, b has not: round stays open
  ASSERT_OK_AND_ASSIGN(RoundRecord open, coordinator_->store().GetRound(1));
  EXPECT_EQ(open.state, "open");
  ASSERT_OK(coordinator_->AcceptReport(Report(b.device_id, tb.task->task_id, "rb")).status());
  ASSERT_OK(coordinator_->Step());

  ASSERT_OK_AND_ASSIGN(RoundRecord done, coordinator_->store().GetRound(1));
  EXPECT_EQ(done.state, "done");
  EXPECT_EQ(done.model_version_out, 2u);
  ASSERT_OK_AND_ASSIGN(ModelBlob m2, coordinator_->GetModel(2));
  ASSERT_OK_AND_ASSIGN(TensorContainer c2, DecodeContainer(*m2.bytes));
  // Uploads are models: w = (30*0.4 + 10*0.8)/40 = 0.5 everywhere.
  for (int i = 0; i < 12; ++i) EXPECT_NEAR(c2.Find("w")->values[i], 0.5, 1e-6);
  EXPECT_NEAR(done.acc_fp32, 0.5, 1e-6);
}

TEST_F(CoordinatorTest, PtqDeltaUploadsAreAddedToTheModelTheRoundStartedFrom) {
  Registration a = Enroll("a", 30);
  Registration b = Enroll("b", 10);
  ASSERT_OK_AND_ASSIGN(ModelBlob m1, coordinator_->GetModel(0));
  ASSERT_OK_AND_ASSIGN(TensorContainer c1, DecodeContainer(*m1.bytes));
  CampaignConfig config = Config();
  config.strategy = "ptq";
  config.weight_bits = 4;
  config.ptq_upload = "delta";
  ASSERT_OK(coordinator_->StartCampaign(config).status());
  ASSERT_OK(coordinator_->Step());
  ASSERT_OK_AND_ASSIGN(PulledTask ta, coordinator_->PullTask(a.device_id));
  ASSERT_OK_AND_ASSIGN(PulledTask tb, coordinator_->PullTask(b.device_id));
  ASSERT_TRUE(ta.task.has_value() && tb.task.has_value());
  for (const PulledTask* t : {&ta, &tb}) {
    nlohmann::json j = nlohmann::json::parse(t->task->train_config_json);
    EXPECT_TRUE(j.value("upload_delta", false)) << t->task->train_config_json;
  }
  // Deltas of 0.25 and 0.75 everywhere (exact at 4 bits): the new model is
  // the old one plus (30*0.25 + 10*0.75)/40 = 0.375.
  ASSERT_OK(coordinator_->AcceptUpdate(a.device_id, ta.task->task_id, "ua", 30, Delta(0.25f, 4)).status());
  ASSERT_OK(coordinator_->AcceptUpdate(b.device_id, tb.task->task_id, "ub", 10, Delta(0.75f, 4)).status());
  ASSERT_OK(coordinator_->AcceptReport(Report(a.device_id, ta.task->task_id, "ra")).status());
  ASSERT_OK(coordinator_->AcceptReport(Report(b.device_id, tb.task->task_id, "rb")).status());
  ASSERT_OK(coordinator_->Step());
  ASSERT_OK_AND_ASSIGN(RoundRecord done, coordinator_->store().GetRound(1));
  ASSERT_EQ(done.state, "done") << done.detail;
  ASSERT_OK_AND_ASSIGN(ModelBlob m2, coordinator_->GetModel(2));
  ASSERT_OK_AND_ASSIGN(TensorContainer c2, DecodeContainer(*m2.bytes));
  for (const Tensor& t : c1.tensors) {
    const std::vector<float>& after = c2.Find(t.name)->values;
    for (size_t i = 0; i < t.values.size(); ++i) {
      EXPECT_NEAR(after[i], t.values[i] + 0.375f, 1e-6) << t.name << "[" << i << "]";
    }
  }
}

TEST_F(CoordinatorTest, ModelUploadIsTheDefaultAndQatNeverUploadsADelta) {
  Registration a = Enroll("a");
  for (const char* strategy : {"ptq", "qat"}) {
    CampaignConfig config = Config();
    config.strategy = strategy;
    config.weight_bits = 4;
    if (std::string(strategy) == "qat") config.ptq_upload = "delta";
    ASSERT_OK(coordinator_->StartCampaign(config).status());
    ASSERT_OK(coordinator_->Step());
    ASSERT_OK_AND_ASSIGN(PulledTask t, coordinator_->PullTask(a.device_id));
    ASSERT_TRUE(t.task.has_value());
    nlohmann::json j = nlohmann::json::parse(t.task->train_config_json);
    EXPECT_FALSE(j.value("upload_delta", false)) << strategy;
    ASSERT_OK(coordinator_->AcceptUpdate(a.device_id, t.task->task_id, std::string("u") + strategy,
                                         10, Delta(0.5f, 4)).status());
    ASSERT_OK(coordinator_->AcceptReport(Report(a.device_id, t.task->task_id,
                                                std::string("r") + strategy)).status());
    ASSERT_OK(coordinator_->Step());  // aggregates
    ASSERT_OK(coordinator_->Step());  // ends the campaign
  }
}

TEST_F(CoordinatorTest, QatTasksCarryTheServedActivationStepsCalibratedOncePerRound) {
  Registration a = Enroll("a");
  Registration b = Enroll("b");
  CampaignConfig config = Config();
  config.strategy = "qat";
  config.weight_bits = 4;
  config.activation_bits = 3;
  ASSERT_OK(coordinator_->StartCampaign(config).status());
  const int before = backend_->calibrations;
  ASSERT_OK(coordinator_->Step());
  EXPECT_EQ(backend_->calibrations - before, 1);  // once for the round, not per task
  // The fake's steps name the serve spec they were made for.
  std::vector<std::vector<double>> got;
  for (const Registration& r : {a, b}) {
    ASSERT_OK_AND_ASSIGN(PulledTask t, coordinator_->PullTask(r.device_id));
    ASSERT_TRUE(t.task.has_value());
    nlohmann::json j = nlohmann::json::parse(t.task->train_config_json);
    ASSERT_TRUE(j.contains("act_steps"));
    got.push_back(j["act_steps"].get<std::vector<double>>());
    ASSERT_EQ(got.back().size(), 3u);
    EXPECT_GE(got.back()[0], 1.0);
    EXPECT_EQ(got.back()[1], 3.0);
    EXPECT_EQ(got.back()[2], 4.0);
  }
  EXPECT_EQ(got[0], got[1]);
}

TEST_F(CoordinatorTest, FloatActivationsAndPtqTasksCarryNoActivationSteps) {
  Registration a = Enroll("a");
  for (auto [strategy, abits] : {std::pair<const char*, uint32_t>{"qat", 0}, {"ptq", 3}}) {
    CampaignConfig config = Config();
    config.strategy = strategy;
    config.weight_bits = 4;
    config.activation_bits = abits;
    ASSERT_OK(coordinator_->StartCampaign(config).status());
    ASSERT_OK(coordinator_->Step());
    ASSERT_OK_AND_ASSIGN(PulledTask t, coordinator_->PullTask(a.device_id));
    ASSERT_TRUE(t.task.has_value());
    EXPECT_FALSE(nlohmann::json::parse(t.task->train_config_json).contains("act_steps")) << strategy;
    ASSERT_OK(coordinator_->AcceptUpdate(a.device_id, t.task->task_id, std::string("u") + strategy,
                                         10, Delta(0.5f, 4)).status());
    ASSERT_OK(coordinator_->AcceptReport(Report(a.device_id, t.task->task_id,
                                                std::string("r") + strategy)).status());
    ASSERT_OK(coordinator_->Step());
    ASSERT_OK(coordinator_->Step());
  }
}

TEST_F(CoordinatorTest, RetriedUploadAndReportAreRecordedOnce) {
  Registration a = Enroll("a");
  ASSERT_OK(coordinator_->StartCampaign(Config()).status());
  ASSERT_OK(coordinator_->Step());
  ASSERT_OK_AND_ASSIGN(PulledTask t, coordinator_->PullTask(a.device_id));
  std::string delta = Delta(0.1f);
  ASSERT_OK_AND_ASSIGN(auto first, coordinator_->AcceptUpdate(a.device_id, t.task->task_id, "u1", 10, delta));
  ASSERT_OK_AND_ASSIGN(auto second, coordinator_->AcceptUpdate(a.device_id, t.task->task_id, "u1", 10, delta));
  EXPECT_FALSE(first.second);
  EXPECT_TRUE(second.second);
  EXPECT_EQ(first.first.update_id, second.first.update_id);
  ASSERT_OK_AND_ASSIGN(bool dup1, coordinator_->AcceptReport(Report(a.device_id, t.task->task_id, "r1")));
  ASSERT_OK_AND_ASSIGN(bool dup2, coordinator_->AcceptReport(Report(a.device_id, t.task->task_id, "r1")));
  EXPECT_FALSE(dup1);
  EXPECT_TRUE(dup2);
  EXPECT_EQ(coordinator_->store().ListUpdates(1)->size(), 1u);
  EXPECT_EQ(coordinator_->store().ListReports(1)->size(), 1u);
}

// The header of update `bytes` for the device's task.
UploadHeader HeaderFor(uint64_t device, uint64_t task, const std::string& rid,
                       const std::string& bytes) {
  UploadHeader h;
  h.device_id = device;
  h.task_id = task;
  h.request_id = rid;
  h.sample_count = 10;
  h.total_bytes = bytes.size();
  h.sha256 = Sha256Hex(bytes);
  return h;
}

TEST_F(CoordinatorTest, KeptUploadPrefixSurvivesRestartAndResumes) {
  Registration a = Enroll("a");
  const uint64_t task = OpenRoundTaskFor(a.device_id);
  ASSERT_NE(task, 0u);
  const std::string delta = Delta(0.1f);
  const size_t half = delta.size() / 2;
  const UploadHeader h = HeaderFor(a.device_id, task, "u1", delta);
  ASSERT_OK(coordinator_->BeginUpload(h, 0).status());
  ASSERT_OK(coordinator_->KeepUploadPrefix(h, 0, delta.substr(0, half)));
  Reopen();  // as after kill -9
  ASSERT_OK_AND_ASSIGN(UploadProgress p, coordinator_->UploadStatus(a.device_id, task, "u1"));
  EXPECT_EQ(p.committed_bytes, half);
  EXPECT_EQ(p.sha256, h.sha256);
  EXPECT_FALSE(p.accepted.has_value());
  ASSERT_OK_AND_ASSIGN(UploadStart start, coordinator_->BeginUpload(h, half));
  EXPECT_EQ(start.prefix, delta.substr(0, half));
  ASSERT_OK_AND_ASSIGN(auto done, coordinator_->FinishUpload(h, start.prefix + delta.substr(half)));
  EXPECT_FALSE(done.second);
  ASSERT_OK_AND_ASSIGN(p, coordinator_->UploadStatus(a.device_id, task, "u1"));
  EXPECT_EQ(p.committed_bytes, 0u);
  ASSERT_TRUE(p.accepted.has_value());
  EXPECT_EQ(p.accepted->update_id, done.first.update_id);
  // Begun again, the finished upload answers with its record.
  ASSERT_OK_AND_ASSIGN(start, coordinator_->BeginUpload(h, 0));
  ASSERT_TRUE(start.accepted.has_value());
  EXPECT_EQ(coordinator_->store().ListUpdates(1)->size(), 1u);
}

TEST_F(CoordinatorTest, KeptUploadPrefixesArePrunedWhenIdleOrTheRoundCloses) {
  Registration a = Enroll("a");
  const uint64_t task = OpenRoundTaskFor(a.device_id);
  ASSERT_NE(task, 0u);
  const std::string delta = Delta(0.1f);
  const UploadHeader idle = HeaderFor(a.device_id, task, "idle", delta);
  ASSERT_OK(coordinator_->KeepUploadPrefix(idle, 0, delta.substr(0, 10)));
  clock_.Advance(CoordinatorOptions().partial_upload_ttl_ms + 1000);
  ASSERT_OK(coordinator_->Step());
  ASSERT_OK_AND_ASSIGN(UploadProgress p,
                       coordinator_->UploadStatus(a.device_id, task, "idle"));
  EXPECT_EQ(p.committed_bytes, 0u);
  // That Step also closed the round (its deadline passed): a fresh prefix of
  // its task goes at the next prune, a second later.
  ASSERT_OK_AND_ASSIGN(RoundRecord round, coordinator_->store().GetRound(1));
  EXPECT_NE(round.state, "open");
  const UploadHeader kept = HeaderFor(a.device_id, task, "kept", delta);
  ASSERT_OK(coordinator_->KeepUploadPrefix(kept, 0, delta.substr(0, 10)));
  ASSERT_OK_AND_ASSIGN(p, coordinator_->UploadStatus(a.device_id, task, "kept"));
  EXPECT_EQ(p.committed_bytes, 10u);
  clock_.Advance(1000);
  ASSERT_OK(coordinator_->Step());
  ASSERT_OK_AND_ASSIGN(p, coordinator_->UploadStatus(a.device_id, task, "kept"));
  EXPECT_EQ(p.committed_bytes, 0u);
}

TEST_F(CoordinatorTest, UploadStartingAtAnOffsetNothingWasKeptForIsOutOfRange) {
  Registration a = Enroll("a");
  const uint64_t task = OpenRoundTaskFor(a.device_id);
  ASSERT_NE(task, 0u);
  const std::string delta = Delta(0.1f);
  UploadHeader h = HeaderFor(a.device_id, task, "u", delta);
  EXPECT_THAT(coordinator_->BeginUpload(h, 5), StatusIs(absl::StatusCode::kOutOfRange));
  ASSERT_OK(coordinator_->KeepUploadPrefix(h, 0, delta.substr(0, 10)));
  EXPECT_THAT(coordinator_->BeginUpload(h, 5),
              StatusIs(absl::StatusCode::kOutOfRange, HasSubstr("resume at 10")));
  h.sample_count = 11;  // not the kept upload's header
  EXPECT_THAT(coordinator_->BeginUpload(h, 10), StatusIs(absl::StatusCode::kOutOfRange));
  h.sample_count = 10;
  h.request_id = "";
  EXPECT_THAT(coordinator_->BeginUpload(h, 0), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(CoordinatorTest, DeadlineClosesRoundWithTheUpdatesItHas) {
  Registration a = Enroll("a");
  Registration b = Enroll("b");
  ASSERT_OK(coordinator_->StartCampaign(Config()).status());
  ASSERT_OK(coordinator_->Step());
  ASSERT_OK_AND_ASSIGN(PulledTask ta, coordinator_->PullTask(a.device_id));
  ASSERT_OK(coordinator_->AcceptUpdate(a.device_id, ta.task->task_id, "ua", 10, Delta(0.2f)).status());
  // b never answers.
  clock_.Advance(11000);
  ASSERT_OK(coordinator_->Step());
  ASSERT_OK_AND_ASSIGN(RoundRecord r, coordinator_->store().GetRound(1));
  EXPECT_EQ(r.state, "done");
  ASSERT_OK_AND_ASSIGN(auto parts, coordinator_->store().ListParticipants(1));
  for (const auto& p : parts) {
    if (p.device_id == b.device_id) {
      EXPECT_EQ(p.status, "dropped");
    }
    if (p.device_id == a.device_id) {
      EXPECT_EQ(p.status, "uploaded");
    }
  }
  // A late update is refused, not silently dropped.
  ASSERT_OK_AND_ASSIGN(TaskRecord tb, coordinator_->store().GetTask(ta.task->task_id + 1));
  EXPECT_THAT(coordinator_->AcceptUpdate(b.device_id, tb.task_id, "ub", 10, Delta(0.2f)),
              StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST_F(CoordinatorTest, RoundWithoutUpdatesFailsAndCampaignMovesOn) {
  Enroll("a");
  ASSERT_OK(coordinator_->StartCampaign(Config(2)).status());
  ASSERT_OK(coordinator_->Step());
  clock_.Advance(11000);
  ASSERT_OK(coordinator_->Step());
  ASSERT_OK_AND_ASSIGN(RoundRecord r, coordinator_->store().GetRound(1));
  EXPECT_EQ(r.state, "failed");
  EXPECT_THAT(r.detail, HasSubstr("0 accepted updates"));
  ASSERT_OK(coordinator_->Step());
  ASSERT_OK_AND_ASSIGN(RoundRecord r2, coordinator_->store().GetRound(2));
  EXPECT_EQ(r2.state, "open");
}

TEST_F(CoordinatorTest, StateSurvivesRestartAndOpenRoundResumes) {
  Registration a = Enroll("a");
  ASSERT_OK(coordinator_->StartCampaign(Config()).status());
  ASSERT_OK(coordinator_->Step());
  ASSERT_OK_AND_ASSIGN(PulledTask t, coordinator_->PullTask(a.device_id));
  ASSERT_OK(coordinator_->AcceptUpdate(a.device_id, t.task->task_id, "ua", 10, Delta(0.3f)).status());
  Reopen();
  EXPECT_OK(coordinator_->Authenticate(a.device_id, a.token));
  ASSERT_OK(coordinator_->AcceptReport(Report(a.device_id, t.task->task_id, "ra")).status());
  ASSERT_OK(coordinator_->Step());
  ASSERT_OK_AND_ASSIGN(RoundRecord r, coordinator_->store().GetRound(1));
  EXPECT_EQ(r.state, "done");
  Reopen();
  ASSERT_OK_AND_ASSIGN(ModelBlob m, coordinator_->GetModel(0));
  EXPECT_EQ(m.version, 2u);
}

TEST_F(CoordinatorTest, SecondCampaignWhileOneRunsIsRefused) {
  ASSERT_OK(coordinator_->StartCampaign(Config()).status());
  EXPECT_THAT(coordinator_->StartCampaign(Config()), StatusIs(absl::StatusCode::kFailedPrecondition));
  CampaignConfig bad = Config();
  bad.rounds = 0;
  EXPECT_THAT(coordinator_->StartCampaign(bad), StatusIs(absl::StatusCode::kInvalidArgument));
}

// --- Error paths -------------------------------------------------------------

TEST_F(CoordinatorTest, BadUpdatesAreRejectedAndTheRoundGoesOn) {
  Registration a = Enroll("a");
  Registration b = Enroll("b");
  ASSERT_OK(coordinator_->StartCampaign(Config()).status());
  ASSERT_OK(coordinator_->Step());
  ASSERT_OK_AND_ASSIGN(PulledTask ta, coordinator_->PullTask(a.device_id));
  ASSERT_OK_AND_ASSIGN(PulledTask tb, coordinator_->PullTask(b.device_id));
  const uint64_t task_a = ta.task->task_id;

  // Another device's task.
  EXPECT_THAT(coordinator_->AcceptUpdate(b.device_id, task_a, "x", 10, Delta(0.1f)),
              StatusIs(absl::StatusCode::kPermissionDenied));
  // Unknown task.
  EXPECT_THAT(coordinator_->AcceptUpdate(a.device_id, 12345, "x", 10, Delta(0.1f)),
              StatusIs(absl::StatusCode::kNotFound));
  // Zero samples / empty request id.
  EXPECT_THAT(coordinator_->AcceptUpdate(a.device_id, task_a, "x", 0, Delta(0.1f)),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(coordinator_->AcceptUpdate(a.device_id, task_a, "", 10, Delta(0.1f)),
              StatusIs(absl::StatusCode::kInvalidArgument));

  // Corrupt bytes, wrong shape and NaN each reject the participant.
  std::string truncated = Delta(0.1f).substr(0, 20);
  EXPECT_THAT(coordinator_->AcceptUpdate(a.device_id, task_a, "t", 10, truncated),
              StatusIs(absl::StatusCode::kInvalidArgument));
  ASSERT_OK_AND_ASSIGN(auto parts, coordinator_->store().ListParticipants(1));
  EXPECT_EQ(parts[0].status, "rejected");

  TensorContainer wrong;
  Tensor w;
  w.name = "w";
  w.shape = {3, 4};
  w.values.assign(12, 0.f);
  Tensor bias;
  bias.name = "b";
  bias.shape = {4};
  bias.values.assign(4, 0.f);
  wrong.tensors = {w, bias};
  EXPECT_THAT(coordinator_->AcceptUpdate(b.device_id, tb.task->task_id, "w", 10, *EncodeContainer(wrong)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("shape")));

  // Nothing was stored; the round closes once every participant is done.
  EXPECT_EQ(coordinator_->store().ListUpdates(1)->size(), 0u);
  ASSERT_OK(coordinator_->Step());
  ASSERT_OK_AND_ASSIGN(RoundRecord r, coordinator_->store().GetRound(1));
  EXPECT_EQ(r.state, "failed");
}

TEST_F(CoordinatorTest, NonFiniteUpdateIsRejected) {
  Registration a = Enroll("a");
  ASSERT_OK(coordinator_->StartCampaign(Config()).status());
  ASSERT_OK(coordinator_->Step());
  ASSERT_OK_AND_ASSIGN(PulledTask t, coordinator_->PullTask(a.device_id));
  // The container encoder refuses NaN, so craft the bytes: encode a finite
  // value, then overwrite one float of "w" with a NaN bit pattern.
  TensorContainer c = *DecodeContainer(*coordinator_->GetModel(0)->bytes);
  for (Tensor& tensor : c.tensors) std::fill(tensor.values.begin(), tensor.values.end(), 1234.5f);
  std::string bytes = *EncodeContainer(c);
  const float marker = 1234.5f;
  size_t pos = bytes.find(std::string(reinterpret_cast<const char*>(&marker), 4));
  ASSERT_NE(pos, std::string::npos);
  const float nan = NAN;
  bytes.replace(pos, 4, std::string(reinterpret_cast<const char*>(&nan), 4));
  EXPECT_THAT(coordinator_->AcceptUpdate(a.device_id, t.task->task_id, "n", 10, bytes),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(coordinator_->store().ListUpdates(1)->size(), 0u);
}

TEST_F(CoordinatorTest, RegisterRejectsBadNamesAndProfiles) {
  DeviceRecord d;
  d.name = "";
  EXPECT_THAT(coordinator_->Register(d, ""), StatusIs(absl::StatusCode::kInvalidArgument));
  d.name = "has space";
  EXPECT_THAT(coordinator_->Register(d, ""), StatusIs(absl::StatusCode::kInvalidArgument));
  d.name = std::string(129, 'a');
  EXPECT_THAT(coordinator_->Register(d, ""), StatusIs(absl::StatusCode::kInvalidArgument));
  d.name = "ok";
  d.compute_gflops = NAN;
  EXPECT_THAT(coordinator_->Register(d, ""), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(CoordinatorTest, ReportsWithBadMetricsOrForeignTasksAreRejected) {
  Registration a = Enroll("a");
  Registration b = Enroll("b");
  ASSERT_OK(coordinator_->StartCampaign(Config()).status());
  ASSERT_OK(coordinator_->Step());
  ASSERT_OK_AND_ASSIGN(PulledTask t, coordinator_->PullTask(a.device_id));
  ReportRecord r = Report(a.device_id, t.task->task_id, "r");
  r.train_loss = NAN;
  EXPECT_THAT(coordinator_->AcceptReport(r), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(coordinator_->AcceptReport(Report(b.device_id, t.task->task_id, "r")),
              StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT(coordinator_->AcceptReport(Report(a.device_id, 777, "r")),
              StatusIs(absl::StatusCode::kNotFound));
}

}  // namespace
}  // namespace qfleet::cloud
