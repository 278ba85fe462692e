#ifndef QFLEET_COMMON_PLAN_CODEC_H_
#define QFLEET_COMMON_PLAN_CODEC_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace qfleet {

// A CHORD precision plan: one 2-bit tier code (0..3) per output channel of
// every layer, in layer order. What a tier means in bits is up to the device.
struct PrecisionPlan {
  uint64_t version = 0;                  // plan version chosen by the cloud
  std::vector<std::string> layer_names;  // 1..255 bytes each, unique
  std::vector<uint32_t> channels;        // per layer, >= 1
  std::vector<uint8_t> codes;            // sum(channels) codes, each 0..3
};

// QFPL wire format, version 1. Little-endian, written field by field.
//
// Header, 32 bytes:
//   off 0   4 bytes  magic "QFPL" (0x51 0x46 0x50 0x4C)
//   off 4   u16      version = 1
//   off 6   u16      flags = 0 (nonzero is rejected)
//   off 8   u32      layer_count (<= kMaxPlanLayers)
//   off 12  u32      total_channels (sum of channels, <= kMaxPlanChannels)
//   off 16  u64      plan_version
//   off 24  u32      reserved = 0
//   off 28  u32      crc32c of bytes [0, 28) followed by every byte after
//                    the header (the whole encoding minus this field)
// Body:
//   per layer:  u8 name_len (1..255), name bytes, u32 channels (>= 1)
//   codes:      ceil(total_channels / 4) bytes, 2 bits per channel, four
//               channels per byte, channel 0 in the low bits (PackBits
//               layout at 2 bits); unused high bits of the last byte are 0.
constexpr char kPlanMagic[4] = {'Q', 'F', 'P', 'L'};
constexpr uint16_t kPlanFormatVersion = 1;
constexpr size_t kPlanHeaderBytes = 32;
constexpr size_t kPlanCrcOffset = 28;
constexpr uint32_t kMaxPlanLayers = 1u << 16;
constexpr uint32_t kMaxPlanChannels = 1u << 30;
static_assert(sizeof(kPlanMagic) + 2 + 2 + 4 + 4 + 8 + 4 + 4 == kPlanHeaderBytes,
              "QFPL header: magic, version, flags, layers, channels, plan version, "
              "reserved, crc");
static_assert(kPlanCrcOffset + 4 == kPlanHeaderBytes, "crc32c is the last header field");

// Checks the invariants documented on PrecisionPlan and the format limits.
// Returns InvalidArgument naming the first violation. Thread-safe.
absl::Status ValidatePlan(const PrecisionPlan& plan);

// Serializes `plan` as QFPL version 1. Returns InvalidArgument if
// ValidatePlan fails. Thread-safe.
absl::StatusOr<std::string> EncodePlan(const PrecisionPlan& plan);

// Decodes a plan produced by EncodePlan. Returns InvalidArgument if the
// buffer is truncated or has trailing bytes, the magic/version/flags/reserved
// fields are wrong, a count exceeds its limit or disagrees with the layers,
// or padding bits are set; DataLoss if the crc32c does not match. Never
// reads past `bytes`. Thread-safe.
absl::StatusOr<PrecisionPlan> DecodePlan(absl::string_view bytes);

}  // namespace qfleet

#endif  // QFLEET_COMMON_PLAN_CODEC_H_
