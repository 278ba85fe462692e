#include "ml/hessian_trace.h"

#include <cmath>
#include <vector>

#include <torch/torch.h>

#include "common/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/ml/test_data.h"

namespace qfleet::ml {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
constexpr auto kInvalid = absl::StatusCode::kInvalidArgument;

// One [2, 3] weight "lin.weight" (and a bias the losses ignore).
struct QuadModule : torch::nn::Module {
  QuadModule() {
    lin = register_module("lin", torch::nn::Linear(3, 2));
    torch::NoGradGuard no_grad;
    lin->weight.copy_(torch::arange(1, 7, torch::kFloat32).reshape({2, 3}));
    w = lin->weight;
  }
  torch::nn::Linear lin{nullptr};
  torch::Tensor w;
};

torch::Tensor Diag() { return torch::tensor({{1.0f, 2.0f, 3.0f}, {4.0f, 5.0f, 6.0f}}); }

// loss = 0.5 * sum(d * w^2): H = diag(d), and v * Hv = d exactly for every
// Rademacher v, so a single sample is exact.
TEST(HessianTraceTest, DiagonalQuadraticIsExact) {
  QuadModule m;
  auto loss = [&] { return 0.5 * (Diag() * m.w * m.w).sum(); };
  ASSERT_OK_AND_ASSIGN(auto s, HessianTraceOfLoss(m, loss, 1, 7));
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].name, "lin");
  EXPECT_EQ(s[0].num_params, 6);
  EXPECT_THAT(s[0].per_channel, ElementsAre(6.0, 15.0));
  EXPECT_DOUBLE_EQ(s[0].trace, 21.0);
}

// Adding 0.3 * (sum w)^2 couples every pair of weights (H += 0.6 * 11^T):
// the trace becomes 21 + 6 * 0.6 = 24.6 and per channel 6 + 1.8, 15 + 1.8.
// Single draws are noisy; the mean over 2000 draws is within 2%.
TEST(HessianTraceTest, HutchinsonConvergesWithOffDiagonalTerms) {
  QuadModule m;
  auto loss = [&] { return 0.5 * (Diag() * m.w * m.w).sum() + 0.3 * m.w.sum().pow(2); };
  ASSERT_OK_AND_ASSIGN(auto s, HessianTraceOfLoss(m, loss, 2000, 11));
  EXPECT_NEAR(s[0].trace, 24.6, 0.5);
  EXPECT_NEAR(s[0].per_channel[0], 7.8, 0.3);
  EXPECT_NEAR(s[0].per_channel[1], 16.8, 0.3);
  ASSERT_OK_AND_ASSIGN(auto one, HessianTraceOfLoss(m, loss, 1, 11));
  EXPECT_NE(one[0].trace, 24.6);  // a single draw sees the off-diagonal noise
}

// A loss linear in the weights has a zero Hessian.
TEST(HessianTraceTest, LinearLossHasZeroTrace) {
  QuadModule m;
  ASSERT_OK_AND_ASSIGN(auto s, HessianTraceOfLoss(m, [&] { return (m.w * 2).sum(); }, 3, 1));
  EXPECT_THAT(s[0].per_channel, ElementsAre(0.0, 0.0));
}

TEST(HessianTraceTest, CnnLayersAreReportedPerChannelAndDeterministic) {
  torch::set_num_threads(1);
  FmnistCnn model = MakeFmnistCnn(5);
  torch::Tensor x = test_data::RandomImages(8, 2);
  torch::Tensor y = torch::arange(8, torch::kInt64) % 10;
  ASSERT_OK_AND_ASSIGN(auto a, HessianTrace(model, x, y, 2, 42));
  ASSERT_EQ(a.size(), 4u);
  const std::vector<std::string> names = {"conv1", "conv2", "fc1", "fc2"};
  const std::vector<size_t> channels = {16, 32, 128, 10};
  const std::vector<int64_t> params = {400, 12800, 200704, 1280};
  for (size_t l = 0; l < 4; ++l) {
    EXPECT_EQ(a[l].name, names[l]);
    EXPECT_EQ(a[l].per_channel.size(), channels[l]);
    EXPECT_EQ(a[l].num_params, params[l]);
    double sum = 0;
    for (double c : a[l].per_channel) {
      EXPECT_TRUE(std::isfinite(c));
      sum += c;
    }
    EXPECT_NEAR(sum, a[l].trace, 1e-9 * (1 + std::fabs(sum)));
  }
  ASSERT_OK_AND_ASSIGN(auto b, HessianTrace(model, x, y, 2, 42));
  ASSERT_OK_AND_ASSIGN(auto c, HessianTrace(model, x, y, 2, 43));
  EXPECT_EQ(a[3].per_channel, b[3].per_channel);
  EXPECT_NE(a[3].per_channel, c[3].per_channel);
  // The model's gradients are left alone.
  EXPECT_FALSE(model->fc2->weight.grad().defined());
}

TEST(HessianTraceTest, RejectsBadInput) {
  FmnistCnn model = MakeFmnistCnn(5);
  torch::Tensor x = test_data::RandomImages(4, 2);
  torch::Tensor y = torch::zeros({4}, torch::kInt64);
  EXPECT_THAT(HessianTrace(model, x, y, 0, 1), StatusIs(kInvalid, HasSubstr("num_samples")));
  EXPECT_THAT(HessianTrace(model, x.narrow(0, 0, 0), y.narrow(0, 0, 0), 1, 1), StatusIs(kInvalid));
  EXPECT_THAT(HessianTrace(model, x, y.narrow(0, 0, 3), 1, 1), StatusIs(kInvalid));
  EXPECT_THAT(HessianTrace(model, x.reshape({4, 784}), y, 1, 1), StatusIs(kInvalid));
  EXPECT_THAT(HessianTrace(model, x, y.to(torch::kFloat32), 1, 1), StatusIs(kInvalid));
  torch::nn::Module empty;
  EXPECT_THAT(HessianTraceOfLoss(empty, [] { return torch::ones({}); }, 1, 1),
              StatusIs(kInvalid, HasSubstr("no quantizable")));
  QuadModule m;
  EXPECT_THAT(HessianTraceOfLoss(m, [&] { return m.w * 2; }, 1, 1),
              StatusIs(kInvalid, HasSubstr("scalar")));
  EXPECT_THAT(HessianTraceOfLoss(m, [&] { return m.w.sum() * NAN; }, 1, 1),
              StatusIs(kInvalid, HasSubstr("finite")));
}

}  // namespace
}  // namespace qfleet::ml
