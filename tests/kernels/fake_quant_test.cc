#include "kernels/fake_quant.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "common/quantizer.h"
#include "common/status_matchers.h"
#include "gtest/gtest.h"
#include "kernels/cpu/cpu_variants.h"
#include "tests/kernels/kernel_test_util.h"

namespace qfleet::kernels {
namespace {

using ::qfleet::kernels::testing::ExpectBitIdentical;
using ::qfleet::kernels::testing::Guarded;
using ::qfleet::kernels::testing::InjectTies;
using ::qfleet::kernels::testing::OwnedParams;
using ::qfleet::kernels::testing::ParamsFor;
using ::qfleet::kernels::testing::RandomMatrix;
using ::qfleet::kernels::testing::RowLengths;

// A CPU variant under test, with the calling convention of ...Ref.
struct Variant {
  const char* name;
  void (*fn)(const float*, size_t, size_t, const PerChannelParams&, float*);
};

#if defined(QFLEET_KERNELS_HAVE_AVX2_VARIANTS)
void Avx2Plain(const float* in, size_t c, size_t r, const PerChannelParams& p, float* out) {
  FakeQuantPerChannelAvx2(in, c, r, p, out, /*streaming_stores=*/false);
}
void Avx2Stream(const float* in, size_t c, size_t r, const PerChannelParams& p, float* out) {
  FakeQuantPerChannelAvx2(in, c, r, p, out, /*streaming_stores=*/true);
}
#endif

std::vector<Variant> CpuVariants() {
  std::vector<Variant> v = {{"Cpu", &FakeQuantPerChannelCpu},
                            {"Portable", &FakeQuantPerChannelPortable}};
#if defined(QFLEET_KERNELS_HAVE_AVX2_VARIANTS)
  if (CpuHasAvx2Fma()) {
    v.push_back({"Avx2", &Avx2Plain});
    v.push_back({"Avx2Stream", &Avx2Stream});
  }
#endif
  return v;
}

TEST(FakeQuantTest, EveryCpuVariantIsBitIdenticalToRefAtEveryBitWidth) {
  const size_t channels = 8;
  for (int bits = 1; bits <= 8; ++bits) {
    for (size_t row : RowLengths()) {
      std::vector<float> m = RandomMatrix(channels, row, 1000 * bits + row);
      const OwnedParams p = ParamsFor(m, channels, row, [&](size_t) { return bits; }, bits);
      InjectTies(m, channels, row, p, bits);
      std::vector<float> ref(m.size());
      FakeQuantPerChannelRef(m.data(), channels, row, p.view(), ref.data());
      for (const Variant& v : CpuVariants()) {
        SCOPED_TRACE(::testing::Message() << v.name << " bits " << bits << " row " << row);
        Guarded<float> got(m.size(), -1.0f);
        v.fn(m.data(), channels, row, p.view(), got.data());
        ExpectBitIdentical(got.body(), ref, "fake-quant output");
        EXPECT_TRUE(got.GuardsIntact()) << "wrote outside the output";
      }
    }
  }
}

TEST(FakeQuantTest, MixedBitsUnalignedAndInPlaceMatchRef) {
  const size_t channels = 16, row = 1000;
  // One float past an aligned start: rows begin at every alignment.
  std::vector<float> storage = RandomMatrix(channels, row + 1, 77);
  storage.resize(channels * row + 1);
  const float* in = storage.data() + 1;
  const std::vector<float> m(in, in + channels * row);
  const OwnedParams p = ParamsFor(m, channels, row, [](size_t c) { return 1 + c % 8; }, 4);
  std::vector<float> ref(m.size());
  FakeQuantPerChannelRef(m.data(), channels, row, p.view(), ref.data());
  for (const Variant& v : CpuVariants()) {
    SCOPED_TRACE(v.name);
    std::vector<float> out(m.size() + 1);
    v.fn(in, channels, row, p.view(), out.data() + 1);
    ExpectBitIdentical(std::vector<float>(out.begin() + 1, out.end()), ref, "unaligned");
    std::vector<float> inplace = m;
    v.fn(inplace.data(), channels, row, p.view(), inplace.data());
    ExpectBitIdentical(inplace, ref, "in place");
  }
}

TEST(FakeQuantTest, RoundTripErrorIsAtMostHalfAStep) {
  const size_t channels = 12;
  for (int bits = 1; bits <= 8; ++bits) {
    for (size_t row : {size_t{1}, size_t{7}, size_t{33}, size_t{1000}}) {
      const std::vector<float> m = RandomMatrix(channels, row, 31 * bits + row);
      std::vector<float> out(m.size());
      std::vector<uint8_t> b(channels, static_cast<uint8_t>(bits));
      std::vector<float> scales(channels);
      std::vector<int32_t> zeros(channels);
      // Min-max params never clip, so every element is within half a step.
      ASSERT_OK(FakeQuantPerChannelMinMax(DeviceKind::kCpu, m.data(), channels, row, b.data(),
                                          QuantScheme::kAsymmetric, out.data(), scales.data(),
                                          zeros.data()));
      for (size_t c = 0; c < channels; ++c) {
        for (size_t i = 0; i < row; ++i) {
          const float x = m[c * row + i];
          const double err = std::fabs(static_cast<double>(x) - out[c * row + i]);
          ASSERT_LE(err, scales[c] / 2.0 * (1 + 1e-5) + 1e-6 * std::fabs(x))
              << "bits " << bits << " channel " << c << " x " << x;
        }
      }
    }
  }
}

TEST(FakeQuantTest, MinMaxConvenienceEqualsCommonFakeQuantize) {
  const size_t channels = 9, row = 33;
  const std::vector<float> m = RandomMatrix(channels, row, 8);
  Tensor t;
  t.name = "w";
  t.shape = {static_cast<int64_t>(channels), 3, 11};
  t.values = m;
  std::vector<int> bits_int;
  std::vector<uint8_t> bits;
  for (size_t c = 0; c < channels; ++c) {
    bits_int.push_back(1 + static_cast<int>(c) % 8);
    bits.push_back(static_cast<uint8_t>(bits_int.back()));
  }
  for (QuantScheme scheme : {QuantScheme::kAsymmetric, QuantScheme::kSymmetric}) {
    QuantOptions opt;
    opt.scheme = scheme;
    ASSERT_OK_AND_ASSIGN(const Tensor want, FakeQuantizePerChannel(t, bits_int, opt));
    ASSERT_OK_AND_ASSIGN(const Tensor q, QuantizePerChannel(t, bits_int, opt));
    for (DeviceKind d : {DeviceKind::kRef, DeviceKind::kCpu}) {
      std::vector<float> out(m.size()), scales(channels);
      std::vector<int32_t> zeros(channels);
      ASSERT_OK(FakeQuantPerChannelMinMax(d, m.data(), channels, row, bits.data(), scheme,
                                          out.data(), scales.data(), zeros.data()));
      ExpectBitIdentical(out, want.values, "fake-quant values");
      ExpectBitIdentical(scales, q.scales, "scales");
      EXPECT_EQ(zeros, q.zero_points);
    }
  }
}

TEST(FakeQuantTest, NanAndInfinityFollowTheCodeRules) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> m(40, 0.25f);
  m[3] = nan;
  m[20] = nan;  // inside a vector step
  m[21] = inf;
  m[39] = -inf;  // tail
  const OwnedParams p{{4}, {0.5f}, {3}};
  for (DeviceKind d : {DeviceKind::kRef, DeviceKind::kCpu}) {
    std::vector<float> out(m.size());
    ASSERT_OK(FakeQuantPerChannel(d, m.data(), 1, m.size(), p.view(), out.data()));
    EXPECT_EQ(out[3], -1.5f);   // code 0
    EXPECT_EQ(out[20], -1.5f);  // code 0
    EXPECT_EQ(out[21], 6.0f);   // code 15
    EXPECT_EQ(out[39], -1.5f);  // code 0
    EXPECT_EQ(out[0], 0.0f);    // 0.25 / 0.5 = 0.5 rounds to 0 (even)
  }
}

TEST(FakeQuantErrorTest, RejectsBadArguments) {
  std::vector<float> in(6, 1.0f), out(6);
  OwnedParams good{{4, 4}, {0.5f, 0.5f}, {0, 15}};
  const auto call = [&](const OwnedParams& p, const float* x = nullptr, float* y = nullptr,
                        size_t channels = 2, size_t row = 3) {
    return FakeQuantPerChannel(DeviceKind::kCpu, x ? x : in.data(), channels, row, p.view(),
                               y ? y : out.data());
  };
  EXPECT_OK(call(good));
  const auto bad = [&](auto mutate, const char* msg) {
    OwnedParams p = good;
    mutate(p);
    EXPECT_THAT(call(p), StatusIs(absl::StatusCode::kInvalidArgument, ::testing::HasSubstr(msg)));
  };
  bad([](OwnedParams& p) { p.bits[1] = 0; }, "bit-width 0");
  bad([](OwnedParams& p) { p.bits[0] = 9; }, "bit-width 9");
  bad([](OwnedParams& p) { p.scales[1] = 0.0f; }, "scale");
  bad([](OwnedParams& p) { p.scales[1] = -1.0f; }, "scale");
  bad([](OwnedParams& p) { p.scales[0] = std::numeric_limits<float>::quiet_NaN(); }, "scale");
  bad([](OwnedParams& p) { p.scales[0] = std::numeric_limits<float>::infinity(); }, "scale");
  bad([](OwnedParams& p) { p.zero_points[1] = 16; }, "zero point 16");
  bad([](OwnedParams& p) { p.zero_points[0] = -1; }, "zero point -1");

  const OwnedParams null_params;
  EXPECT_THAT(FakeQuantPerChannel(DeviceKind::kCpu, in.data(), 2, 3, null_params.view(),
                                  out.data()),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::HasSubstr("null")));
  EXPECT_THAT(FakeQuantPerChannel(DeviceKind::kCpu, nullptr, 2, 3, good.view(), out.data()),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::HasSubstr("null input")));
  EXPECT_THAT(FakeQuantPerChannel(DeviceKind::kCpu, in.data(), 2, 3, good.view(), nullptr),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::HasSubstr("null output")));
  EXPECT_THAT(FakeQuantPerChannel(DeviceKind::kCpu, in.data(), size_t{1} << 40, size_t{1} << 40,
                                  good.view(), out.data()),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::HasSubstr("overflow")));
  // Output shifted by one element over the input: partial overlap.
  std::vector<float> buf(7, 1.0f);
  EXPECT_THAT(FakeQuantPerChannel(DeviceKind::kCpu, buf.data(), 2, 3, good.view(),
                                  buf.data() + 1),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::HasSubstr("overlap")));
  EXPECT_THAT(FakeQuantPerChannel(static_cast<DeviceKind>(7), in.data(), 2, 3, good.view(),
                                  out.data()),
              StatusIs(absl::StatusCode::kInvalidArgument));
  // Nothing to do: empty matrices need no buffers or params.
  EXPECT_OK(FakeQuantPerChannel(DeviceKind::kCpu, nullptr, 0, 3, null_params.view(), nullptr));
}

TEST(FakeQuantErrorTest, MinMaxConvenienceRejectsBadArguments) {
  std::vector<float> in = {1, 2, std::numeric_limits<float>::quiet_NaN(), 4}, out(4);
  const uint8_t bits[] = {4, 4};
  EXPECT_THAT(FakeQuantPerChannelMinMax(DeviceKind::kCpu, in.data(), 2, 2, bits,
                                        QuantScheme::kAsymmetric, out.data(), nullptr, nullptr),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::HasSubstr("NaN")));
  in[2] = 3;
  const uint8_t bad_bits[] = {4, 0};
  EXPECT_THAT(FakeQuantPerChannelMinMax(DeviceKind::kCpu, in.data(), 2, 2, bad_bits,
                                        QuantScheme::kAsymmetric, out.data(), nullptr, nullptr),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(FakeQuantPerChannelMinMax(DeviceKind::kCpu, in.data(), 2, 2, nullptr,
                                        QuantScheme::kAsymmetric, out.data(), nullptr, nullptr),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(FakeQuantPerChannelMinMax(DeviceKind::kCpu, in.data(), 2, 2, bits,
                                        static_cast<QuantScheme>(9), out.data(), nullptr,
                                        nullptr),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_OK(FakeQuantPerChannelMinMax(DeviceKind::kCpu, in.data(), 2, 2, bits,
                                      QuantScheme::kSymmetric, out.data(), nullptr, nullptr));
}

TEST(FakeQuantErrorTest, CudaWithoutCudaIsUnimplemented) {
  if (CudaAvailable()) GTEST_SKIP() << "CUDA present";
  std::vector<float> in(2, 1.0f), out(2);
  const OwnedParams p{{4}, {0.5f}, {0}};
  EXPECT_THAT(FakeQuantPerChannel(DeviceKind::kCuda, in.data(), 1, 2, p.view(), out.data()),
              StatusIs(absl::StatusCode::kUnimplemented));
  const uint8_t bits[] = {4};
  EXPECT_THAT(FakeQuantPerChannelMinMax(DeviceKind::kCuda, in.data(), 1, 2, bits,
                                        QuantScheme::kAsymmetric, out.data(), nullptr, nullptr),
              StatusIs(absl::StatusCode::kUnimplemented));
}

// Tolerance: none. The device runs the same quant_math.h functions with the
// explicitly rounded intrinsics (__fdiv_rn, rintf, __fmul_rn), so every
// output float is the reference's bits at every bit-width.
TEST(FakeQuantCudaTest, MatchesRefExactly) {
  if (!CudaAvailable()) GTEST_SKIP() << "no CUDA device";
  const size_t channels = 16;
  for (size_t row : RowLengths()) {
    std::vector<float> m = RandomMatrix(channels, row, 500 + row);
    const OwnedParams p = ParamsFor(m, channels, row, [](size_t c) { return 1 + c % 8; }, 6);
    InjectTies(m, channels, row, p, 6);
    std::vector<float> ref(m.size()), got(m.size());
    ASSERT_OK(FakeQuantPerChannel(DeviceKind::kRef, m.data(), channels, row, p.view(),
                                  ref.data()));
    ASSERT_OK(FakeQuantPerChannel(DeviceKind::kCuda, m.data(), channels, row, p.view(),
                                  got.data()));
    ExpectBitIdentical(got, ref, "cuda fake-quant");
    std::vector<float> inplace = m;
    ASSERT_OK(FakeQuantPerChannel(DeviceKind::kCuda, inplace.data(), channels, row, p.view(),
                                  inplace.data()));
    ExpectBitIdentical(inplace, ref, "cuda fake-quant in place");
  }
}

}  // namespace
}  // namespace qfleet::kernels
