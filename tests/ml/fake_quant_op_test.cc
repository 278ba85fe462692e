#include "ml/fake_quant_op.h"

#include <cmath>
#include <vector>

#include <torch/torch.h>

#include "common/quantizer.h"
#include "common/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ml/model_io.h"

namespace qfleet::ml {
namespace {

torch::Tensor Randn(std::vector<int64_t> shape, uint64_t seed) {
  torch::Generator gen = at::detail::createCPUGenerator(seed);
  return torch::randn(shape, gen, torch::kFloat32);
}

torch::Tensor Floats(std::vector<float> v) { return torch::tensor(v, torch::kFloat32); }

// The op is the torch form of common's reference quantizer: with the params
// ChooseChannelParams picks, FakeQuantSte reproduces FakeQuantizePerChannel
// bit for bit, per channel, at every width and observer.
TEST(FakeQuantSteTest, MatchesCommonQuantizerBitForBit) {
  torch::Tensor w = Randn({6, 3, 5}, 1) * torch::arange(1, 7).reshape({6, 1, 1});
  const Tensor fp32 = FromTorch("w", w);
  for (Observer obs : {Observer::kMinMax, Observer::kMse}) {
    for (QuantScheme scheme : {QuantScheme::kAsymmetric, QuantScheme::kSymmetric}) {
      for (int bits : {2, 3, 4, 8}) {
        const QuantOptions opt{scheme, obs};
        std::vector<float> scales;
        std::vector<int32_t> zeros;
        for (int64_t c = 0; c < 6; ++c) {
          ASSERT_OK_AND_ASSIGN(ChannelParams p,
                               ChooseChannelParams(fp32.values.data() + c * 15, 15, bits, opt));
          scales.push_back(p.scale);
          zeros.push_back(p.zero_point);
        }
        torch::Tensor out = FakeQuantSte(w, torch::tensor(scales), torch::tensor(zeros), bits, 0);
        ASSERT_OK_AND_ASSIGN(Tensor ref, FakeQuantizePerChannel(fp32, {bits}, opt));
        ASSERT_OK_AND_ASSIGN(torch::Tensor ref_t, ToTorch(ref));
        EXPECT_TRUE(torch::equal(out, ref_t)) << "bits " << bits;
      }
    }
  }
}

// scale 0.5, zero 2, 2 bits (codes 0..3): x / s + z = -1, 2, 3, 4, so only
// the middle two are inside the range and pass the gradient.
TEST(FakeQuantSteTest, GradientIsTheClampMask) {
  torch::Tensor x = Floats({-1.5f, 0.0f, 0.5f, 1.0f}).set_requires_grad(true);
  torch::Tensor scale = Floats({0.5f}).set_requires_grad(true);
  torch::Tensor out = FakeQuantSte(x, scale, torch::tensor({2}), 2, 0);
  EXPECT_TRUE(torch::equal(out.detach(), Floats({-1.0f, 0.0f, 0.5f, 0.5f})));
  out.sum().backward();
  EXPECT_TRUE(torch::equal(x.grad(), Floats({0, 1, 1, 0})));
  EXPECT_FALSE(scale.grad().defined());
}

TEST(FakeQuantSteTest, PerChannelAlongAnotherAxis) {
  torch::Tensor x = Randn({2, 3, 4}, 2);
  torch::Tensor scale = Floats({0.1f, 0.2f, 0.3f});
  torch::Tensor out = FakeQuantSte(x, scale, torch::tensor({8, 8, 8}), 4, 1);
  for (int64_t c = 0; c < 3; ++c) {
    torch::Tensor slice = x.select(1, c);
    torch::Tensor expect = FakeQuantSte(slice, scale[c], torch::tensor(8), 4, 0);
    EXPECT_TRUE(torch::equal(out.select(1, c), expect));
  }
}

TEST(FakeQuantSteTest, RejectsBadArguments) {
  torch::Tensor x = Randn({3, 4}, 3);
  torch::Tensor s = Floats({0.1f, 0.1f, 0.1f});
  torch::Tensor z = torch::tensor({0, 0, 0});
  EXPECT_THROW(FakeQuantSte(x, s, z, 0, 0), c10::Error);
  EXPECT_THROW(FakeQuantSte(x, s, z, 9, 0), c10::Error);
  EXPECT_THROW(FakeQuantSte(x, s, z, 4, 1), c10::Error);        // 4 channels on axis 1
  EXPECT_THROW(FakeQuantSte(x, s, z, 4, 2), c10::Error);        // no axis 2
  EXPECT_THROW(FakeQuantSte(x, s, torch::tensor({0}), 4, 0), c10::Error);
  EXPECT_THROW(FakeQuantSte(x, Floats({0.1f, 0.0f, 0.1f}), z, 4, 0), c10::Error);
  EXPECT_THROW(FakeQuantSte(x, Floats({0.1f, NAN, 0.1f}), z, 4, 0), c10::Error);
  EXPECT_THROW(FakeQuantSte(torch::ones({3}, torch::kInt64), s, z, 4, 0), c10::Error);
}

TEST(LsqIntegerRangeTest, SignedAndUnsigned) {
  EXPECT_EQ(LsqIntegerRange(3, true).qn, 4);
  EXPECT_EQ(LsqIntegerRange(3, true).qp, 3);
  EXPECT_EQ(LsqIntegerRange(3, false).qn, 0);
  EXPECT_EQ(LsqIntegerRange(3, false).qp, 7);
}

// Hand-worked: step 0.5, 3 bits signed (Qn 4, Qp 3). v = x / s =
// -6, -0.52, 0.48, 1.52, 10 -> clamp -> round: -4, -1, 0, 2, 3.
// d/ds per element: -Qn, round(v) - v, ..., Qp = -4, -0.48, -0.48, 0.48, 3
// (sum -1.48), times 1 / sqrt(N * Qp) = 1 / sqrt(15).
TEST(FakeQuantLsqTest, HandWorkedForwardAndGradients) {
  torch::Tensor x = Floats({-3.0f, -0.26f, 0.24f, 0.76f, 5.0f}).set_requires_grad(true);
  torch::Tensor step = Floats({0.5f}).set_requires_grad(true);
  torch::Tensor out = FakeQuantLsq(x, step, 3, /*symmetric=*/true, 0);
  EXPECT_TRUE(torch::allclose(out.detach(), Floats({-2.0f, -0.5f, 0.0f, 1.0f, 1.5f})));
  out.sum().backward();
  EXPECT_TRUE(torch::equal(x.grad(), Floats({0, 1, 1, 1, 0})));
  EXPECT_NEAR(step.grad().item<double>(), -1.48 / std::sqrt(15.0), 1e-5);
}

// Unsigned (activations): Qn 0, Qp 2^bits - 1; negatives clip to 0.
TEST(FakeQuantLsqTest, UnsignedRange) {
  torch::Tensor x = Floats({-1.0f, 0.3f, 2.0f, 9.0f});
  torch::Tensor out = FakeQuantLsq(x, Floats({1.0f}), 2, /*symmetric=*/false, 0);
  EXPECT_TRUE(torch::equal(out, Floats({0.0f, 0.0f, 2.0f, 3.0f})));
}

// The autograd Function agrees with LSQ written in differentiable torch ops
// (the usual detach tricks for the gradient scale and the rounding), per
// channel along axis 1 of a 3-d input.
TEST(FakeQuantLsqTest, MatchesCompositeOpReferencePerChannel) {
  const int bits = 3;
  const double qn = 4, qp = 3;
  torch::Tensor x = (Randn({5, 4, 6}, 4) * 2).set_requires_grad(true);
  torch::Tensor step = Floats({0.3f, 0.5f, 0.7f, 0.9f}).set_requires_grad(true);
  torch::Tensor up = Randn({5, 4, 6}, 5);
  (FakeQuantLsq(x, step, bits, true, 1) * up).sum().backward();

  torch::Tensor x2 = x.detach().clone().set_requires_grad(true);
  torch::Tensor step2 = step.detach().clone().set_requires_grad(true);
  const double g = 1.0 / std::sqrt(30.0 * qp);
  torch::Tensor s = ((step2 - step2 * g).detach() + step2 * g).reshape({1, 4, 1});
  torch::Tensor v = (x2 / s).clamp(-qn, qp);
  torch::Tensor ref = ((torch::round(v) - v).detach() + v) * s;
  (ref * up).sum().backward();

  EXPECT_TRUE(torch::allclose(x.grad(), x2.grad(), 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(step.grad(), step2.grad(), 1e-4, 1e-5));
}

TEST(FakeQuantLsqTest, RejectsBadArguments) {
  torch::Tensor x = Randn({3, 4}, 6);
  EXPECT_THROW(FakeQuantLsq(x, Floats({0.1f}), 1, /*symmetric=*/true, 0), c10::Error);
  EXPECT_THROW(FakeQuantLsq(x, Floats({0.1f}), 9, false, 0), c10::Error);
  EXPECT_THROW(FakeQuantLsq(x, Floats({0.0f}), 4, true, 0), c10::Error);
  EXPECT_THROW(FakeQuantLsq(x, Floats({-0.1f, 0.1f, 0.1f}), 4, true, 0), c10::Error);
  EXPECT_THROW(FakeQuantLsq(x, Floats({0.1f, 0.1f}), 4, true, 0), c10::Error);
  EXPECT_THROW(FakeQuantLsq(x, torch::empty({0}), 4, true, 0), c10::Error);
}

}  // namespace
}  // namespace qfleet::ml
