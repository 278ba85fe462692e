#include "common/plan_codec.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/bit_packing.h"
#include "common/byte_reader.h"
#include "common/byte_writer.h"
#include "common/crc32c.h"
#include "common/status_macros.h"

namespace qfleet {
namespace {

constexpr int kCodeBits = 2;
constexpr size_t kMinLayerBytes = 1 + 1 + 4;  // name_len, 1-byte name, channels

uint32_t PlanCrc(absl::string_view encoded) {
  const uint32_t head = Crc32c(encoded.data(), kPlanCrcOffset);
  return Crc32c(encoded.data() + kPlanHeaderBytes, encoded.size() - kPlanHeaderBytes, head);
}

// Checks names, channel counts and their sum; fills *total.
absl::Status ValidateLayers(const PrecisionPlan& plan, uint64_t* total) {
  if (plan.layer_names.size() != plan.channels.size()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "plan has %d layer names but %d channel counts", plan.layer_names.size(),
        plan.channels.size()));
  }
  if (plan.layer_names.size() > kMaxPlanLayers) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "plan has %d layers, limit %d", plan.layer_names.size(), kMaxPlanLayers));
  }
  std::set<absl::string_view> seen;
  uint64_t sum = 0;
  for (size_t i = 0; i < plan.layer_names.size(); ++i) {
    const std::string& name = plan.layer_names[i];
    if (name.empty() || name.size() > 255) {
      return absl::InvalidArgumentError(
          absl::StrFormat("layer %d name length %d not in [1, 255]", i, name.size()));
    }
    if (!seen.insert(name).second) {
      return absl::InvalidArgumentError(absl::StrCat("duplicate layer name '", name, "'"));
    }
    if (plan.channels[i] == 0) {
      return absl::InvalidArgumentError(absl::StrCat("layer '", name, "' has 0 channels"));
    }
    sum += plan.channels[i];
  }
  if (sum > kMaxPlanChannels) {
    return absl::InvalidArgumentError(
        absl::StrFormat("plan has %d channels, limit %d", sum, kMaxPlanChannels));
  }
  *total = sum;
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidatePlan(const PrecisionPlan& plan) {
  uint64_t total = 0;
  RETURN_IF_ERROR(ValidateLayers(plan, &total));
  if (plan.codes.size() != total) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "plan has %d codes for %d channels", plan.codes.size(), total));
  }
  for (size_t i = 0; i < plan.codes.size(); ++i) {
    if (plan.codes[i] > 3) {
      return absl::InvalidArgumentError(
          absl::StrFormat("code %d at channel %d is not a 2-bit tier (0..3)", plan.codes[i], i));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> EncodePlan(const PrecisionPlan& plan) {
  RETURN_IF_ERROR(ValidatePlan(plan));
  std::string out;
  ByteWriter w(&out);
  w.PutBytes(kPlanMagic, sizeof(kPlanMagic));
  w.PutU16(kPlanFormatVersion);
  w.PutU16(0);
  w.PutU32(static_cast<uint32_t>(plan.layer_names.size()));
  w.PutU32(static_cast<uint32_t>(plan.codes.size()));
  w.PutU64(plan.version);
  w.PutU32(0);
  w.PutU32(0);  // crc32c, patched below
  for (size_t i = 0; i < plan.layer_names.size(); ++i) {
    w.PutU8(static_cast<uint8_t>(plan.layer_names[i].size()));
    w.PutString(plan.layer_names[i]);
    w.PutU32(plan.channels[i]);
  }
  const size_t code_offset = out.size();
  out.resize(code_offset + PackedBytes(plan.codes.size(), kCodeBits));
  PackBits(plan.codes.data(), plan.codes.size(), kCodeBits,
           reinterpret_cast<uint8_t*>(&out[code_offset]));
  const uint32_t crc = PlanCrc(out);
  for (int i = 0; i < 4; ++i) out[kPlanCrcOffset + i] = static_cast<char>(crc >> (8 * i));
  return out;
}

absl::StatusOr<PrecisionPlan> DecodePlan(absl::string_view bytes) {
  ByteReader r(bytes);
  absl::string_view magic;
  uint16_t version = 0, flags = 0;
  uint32_t layer_count = 0, total = 0, reserved = 0, stored_crc = 0;
  PrecisionPlan plan;
  if (!r.ReadBytes(sizeof(kPlanMagic), &magic) || !r.ReadU16(&version) || !r.ReadU16(&flags) ||
      !r.ReadU32(&layer_count) || !r.ReadU32(&total) || !r.ReadU64(&plan.version) ||
      !r.ReadU32(&reserved) || !r.ReadU32(&stored_crc)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "QFPL truncated: %d bytes, the header needs %d", bytes.size(), kPlanHeaderBytes));
  }
  if (magic != absl::string_view(kPlanMagic, sizeof(kPlanMagic))) {
    return absl::InvalidArgumentError("not a QFPL plan: bad magic");
  }
  if (version != kPlanFormatVersion) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "unsupported QFPL version %d (this build reads %d)", version, kPlanFormatVersion));
  }
  if (flags != 0) return absl::InvalidArgumentError(absl::StrFormat("unknown QFPL flags 0x%x", flags));
  if (reserved != 0) return absl::InvalidArgumentError("QFPL reserved field is not 0");
  if (layer_count > kMaxPlanLayers || total > kMaxPlanChannels) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "QFPL counts out of range: %d layers (limit %d), %d channels (limit %d)", layer_count,
        kMaxPlanLayers, total, kMaxPlanChannels));
  }
  const size_t code_bytes = PackedBytes(total, kCodeBits);
  if (static_cast<uint64_t>(layer_count) * kMinLayerBytes + code_bytes > r.remaining()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "QFPL truncated: %d layers and %d channels cannot fit in %d bytes", layer_count, total,
        r.remaining()));
  }

  plan.layer_names.reserve(layer_count);
  plan.channels.reserve(layer_count);
  for (uint32_t i = 0; i < layer_count; ++i) {
    uint8_t name_len = 0;
    absl::string_view name;
    uint32_t channels = 0;
    if (!r.ReadU8(&name_len) || !r.ReadBytes(name_len, &name) || !r.ReadU32(&channels)) {
      return absl::InvalidArgumentError(absl::StrFormat("QFPL truncated in layer %d", i));
    }
    plan.layer_names.emplace_back(name);
    plan.channels.push_back(channels);
  }
  if (r.remaining() < code_bytes) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "QFPL truncated: %d code bytes needed, %d left", code_bytes, r.remaining()));
  }
  if (r.remaining() > code_bytes) {
    return absl::InvalidArgumentError(
        absl::StrFormat("QFPL has %d trailing bytes", r.remaining() - code_bytes));
  }
  const uint32_t actual_crc = PlanCrc(bytes);
  if (actual_crc != stored_crc) {
    return absl::DataLossError(absl::StrFormat(
        "QFPL crc32c mismatch (stored 0x%08x, computed 0x%08x)", stored_crc, actual_crc));
  }

  uint64_t sum = 0;
  RETURN_IF_ERROR(ValidateLayers(plan, &sum));
  if (sum != total) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "QFPL header says %d channels, the layers add up to %d", total, sum));
  }
  absl::string_view packed;
  r.ReadBytes(code_bytes, &packed);
  const auto* in = reinterpret_cast<const uint8_t*>(packed.data());
  const size_t used_bits = (static_cast<size_t>(total) * kCodeBits) % 8;
  if (used_bits != 0 && (in[code_bytes - 1] >> used_bits) != 0) {
    return absl::InvalidArgumentError("QFPL padding bits after the last code are not zero");
  }
  plan.codes.resize(total);
  UnpackBits(in, total, kCodeBits, plan.codes.data());
  return plan;
}

}  // namespace qfleet
