#include "ml/chord/quant_rows.h"

#include <torch/torch.h>

#include "gtest/gtest.h"
#include "common/quantizer.h"
#include "ml/model_io.h"

namespace qfleet::ml::chord {
namespace {

TEST(FakeQuantRowsTest, MatchesTheReferenceQuantizerBitForBit) {
  torch::manual_seed(7);
  torch::Tensor w = torch::randn({17, 23});
  w[3].fill_(0.25);  // constant row
  w[4].zero_();
  w[5] = w[5].abs();  // non-negative row: range widened to 0
  for (int bits = 1; bits <= 8; ++bits) {
    torch::Tensor got = FakeQuantRows(w, bits);
    auto ref = FakeQuantizePerChannel(FromTorch("w", w), {bits}, QuantOptions());
    ASSERT_TRUE(ref.ok()) << ref.status();
    torch::Tensor want = ToTorch(*ref).value();
    EXPECT_TRUE(torch::equal(got, want)) << "bits " << bits << " max diff "
                                          << (got - want).abs().max().item<float>();
  }
}

TEST(FakeQuantRowsTest, ZeroBitsPrunesAndErrorShrinksWithBits) {
  torch::manual_seed(8);
  torch::Tensor w = torch::randn({8, 32});
  EXPECT_EQ(FakeQuantRows(w, 0).abs().sum().item<float>(), 0.0f);
  double prev = 1e30;
  for (int bits : {2, 3, 4, 8}) {
    const double err = (FakeQuantRows(w, bits) - w).pow(2).mean().item<double>();
    EXPECT_LT(err, prev);
    prev = err;
  }
}

TEST(FakeQuantRowsTest, RejectsBadInput) {
  EXPECT_THROW(FakeQuantRows(torch::zeros({4}), 3), c10::Error);
  EXPECT_THROW(FakeQuantRows(torch::zeros({2, 2}), 9), c10::Error);
}

}  // namespace
}  // namespace qfleet::ml::chord
