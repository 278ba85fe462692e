#include "common/container_quant.h"

#include <cmath>
#include <string>
#include <vector>

#include "common/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace qfleet {
namespace {

using ::testing::HasSubstr;
constexpr auto kInvalid = absl::StatusCode::kInvalidArgument;

Tensor Float(const std::string& name, std::vector<int64_t> shape, float base) {
  Tensor t;
  t.name = name;
  t.shape = std::move(shape);
  t.values.resize(static_cast<size_t>(t.NumElements()));
  for (size_t i = 0; i < t.values.size(); ++i) {
    t.values[i] = base + 0.1f * static_cast<float>(i % 7) - 0.3f;
  }
  return t;
}

TensorContainer Model() {
  TensorContainer m;
  m.tensors.push_back(Float("fc.weight", {4, 6}, 0.0f));
  m.tensors.push_back(Float("fc.bias", {4}, 0.5f));
  return m;
}

TEST(ContainerQuantTest, QuantizesMatricesAndKeepsBiasesFloat) {
  ASSERT_OK_AND_ASSIGN(const TensorContainer q, QuantizeContainer(Model(), 4));
  ASSERT_EQ(q.tensors.size(), 2u);
  EXPECT_EQ(q.tensors[0].dtype, DType::kPackedPerChannel);
  EXPECT_EQ(q.tensors[0].bits, std::vector<uint8_t>(4, 4));
  EXPECT_EQ(q.tensors[1].dtype, DType::kFloat32);
  EXPECT_EQ(q.tensors[1].values, Model().tensors[1].values);
  ASSERT_OK(EncodeContainer(q).status());
}

TEST(ContainerQuantTest, FakeQuantEqualsDequantizedQuant) {
  ASSERT_OK_AND_ASSIGN(const TensorContainer q, QuantizeContainer(Model(), 3));
  ASSERT_OK_AND_ASSIGN(const TensorContainer dq, DequantizeContainer(q));
  ASSERT_OK_AND_ASSIGN(const TensorContainer fq, FakeQuantizeContainer(Model(), 3));
  ASSERT_EQ(dq.tensors.size(), fq.tensors.size());
  for (size_t i = 0; i < fq.tensors.size(); ++i) {
    EXPECT_EQ(fq.tensors[i].dtype, DType::kFloat32);
    EXPECT_EQ(fq.tensors[i].values, dq.tensors[i].values);
  }
}

TEST(ContainerQuantTest, SubtractGivesTheQuantizationError) {
  const TensorContainer m = Model();
  ASSERT_OK_AND_ASSIGN(const TensorContainer q, QuantizeContainer(m, 8));
  ASSERT_OK_AND_ASSIGN(const TensorContainer diff, SubtractContainers(m, q));
  const std::vector<float>& d0 = diff.tensors[0].values;
  for (size_t i = 0; i < d0.size(); ++i) {
    EXPECT_LE(std::fabs(d0[i]), 0.5f * q.tensors[0].scales[i / 6] * (1 + 1e-5f)) << i;
  }
  for (float d : diff.tensors[1].values) EXPECT_EQ(d, 0.0f);
}

TEST(ContainerQuantTest, AddUndoesSubtract) {
  const TensorContainer m = Model();
  ASSERT_OK_AND_ASSIGN(const TensorContainer q, QuantizeContainer(m, 4));
  ASSERT_OK_AND_ASSIGN(const TensorContainer diff, SubtractContainers(m, q));
  ASSERT_OK_AND_ASSIGN(const TensorContainer back, AddContainers(q, diff));
  ASSERT_EQ(back.tensors.size(), m.tensors.size());
  for (size_t t = 0; t < m.tensors.size(); ++t) {
    EXPECT_EQ(back.tensors[t].name, m.tensors[t].name);
    EXPECT_EQ(back.tensors[t].dtype, DType::kFloat32);
    for (size_t i = 0; i < m.tensors[t].values.size(); ++i) {
      EXPECT_NEAR(back.tensors[t].values[i], m.tensors[t].values[i], 1e-6f) << t << ":" << i;
    }
  }
  TensorContainer other = Model();
  other.tensors.pop_back();
  EXPECT_THAT(AddContainers(Model(), other), StatusIs(kInvalid));
}

TEST(ContainerQuantTest, ErrorPaths) {
  EXPECT_THAT(QuantizeContainer(Model(), 0), StatusIs(kInvalid, HasSubstr("bits 0")));
  EXPECT_THAT(QuantizeContainer(Model(), 9), StatusIs(kInvalid));
  TensorContainer bad = Model();
  bad.tensors[1].values[0] = std::nanf("");
  EXPECT_THAT(QuantizeContainer(bad, 4), StatusIs(kInvalid, HasSubstr("NaN")));
  TensorContainer other = Model();
  other.tensors[1].name = "other.bias";
  EXPECT_THAT(SubtractContainers(Model(), other), StatusIs(kInvalid, HasSubstr("missing")));
  other = Model();
  other.tensors.pop_back();
  EXPECT_THAT(SubtractContainers(Model(), other), StatusIs(kInvalid));
  other = Model();
  other.tensors[0] = Float("fc.weight", {6, 4}, 0.0f);
  EXPECT_THAT(SubtractContainers(Model(), other), StatusIs(kInvalid, HasSubstr("shapes differ")));
}

}  // namespace
}  // namespace qfleet
