// CoordinatorStore: opening, devices, model versions, campaigns, plans,
// RunInTransaction and concurrency. Rounds, tasks, participants, updates
// and reports are in coordinator_store_rounds_test.cc.

#include "cloud/store/coordinator_store.h"
#include "cloud/store/migrations.h"

#include <cmath>
#include <limits>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "record_test_util.h"
#include "common/status_macros.h"
#include "store_test_util.h"

namespace qfleet::cloud {
namespace {

using ::qfleet::cloud::testing::ExpectSame;
using ::qfleet::cloud::testing::IsOkAndHolds;
using ::qfleet::cloud::testing::MakeDevice;
using ::qfleet::cloud::testing::MakeModel;
using ::qfleet::cloud::testing::TempDir;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

constexpr absl::StatusCode kNotFound = absl::StatusCode::kNotFound;

class CoordinatorStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(store_, CoordinatorStore::Open(":memory:"));
  }
  std::unique_ptr<CoordinatorStore> store_;
};

// --- open
// ---------------------------------------------------------------------

TEST_F(CoordinatorStoreTest, OpenAppliesTheSchema) {
  EXPECT_EQ(store_->SchemaVersion(), static_cast<int>(CoordinatorMigrations().size()));
  EXPECT_THAT(store_->ListDevices(), IsOkAndHolds(IsEmpty()));
  EXPECT_THAT(store_->MaxRoundNumber(), IsOkAndHolds(0u));
}

TEST(CoordinatorStoreOpenTest, StateSurvivesCloseAndReopen) {
  TempDir dir;
  const std::string path = dir.File("coordinator.db");
  DeviceRecord device = MakeDevice("sim-0001");
  {
    ASSERT_OK_AND_ASSIGN(auto store, CoordinatorStore::Open(path));
    ASSERT_OK_AND_ASSIGN(device.id, store->InsertDevice(device));
    ASSERT_OK(store->InsertModelVersion(MakeModel(1)));
    ASSERT_OK(
        store->InsertPlan({0, device.id, 0, std::string("\x01\0\x02", 3), 5}));
  }
  CoordinatorStoreOptions durable;
  durable.durable = true;
  ASSERT_OK_AND_ASSIGN(auto store, CoordinatorStore::Open(path, durable));
  EXPECT_EQ(store->SchemaVersion(), static_cast<int>(CoordinatorMigrations().size()));
  ASSERT_OK_AND_ASSIGN(DeviceRecord loaded, store->GetDevice(device.id));
  ExpectSame(loaded, device);
  ASSERT_OK_AND_ASSIGN(ModelVersionRecord model, store->GetModelVersion(1));
  ExpectSame(model, MakeModel(1));
  ASSERT_OK_AND_ASSIGN(auto plan, store->LatestPlanForDevice(device.id));
  ASSERT_TRUE(plan.has_value());
  EXPECT_EQ(plan->bytes, std::string("\x01\0\x02", 3));
  // Ids keep counting after a reopen.
  EXPECT_THAT(store->InsertDevice(MakeDevice("sim-0002")), IsOkAndHolds(2u));
}

TEST(CoordinatorStoreOpenTest, CorruptFileIsDataLossNamingThePath) {
  TempDir dir;
  const std::string path = dir.File("corrupt.db");
  {
    ASSERT_OK_AND_ASSIGN(auto store, CoordinatorStore::Open(path));
    for (int i = 0; i < 50; ++i) {
      DeviceRecord device = MakeDevice(absl::StrCat("dev-", i));
      device.token_hash = std::string(2000, 'x');
      ASSERT_OK(store->InsertDevice(device));
    }
  }
  const std::string bytes = testing::ReadFileBytes(path);
  testing::WriteFileBytes(path, bytes.substr(0, bytes.size() / 2));
  EXPECT_THAT(CoordinatorStore::Open(path),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr(path)));
  testing::WriteFileBytes(path, std::string(4096, '\x5a'));
  EXPECT_THAT(CoordinatorStore::Open(path),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr(path)));
}

// --- devices
// ------------------------------------------------------------------

TEST_F(CoordinatorStoreTest, DeviceRoundTripsExactly) {
  DeviceRecord device = MakeDevice("sim-0007");
  device.id = 99;  // Ignored: the store assigns ids.
  ASSERT_OK_AND_ASSIGN(const uint64_t id, store_->InsertDevice(device));
  EXPECT_EQ(id, 1u);
  device.id = id;
  ASSERT_OK_AND_ASSIGN(DeviceRecord by_id, store_->GetDevice(id));
  ExpectSame(by_id, device);
  ASSERT_OK_AND_ASSIGN(DeviceRecord by_name,
                       store_->GetDeviceByName("sim-0007"));
  ExpectSame(by_name, device);
}

// The authentication cache follows every write of the device row, including
// one rolled back inside a transaction.
TEST_F(CoordinatorStoreTest, DeviceAuthCacheFollowsWrites) {
  DeviceRecord device = MakeDevice("sim-0001");
  device.token_hash = std::string(64, 'a');
  ASSERT_OK_AND_ASSIGN(device.id, store_->InsertDevice(device));
  ASSERT_OK_AND_ASSIGN(auto auth, store_->GetDeviceAuth(device.id));
  EXPECT_EQ(auth.token_hash, std::string(64, 'a'));
  EXPECT_EQ(auth.state, device.state);

  device.token_hash = std::string(64, 'b');
  ASSERT_OK(store_->UpdateDevice(device));
  ASSERT_OK_AND_ASSIGN(auth, store_->GetDeviceAuth(device.id));
  EXPECT_EQ(auth.token_hash, std::string(64, 'b'));

  ASSERT_OK(store_->SetDeviceState(device.id, "revoked"));
  ASSERT_OK_AND_ASSIGN(auth, store_->GetDeviceAuth(device.id));
  EXPECT_EQ(auth.state, "revoked");

  // A write read back inside its transaction and then rolled back leaves
  // the committed row in force.
  absl::Status rolled = store_->RunInTransaction([&]() -> absl::Status {
    RETURN_IF_ERROR(store_->SetDeviceState(device.id, "active"));
    ASSIGN_OR_RETURN(auto inside, store_->GetDeviceAuth(device.id));
    EXPECT_EQ(inside.state, "active");
    return absl::AbortedError("roll back");
  });
  EXPECT_THAT(rolled, StatusIs(absl::StatusCode::kAborted));
  ASSERT_OK_AND_ASSIGN(auth, store_->GetDeviceAuth(device.id));
  EXPECT_EQ(auth.state, "revoked");

  EXPECT_THAT(store_->GetDeviceAuth(device.id + 100), StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(CoordinatorStoreTest, DeviceWithEmptyListsAndNanRoundTrips) {
  DeviceRecord device;
  device.name = "bare";
  device.compute_gflops = std::nan("");
  ASSERT_OK_AND_ASSIGN(device.id, store_->InsertDevice(device));
  ASSERT_OK_AND_ASSIGN(DeviceRecord loaded, store_->GetDevice(device.id));
  ExpectSame(loaded, device);
  EXPECT_TRUE(std::isnan(loaded.compute_gflops));
}

TEST_F(CoordinatorStoreTest, ListDevicesIsOrderedById) {
  for (const char* name : {"c", "a", "b"}) {
    ASSERT_OK(store_->InsertDevice(MakeDevice(name)));
  }
  ASSERT_OK_AND_ASSIGN(std::vector<DeviceRecord> devices,
                       store_->ListDevices());
  ASSERT_THAT(devices, SizeIs(3));
  EXPECT_EQ(devices[0].id, 1u);
  EXPECT_EQ(devices[0].name, "c");
  EXPECT_EQ(devices[2].id, 3u);
  EXPECT_EQ(devices[2].name, "b");
}

TEST_F(CoordinatorStoreTest, DuplicateDeviceNameIsAlreadyExists) {
  ASSERT_OK(store_->InsertDevice(MakeDevice("dup")));
  EXPECT_THAT(store_->InsertDevice(MakeDevice("dup")),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("'dup'")));
  EXPECT_THAT(store_->ListDevices(), IsOkAndHolds(SizeIs(1)));
}

TEST_F(CoordinatorStoreTest, UpdateDeviceOverwritesEveryField) {
  ASSERT_OK_AND_ASSIGN(const uint64_t id,
                       store_->InsertDevice(MakeDevice("a")));
  ASSERT_OK(store_->InsertDevice(MakeDevice("taken")));
  DeviceRecord changed;
  changed.id = id;
  changed.name = "renamed";
  changed.token_hash = "new";
  changed.compute_gflops = 12.5;
  changed.memory_mib = 1;
  changed.lowbit_support = {8};
  changed.uplink_kbps = 2;
  changed.downlink_kbps = 3;
  changed.availability = 0.25;
  changed.sample_count = 4;
  changed.label_histogram = {4};
  changed.agent_version = "0.2";
  changed.state = "drained";
  changed.registered_ms = 10;
  changed.last_seen_ms = 11;
  ASSERT_OK(store_->UpdateDevice(changed));
  ASSERT_OK_AND_ASSIGN(DeviceRecord loaded, store_->GetDevice(id));
  ExpectSame(loaded, changed);
  changed.name = "taken";
  EXPECT_THAT(store_->UpdateDevice(changed),
              StatusIs(absl::StatusCode::kAlreadyExists));
}

TEST_F(CoordinatorStoreTest, TouchAndSetStateChangeOnlyTheirField) {
  DeviceRecord device = MakeDevice("a");
  ASSERT_OK_AND_ASSIGN(device.id, store_->InsertDevice(device));
  ASSERT_OK(store_->TouchDevice(device.id, 777));
  ASSERT_OK(store_->SetDeviceState(device.id, "offline"));
  device.last_seen_ms = 777;
  device.state = "offline";
  ASSERT_OK_AND_ASSIGN(DeviceRecord loaded, store_->GetDevice(device.id));
  ExpectSame(loaded, device);
}

TEST_F(CoordinatorStoreTest, TouchDevicesWritesEverySliceAndNeverMovesBack) {
  // 70 devices: more than two of TouchDevices' 32-device transactions.
  std::vector<std::pair<uint64_t, int64_t>> seen;
  for (int i = 0; i < 70; ++i) {
    DeviceRecord d = MakeDevice("d" + std::to_string(i));
    d.last_seen_ms = 0;
    ASSERT_OK_AND_ASSIGN(const uint64_t id, store_->InsertDevice(d));
    seen.emplace_back(id, 1000 + i);
  }
  seen.emplace_back(999, 5);  // unknown ids are skipped
  ASSERT_OK(store_->TouchDevices(seen));
  ASSERT_OK(store_->TouchDevices({{seen[69].first, 10}}));  // older: ignored
  ASSERT_OK_AND_ASSIGN(std::vector<DeviceRecord> devices, store_->ListDevices());
  ASSERT_EQ(devices.size(), 70u);
  for (int i = 0; i < 70; ++i) EXPECT_EQ(devices[i].last_seen_ms, 1000 + i) << i;
}

TEST_F(CoordinatorStoreTest, ActiveDevicesSeenSinceFiltersStateAndLastSeen) {
  std::vector<uint64_t> ids;
  for (int i = 0; i < 5; ++i) {
    ASSERT_OK_AND_ASSIGN(const uint64_t id,
                         store_->InsertDevice(MakeDevice("d" + std::to_string(i))));
    ASSERT_OK(store_->TouchDevice(id, 100 * i));
    ids.push_back(id);
  }
  ASSERT_OK(store_->SetDeviceState(ids[3], "drained"));
  EXPECT_THAT(store_->ActiveDevicesSeenSince(200),
              IsOkAndHolds(std::vector<uint64_t>{ids[2], ids[4]}));
  EXPECT_THAT(store_->ActiveDevicesSeenSince(0),
              IsOkAndHolds(std::vector<uint64_t>{ids[0], ids[1], ids[2], ids[4]}));
  EXPECT_THAT(store_->ActiveDevicesSeenSince(401), IsOkAndHolds(std::vector<uint64_t>{}));
}

TEST_F(CoordinatorStoreTest, InvalidDeviceFieldsAreInvalidArgument) {
  DeviceRecord device = MakeDevice("a");
  device.state = "sleeping";
  EXPECT_THAT(
      store_->InsertDevice(device),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("sleeping")));
  EXPECT_THAT(store_->InsertDevice(DeviceRecord{}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  ASSERT_OK_AND_ASSIGN(const uint64_t id,
                       store_->InsertDevice(MakeDevice("a")));
  EXPECT_THAT(store_->SetDeviceState(id, "gone"),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(CoordinatorStoreTest, UnknownDeviceIsNotFoundNamingTheId) {
  DeviceRecord device = MakeDevice("a");
  device.id = 4242;
  EXPECT_THAT(store_->GetDevice(4242), StatusIs(kNotFound, HasSubstr("4242")));
  EXPECT_THAT(store_->GetDeviceByName("nobody"),
              StatusIs(kNotFound, HasSubstr("nobody")));
  EXPECT_THAT(store_->UpdateDevice(device),
              StatusIs(kNotFound, HasSubstr("4242")));
  EXPECT_THAT(store_->TouchDevice(4242, 1),
              StatusIs(kNotFound, HasSubstr("4242")));
  EXPECT_THAT(store_->SetDeviceState(4242, "active"),
              StatusIs(kNotFound, HasSubstr("4242")));
  EXPECT_THAT(store_->OpenTaskForDevice(4242),
              StatusIs(kNotFound, HasSubstr("4242")));
  EXPECT_THAT(store_->LatestPlanForDevice(4242),
              StatusIs(kNotFound, HasSubstr("4242")));
}

// --- model versions
// -----------------------------------------------------------

TEST_F(CoordinatorStoreTest, ModelVersionsRoundTripAndOrder) {
  EXPECT_THAT(store_->LatestModelVersion(),
              IsOkAndHolds(::testing::Eq(std::nullopt)));
  for (uint64_t v : {2, 1, 3})
    ASSERT_OK(store_->InsertModelVersion(MakeModel(v)));
  ASSERT_OK_AND_ASSIGN(ModelVersionRecord two, store_->GetModelVersion(2));
  ExpectSame(two, MakeModel(2));
  ASSERT_OK_AND_ASSIGN(auto latest, store_->LatestModelVersion());
  ASSERT_TRUE(latest.has_value());
  ExpectSame(*latest, MakeModel(3));
  ASSERT_OK_AND_ASSIGN(std::vector<ModelVersionRecord> all,
                       store_->ListModelVersions());
  ASSERT_THAT(all, SizeIs(3));
  for (size_t i = 0; i < all.size(); ++i) ExpectSame(all[i], MakeModel(i + 1));
}

TEST_F(CoordinatorStoreTest, ModelVersionErrors) {
  ASSERT_OK(store_->InsertModelVersion(MakeModel(1)));
  EXPECT_THAT(store_->InsertModelVersion(MakeModel(1)),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("1")));
  ModelVersionRecord zero = MakeModel(1);
  zero.version = 0;
  EXPECT_THAT(store_->InsertModelVersion(zero),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(store_->GetModelVersion(77),
              StatusIs(kNotFound, HasSubstr("77")));
}

// --- campaigns
// ----------------------------------------------------------------

TEST_F(CoordinatorStoreTest, CampaignsRoundTripAndActiveIsNewestRunning) {
  EXPECT_THAT(store_->ActiveCampaign(),
              IsOkAndHolds(::testing::Eq(std::nullopt)));
  CampaignRecord first{0, R"({"rounds":3})", 1, 3, "running", 100};
  CampaignRecord second{0, R"({"rounds":2})", 4, 5, "running", 200};
  ASSERT_OK_AND_ASSIGN(first.id, store_->InsertCampaign(first));
  ASSERT_OK_AND_ASSIGN(second.id, store_->InsertCampaign(second));
  EXPECT_EQ(first.id, 1u);
  EXPECT_EQ(second.id, 2u);
  ASSERT_OK_AND_ASSIGN(auto active, store_->ActiveCampaign());
  ASSERT_TRUE(active.has_value());
  ExpectSame(*active, second);

  second.state = "cancelled";
  second.last_round = 4;
  ASSERT_OK(store_->UpdateCampaign(second));
  ASSERT_OK_AND_ASSIGN(active, store_->ActiveCampaign());
  ASSERT_TRUE(active.has_value());
  ExpectSame(*active, first);
  ASSERT_OK_AND_ASSIGN(CampaignRecord loaded, store_->GetCampaign(second.id));
  ExpectSame(loaded, second);

  first.state = "done";
  ASSERT_OK(store_->UpdateCampaign(first));
  EXPECT_THAT(store_->ActiveCampaign(),
              IsOkAndHolds(::testing::Eq(std::nullopt)));
  ASSERT_OK_AND_ASSIGN(std::vector<CampaignRecord> all,
                       store_->ListCampaigns());
  ASSERT_THAT(all, SizeIs(2));
  ExpectSame(all[0], first);
  ExpectSame(all[1], second);
}

TEST_F(CoordinatorStoreTest, CampaignErrors) {
  CampaignRecord campaign{55, "{}", 1, 1, "paused", 0};
  EXPECT_THAT(store_->InsertCampaign(campaign),
              StatusIs(absl::StatusCode::kInvalidArgument));
  campaign.state = "running";
  EXPECT_THAT(store_->UpdateCampaign(campaign),
              StatusIs(kNotFound, HasSubstr("55")));
  EXPECT_THAT(store_->GetCampaign(55), StatusIs(kNotFound, HasSubstr("55")));
}

// --- plans
// --------------------------------------------------------------------

TEST_F(CoordinatorStoreTest, PlanVersionsCountPerDevice) {
  ASSERT_OK_AND_ASSIGN(const uint64_t a, store_->InsertDevice(MakeDevice("a")));
  ASSERT_OK_AND_ASSIGN(const uint64_t b, store_->InsertDevice(MakeDevice("b")));
  EXPECT_THAT(store_->LatestPlanForDevice(a),
              IsOkAndHolds(::testing::Eq(std::nullopt)));
  const std::string bytes("\x1b\0\xe4", 3);
  PlanRecord first{0, a, 0, bytes, 10};
  ASSERT_OK_AND_ASSIGN(first.plan_id, store_->InsertPlan(first));
  first.version = 1;
  ASSERT_OK_AND_ASSIGN(const uint64_t other,
                       store_->InsertPlan({0, b, 0, "", 11}));
  PlanRecord second{0, a, 0, "x", 12};
  ASSERT_OK_AND_ASSIGN(second.plan_id, store_->InsertPlan(second));
  second.version = 2;
  PlanRecord explicit_version{0, a, 10, "y", 13};
  ASSERT_OK_AND_ASSIGN(explicit_version.plan_id,
                       store_->InsertPlan(explicit_version));

  ASSERT_OK_AND_ASSIGN(PlanRecord loaded, store_->GetPlan(first.plan_id));
  ExpectSame(loaded, first);
  ASSERT_OK_AND_ASSIGN(loaded, store_->GetPlan(second.plan_id));
  ExpectSame(loaded, second);
  ASSERT_OK_AND_ASSIGN(loaded, store_->GetPlan(other));
  EXPECT_EQ(loaded.version, 1u);
  EXPECT_EQ(loaded.bytes, "");
  ASSERT_OK_AND_ASSIGN(auto latest, store_->LatestPlanForDevice(a));
  ASSERT_TRUE(latest.has_value());
  ExpectSame(*latest, explicit_version);
  // The next automatic version follows the highest one.
  ASSERT_OK_AND_ASSIGN(const uint64_t next,
                       store_->InsertPlan({0, a, 0, "z", 14}));
  ASSERT_OK_AND_ASSIGN(loaded, store_->GetPlan(next));
  EXPECT_EQ(loaded.version, 11u);
}

TEST_F(CoordinatorStoreTest, PlanErrors) {
  ASSERT_OK_AND_ASSIGN(const uint64_t a, store_->InsertDevice(MakeDevice("a")));
  ASSERT_OK(store_->InsertPlan({0, a, 3, "p", 0}));
  EXPECT_THAT(store_->InsertPlan({0, a, 3, "q", 0}),
              StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_THAT(store_->InsertPlan({0, 31337, 0, "q", 0}),
              StatusIs(kNotFound, HasSubstr("31337")));
  EXPECT_THAT(store_->GetPlan(31337), StatusIs(kNotFound, HasSubstr("31337")));
}

// --- transactions and concurrency
// ---------------------------------------------

TEST_F(CoordinatorStoreTest, RunInTransactionCommitsAllOrNothing) {
  const absl::Status failed = store_->RunInTransaction([&]() -> absl::Status {
    RETURN_IF_ERROR(store_->InsertDevice(MakeDevice("a")).status());
    RETURN_IF_ERROR(store_->InsertModelVersion(MakeModel(1)));
    return absl::AbortedError("caller changed its mind");
  });
  EXPECT_THAT(failed, StatusIs(absl::StatusCode::kAborted));
  EXPECT_THAT(store_->ListDevices(), IsOkAndHolds(IsEmpty()));
  EXPECT_THAT(store_->LatestModelVersion(),
              IsOkAndHolds(::testing::Eq(std::nullopt)));

  ASSERT_OK(store_->RunInTransaction([&]() -> absl::Status {
    RETURN_IF_ERROR(store_->InsertDevice(MakeDevice("a")).status());
    // A failing inner call rolls back only itself.
    EXPECT_THAT(store_->InsertDevice(MakeDevice("a")),
                StatusIs(absl::StatusCode::kAlreadyExists));
    return store_->InsertModelVersion(MakeModel(1));
  }));
  EXPECT_THAT(store_->ListDevices(), IsOkAndHolds(SizeIs(1)));
  EXPECT_OK(store_->GetModelVersion(1));
}

TEST_F(CoordinatorStoreTest, ConcurrentInsertsGetDistinctIds) {
  constexpr int kThreads = 4, kPerThread = 25;
  std::vector<std::vector<uint64_t>> ids(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        if (i % 5 == 0) {
          // Interleave multi-call transactions with single calls.
          EXPECT_OK(store_->RunInTransaction([&]() -> absl::Status {
            ASSIGN_OR_RETURN(
                const uint64_t id,
                store_->InsertDevice(MakeDevice(absl::StrCat(t, "-", i))));
            ids[t].push_back(id);
            return store_->TouchDevice(id, i);
          }));
        } else {
          absl::StatusOr<uint64_t> id =
              store_->InsertDevice(MakeDevice(absl::StrCat(t, "-", i)));
          EXPECT_THAT(id, IsOk());
          if (id.ok()) ids[t].push_back(*id);
        }
        EXPECT_OK(store_->ListDevices());
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  std::set<uint64_t> unique;
  for (const auto& per_thread : ids)
    unique.insert(per_thread.begin(), per_thread.end());
  EXPECT_EQ(unique.size(), static_cast<size_t>(kThreads * kPerThread));
  EXPECT_EQ(*unique.begin(), 1u);
  EXPECT_EQ(*unique.rbegin(), static_cast<uint64_t>(kThreads * kPerThread));
}

}  // namespace
}  // namespace qfleet::cloud

namespace qfleet::cloud {
namespace {

TEST(CoordinatorStoreKvTest, PutGetReplaceAndSurviveReopen) {
  TempDir dir;
  const std::string path = dir.File("kv.db");
  {
    ASSERT_OK_AND_ASSIGN(auto store, CoordinatorStore::Open(path));
    EXPECT_THAT(store->GetKv("selector"), IsOkAndHolds(std::optional<std::string>()));
    ASSERT_OK(store->PutKv("selector", std::string("a\0b", 3), 1));
    ASSERT_OK(store->PutKv("selector", "v2", 2));
    EXPECT_THAT(store->PutKv("", "x", 3), StatusIs(absl::StatusCode::kInvalidArgument));
  }
  ASSERT_OK_AND_ASSIGN(auto store, CoordinatorStore::Open(path));
  EXPECT_THAT(store->GetKv("selector"), IsOkAndHolds(std::optional<std::string>("v2")));
}

TEST(CoordinatorStoreMigrationTest, VersionOneDatabaseUpgradesKeepingItsRounds) {
  TempDir dir;
  const std::string path = dir.File("v1.db");
  {
    ASSERT_OK_AND_ASSIGN(auto db, SqliteDb::Open(path));
    std::vector<Migration> v1 = {CoordinatorMigrations()[0]};
    ASSERT_OK(ApplyMigrations(*db, v1, 1).status());
    ASSERT_OK(db->Exec("INSERT INTO rounds (round, state, model_version_in, model_version_out, "
                       "started_ms, deadline_ms, finished_ms, acc_fp32, acc_q8, bytes_down, "
                       "bytes_up, detail) VALUES (1, 'done', 1, 2, 10, 20, 30, 0.5, 0.5, 7, 8, '')"));
  }
  ASSERT_OK_AND_ASSIGN(auto store, CoordinatorStore::Open(path));
  EXPECT_EQ(store->SchemaVersion(), static_cast<int>(CoordinatorMigrations().size()));
  ASSERT_OK_AND_ASSIGN(RoundRecord r, store->GetRound(1));
  EXPECT_EQ(r.state, "done");
  EXPECT_EQ(r.bytes_up, 8u);
  EXPECT_EQ(r.sim_seconds, 0.0);
  r.sim_seconds = 12.5;
  r.selector_seconds = 0.25;
  ASSERT_OK(store->UpdateRound(r));
  ASSERT_OK_AND_ASSIGN(RoundRecord again, store->GetRound(1));
  EXPECT_EQ(again.sim_seconds, 12.5);
  EXPECT_EQ(again.selector_seconds, 0.25);
}

}  // namespace
}  // namespace qfleet::cloud
