#include "ml/gptq.h"

#include <cmath>
#include <vector>

#include <torch/torch.h>

#include "common/quantizer.h"
#include "common/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ml/model_io.h"
#include "tests/ml/test_data.h"

namespace qfleet::ml {
namespace {

using ::testing::HasSubstr;
constexpr auto kInvalid = absl::StatusCode::kInvalidArgument;

torch::Tensor Randn(std::vector<int64_t> shape, uint64_t seed) {
  torch::Generator gen = at::detail::createCPUGenerator(seed);
  return torch::randn(shape, gen, torch::kFloat32);
}

// 512 calibration rows over 64 inputs driven by 12 latent factors plus a
// little noise: strongly correlated columns, as real layer inputs are.
torch::Tensor CorrelatedInputs() {
  return Randn({512, 12}, 1).mm(Randn({12, 64}, 2)) + 0.1 * Randn({512, 64}, 3);
}

torch::Tensor Rtn(const torch::Tensor& w, const std::vector<int>& bits, const QuantOptions& q) {
  auto fake = FakeQuantizePerChannel(FromTorch("w", w), bits, q);
  EXPECT_TRUE(fake.ok()) << fake.status();
  return ToTorch(*fake).value();
}

double OutputError(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& q) {
  return (x.mm(w.t()) - x.mm(q.t())).pow(2).sum().item<double>();
}

TEST(GptqHessianTest, IsTwoXtXOverN) {
  torch::Tensor x = Randn({10, 3}, 4);
  ASSERT_OK_AND_ASSIGN(torch::Tensor h, GptqHessian(x));
  EXPECT_EQ(h.scalar_type(), torch::kFloat64);
  EXPECT_TRUE(torch::allclose(h, (x.t().mm(x) * 0.2).to(torch::kFloat64), 1e-5, 1e-6));
  EXPECT_THAT(GptqHessian(torch::empty({0, 3})), StatusIs(kInvalid));
  EXPECT_THAT(GptqHessian(torch::ones({3})), StatusIs(kInvalid));
  EXPECT_THAT(GptqHessian(torch::ones({2, 3}, torch::kInt64)), StatusIs(kInvalid));
}

// The acceptance property: on correlated calibration inputs GPTQ's layer
// output error ||XW^T - XQ^T||^2 is well below RTN's on the same per-channel
// grids, at 3 and at 2 bits, with and without act order.
TEST(GptqQuantizeMatrixTest, BeatsRtnOnCorrelatedInputs) {
  torch::Tensor x = CorrelatedInputs();
  torch::Tensor w = Randn({32, 64}, 5);
  ASSERT_OK_AND_ASSIGN(torch::Tensor h, GptqHessian(x));
  for (bool act_order : {false, true}) {
    for (int bits : {3, 2}) {
      GptqOptions o;
      o.act_order = act_order;
      ASSERT_OK_AND_ASSIGN(torch::Tensor q, GptqQuantizeMatrix(w, h, {bits}, o));
      const double gptq = OutputError(x, w, q);
      const double rtn = OutputError(x, w, Rtn(w, {bits}, o.quant));
      EXPECT_LT(gptq, 0.5 * rtn) << "bits " << bits << " act_order " << act_order;
      // The proxy error agrees with the output error: 2/n ||.||^2.
      EXPECT_NEAR(GptqLayerError(w, q, h), 2.0 / 512 * gptq, 1e-3 * gptq);
    }
  }
}

// Without correlations (H = I) there is nothing to compensate: GPTQ is
// exactly RTN on the same grids.
TEST(GptqQuantizeMatrixTest, IdentityHessianGivesRtn) {
  torch::Tensor w = Randn({8, 20}, 6);
  GptqOptions o;
  for (int bits : {2, 4}) {
    ASSERT_OK_AND_ASSIGN(torch::Tensor q,
                         GptqQuantizeMatrix(w, torch::eye(20, torch::kFloat64), {bits}, o));
    EXPECT_TRUE(torch::equal(q, Rtn(w, {bits}, o.quant)));
  }
}

// The lazy batch update is an exact reordering: any block size gives the
// same weights as one block.
TEST(GptqQuantizeMatrixTest, BlockSizeDoesNotChangeTheResult) {
  torch::Tensor x = CorrelatedInputs();
  torch::Tensor w = Randn({16, 64}, 7);
  ASSERT_OK_AND_ASSIGN(torch::Tensor h, GptqHessian(x));
  GptqOptions one, small;
  one.block_size = 64;
  small.block_size = 7;
  ASSERT_OK_AND_ASSIGN(torch::Tensor a, GptqQuantizeMatrix(w, h, {3}, one));
  ASSERT_OK_AND_ASSIGN(torch::Tensor b, GptqQuantizeMatrix(w, h, {3}, small));
  // Round-to-nearest can flip on float ties; allow a handful of elements.
  EXPECT_LE(a.ne(b).sum().item<int64_t>(), 3);
  EXPECT_NEAR(OutputError(x, w, a), OutputError(x, w, b), 1e-3 * OutputError(x, w, a));
}

// Every row lands on its own grid: at most 2^bits distinct values per row,
// with a different width per row; dead inputs are quantized to 0.
TEST(GptqQuantizeMatrixTest, PerRowBitsAndDeadColumns) {
  torch::Tensor x = CorrelatedInputs();
  x.select(1, 5).zero_();
  torch::Tensor w = Randn({4, 64}, 8);
  ASSERT_OK_AND_ASSIGN(torch::Tensor h, GptqHessian(x));
  const std::vector<int> bits = {1, 2, 3, 8};
  ASSERT_OK_AND_ASSIGN(torch::Tensor q, GptqQuantizeMatrix(w, h, bits, GptqOptions()));
  for (int64_t r = 0; r < 4; ++r) {
    EXPECT_LE(std::get<0>(torch::_unique(q[r])).numel(), int64_t{1} << bits[r]);
    EXPECT_EQ(q[r][5].item<float>(), 0.0f);
  }
  // 8 bits is nearly lossless on the layer's output (the weights themselves
  // may move along directions the correlated inputs do not see).
  torch::Tensor y = x.mv(w[3]);
  EXPECT_LT((x.mv(q[3]) - y).pow(2).sum().item<double>(), 1e-4 * y.pow(2).sum().item<double>());
}

TEST(GptqQuantizeMatrixTest, RejectsBadInput) {
  torch::Tensor w = Randn({4, 6}, 9);
  torch::Tensor h = torch::eye(6, torch::kFloat64);
  GptqOptions o;
  EXPECT_THAT(GptqQuantizeMatrix(w.reshape({24}), h, {4}, o), StatusIs(kInvalid));
  EXPECT_THAT(GptqQuantizeMatrix(w, torch::eye(5), {4}, o), StatusIs(kInvalid, HasSubstr("Hessian")));
  EXPECT_THAT(GptqQuantizeMatrix(w, h, {4, 4}, o), StatusIs(kInvalid, HasSubstr("bit-widths")));
  EXPECT_THAT(GptqQuantizeMatrix(w, h, {0}, o), StatusIs(kInvalid, HasSubstr("1..8")));
  EXPECT_THAT(GptqQuantizeMatrix(w, h, {9}, o), StatusIs(kInvalid, HasSubstr("1..8")));
  torch::Tensor bad = w.clone();
  bad[1][2] = NAN;
  EXPECT_THAT(GptqQuantizeMatrix(bad, h, {4}, o), StatusIs(kInvalid, HasSubstr("NaN")));
  o.block_size = 0;
  EXPECT_THAT(GptqQuantizeMatrix(w, h, {4}, o), StatusIs(kInvalid, HasSubstr("options")));
  // An indefinite Hessian (eigenvalues -999 and 5001) that damping of at
  // most 10^4 * 1% of the mean diagonal cannot rescue.
  torch::Tensor indefinite = torch::full({6, 6}, 1000.0, torch::kFloat64) -
                             999.0 * torch::eye(6, torch::kFloat64);
  EXPECT_THAT(GptqQuantizeMatrix(w, indefinite, {4}, GptqOptions()),
              StatusIs(absl::StatusCode::kFailedPrecondition));
}

// U is upper triangular with U^T U = H^-1.
TEST(GptqInverseCholeskyTest, FactorsTheInverse) {
  torch::Tensor x = CorrelatedInputs();
  ASSERT_OK_AND_ASSIGN(torch::Tensor h, GptqHessian(x));
  h += 0.1 * torch::eye(64, torch::kFloat64);
  ASSERT_OK_AND_ASSIGN(torch::Tensor u, GptqInverseCholesky(h));
  EXPECT_TRUE(torch::equal(u, u.triu()));
  EXPECT_TRUE(u.diagonal().gt(0).all().item<bool>());
  EXPECT_TRUE(torch::allclose(u.t().mm(u).mm(h), torch::eye(64, torch::kFloat64), 1e-6, 1e-8));
  EXPECT_THAT(GptqInverseCholesky(-torch::eye(3)), StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(GptqInverseCholesky(torch::ones({2, 3})), StatusIs(kInvalid));
}

ChannelBitMap AllLayers(int bits) {
  return {{"conv1", {bits}}, {"conv2", {bits}}, {"fc1", {bits}}, {"fc2", {bits}}};
}

// Whole-model GPTQ (fc1, whose 1568-column factorisation takes seconds on
// the reference BLAS, is left to the integration test): every layer beats
// RTN on its own calibration Hessian, weights land on 3-bit grids, biases
// and unnamed layers are untouched, and the model's logits on the
// calibration batch move less than with RTN.
TEST(GptqQuantizeModelTest, QuantizesEveryLayerBetterThanRtn) {
  torch::set_num_threads(1);
  FmnistCnn model = MakeFmnistCnn(3);
  const TensorContainer original = ModuleToContainer(*model);
  // Smoothed noise: neighbouring pixels correlate, as in real images.
  torch::Tensor x = torch::avg_pool2d(test_data::RandomImages(24, 4), 3, 1, 1) * 3;
  torch::Tensor fp_logits = model->forward(x).detach();
  GptqOptions o;
  o.chunk = 10;
  ChannelBitMap bits = AllLayers(3);
  bits.erase("fc1");
  ASSERT_OK_AND_ASSIGN(auto reports, GptqQuantizeModel(model, x, bits, o));
  ASSERT_EQ(reports.size(), 3u);
  EXPECT_EQ(reports[0].layer, "conv1");
  EXPECT_EQ(reports[0].cols, 25);
  EXPECT_EQ(reports[0].calib_rows, 24 * 28 * 28);
  EXPECT_EQ(reports[1].cols, 400);
  EXPECT_EQ(reports[2].layer, "fc2");
  EXPECT_EQ(reports[2].calib_rows, 24);
  for (const GptqLayerReport& r : reports) {
    EXPECT_LT(r.gptq_error, r.rtn_error) << r.layer;
  }
  for (int64_t c = 0; c < 10; ++c) {
    EXPECT_LE(std::get<0>(torch::_unique(model->fc2->weight[c])).numel(), 8);
  }
  ASSERT_OK_AND_ASSIGN(torch::Tensor bias, ToTorch(*original.Find("fc1.bias")));
  EXPECT_TRUE(torch::equal(model->fc1->bias, bias));

  ASSERT_OK_AND_ASSIGN(torch::Tensor fc1, ToTorch(*original.Find("fc1.weight")));
  EXPECT_TRUE(torch::equal(model->fc1->weight, fc1));
  torch::Tensor gptq_logits = model->forward(x).detach();

  FmnistCnn rtn = MakeFmnistCnn(3);
  for (auto* layer : {&rtn->conv1->weight, &rtn->conv2->weight, &rtn->fc2->weight}) {
    torch::NoGradGuard g;
    layer->copy_(Rtn(layer->reshape({layer->size(0), -1}), {3}, o.quant).reshape(layer->sizes()));
  }
  torch::Tensor rtn_logits = rtn->forward(x).detach();
  EXPECT_LT((gptq_logits - fp_logits).pow(2).mean().item<double>(),
            (rtn_logits - fp_logits).pow(2).mean().item<double>());
}

TEST(GptqQuantizeModelTest, NonSequentialAndPartialMaps) {
  FmnistCnn model = MakeFmnistCnn(3);
  const torch::Tensor conv1 = model->conv1->weight.detach().clone();
  GptqOptions o;
  o.sequential = false;
  ASSERT_OK_AND_ASSIGN(auto reports,
                       GptqQuantizeModel(model, test_data::RandomImages(8, 5), {{"fc2.weight", {4}}}, o));
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(reports[0].layer, "fc2");
  EXPECT_TRUE(torch::equal(model->conv1->weight, conv1));
}

TEST(GptqQuantizeModelTest, RejectsBadInputAndLeavesTheModelUnchanged) {
  FmnistCnn model = MakeFmnistCnn(3);
  torch::Tensor x = test_data::RandomImages(4, 6);
  GptqOptions o;
  EXPECT_THAT(GptqQuantizeModel(model, x.narrow(0, 0, 0), AllLayers(3), o),
              StatusIs(kInvalid, HasSubstr("calibration")));
  EXPECT_THAT(GptqQuantizeModel(model, x.reshape({4, 784}), AllLayers(3), o), StatusIs(kInvalid));
  EXPECT_THAT(GptqQuantizeModel(model, torch::Tensor(), AllLayers(3), o), StatusIs(kInvalid));
  EXPECT_THAT(GptqQuantizeModel(model, x, {{"fc3", {3}}}, o),
              StatusIs(kInvalid, HasSubstr("unknown layer")));
  EXPECT_THAT(GptqQuantizeModel(model, x, {{"fc2", {3, 3}}}, o),
              StatusIs(kInvalid, HasSubstr("bit-widths")));
  EXPECT_THAT(GptqQuantizeModel(model, x, {{"fc2", {9}}}, o), StatusIs(kInvalid));
  EXPECT_THAT(GptqQuantizeModel(model, x, {{"fc2", {3}}, {"fc2.weight", {3}}}, o),
              StatusIs(kInvalid, HasSubstr("twice")));
  o.chunk = 0;
  EXPECT_THAT(GptqQuantizeModel(model, x, AllLayers(3), o), StatusIs(kInvalid));
  // A NaN weight in fc1 fails after conv1 and conv2 were quantized: rolled back.
  {
    torch::NoGradGuard g;
    model->fc1->weight[0][0] = NAN;
  }
  const TensorContainer with_nan = ModuleToContainer(*model);
  EXPECT_THAT(GptqQuantizeModel(model, x, AllLayers(3), GptqOptions()), StatusIs(kInvalid));
  const TensorContainer after = ModuleToContainer(*model);
  for (size_t i = 0; i < after.tensors.size(); ++i) {
    const auto& a = after.tensors[i].values;
    const auto& b = with_nan.tensors[i].values;
    ASSERT_EQ(a.size(), b.size());
    for (size_t j = 0; j < a.size(); ++j) {
      ASSERT_TRUE(a[j] == b[j] || (std::isnan(a[j]) && std::isnan(b[j]))) << after.tensors[i].name;
    }
  }
}

}  // namespace
}  // namespace qfleet::ml
