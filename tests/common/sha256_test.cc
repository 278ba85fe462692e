#include "common/sha256.h"

#include <string>

#include "gtest/gtest.h"

namespace qfleet {
namespace {

TEST(Sha256Test, KnownDigests) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(Sha256Test, BinaryInputWithNulBytes) {
  const std::string a("a\0b", 3), b("a\0c", 3);
  EXPECT_NE(Sha256Hex(a), Sha256Hex(b));
  EXPECT_TRUE(IsSha256Hex(Sha256Hex(a)));
}

TEST(Sha256Test, IsSha256HexAcceptsOnlyLowercase64) {
  const std::string good = Sha256Hex("x");
  EXPECT_TRUE(IsSha256Hex(good));
  EXPECT_FALSE(IsSha256Hex(""));
  EXPECT_FALSE(IsSha256Hex(good.substr(1)));
  EXPECT_FALSE(IsSha256Hex(good + "0"));
  std::string upper = good;
  upper[0] = 'A';
  EXPECT_FALSE(IsSha256Hex(upper));
  std::string bad = good;
  bad[10] = 'g';
  EXPECT_FALSE(IsSha256Hex(bad));
}

}  // namespace
}  // namespace qfleet
