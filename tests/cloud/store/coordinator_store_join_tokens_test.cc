// CoordinatorStore: admin-minted join tokens.

#include "cloud/store/coordinator_store.h"
#include "cloud/store/migrations.h"

#include "common/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "store_test_util.h"

namespace qfleet::cloud {
namespace {

using ::qfleet::cloud::testing::TempDir;
using ::testing::HasSubstr;

JoinTokenRecord MakeJoinToken(const std::string& hash) {
  JoinTokenRecord t;
  t.token_hash = hash;
  t.label = "lab " + hash;
  t.created_ms = 1000;
  t.expires_ms = 5000;
  t.max_uses = 3;
  return t;
}

TEST(CoordinatorStoreJoinTokensTest, InsertFindListAndUpdate) {
  ASSERT_OK_AND_ASSIGN(auto store, CoordinatorStore::Open(":memory:"));
  ASSERT_OK_AND_ASSIGN(uint64_t a, store->InsertJoinToken(MakeJoinToken("aa")));
  ASSERT_OK_AND_ASSIGN(uint64_t b, store->InsertJoinToken(MakeJoinToken("bb")));
  EXPECT_EQ(a, 1u);
  EXPECT_EQ(b, 2u);

  ASSERT_OK_AND_ASSIGN(std::optional<JoinTokenRecord> found, store->FindJoinToken("bb"));
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->id, b);
  EXPECT_EQ(found->label, "lab bb");
  EXPECT_EQ(found->created_ms, 1000);
  EXPECT_EQ(found->expires_ms, 5000);
  EXPECT_EQ(found->max_uses, 3u);
  EXPECT_EQ(found->uses, 0u);
  EXPECT_EQ(found->revoked_ms, 0);
  ASSERT_OK_AND_ASSIGN(std::optional<JoinTokenRecord> missing, store->FindJoinToken("cc"));
  EXPECT_FALSE(missing.has_value());

  found->uses = 2;
  found->revoked_ms = 4000;
  found->label = "ignored: labels are immutable";
  ASSERT_OK(store->UpdateJoinToken(*found));
  ASSERT_OK_AND_ASSIGN(JoinTokenRecord got, store->GetJoinToken(b));
  EXPECT_EQ(got.uses, 2u);
  EXPECT_EQ(got.revoked_ms, 4000);
  EXPECT_EQ(got.label, "lab bb");

  ASSERT_OK_AND_ASSIGN(std::vector<JoinTokenRecord> all, store->ListJoinTokens());
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].id, a);
  EXPECT_EQ(all[1].id, b);
}

TEST(CoordinatorStoreJoinTokensTest, ErrorPaths) {
  ASSERT_OK_AND_ASSIGN(auto store, CoordinatorStore::Open(":memory:"));
  ASSERT_OK(store->InsertJoinToken(MakeJoinToken("aa")).status());
  EXPECT_THAT(store->InsertJoinToken(MakeJoinToken("aa")),
              StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_THAT(store->InsertJoinToken(MakeJoinToken("")),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(store->GetJoinToken(7),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("join token 7")));
  JoinTokenRecord ghost = MakeJoinToken("zz");
  ghost.id = 7;
  EXPECT_THAT(store->UpdateJoinToken(ghost), StatusIs(absl::StatusCode::kNotFound));
}

TEST(CoordinatorStoreJoinTokensTest, SurviveReopen) {
  TempDir dir;
  const std::string path = dir.File("tokens.db");
  {
    ASSERT_OK_AND_ASSIGN(auto store, CoordinatorStore::Open(path));
    ASSERT_OK(store->InsertJoinToken(MakeJoinToken("aa")).status());
  }
  ASSERT_OK_AND_ASSIGN(auto store, CoordinatorStore::Open(path));
  ASSERT_OK_AND_ASSIGN(std::optional<JoinTokenRecord> found, store->FindJoinToken("aa"));
  EXPECT_TRUE(found.has_value());
}

TEST(CoordinatorStoreJoinTokensTest, VersionTwoDatabaseGainsTheTable) {
  TempDir dir;
  const std::string path = dir.File("v2.db");
  {
    ASSERT_OK_AND_ASSIGN(auto db, SqliteDb::Open(path));
    std::vector<Migration> v2 = {CoordinatorMigrations()[0], CoordinatorMigrations()[1]};
    ASSERT_OK(ApplyMigrations(*db, v2, 1).status());
  }
  ASSERT_OK_AND_ASSIGN(auto store, CoordinatorStore::Open(path));
  EXPECT_EQ(store->SchemaVersion(), static_cast<int>(CoordinatorMigrations().size()));
  EXPECT_OK(store->InsertJoinToken(MakeJoinToken("aa")).status());
}

}  // namespace
}  // namespace qfleet::cloud
