#include "common/tensor.h"

#include <cmath>
#include <limits>
#include <vector>

#include "common/bit_packing.h"
#include "common/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace qfleet {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
constexpr auto kInvalid = absl::StatusCode::kInvalidArgument;

Tensor FloatTensor(std::vector<int64_t> shape, std::vector<float> values) {
  Tensor t;
  t.name = "w";
  t.shape = std::move(shape);
  t.values = std::move(values);
  return t;
}

// Two channels of three 4-bit codes: row 0 codes {0, 8, 15}, row 1 {1, 2, 3}.
Tensor PackedTensor() {
  Tensor t;
  t.name = "q";
  t.dtype = DType::kPackedPerChannel;
  t.shape = {2, 3};
  t.bits = {4, 2};
  t.scales = {0.5f, 2.0f};
  t.zero_points = {8, 1};
  const uint8_t row0[] = {0, 8, 15}, row1[] = {1, 2, 3};
  t.packed.resize(PackedBytes(3, 4) + PackedBytes(3, 2));
  PackBits(row0, 3, 4, t.packed.data());
  PackBits(row1, 3, 2, t.packed.data() + PackedBytes(3, 4));
  return t;
}

TEST(TensorTest, ShapeHelpers) {
  EXPECT_EQ(FloatTensor({}, {1}).NumElements(), 1);
  EXPECT_EQ(FloatTensor({}, {1}).Channels(), 1);
  EXPECT_EQ(FloatTensor({}, {1}).RowLength(), 1);
  const Tensor t = FloatTensor({4, 3, 2}, {});
  EXPECT_EQ(t.NumElements(), 24);
  EXPECT_EQ(t.Channels(), 4);
  EXPECT_EQ(t.RowLength(), 6);
  EXPECT_EQ(FloatTensor({0, 5}, {}).RowLength(), 0);
  EXPECT_EQ(FloatTensor({3, 0}, {}).RowLength(), 0);
  EXPECT_EQ(FloatTensor({-1, 2}, {}).NumElements(), -1);
  EXPECT_EQ(FloatTensor({1 << 20, 1 << 20}, {}).NumElements(), -1);
}

TEST(TensorTest, ValidTensorsPass) {
  EXPECT_OK(ValidateTensor(FloatTensor({2, 2}, {1, 2, 3, 4})));
  EXPECT_OK(ValidateTensor(FloatTensor({}, {7})));
  EXPECT_OK(ValidateTensor(FloatTensor({3, 0}, {})));
  EXPECT_OK(ValidateTensor(PackedTensor()));
}

TEST(TensorTest, DequantizeComputesCodeMinusZeroTimesScale) {
  ASSERT_OK_AND_ASSIGN(std::vector<float> v, DequantizeTensor(PackedTensor()));
  EXPECT_THAT(v, ElementsAre(-4.0f, 0.0f, 3.5f, 0.0f, 2.0f, 4.0f));
  ASSERT_OK_AND_ASSIGN(std::vector<float> f, DequantizeTensor(FloatTensor({2}, {1.5f, -2})));
  EXPECT_THAT(f, ElementsAre(1.5f, -2.0f));
}

// --- Error paths -----------------------------------------------------------

TEST(TensorTest, ErrorPathNameLength) {
  Tensor t = FloatTensor({1}, {1});
  t.name = "";
  EXPECT_THAT(ValidateTensor(t), StatusIs(kInvalid, HasSubstr("name length 0")));
  t.name = std::string(256, 'n');
  EXPECT_THAT(ValidateTensor(t), StatusIs(kInvalid, HasSubstr("name length 256")));
  t.name = std::string(255, 'n');
  EXPECT_OK(ValidateTensor(t));
}

TEST(TensorTest, ErrorPathShape) {
  EXPECT_THAT(ValidateTensor(FloatTensor({1, 1, 1, 1, 1, 1, 1, 1, 1}, {1})),
              StatusIs(kInvalid, HasSubstr("rank 9")));
  EXPECT_THAT(ValidateTensor(FloatTensor({2, -1}, {})),
              StatusIs(kInvalid, HasSubstr("shape[1] = -1 is negative")));
  EXPECT_THAT(ValidateTensor(FloatTensor({1 << 20, 1 << 20}, {})),
              StatusIs(kInvalid, HasSubstr("element count exceeds")));
  EXPECT_THAT(ValidateTensor(FloatTensor({int64_t{1} << 40, 0}, {})),
              StatusIs(kInvalid, HasSubstr("shape[0]")));
}

TEST(TensorTest, ErrorPathFloatValues) {
  EXPECT_THAT(ValidateTensor(FloatTensor({3}, {1, 2})),
              StatusIs(kInvalid, HasSubstr("has 2 values, shape needs 3")));
  EXPECT_THAT(ValidateTensor(FloatTensor({2}, {1, std::nanf("")})),
              StatusIs(kInvalid, HasSubstr("values[1] is NaN")));
  EXPECT_THAT(ValidateTensor(FloatTensor({2}, {-std::numeric_limits<float>::infinity(), 1})),
              StatusIs(kInvalid, HasSubstr("values[0] is infinite")));
  Tensor t = FloatTensor({1}, {1});
  t.scales = {1.0f};
  EXPECT_THAT(ValidateTensor(t), StatusIs(kInvalid, HasSubstr("must have empty")));
  t.dtype = static_cast<DType>(7);
  EXPECT_THAT(ValidateTensor(t), StatusIs(kInvalid, HasSubstr("unknown dtype 7")));
}

TEST(TensorTest, ErrorPathPackedFields) {
  auto expect_invalid = [](Tensor t, const char* substr) {
    EXPECT_THAT(ValidateTensor(t), StatusIs(kInvalid, HasSubstr(substr)));
    EXPECT_THAT(DequantizeTensor(t), StatusIs(kInvalid, HasSubstr(substr)));
  };
  Tensor t = PackedTensor();
  t.values = {1.0f};
  expect_invalid(t, "must have empty values");
  t = PackedTensor();
  t.scales.pop_back();
  expect_invalid(t, "sizes 2/1/2");
  t = PackedTensor();
  t.bits[1] = 0;
  expect_invalid(t, "bits[1] = 0 not in 1..8");
  t = PackedTensor();
  t.bits[0] = 9;
  expect_invalid(t, "bits[0] = 9");
  t = PackedTensor();
  t.scales[0] = 0.0f;
  expect_invalid(t, "scales[0]");
  t = PackedTensor();
  t.scales[1] = std::nanf("");
  expect_invalid(t, "scales[1]");
  t = PackedTensor();
  t.scales[1] = std::numeric_limits<float>::infinity();
  expect_invalid(t, "scales[1]");
  t = PackedTensor();
  t.zero_points[1] = 4;  // 2 bits: 0..3
  expect_invalid(t, "zero_points[1] = 4 not in [0, 3]");
  t = PackedTensor();
  t.zero_points[0] = -1;
  expect_invalid(t, "zero_points[0] = -1");
  t = PackedTensor();
  t.packed.push_back(0);
  expect_invalid(t, "packed has 4 bytes, bits and shape need 3");
}

}  // namespace
}  // namespace qfleet
