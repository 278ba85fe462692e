#include "common/seqrec/movielens.h"

#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "common/status_matchers.h"

namespace qfleet::seqrec {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(MovieLensTest, DatSortsEachUserByTimestampStably) {
  // User 7: items 30 (t=5), 10 (t=1), 20 (t=5); user 3: item 20 (t=2).
  // Dense item ids by ascending original id: 10->1, 20->2, 30->3.
  // Dense users: 3->0, 7->1.
  ASSERT_OK_AND_ASSIGN(Interactions d,
                       ParseMovieLensRatings("7::30::4::5\n3::20::1::2\n7::10::5::1\n7::20::3::5\n"));
  EXPECT_EQ(d.num_users, 2);
  EXPECT_EQ(d.num_items, 3);
  EXPECT_THAT(d.sequences[0], ElementsAre(2));
  // 10 first (t=1), then 30 before 20: equal timestamps keep file order.
  EXPECT_THAT(d.sequences[1], ElementsAre(1, 3, 2));
  EXPECT_OK(ValidateInteractions(d));
}

TEST(MovieLensTest, CsvWithHeaderAndFractionalRatings) {
  ASSERT_OK_AND_ASSIGN(Interactions d, ParseMovieLensRatings(
                                           "userId,movieId,rating,timestamp\r\n"
                                           "1,1000,3.5,964982703\r\n"
                                           "1,50,4.0,964982224\r\n"
                                           "2,1000,0.5,1\r\n"));
  EXPECT_EQ(d.num_users, 2);
  EXPECT_EQ(d.num_items, 2);
  EXPECT_THAT(d.sequences[0], ElementsAre(1, 2));  // 50 (earlier) then 1000
  EXPECT_THAT(d.sequences[1], ElementsAre(2));
}

TEST(MovieLensTest, CsvWithoutHeader) {
  ASSERT_OK_AND_ASSIGN(Interactions d, ParseMovieLensRatings("5,9,3,2\n5,8,3,1\n"));
  EXPECT_THAT(d.sequences[0], ElementsAre(1, 2));
}

TEST(MovieLensTest, RejectsMalformedLinesWithLineNumber) {
  EXPECT_THAT(ParseMovieLensRatings("1::2::3::4\n1::2::3\n"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("line 2")));
  EXPECT_THAT(ParseMovieLensRatings("userId,movieId,rating,timestamp\n1,2,3,4\n1,b,3,4\n"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("line 3: item id 'b'")));
  EXPECT_THAT(ParseMovieLensRatings("1::2::good::4\n"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("line 1: rating")));
  EXPECT_THAT(ParseMovieLensRatings("1::2::3::-4\n"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("timestamp")));
  EXPECT_THAT(ParseMovieLensRatings("0::2::3::4\n"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("out of range")));
  EXPECT_THAT(ParseMovieLensRatings("user,item\n1,2,3,4\n"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("line 1")));
}

TEST(MovieLensTest, RejectsEmptyInputAndHeaderOnly) {
  EXPECT_THAT(ParseMovieLensRatings(""), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseMovieLensRatings("userId,movieId,rating,timestamp\n"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no interactions")));
}

TEST(MovieLensTest, LoadsFilesAndReportsMissingOnes) {
  const std::string path = ::testing::TempDir() + "/ratings.dat";
  std::ofstream(path) << "1::2::5::10\n1::1::5::9\n";
  ASSERT_OK_AND_ASSIGN(Interactions d, LoadMovieLensFile(path));
  EXPECT_THAT(d.sequences[0], ElementsAre(1, 2));
  EXPECT_THAT(LoadMovieLensFile(::testing::TempDir() + "/no_ratings.dat"),
              StatusIs(absl::StatusCode::kNotFound));
}

}  // namespace
}  // namespace qfleet::seqrec
