#include "common/bit_packing.h"

#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace qfleet {
namespace {

// Bit-by-bit statement of the documented layout, independent of the
// implementation's fast paths.
std::vector<uint8_t> PackNaive(const std::vector<uint8_t>& codes, int bits) {
  std::vector<uint8_t> out((codes.size() * bits + 7) / 8, 0);
  for (size_t i = 0; i < codes.size(); ++i) {
    for (int b = 0; b < bits; ++b) {
      if ((codes[i] >> b) & 1) {
        const size_t k = i * bits + b;
        out[k / 8] |= static_cast<uint8_t>(1u << (k % 8));
      }
    }
  }
  return out;
}

std::vector<uint8_t> RandomCodes(size_t n, int bits, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> v(n);
  for (uint8_t& c : v) c = static_cast<uint8_t>(rng() & ((1u << bits) - 1));
  return v;
}

TEST(BitPackingTest, PackedBytesIsCeilCountTimesBitsOverEight) {
  EXPECT_EQ(PackedBytes(0, 3), 0u);
  EXPECT_EQ(PackedBytes(1, 1), 1u);
  EXPECT_EQ(PackedBytes(8, 1), 1u);
  EXPECT_EQ(PackedBytes(9, 1), 2u);
  EXPECT_EQ(PackedBytes(5, 3), 2u);  // 15 bits
  EXPECT_EQ(PackedBytes(6, 3), 3u);  // 18 bits
  EXPECT_EQ(PackedBytes(3, 4), 2u);
  EXPECT_EQ(PackedBytes(7, 8), 7u);
  for (int bits = 1; bits <= 8; ++bits) {
    for (size_t n = 0; n < 50; ++n) EXPECT_EQ(PackedBytes(n, bits), (n * bits + 7) / 8);
  }
}

TEST(BitPackingTest, PackedBytesDoesNotOverflow) {
  constexpr size_t kMax = std::numeric_limits<size_t>::max();
  EXPECT_EQ(PackedBytes(kMax, 8), kMax);
  EXPECT_EQ(PackedBytes(kMax, 1), kMax / 8 + 1);
}

TEST(BitPackingTest, DocumentedLayoutExamples) {
  uint8_t out[2] = {0xFF, 0xFF};
  const uint8_t three[] = {1, 2, 3, 4, 5};
  PackBits(three, 5, 3, out);
  EXPECT_EQ(out[0], 0xD1);  // 1 | 2 << 3 | (3 & 3) << 6
  EXPECT_EQ(out[1], 0x58);  // 3 >> 2 | 4 << 1 | 5 << 4, top bit padding = 0

  const uint8_t four[] = {0x1, 0xF, 0x3};
  PackBits(four, 3, 4, out);
  EXPECT_EQ(out[0], 0xF1);
  EXPECT_EQ(out[1], 0x03);

  const uint8_t two[] = {1, 2, 3, 0, 3};
  PackBits(two, 5, 2, out);
  EXPECT_EQ(out[0], 0x39);
  EXPECT_EQ(out[1], 0x03);

  const uint8_t one[] = {1, 0, 1, 1, 0, 0, 0, 0, 1};
  PackBits(one, 9, 1, out);
  EXPECT_EQ(out[0], 0x0D);
  EXPECT_EQ(out[1], 0x01);
}

TEST(BitPackingTest, MatchesNaiveLayoutAndRoundTripsAtEveryWidth) {
  for (int bits = 1; bits <= 8; ++bits) {
    for (size_t n : {0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 33, 64, 1000, 1001}) {
      const std::vector<uint8_t> codes = RandomCodes(n, bits, 100 * bits + n);
      std::vector<uint8_t> packed(PackedBytes(n, bits), 0xAA);  // padding must be cleared
      PackBits(codes.data(), n, bits, packed.data());
      ASSERT_EQ(packed, PackNaive(codes, bits)) << "bits " << bits << " n " << n;
      std::vector<uint8_t> back(n, 0xEE);
      UnpackBits(packed.data(), n, bits, back.data());
      ASSERT_EQ(back, codes) << "bits " << bits << " n " << n;
    }
  }
}

TEST(BitPackingTest, PackUsesOnlyTheLowBitsOfEachCode) {
  for (int bits = 1; bits <= 7; ++bits) {
    std::vector<uint8_t> noisy = RandomCodes(37, 8, bits);
    std::vector<uint8_t> clean = noisy;
    for (uint8_t& c : clean) c &= static_cast<uint8_t>((1u << bits) - 1);
    std::vector<uint8_t> a(PackedBytes(37, bits)), b(PackedBytes(37, bits));
    PackBits(noisy.data(), 37, bits, a.data());
    PackBits(clean.data(), 37, bits, b.data());
    EXPECT_EQ(a, b) << bits;
  }
}

TEST(BitPackingTest, UnpackIgnoresPaddingBits) {
  const uint8_t packed[] = {0x1B, 0xFC};  // 5 two-bit codes; bits 10..15 are padding
  uint8_t codes[5];
  UnpackBits(packed, 5, 2, codes);
  EXPECT_EQ(codes[0], 3);
  EXPECT_EQ(codes[1], 2);
  EXPECT_EQ(codes[2], 1);
  EXPECT_EQ(codes[3], 0);
  EXPECT_EQ(codes[4], 0);
}

TEST(BitPackingTest, ErrorPathInvalidWidthHasNoPackedSize) {
  EXPECT_EQ(PackedBytes(10, 0), 0u);
  EXPECT_EQ(PackedBytes(10, 9), 0u);
  EXPECT_EQ(PackedBytes(10, -1), 0u);
}

}  // namespace
}  // namespace qfleet
