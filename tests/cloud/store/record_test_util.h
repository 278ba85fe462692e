#ifndef QFLEET_TESTS_CLOUD_STORE_RECORD_TEST_UTIL_H_
#define QFLEET_TESTS_CLOUD_STORE_RECORD_TEST_UTIL_H_

// Record builders with awkward values (extreme integers, -0.0, subnormals,
// embedded NULs) and field-by-field, bit-exact record comparisons for the
// CoordinatorStore tests.

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#include "cloud/store/records.h"
#include "gtest/gtest.h"
#include "store_test_util.h"

namespace qfleet::cloud::testing {

inline constexpr uint64_t kMaxU64 = std::numeric_limits<uint64_t>::max();

inline DeviceRecord MakeDevice(const std::string& name) {
  DeviceRecord d;
  d.name = name;
  d.token_hash = "tok-" + name;
  d.compute_gflops = 0.1;
  d.memory_mib = kMaxU64;
  d.lowbit_support = {8, 4, 2, std::numeric_limits<uint32_t>::max()};
  d.uplink_kbps = 1000;
  d.downlink_kbps = 0;
  d.availability = -0.0;
  d.sample_count = 60000;
  d.label_histogram = {0, 1, kMaxU64, 7};
  d.agent_version = "0.1.0";
  d.state = "active";
  d.registered_ms = -5;
  d.last_seen_ms = std::numeric_limits<int64_t>::max();
  return d;
}

inline ModelVersionRecord MakeModel(uint64_t version) {
  ModelVersionRecord m;
  m.version = version;
  m.blob_hash = std::string(64, 'a');
  m.bytes = 1234567;
  m.round = version - 1;
  m.acc_fp32 = 0.9812345678901234;
  m.acc_q8 = 1e-310;
  m.created_ms = 1700000000000 + static_cast<int64_t>(version);
  return m;
}

inline RoundRecord MakeRound(uint64_t number) {
  RoundRecord r;
  r.round = number;
  r.state = "open";
  r.model_version_in = number;
  r.model_version_out = 0;
  r.started_ms = 1000;
  r.deadline_ms = 61000;
  r.finished_ms = 0;
  r.acc_fp32 = -1;
  r.acc_q8 = std::numeric_limits<double>::infinity();
  r.bytes_down = kMaxU64;
  r.bytes_up = 3;
  r.detail = "det\nail";
  return r;
}

inline TaskRecord MakeTask(uint64_t device_id) {
  TaskRecord t;
  t.device_id = device_id;
  t.strategy = "qat";
  t.weight_bits = 4;
  t.activation_bits = 8;
  t.model_version = 1;
  t.train_config_json = R"({"local_epochs":1,"learning_rate":0.05})";
  t.deadline_ms = 61000;
  t.created_ms = 1000;
  return t;
}

inline void ExpectSame(const DeviceRecord& a, const DeviceRecord& b) {
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.token_hash, b.token_hash);
  EXPECT_SAME_DOUBLE(a.compute_gflops, b.compute_gflops);
  EXPECT_EQ(a.memory_mib, b.memory_mib);
  EXPECT_EQ(a.lowbit_support, b.lowbit_support);
  EXPECT_EQ(a.uplink_kbps, b.uplink_kbps);
  EXPECT_EQ(a.downlink_kbps, b.downlink_kbps);
  EXPECT_SAME_DOUBLE(a.availability, b.availability);
  EXPECT_EQ(a.sample_count, b.sample_count);
  EXPECT_EQ(a.label_histogram, b.label_histogram);
  EXPECT_EQ(a.agent_version, b.agent_version);
  EXPECT_EQ(a.state, b.state);
  EXPECT_EQ(a.registered_ms, b.registered_ms);
  EXPECT_EQ(a.last_seen_ms, b.last_seen_ms);
}

inline void ExpectSame(const CampaignRecord& a, const CampaignRecord& b) {
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.config_json, b.config_json);
  EXPECT_EQ(a.first_round, b.first_round);
  EXPECT_EQ(a.last_round, b.last_round);
  EXPECT_EQ(a.state, b.state);
  EXPECT_EQ(a.created_ms, b.created_ms);
}

inline void ExpectSame(const RoundRecord& a, const RoundRecord& b) {
  EXPECT_EQ(a.round, b.round);
  EXPECT_EQ(a.campaign_id, b.campaign_id);
  EXPECT_EQ(a.state, b.state);
  EXPECT_EQ(a.model_version_in, b.model_version_in);
  EXPECT_EQ(a.model_version_out, b.model_version_out);
  EXPECT_EQ(a.started_ms, b.started_ms);
  EXPECT_EQ(a.deadline_ms, b.deadline_ms);
  EXPECT_EQ(a.finished_ms, b.finished_ms);
  EXPECT_SAME_DOUBLE(a.acc_fp32, b.acc_fp32);
  EXPECT_SAME_DOUBLE(a.acc_q8, b.acc_q8);
  EXPECT_EQ(a.bytes_down, b.bytes_down);
  EXPECT_EQ(a.bytes_up, b.bytes_up);
  EXPECT_EQ(a.detail, b.detail);
}

inline void ExpectSame(const TaskRecord& a, const TaskRecord& b) {
  EXPECT_EQ(a.task_id, b.task_id);
  EXPECT_EQ(a.round, b.round);
  EXPECT_EQ(a.device_id, b.device_id);
  EXPECT_EQ(a.strategy, b.strategy);
  EXPECT_EQ(a.weight_bits, b.weight_bits);
  EXPECT_EQ(a.activation_bits, b.activation_bits);
  EXPECT_EQ(a.model_version, b.model_version);
  EXPECT_EQ(a.train_config_json, b.train_config_json);
  EXPECT_EQ(a.plan_id, b.plan_id);
  EXPECT_EQ(a.deadline_ms, b.deadline_ms);
  EXPECT_EQ(a.created_ms, b.created_ms);
}

inline void ExpectSame(const PlanRecord& a, const PlanRecord& b) {
  EXPECT_EQ(a.plan_id, b.plan_id);
  EXPECT_EQ(a.device_id, b.device_id);
  EXPECT_EQ(a.version, b.version);
  EXPECT_EQ(a.bytes, b.bytes);
  EXPECT_EQ(a.created_ms, b.created_ms);
}

inline void ExpectSame(const UpdateRecord& a, const UpdateRecord& b) {
  EXPECT_EQ(a.update_id, b.update_id);
  EXPECT_EQ(a.round, b.round);
  EXPECT_EQ(a.device_id, b.device_id);
  EXPECT_EQ(a.task_id, b.task_id);
  EXPECT_EQ(a.request_id, b.request_id);
  EXPECT_EQ(a.blob_hash, b.blob_hash);
  EXPECT_EQ(a.sample_count, b.sample_count);
  EXPECT_EQ(a.bytes, b.bytes);
  EXPECT_EQ(a.received_ms, b.received_ms);
}

inline void ExpectSame(const ReportRecord& a, const ReportRecord& b) {
  EXPECT_EQ(a.round, b.round);
  EXPECT_EQ(a.device_id, b.device_id);
  EXPECT_EQ(a.task_id, b.task_id);
  EXPECT_EQ(a.request_id, b.request_id);
  EXPECT_SAME_DOUBLE(a.train_loss, b.train_loss);
  EXPECT_SAME_DOUBLE(a.train_accuracy, b.train_accuracy);
  EXPECT_SAME_DOUBLE(a.compute_seconds, b.compute_seconds);
  EXPECT_SAME_DOUBLE(a.quantize_seconds, b.quantize_seconds);
  EXPECT_EQ(a.bytes_down, b.bytes_down);
  EXPECT_EQ(a.bytes_up, b.bytes_up);
  EXPECT_EQ(a.steps, b.steps);
  ASSERT_EQ(a.metrics.size(), b.metrics.size());
  for (auto ia = a.metrics.begin(), ib = b.metrics.begin();
       ia != a.metrics.end(); ++ia, ++ib) {
    EXPECT_EQ(ia->first, ib->first);
    EXPECT_SAME_DOUBLE(ia->second, ib->second);
  }
  EXPECT_EQ(a.error, b.error);
  EXPECT_EQ(a.created_ms, b.created_ms);
}

inline void ExpectSame(const ModelVersionRecord& a,
                       const ModelVersionRecord& b) {
  EXPECT_EQ(a.version, b.version);
  EXPECT_EQ(a.blob_hash, b.blob_hash);
  EXPECT_EQ(a.bytes, b.bytes);
  EXPECT_EQ(a.round, b.round);
  EXPECT_SAME_DOUBLE(a.acc_fp32, b.acc_fp32);
  EXPECT_SAME_DOUBLE(a.acc_q8, b.acc_q8);
  EXPECT_EQ(a.created_ms, b.created_ms);
}

}  // namespace qfleet::cloud::testing

#endif  // QFLEET_TESTS_CLOUD_STORE_RECORD_TEST_UTIL_H_
