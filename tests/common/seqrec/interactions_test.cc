#include "common/seqrec/interactions.h"

#include <cstdio>
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "common/status_matchers.h"

namespace qfleet::seqrec {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr char kAmazonGames[] = "/work/shared/data/amazon-games.txt";

std::string WriteTemp(const std::string& name, const std::string& contents) {
  const std::string path = ::testing::TempDir() + "/" + name;
  std::ofstream(path, std::ios::binary) << contents;
  return path;
}

TEST(UserItemLinesTest, GroupsByUserInFileOrder) {
  ASSERT_OK_AND_ASSIGN(Interactions d, ParseUserItemLines("1 5\n2 3\n1 2\n\n  2\t7 \r\n1 5\n"));
  EXPECT_EQ(d.num_users, 2);
  EXPECT_EQ(d.num_items, 7);
  ASSERT_EQ(d.sequences.size(), 2u);
  EXPECT_THAT(d.sequences[0], ElementsAre(5, 2, 5));
  EXPECT_THAT(d.sequences[1], ElementsAre(3, 7));
  EXPECT_EQ(d.NumEvents(), 5);
  EXPECT_OK(ValidateInteractions(d));
}

TEST(UserItemLinesTest, UsersWithoutLinesGetEmptySequences) {
  ASSERT_OK_AND_ASSIGN(Interactions d, ParseUserItemLines("3 1\n"));
  EXPECT_EQ(d.num_users, 3);
  EXPECT_THAT(d.sequences[0], IsEmpty());
  EXPECT_THAT(d.sequences[2], ElementsAre(1));
}

TEST(UserItemLinesTest, RejectsMalformedLinesWithLineNumber) {
  EXPECT_THAT(ParseUserItemLines("1 2\n1 2 3\n"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("line 2")));
  EXPECT_THAT(ParseUserItemLines("1 2\n\n7\n"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("line 3")));
  EXPECT_THAT(ParseUserItemLines("1 x\n"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("line 1: item id 'x'")));
  EXPECT_THAT(ParseUserItemLines("1 2\n1.5 2\n"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("line 2: user id")));
  EXPECT_THAT(ParseUserItemLines("0 2\n"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("out of range")));
  EXPECT_THAT(ParseUserItemLines("1 -4\n"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("line 1")));
  EXPECT_THAT(ParseUserItemLines("1 99999999999\n"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("out of range")));
}

TEST(UserItemLinesTest, RejectsEmptyInput) {
  EXPECT_THAT(ParseUserItemLines(""), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseUserItemLines("\n  \n"), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(UserItemLinesTest, LoadsFilesAndReportsMissingOnes) {
  ASSERT_OK_AND_ASSIGN(Interactions d, LoadUserItemFile(WriteTemp("ui_ok.txt", "1 1\n1 2\n")));
  EXPECT_THAT(d.sequences[0], ElementsAre(1, 2));
  EXPECT_THAT(LoadUserItemFile(::testing::TempDir() + "/does_not_exist.txt"),
              StatusIs(absl::StatusCode::kNotFound));
  const std::string empty = WriteTemp("ui_empty.txt", "");
  EXPECT_THAT(LoadUserItemFile(empty),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(empty)));
}

TEST(ValidateInteractionsTest, FindsBrokenInvariants) {
  Interactions d;
  d.num_users = 1;
  d.num_items = 3;
  d.sequences = {{1, 4}};
  EXPECT_THAT(ValidateInteractions(d), StatusIs(absl::StatusCode::kInvalidArgument));
  d.sequences = {{1, 0}};
  EXPECT_THAT(ValidateInteractions(d), StatusIs(absl::StatusCode::kInvalidArgument));
  d.sequences = {{1}, {2}};
  EXPECT_THAT(ValidateInteractions(d), StatusIs(absl::StatusCode::kInvalidArgument));
  d.sequences = {{1, 3}};
  EXPECT_OK(ValidateInteractions(d));
}

TEST(UserItemLinesTest, AmazonGamesHasThePublishedCounts) {
  if (!std::ifstream(kAmazonGames).good()) GTEST_SKIP() << kAmazonGames << " not present";
  ASSERT_OK_AND_ASSIGN(Interactions d, LoadUserItemFile(kAmazonGames));
  EXPECT_EQ(d.num_users, 31013);
  EXPECT_EQ(d.num_items, 23715);
  EXPECT_EQ(d.NumEvents(), 287107);
  EXPECT_OK(ValidateInteractions(d));
}

}  // namespace
}  // namespace qfleet::seqrec
