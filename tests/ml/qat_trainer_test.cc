#include "ml/qat_trainer.h"

#include <cmath>
#include <numeric>
#include <vector>

#include <torch/torch.h>

#include "common/container_quant.h"
#include "common/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ml/model_io.h"
#include "ml/qat_state.h"
#include "tests/ml/test_data.h"

namespace qfleet::ml {
namespace {

using ::testing::HasSubstr;
using test_data::QuadrantData;
constexpr auto kInvalid = absl::StatusCode::kInvalidArgument;

std::vector<int64_t> AllIndices(int n) {
  std::vector<int64_t> idx(n);
  std::iota(idx.begin(), idx.end(), 0);
  return idx;
}

TEST(QatStateTest, InitialisesPerChannelStepsToTheDeployedQuantizersScale) {
  FmnistCnn model = MakeFmnistCnn(1);
  ASSERT_OK_AND_ASSIGN(QatState state, QatState::Create(*model, 4, 8, kFmnistActPoints));
  EXPECT_EQ(state.StepParameters().size(), 4u + kFmnistActPoints);
  for (const char* name : {"conv1.weight", "conv2.weight", "fc1.weight", "fc2.weight"}) {
    torch::Tensor step = state.weight_step(name);
    ASSERT_TRUE(step.defined()) << name;
    EXPECT_TRUE(step.requires_grad());
    torch::Tensor w = model->named_parameters()[name].detach().flatten(1).contiguous();
    torch::Tensor absmax = w.abs().amax(1);
    for (int64_t c = 0; c < w.size(0); ++c) {
      ASSERT_OK_AND_ASSIGN(ChannelParams p,
                           ChooseChannelParams(w[c].data_ptr<float>(), w.size(1), 4,
                                               DeployedWeightQuant()));
      EXPECT_FLOAT_EQ(step[c].item<float>(), p.scale) << name << " channel " << c;
      // The MSE observer only clips: the step is at most absmax / Qp (Qp = 7 at 4 bits).
      EXPECT_LE(step[c].item<float>(), absmax[c].item<float>() / 7.0f * (1 + 1e-6)) << name;
    }
  }
  EXPECT_FALSE(state.weight_step("conv1.bias").defined());
  EXPECT_FALSE(state.act_step(kFmnistActPoints).defined());
}

// At 2 bits a fake-quantized weight row holds at most 4 distinct values, all
// integer multiples of its step.
TEST(QatStateTest, WeightsLandOnTheirChannelGrid) {
  FmnistCnn model = MakeFmnistCnn(2);
  ASSERT_OK_AND_ASSIGN(QatState state, QatState::Create(*model, 2, 0, kFmnistActPoints));
  torch::Tensor q = state.Weight("fc2.weight", model->fc2->weight).detach();
  torch::Tensor step = state.weight_step("fc2.weight").detach();
  for (int64_t c = 0; c < q.size(0); ++c) {
    EXPECT_LE(std::get<0>(torch::_unique(q[c])).numel(), 4);
    torch::Tensor k = q[c] / step[c];
    EXPECT_TRUE(torch::allclose(k, torch::round(k), 0, 1e-4));
  }
  // act_bits 0: activations pass through.
  torch::Tensor a = torch::rand({3, 5});
  EXPECT_TRUE(torch::equal(state.Activation(0, a), a));
  EXPECT_THROW(state.Activation(kFmnistActPoints, a), c10::Error);
  EXPECT_THROW(state.Weight("nope", model->fc2->weight), c10::Error);
}

TEST(QatStateTest, FirstActivationCallSetsTheStep) {
  FmnistCnn model = MakeFmnistCnn(3);
  ASSERT_OK_AND_ASSIGN(QatState state, QatState::Create(*model, 4, 4, 1));
  torch::Tensor a = torch::full({10}, 3.0f);
  state.Activation(0, a);
  // LSQ init 2 * mean|a| / sqrt(Qp), Qp = 15 unsigned at 4 bits.
  EXPECT_NEAR(state.act_step(0).item<double>(), 6.0 / std::sqrt(15.0), 1e-6);
  state.Activation(0, a * 10);
  EXPECT_NEAR(state.act_step(0).item<double>(), 6.0 / std::sqrt(15.0), 1e-6);
}

TEST(QatStateTest, SetActivationStepsReplacesTheLsqInitialisation) {
  FmnistCnn model = MakeFmnistCnn(3);
  ASSERT_OK_AND_ASSIGN(QatState state, QatState::Create(*model, 4, 4, 2));
  ASSERT_OK(state.SetActivationSteps({0.5, 0.25}));
  state.Activation(0, torch::full({10}, 3.0f));  // no longer initialises
  EXPECT_DOUBLE_EQ(state.act_step(0).item<double>(), 0.5);
  EXPECT_DOUBLE_EQ(state.act_step(1).item<double>(), 0.25);
  // 0.6 / 0.25 = 2.4 -> code 2 -> 0.5.
  EXPECT_NEAR(state.Activation(1, torch::full({1}, 0.6f)).item<double>(), 0.5, 1e-6);
  EXPECT_THAT(state.SetActivationSteps({0.5}), StatusIs(kInvalid, HasSubstr("1 activation steps")));
  EXPECT_THAT(state.SetActivationSteps({0.5, 0}), StatusIs(kInvalid));
  EXPECT_THAT(state.SetActivationSteps({0.5, std::nan("")}), StatusIs(kInvalid));
  ASSERT_OK_AND_ASSIGN(QatState float_acts, QatState::Create(*model, 4, 0, 2));
  EXPECT_THAT(float_acts.SetActivationSteps({0.5, 0.25}),
              StatusIs(kInvalid, HasSubstr("not quantized")));
}

TEST(QatStateTest, RejectsBadBitsAndEmptyModules) {
  FmnistCnn model = MakeFmnistCnn(1);
  EXPECT_THAT(QatState::Create(*model, 1, 8, 3), StatusIs(kInvalid, HasSubstr("weight bits")));
  EXPECT_THAT(QatState::Create(*model, 9, 8, 3), StatusIs(kInvalid));
  EXPECT_THAT(QatState::Create(*model, 4, -1, 3), StatusIs(kInvalid, HasSubstr("activation")));
  EXPECT_THAT(QatState::Create(*model, 4, 9, 3), StatusIs(kInvalid));
  torch::nn::Module empty;
  EXPECT_THAT(QatState::Create(empty, 4, 8, 3), StatusIs(kInvalid, HasSubstr("no weight")));
}

// QAT at 4-bit weights / 8-bit activations learns the quadrant task (chance
// is 25%), trains the latent FP32 weights (which stay off the grid) and the
// steps.
TEST(QatTrainerTest, LearnsWithFakeQuantAndKeepsLatentWeights) {
  torch::set_num_threads(1);
  ImageDataset data = QuadrantData(128, 3);
  TrainOptions opt;
  opt.epochs = 3;
  opt.seed = 9;
  FmnistCnn a = MakeFmnistCnn(1);
  const torch::Tensor init_fc1 = a->fc1->weight.detach().clone();
  ASSERT_OK_AND_ASSIGN(QatState state, QatState::Create(*a, 4, 8, kFmnistActPoints));
  const torch::Tensor init_step = state.weight_step("fc1.weight").detach().clone();
  ASSERT_OK_AND_ASSIGN(TrainStats sa, TrainClassifierQat(a, state, data, AllIndices(128), opt));
  EXPECT_EQ(sa.steps, 12);
  ASSERT_OK_AND_ASSIGN(double acc, EvaluateAccuracyQat(a, state, data));
  EXPECT_GT(acc, 0.8);
  EXPECT_FALSE(torch::equal(a->fc1->weight.detach(), init_fc1));
  EXPECT_FALSE(torch::equal(state.weight_step("fc1.weight").detach(), init_step));
  EXPECT_GT(state.act_step(0).item<double>(), 0.0);
  // Latent weights are not the fake-quantized ones.
  torch::Tensor fq = state.Weight("fc1.weight", a->fc1->weight).detach();
  EXPECT_FALSE(torch::equal(fq, a->fc1->weight.detach()));
}

TEST(QatTrainerTest, IsDeterministic) {
  torch::set_num_threads(1);
  ImageDataset data = QuadrantData(64, 4);
  TrainOptions opt;
  opt.max_steps = 2;
  FmnistCnn a = MakeFmnistCnn(1), b = MakeFmnistCnn(1);
  ASSERT_OK_AND_ASSIGN(TrainStats sa, TrainClassifierQat(a, data, AllIndices(64), opt, 3, 4));
  ASSERT_OK_AND_ASSIGN(TrainStats sb, TrainClassifierQat(b, data, AllIndices(64), opt, 3, 4));
  EXPECT_EQ(sa.steps, 2);
  EXPECT_EQ(sa.loss, sb.loss);
  EXPECT_TRUE(torch::equal(a->fc1->weight, b->fc1->weight));
}

TEST(QatTrainerTest, RejectsBadInput) {
  ImageDataset data = QuadrantData(8, 1);
  FmnistCnn model = MakeFmnistCnn(1);
  TrainOptions opt;
  EXPECT_THAT(TrainClassifierQat(model, data, {}, opt, 4, 8), StatusIs(kInvalid));
  EXPECT_THAT(TrainClassifierQat(model, data, {0, 8}, opt, 4, 8),
              StatusIs(kInvalid, HasSubstr("out of range")));
  EXPECT_THAT(TrainClassifierQat(model, data, {0}, opt, 1, 8), StatusIs(kInvalid));
  EXPECT_THAT(TrainClassifierQat(model, data, {0}, opt, 4, 9), StatusIs(kInvalid));
  opt.epochs = 0;
  EXPECT_THAT(TrainClassifierQat(model, data, {0}, opt, 4, 8), StatusIs(kInvalid));
  ASSERT_OK_AND_ASSIGN(QatState state, QatState::Create(*model, 4, 8, kFmnistActPoints));
  EXPECT_THAT(EvaluateAccuracyQat(model, state, ImageDataset{}), StatusIs(kInvalid));
  // A state built for another model shape fails inside torch: Internal.
  ASSERT_OK_AND_ASSIGN(QatState short_state, QatState::Create(*model, 4, 8, 1));
  opt.epochs = 1;
  EXPECT_THAT(TrainClassifierQat(model, short_state, data, {0, 1}, opt),
              StatusIs(absl::StatusCode::kInternal));
}

}  // namespace
}  // namespace qfleet::ml
