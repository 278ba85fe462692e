#include "kernels/relevance_tiers.h"

#include <cmath>
#include <random>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "common/status_matchers.h"
#include "kernels/cpu/cpu_variants.h"

namespace qfleet::kernels {
namespace {

using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

// Two head channels (4 elements each), item blocks A at 2 and B at 6 (four
// items; 2 and 1 elements per channel), two last channels (3 each): 26
// elements, cuts at 6.5, 13 and 19.5. Item r's row is [r, 1].
RelevanceTierSpec HandSpec() {
  RelevanceTierSpec s;
  s.channels = 12;
  s.elements = {4, 4, 2, 2, 2, 2, 1, 1, 1, 1, 3, 3};
  s.items = 4;
  s.width = 2;
  s.item_rows = {0, 1, 1, 1, 2, 1, 3, 1};
  s.item_blocks = {6, 2};  // any order: ties rank in catalog order
  s.last_ranges = {{10, 2}};
  s.fractions = {0.25, 0.25, 0.25, 0.25};
  return s;
}

std::vector<DeviceKind> Kinds() {
  std::vector<DeviceKind> kinds = {DeviceKind::kRef, DeviceKind::kCpu};
  if (CudaAvailable()) kinds.push_back(DeviceKind::kCuda);
  return kinds;
}

std::vector<uint8_t> Codes(DeviceKind kind, const RelevanceTierPlan& plan,
                           const std::vector<float>& queries) {
  const size_t users = queries.size() / static_cast<size_t>(plan.spec().width);
  std::vector<uint8_t> codes(users * plan.spec().channels, 9);
  EXPECT_OK(RelevanceTierCodes(kind, plan, queries.data(), users, codes.data()));
  return codes;
}

TEST(RelevanceTiersTest, HandWorkedPlans) {
  ASSERT_OK_AND_ASSIGN(RelevanceTierPlan plan, RelevanceTierPlan::Create(HandSpec()));
  EXPECT_DOUBLE_EQ(plan.head_elements(), 8);
  EXPECT_DOUBLE_EQ(plan.group_elements(), 3);
  for (DeviceKind kind : Kinds()) {
    SCOPED_TRACE(static_cast<int>(kind));
    // Relevance r (items 3, 2, 1, 0): cumulative counts 8 | 10 11 | 13 14 |
    // 16 17 | 19 20 | 23 26.
    EXPECT_THAT(Codes(kind, plan, {1, 0}),
                ElementsAreArray({0, 1, 2, 2, 1, 1, 3, 2, 2, 1, 3, 3}));
    // Relevance -r + 0.5: item 0 first.
    EXPECT_THAT(Codes(kind, plan, {-1, 0.5}),
                ElementsAreArray({0, 1, 1, 1, 2, 2, 1, 2, 2, 3, 3, 3}));
    // All equal: the tied items rank in catalog order, block A before B.
    EXPECT_THAT(Codes(kind, plan, {0, 1}),
                ElementsAreArray({0, 1, 1, 1, 2, 2, 2, 2, 2, 3, 3, 3}));
    // Two users in one call.
    EXPECT_THAT(Codes(kind, plan, {1, 0, 0, 1}),
                ElementsAreArray({0, 1, 2, 2, 1, 1, 3, 2, 2, 1, 3, 3,  //
                                  0, 1, 1, 1, 2, 2, 2, 2, 2, 3, 3, 3}));
  }
}

TEST(RelevanceTiersTest, TierSharesNeverExceedTheirCut) {
  ASSERT_OK_AND_ASSIGN(RelevanceTierPlan plan, RelevanceTierPlan::Create(HandSpec()));
  const std::vector<uint8_t> codes = Codes(DeviceKind::kCpu, plan, {0.3f, -2});
  double at_or_below[4] = {0, 0, 0, 0};
  for (size_t c = 0; c < codes.size(); ++c) {
    for (int t = codes[c]; t < 4; ++t) at_or_below[t] += plan.spec().elements[c];
  }
  for (int t = 0; t < 3; ++t) EXPECT_LE(at_or_below[t], plan.cuts()[t]);
  EXPECT_DOUBLE_EQ(at_or_below[3], 26);
}

// A catalog-like spec: dense head channels of varied widths, three item
// blocks out of order with a last table between them, items with random
// rows -- or with rows of small integers, so that many users see exact
// ties in relevance.
RelevanceTierSpec RandomSpec(int64_t items, int64_t width, bool integer_rows, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0, 1);
  std::uniform_int_distribution<int> small(-1, 1);
  RelevanceTierSpec s;
  const int64_t head = 7, last = 5;
  s.channels = head + 3 * items + last;
  for (int64_t c = 0; c < head; ++c) s.elements.push_back(static_cast<double>(10 + 37 * c));
  // Blocks in catalog order: [head, +items) width, then last, then two more.
  for (int64_t r = 0; r < items; ++r) s.elements.push_back(static_cast<double>(width));
  for (int64_t c = 0; c < last; ++c) s.elements.push_back(static_cast<double>(width));
  for (int64_t r = 0; r < items; ++r) s.elements.push_back(1);
  for (int64_t r = 0; r < items; ++r) s.elements.push_back(static_cast<double>(width));
  s.item_blocks = {head + items + last + items, head, head + items + last};
  s.last_ranges = {{head + items, last}};
  s.items = items;
  s.width = width;
  for (int64_t i = 0; i < items * width; ++i) {
    s.item_rows.push_back(integer_rows ? static_cast<float>(small(rng)) : normal(rng));
  }
  s.fractions = {0.1, 0.25, 0.25, 0.4};
  return s;
}

std::vector<float> RandomQueries(size_t users, int64_t width, bool integer, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0, 1);
  std::uniform_int_distribution<int> small(-2, 2);
  std::vector<float> q(users * width);
  for (float& v : q) v = integer ? static_cast<float>(small(rng)) : normal(rng);
  // One user with an all-zero query: every item ties.
  std::fill(q.begin(), q.begin() + width, 0.0f);
  return q;
}

// `kind` gives the reference's codes on random and on heavily tied data.
void ExpectMatchesRef(DeviceKind kind, int64_t items, int64_t width, size_t users, uint32_t seed) {
  for (bool integer : {false, true}) {
    SCOPED_TRACE(integer);
    ASSERT_OK_AND_ASSIGN(RelevanceTierPlan plan,
                         RelevanceTierPlan::Create(RandomSpec(items, width, integer, seed)));
    const std::vector<float> q = RandomQueries(users, width, integer, seed + 1);
    EXPECT_EQ(Codes(DeviceKind::kRef, plan, q), Codes(kind, plan, q));
  }
}

TEST(RelevanceTiersTest, CpuMatchesRefIncludingTies) {
  ExpectMatchesRef(DeviceKind::kCpu, 601, 13, 37, 3);
}

// Both instruction-set variants of the CPU path, whichever the front end
// picks on this machine.
TEST(RelevanceTiersTest, CpuVariantsMatchRef) {
  ASSERT_OK_AND_ASSIGN(RelevanceTierPlan plan,
                       RelevanceTierPlan::Create(RandomSpec(1500, 29, false, 8)));
  const std::vector<float> q = RandomQueries(21, 29, false, 9);
  const std::vector<uint8_t> ref = Codes(DeviceKind::kRef, plan, q);
  for (bool avx2 : {false, true}) {
    if (avx2 && !CpuHasAvx2Fma()) continue;
    std::vector<uint8_t> codes(ref.size());
    RelevanceTierCodesCpu(plan, q.data(), 21, codes.data(), avx2);
    EXPECT_EQ(codes, ref) << avx2;
  }
}

TEST(RelevanceTiersTest, CudaMatchesRef) {
  if (!CudaAvailable()) GTEST_SKIP() << "no CUDA device";
  ExpectMatchesRef(DeviceKind::kCuda, 2003, 37, 300, 5);
}

TEST(RelevanceTiersErrorTest, CudaWithoutCudaIsUnimplemented) {
  if (CudaAvailable()) GTEST_SKIP() << "CUDA present";
  ASSERT_OK_AND_ASSIGN(RelevanceTierPlan plan, RelevanceTierPlan::Create(HandSpec()));
  std::vector<float> q = {1, 0};
  std::vector<uint8_t> codes(12);
  EXPECT_THAT(RelevanceTierCodes(DeviceKind::kCuda, plan, q.data(), 1, codes.data()),
              StatusIs(absl::StatusCode::kUnimplemented));
}

TEST(RelevanceTiersErrorTest, RejectsBadSpecs) {
  auto bad = [](auto mutate) {
    RelevanceTierSpec s = HandSpec();
    mutate(s);
    return RelevanceTierPlan::Create(std::move(s)).status();
  };
  EXPECT_THAT(bad([](RelevanceTierSpec& s) { s.channels = 0; }),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no channels")));
  EXPECT_THAT(bad([](RelevanceTierSpec& s) { s.elements.pop_back(); }),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("element counts")));
  EXPECT_THAT(bad([](RelevanceTierSpec& s) { s.elements[0] = 1.5; }),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("channel 0")));
  EXPECT_THAT(bad([](RelevanceTierSpec& s) { s.elements[1] = NAN; }),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("channel 1")));
  EXPECT_THAT(bad([](RelevanceTierSpec& s) { s.item_rows.pop_back(); }),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("row values")));
  EXPECT_THAT(bad([](RelevanceTierSpec& s) { s.item_rows[3] = INFINITY; }),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("NaN/Inf")));
  EXPECT_THAT(bad([](RelevanceTierSpec& s) { s.item_blocks.clear(); }),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no item block")));
  EXPECT_THAT(bad([](RelevanceTierSpec& s) { s.item_blocks = {2, 4}; }),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("two ranges")));
  EXPECT_THAT(bad([](RelevanceTierSpec& s) { s.item_blocks = {2, 9}; }),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("outside")));
  EXPECT_THAT(bad([](RelevanceTierSpec& s) { s.last_ranges = {{9, 2}}; }),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("two ranges")));
  EXPECT_THAT(bad([](RelevanceTierSpec& s) { s.last_ranges = {{-1, 2}}; }),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("outside")));
  EXPECT_THAT(bad([](RelevanceTierSpec& s) { s.fractions = {0.5, 0.5, 0.5, 0}; }),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("sum")));
  EXPECT_THAT(bad([](RelevanceTierSpec& s) { s.fractions = {1.5, -0.5, 0, 0}; }),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("share")));
  EXPECT_THAT(bad([](RelevanceTierSpec& s) { s.width = 0; }),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(bad([](RelevanceTierSpec& s) { s.elements[3] = 3; }),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("mixes")));
}

TEST(RelevanceTiersErrorTest, RejectsBadQueries) {
  ASSERT_OK_AND_ASSIGN(RelevanceTierPlan plan, RelevanceTierPlan::Create(HandSpec()));
  std::vector<uint8_t> codes(24);
  std::vector<float> q = {1, 0, 0, NAN};
  for (DeviceKind kind : {DeviceKind::kRef, DeviceKind::kCpu, DeviceKind::kCuda}) {
    EXPECT_THAT(RelevanceTierCodes(kind, plan, q.data(), 2, codes.data()),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("user 1")));
    EXPECT_THAT(RelevanceTierCodes(kind, plan, nullptr, 1, codes.data()),
                StatusIs(absl::StatusCode::kInvalidArgument));
    EXPECT_THAT(RelevanceTierCodes(kind, plan, q.data(), 1, nullptr),
                StatusIs(absl::StatusCode::kInvalidArgument));
  }
  EXPECT_OK(RelevanceTierCodes(DeviceKind::kCpu, plan, nullptr, 0, nullptr));
}

}  // namespace
}  // namespace qfleet::kernels
