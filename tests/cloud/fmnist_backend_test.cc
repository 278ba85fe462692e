#include "cloud/fmnist_backend.h"

#include <cmath>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "common/status_matchers.h"
#include "tests/integration/test_util.h"

namespace qfleet::cloud {
namespace {

class FmnistBackendTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!testing_util::HaveFashionMnist()) return;
    absl::StatusOr<std::unique_ptr<FmnistBackend>> b =
        FmnistBackend::Create(kDefaultFashionMnistDir, 200, 64);
    ASSERT_TRUE(b.ok()) << b.status();
    backend_ = b->release();
  }
  static void TearDownTestSuite() {
    delete backend_;
    backend_ = nullptr;
  }
  void SetUp() override {
    if (backend_ == nullptr) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  }
  static ServeSpec Spec(int w, int a) {
    ServeSpec s;
    s.weight_bits = w;
    s.activation_bits = a;
    return s;
  }
  static FmnistBackend* backend_;
};
FmnistBackend* FmnistBackendTest::backend_ = nullptr;

// The steps a QAT client gets are those the served model is scored with:
// after Evaluate they come from its calibration without a second pass, and
// a fresh calibration of the same model gives the same numbers.
TEST_F(FmnistBackendTest, ServedActivationStepsReuseEvaluatesCalibration) {
  ASSERT_OK_AND_ASSIGN(TensorContainer a, backend_->InitialModel(1));
  ASSERT_OK_AND_ASSIGN(TensorContainer b, backend_->InitialModel(2));
  const ServeSpec w2a3 = Spec(2, 3);

  ASSERT_OK(backend_->Evaluate(a, w2a3).status());
  const int64_t after_eval = backend_->calibrations();
  ASSERT_OK_AND_ASSIGN(std::vector<double> from_eval, backend_->ServedActivationSteps(a, w2a3));
  EXPECT_EQ(backend_->calibrations(), after_eval);  // no second pass
  ASSERT_FALSE(from_eval.empty());
  for (double s : from_eval) EXPECT_TRUE(std::isfinite(s) && s > 0) << s;

  // Another model: calibrated afresh, and its steps differ.
  ASSERT_OK_AND_ASSIGN(std::vector<double> other, backend_->ServedActivationSteps(b, w2a3));
  EXPECT_EQ(backend_->calibrations(), after_eval + 1);
  EXPECT_NE(other, from_eval);
  // Back to the first model: a fresh pass gives Evaluate's steps exactly.
  ASSERT_OK_AND_ASSIGN(std::vector<double> fresh, backend_->ServedActivationSteps(a, w2a3));
  EXPECT_EQ(backend_->calibrations(), after_eval + 2);
  EXPECT_EQ(fresh, from_eval);
  // Another activation width is another grid.
  ASSERT_OK_AND_ASSIGN(std::vector<double> a4, backend_->ServedActivationSteps(a, Spec(2, 4)));
  EXPECT_EQ(backend_->calibrations(), after_eval + 3);
  EXPECT_EQ(a4.size(), from_eval.size());
  EXPECT_NE(a4, from_eval);
}

TEST_F(FmnistBackendTest, ServedActivationStepsEmptyForFloatActivationsAndRefuseWrongModels) {
  ASSERT_OK_AND_ASSIGN(TensorContainer a, backend_->InitialModel(1));
  for (const ServeSpec& s : {Spec(2, 0), Spec(0, 3), Spec(9, 3), Spec(4, 9)}) {
    ASSERT_OK_AND_ASSIGN(std::vector<double> steps, backend_->ServedActivationSteps(a, s));
    EXPECT_TRUE(steps.empty()) << s.weight_bits << " " << s.activation_bits;
  }
  EXPECT_FALSE(FmnistBackend::Create(kDefaultFashionMnistDir, 10, 0).ok());
  EXPECT_FALSE(
      FmnistBackend::Create(kDefaultFashionMnistDir, 10, FmnistBackend::kCalibrationImages + 1).ok());
  TensorContainer wrong = a;
  wrong.tensors.pop_back();
  EXPECT_FALSE(backend_->ServedActivationSteps(wrong, Spec(2, 3)).ok());
}

}  // namespace
}  // namespace qfleet::cloud
