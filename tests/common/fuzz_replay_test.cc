// Deterministic stand-in for the libFuzzer targets in tests/fuzz/: mutates
// valid encodings many times and checks the decoders' invariants, so CI
// (built with g++) exercises the same properties. With QFLEET_FUZZ_SEED_DIR
// set it also writes the valid encodings there as fuzzing seeds.
#include <random>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "common/plan_codec.h"
#include "common/quantizer.h"
#include "common/status_matchers.h"
#include "common/tensor_container.h"
#include "tests/fuzz/fuzz_mutate.h"

namespace qfleet {
namespace {

using ::qfleet::fuzz::Mutate;
using ::qfleet::fuzz::WriteSeed;

TEST(FuzzReplayTest, PlanDecoderSurvivesMutations) {
  std::mt19937 rng(11);
  for (int i = 0; i < 20; ++i) {
    PrecisionPlan p;
    p.version = i;
    for (int l = 0, n = 1 + rng() % 4; l < n; ++l) {
      p.layer_names.push_back("layer" + std::to_string(l));
      p.channels.push_back(1 + rng() % 40);
      for (uint32_t c = 0; c < p.channels.back(); ++c) p.codes.push_back(rng() % 4);
    }
    ASSERT_OK_AND_ASSIGN(std::string good, EncodePlan(p));
    WriteSeed("plan_decode", i, good);
    for (int m = 0; m < 300; ++m) {
      std::string bad = Mutate(good, rng);
      auto decoded = DecodePlan(bad);
      if (decoded.ok()) {
        ASSERT_OK_AND_ASSIGN(std::string again, EncodePlan(*decoded));
        EXPECT_EQ(again, bad);
      }
    }
  }
}

TEST(FuzzReplayTest, ContainerDecoderSurvivesMutations) {
  std::mt19937 rng(12);
  std::normal_distribution<float> dist(0, 1);
  for (int i = 0; i < 10; ++i) {
    TensorContainer c;
    Tensor w;
    w.name = "w";
    w.shape = {1 + static_cast<int64_t>(rng() % 6), 1 + static_cast<int64_t>(rng() % 9)};
    for (int64_t k = 0; k < w.shape[0] * w.shape[1]; ++k) w.values.push_back(dist(rng));
    c.tensors.push_back(w);
    ASSERT_OK_AND_ASSIGN(Tensor q, QuantizePerChannel(w, {1 + static_cast<int>(rng() % 8)}, QuantOptions()));
    q.name = "q";
    c.tensors.push_back(q);
    ASSERT_OK_AND_ASSIGN(std::string good, EncodeContainer(c));
    WriteSeed("tensor_container", i, good);
    for (int m = 0; m < 300; ++m) {
      std::string bad = Mutate(good, rng);
      auto decoded = DecodeContainer(bad);
      if (decoded.ok()) {
        for (const Tensor& t : decoded->tensors) {
          EXPECT_OK(ValidateTensor(t));
          EXPECT_OK(DequantizeTensor(t).status());
        }
        ASSERT_OK_AND_ASSIGN(std::string again, EncodeContainer(*decoded));
        EXPECT_EQ(again, bad);
      }
    }
  }
}

}  // namespace
}  // namespace qfleet
