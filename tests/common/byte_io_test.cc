#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#include "common/byte_reader.h"
#include "common/byte_writer.h"
#include "gtest/gtest.h"

namespace qfleet {
namespace {

TEST(ByteIoTest, WritesLittleEndianFieldByField) {
  std::string out;
  ByteWriter w(&out);
  w.PutU16(0x0102);
  w.PutU32(0x03040506u);
  w.PutI32(-2);
  w.PutF32(1.0f);
  EXPECT_EQ(out, std::string("\x02\x01\x06\x05\x04\x03\xFE\xFF\xFF\xFF\x00\x00\x80\x3F", 14));
  EXPECT_EQ(w.size(), 14u);
}

TEST(ByteIoTest, RoundTripsEveryFieldType) {
  std::string out;
  ByteWriter w(&out);
  w.PutU8(0xAB);
  w.PutU16(0xBEEF);
  w.PutU32(0xDEADBEEFu);
  w.PutU64(0x0123456789ABCDEFull);
  w.PutI32(std::numeric_limits<int32_t>::min());
  w.PutI64(-5);
  w.PutF32(-0.15625f);
  w.PutString("xyz");
  ByteReader r(out);
  uint8_t u8;
  uint16_t u16;
  uint32_t u32;
  uint64_t u64;
  int32_t i32;
  int64_t i64;
  float f;
  absl::string_view s;
  ASSERT_TRUE(r.ReadU8(&u8) && r.ReadU16(&u16) && r.ReadU32(&u32) && r.ReadU64(&u64) &&
              r.ReadI32(&i32) && r.ReadI64(&i64) && r.ReadF32(&f) && r.ReadBytes(3, &s));
  EXPECT_EQ(u8, 0xAB);
  EXPECT_EQ(u16, 0xBEEF);
  EXPECT_EQ(u32, 0xDEADBEEFu);
  EXPECT_EQ(u64, 0x0123456789ABCDEFull);
  EXPECT_EQ(i32, std::numeric_limits<int32_t>::min());
  EXPECT_EQ(i64, -5);
  EXPECT_EQ(f, -0.15625f);
  EXPECT_EQ(s, "xyz");
  EXPECT_EQ(r.remaining(), 0u);
}

TEST(ByteIoTest, ErrorPathShortReadsFailAndConsumeNothing) {
  const std::string three("\x01\x02\x03", 3);
  ByteReader r(three);
  uint32_t u32 = 7;
  EXPECT_FALSE(r.ReadU32(&u32));
  EXPECT_EQ(u32, 7u);
  EXPECT_EQ(r.offset(), 0u);
  absl::string_view s;
  EXPECT_FALSE(r.ReadBytes(4, &s));
  EXPECT_FALSE(r.Skip(4));
  EXPECT_TRUE(r.Skip(3));
  uint8_t u8;
  EXPECT_FALSE(r.ReadU8(&u8));
  EXPECT_TRUE(r.ReadBytes(0, &s));
}

}  // namespace
}  // namespace qfleet
