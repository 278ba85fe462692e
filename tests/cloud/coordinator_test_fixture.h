#ifndef QFLEET_TESTS_CLOUD_COORDINATOR_TEST_FIXTURE_H_
#define QFLEET_TESTS_CLOUD_COORDINATOR_TEST_FIXTURE_H_

#include <filesystem>
#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include <nlohmann/json.hpp>
#include "cloud/coordinator.h"
#include "common/clock.h"
#include "common/container_quant.h"
#include "common/sha256.h"
#include "common/status_matchers.h"
#include "tests/cloud/fake_backend.h"

namespace qfleet::cloud {


using ::testing::HasSubstr;

class CoordinatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("qfleet-coord-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    Reopen();
  }
  void TearDown() override {
    coordinator_.reset();
    std::filesystem::remove_all(dir_);
  }
  void Reopen() {
    coordinator_.reset();
    CoordinatorOptions o;
    o.db_path = (dir_ / "state.db").string();
    o.open_enrollment = true;  // these tests are not about enrollment
    o.clock = &clock_;
    o.lease_ms = 30000;
    o.max_waiters = max_waiters_;
    o.max_wait_ms = max_wait_ms_;
    o.keep_models = keep_models_;
    o.keep_update_rounds = keep_update_rounds_;
    o.keep_plans_per_device = keep_plans_;
    o.retention_interval_ms = 0;  // RunRetention() only when a test calls it
    o.blob_gc_min_age_s = blob_gc_min_age_s_;
    auto backend = std::make_unique<FakeBackend>();
    backend_ = backend.get();
    auto c = Coordinator::Open(o, std::move(backend));
    ASSERT_OK(c.status());
    coordinator_ = *std::move(c);
  }
  Registration Enroll(const std::string& name, uint64_t samples = 10) {
    DeviceRecord d;
    d.name = name;
    d.sample_count = samples;
    auto r = coordinator_->Register(d, "");
    EXPECT_OK(r.status());
    return *r;
  }
  CampaignConfig Config(uint32_t rounds = 1) {
    CampaignConfig c;
    c.rounds = rounds;
    c.round_deadline_s = 10;
    return c;
  }
  // The update a device would send: a model holding `value` everywhere.
  std::string Delta(float value, int bits = 8) {
    auto model = coordinator_->GetModel(0);
    auto global = DecodeContainer(*model->bytes);
    TensorContainer d = *global;
    for (Tensor& t : d.tensors) std::fill(t.values.begin(), t.values.end(), value);
    auto q = bits > 0 ? QuantizeContainer(d, bits) : absl::StatusOr<TensorContainer>(d);
    return *EncodeContainer(*q);
  }
  // Starts a one-round campaign and returns the id of `device`'s task in it
  // (0 on failure).
  uint64_t OpenRoundTaskFor(uint64_t device) {
    EXPECT_OK(coordinator_->StartCampaign(Config()).status());
    EXPECT_OK(coordinator_->Step());
    auto t = coordinator_->PullTask(device);
    EXPECT_OK(t.status());
    return t.ok() && t->task.has_value() ? t->task->task_id : 0;
  }
  ReportRecord Report(uint64_t device, uint64_t task, const std::string& rid) {
    ReportRecord r;
    r.device_id = device;
    r.task_id = task;
    r.request_id = rid;
    r.train_loss = 0.5;
    return r;
  }

  std::filesystem::path dir_;
  // Long-poll limits of the next Reopen().
  int max_waiters_ = 256;
  int64_t max_wait_ms_ = 30000;
  // Retention settings of the next Reopen().
  int keep_models_ = 0;
  int keep_update_rounds_ = 3;
  int keep_plans_ = 4;
  int64_t blob_gc_min_age_s_ = 600;
  FakeClock clock_{1000000};
  FakeBackend* backend_ = nullptr;
  std::unique_ptr<Coordinator> coordinator_;
};

}  // namespace qfleet::cloud

#endif  // QFLEET_TESTS_CLOUD_COORDINATOR_TEST_FIXTURE_H_
