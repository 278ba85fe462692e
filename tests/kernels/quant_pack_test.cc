#include "kernels/quant_pack.h"

#include <limits>
#include <vector>

#include "common/bit_packing.h"
#include "common/quantizer.h"
#include "common/status_matchers.h"
#include "common/tensor.h"
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

using PackFn = void (*)(const float*, size_t, size_t, const PerChannelParams&, uint8_t*);
using UnpackFn = void (*)(const uint8_t*, size_t, size_t, const PerChannelParams&, float*);

struct Variant {
  const char* name;
  PackFn pack;
  UnpackFn unpack;
};

std::vector<Variant> CpuVariants() {
  std::vector<Variant> v = {
      {"Cpu", &QuantizePackPerChannelCpu, &UnpackDequantizePerChannelCpu},
      {"Portable", &QuantizePackPerChannelPortable, &UnpackDequantizePerChannelPortable}};
#if defined(QFLEET_KERNELS_HAVE_AVX2_VARIANTS)
  if (CpuHasAvx2Fma()) {
    v.push_back({"Avx2", &QuantizePackPerChannelAvx2, &UnpackDequantizePerChannelAvx2});
  }
#endif
  return v;
}

TEST(QuantPackTest, EveryCpuVariantIsBitIdenticalToRefAtEveryBitWidth) {
  const size_t channels = 6;
  for (int bits = 1; bits <= 8; ++bits) {
    for (size_t row : RowLengths()) {
      std::vector<float> m = RandomMatrix(channels, row, 70 * bits + row);
      const OwnedParams p = ParamsFor(m, channels, row, [&](size_t) { return bits; }, bits);
      InjectTies(m, channels, row, p, bits);
      const size_t bytes = PackedRowsBytes(row, p.bits.data(), channels);
      std::vector<uint8_t> ref(bytes);
      QuantizePackPerChannelRef(m.data(), channels, row, p.view(), ref.data());
      std::vector<float> ref_values(m.size());
      UnpackDequantizePerChannelRef(ref.data(), channels, row, p.view(), ref_values.data());
      for (const Variant& v : CpuVariants()) {
        SCOPED_TRACE(::testing::Message() << v.name << " bits " << bits << " row " << row);
        Guarded<uint8_t> got(bytes, 0xAB);  // stale bytes must be overwritten
        v.pack(m.data(), channels, row, p.view(), got.data());
        ExpectBitIdentical(got.body(), ref, "packed bytes");
        EXPECT_TRUE(got.GuardsIntact()) << "pack wrote outside its output";
        Guarded<float> values(m.size(), -1.0f);
        v.unpack(ref.data(), channels, row, p.view(), values.data());
        ExpectBitIdentical(values.body(), ref_values, "unpacked values");
        EXPECT_TRUE(values.GuardsIntact()) << "unpack wrote outside its output";
      }
    }
  }
}

TEST(QuantPackTest, MixedBitsMatchCommonQuantizePerChannelAndDequantizeTensor) {
  for (size_t row : {size_t{1}, size_t{7}, size_t{33}, size_t{1000}}) {
    const size_t channels = 11;
    Tensor t;
    t.name = "layer.weight";
    t.shape = {static_cast<int64_t>(channels), static_cast<int64_t>(row)};
    t.values = RandomMatrix(channels, row, 900 + row);
    std::vector<int> bits;
    for (size_t c = 0; c < channels; ++c) bits.push_back(1 + static_cast<int>((c * 5) % 8));
    for (QuantScheme scheme : {QuantScheme::kAsymmetric, QuantScheme::kSymmetric}) {
      QuantOptions opt;
      opt.scheme = scheme;
      ASSERT_OK_AND_ASSIGN(const Tensor q, QuantizePerChannel(t, bits, opt));
      ASSERT_OK_AND_ASSIGN(const std::vector<float> want_values, DequantizeTensor(q));
      const PerChannelParams p{q.bits.data(), q.scales.data(), q.zero_points.data()};
      for (DeviceKind d : {DeviceKind::kRef, DeviceKind::kCpu}) {
        SCOPED_TRACE(::testing::Message() << "row " << row << " device " << static_cast<int>(d));
        std::vector<uint8_t> packed(q.packed.size());
        ASSERT_OK(QuantizePackPerChannel(d, t.values.data(), channels, row, p, packed.data(),
                                         packed.size()));
        ExpectBitIdentical(packed, q.packed, "packed vs QuantizePerChannel");
        std::vector<float> values(t.values.size());
        ASSERT_OK(UnpackDequantizePerChannel(d, q.packed.data(), q.packed.size(), channels, row,
                                             p, values.data()));
        ExpectBitIdentical(values, want_values, "values vs DequantizeTensor");
      }
    }
  }
}

TEST(QuantPackTest, UnpackIgnoresPaddingBits) {
  const size_t channels = 3, row = 13;  // 13 codes at 3 bits: 39 bits, 1 padding bit
  const std::vector<float> m = RandomMatrix(channels, row, 4);
  const OwnedParams p = ParamsFor(m, channels, row, [](size_t c) { return 3 + 2 * c; }, 4);
  const size_t bytes = PackedRowsBytes(row, p.bits.data(), channels);
  std::vector<uint8_t> packed(bytes);
  ASSERT_OK(QuantizePackPerChannel(DeviceKind::kCpu, m.data(), channels, row, p.view(),
                                   packed.data(), bytes));
  std::vector<float> clean(m.size());
  ASSERT_OK(UnpackDequantizePerChannel(DeviceKind::kRef, packed.data(), bytes, channels, row,
                                       p.view(), clean.data()));
  // Set every padding bit of every row's last byte.
  size_t offset = 0;
  for (size_t c = 0; c < channels; ++c) {
    const size_t row_bytes = PackedBytes(row, p.bits[c]);
    const int used = static_cast<int>((row * p.bits[c]) % 8);
    if (used != 0) packed[offset + row_bytes - 1] |= static_cast<uint8_t>(0xFF << used);
    offset += row_bytes;
  }
  for (DeviceKind d : {DeviceKind::kRef, DeviceKind::kCpu}) {
    std::vector<float> dirty(m.size());
    ASSERT_OK(UnpackDequantizePerChannel(d, packed.data(), bytes, channels, row, p.view(),
                                         dirty.data()));
    ExpectBitIdentical(dirty, clean, "padding bits changed the values");
  }
}

TEST(QuantPackErrorTest, RejectsBadArguments) {
  const std::vector<float> in(6, 1.0f);
  std::vector<float> out(6);
  const OwnedParams good{{4, 3}, {0.5f, 0.5f}, {0, 7}};
  const size_t bytes = PackedRowsBytes(3, good.bits.data(), 2);  // 2 + 2
  ASSERT_EQ(bytes, 4u);
  std::vector<uint8_t> packed(bytes);
  EXPECT_OK(QuantizePackPerChannel(DeviceKind::kCpu, in.data(), 2, 3, good.view(),
                                   packed.data(), bytes));
  EXPECT_OK(UnpackDequantizePerChannel(DeviceKind::kCpu, packed.data(), bytes, 2, 3,
                                       good.view(), out.data()));
  EXPECT_THAT(QuantizePackPerChannel(DeviceKind::kCpu, in.data(), 2, 3, good.view(),
                                     packed.data(), bytes - 1),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::HasSubstr("bytes")));
  EXPECT_THAT(UnpackDequantizePerChannel(DeviceKind::kCpu, packed.data(), bytes + 1, 2, 3,
                                         good.view(), out.data()),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::HasSubstr("bytes")));
  EXPECT_THAT(QuantizePackPerChannel(DeviceKind::kCpu, nullptr, 2, 3, good.view(),
                                     packed.data(), bytes),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::HasSubstr("null")));
  EXPECT_THAT(UnpackDequantizePerChannel(DeviceKind::kCpu, nullptr, bytes, 2, 3, good.view(),
                                         out.data()),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::HasSubstr("null")));
  EXPECT_THAT(QuantizePackPerChannel(DeviceKind::kCpu, in.data(), size_t{1} << 62, 8,
                                     good.view(), packed.data(), bytes),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::HasSubstr("overflow")));
  for (auto mutate : {+[](OwnedParams& p) { p.bits[0] = 0; },
                      +[](OwnedParams& p) { p.bits[1] = 9; },
                      +[](OwnedParams& p) { p.scales[0] = 0.0f; },
                      +[](OwnedParams& p) { p.scales[1] = std::numeric_limits<float>::quiet_NaN(); },
                      +[](OwnedParams& p) { p.zero_points[1] = 8; },
                      +[](OwnedParams& p) { p.zero_points[0] = -3; }}) {
    OwnedParams p = good;
    mutate(p);
    EXPECT_THAT(QuantizePackPerChannel(DeviceKind::kCpu, in.data(), 2, 3, p.view(),
                                       packed.data(), bytes),
                StatusIs(absl::StatusCode::kInvalidArgument));
    EXPECT_THAT(UnpackDequantizePerChannel(DeviceKind::kRef, packed.data(), bytes, 2, 3,
                                           p.view(), out.data()),
                StatusIs(absl::StatusCode::kInvalidArgument));
  }
  // The packed buffer inside the float buffer: overlap.
  std::vector<float> buf(8, 1.0f);
  EXPECT_THAT(QuantizePackPerChannel(DeviceKind::kCpu, buf.data(), 2, 3, good.view(),
                                     reinterpret_cast<uint8_t*>(buf.data() + 2), bytes),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::HasSubstr("overlap")));
}

TEST(QuantPackErrorTest, CudaWithoutCudaIsUnimplemented) {
  if (CudaAvailable()) GTEST_SKIP() << "CUDA present";
  const std::vector<float> in(2, 1.0f);
  std::vector<float> out(2);
  const OwnedParams p{{4}, {0.5f}, {0}};
  std::vector<uint8_t> packed(1);
  EXPECT_THAT(QuantizePackPerChannel(DeviceKind::kCuda, in.data(), 1, 2, p.view(),
                                     packed.data(), 1),
              StatusIs(absl::StatusCode::kUnimplemented));
  EXPECT_THAT(UnpackDequantizePerChannel(DeviceKind::kCuda, packed.data(), 1, 1, 2, p.view(),
                                         out.data()),
              StatusIs(absl::StatusCode::kUnimplemented));
}

// Tolerance: none for the packed bytes (integers) and none for the unpacked
// floats (the same quant_math.h expressions with explicitly rounded
// intrinsics on the device).
TEST(QuantPackCudaTest, MatchesRefExactly) {
  if (!CudaAvailable()) GTEST_SKIP() << "no CUDA device";
  const size_t channels = 16;
  for (size_t row : RowLengths()) {
    std::vector<float> m = RandomMatrix(channels, row, 800 + row);
    const OwnedParams p = ParamsFor(m, channels, row, [](size_t c) { return 1 + c % 8; }, 2);
    InjectTies(m, channels, row, p, 2);
    const size_t bytes = PackedRowsBytes(row, p.bits.data(), channels);
    std::vector<uint8_t> ref(bytes), got(bytes, 0xCD);
    ASSERT_OK(QuantizePackPerChannel(DeviceKind::kRef, m.data(), channels, row, p.view(),
                                     ref.data(), bytes));
    ASSERT_OK(QuantizePackPerChannel(DeviceKind::kCuda, m.data(), channels, row, p.view(),
                                     got.data(), bytes));
    ExpectBitIdentical(got, ref, "cuda packed bytes");
    std::vector<float> ref_values(m.size()), values(m.size());
    ASSERT_OK(UnpackDequantizePerChannel(DeviceKind::kRef, ref.data(), bytes, channels, row,
                                         p.view(), ref_values.data()));
    ASSERT_OK(UnpackDequantizePerChannel(DeviceKind::kCuda, ref.data(), bytes, channels, row,
                                         p.view(), values.data()));
    ExpectBitIdentical(values, ref_values, "cuda unpacked values");
  }
}

}  // namespace
}  // namespace qfleet::kernels
