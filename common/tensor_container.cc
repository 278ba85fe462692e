#include "common/tensor_container.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/byte_reader.h"
#include "common/byte_writer.h"
#include "common/crc32c.h"
#include "common/status_macros.h"

namespace qfleet {
namespace {

absl::Status Truncated(size_t record, absl::string_view field, size_t offset) {
  return absl::InvalidArgumentError(absl::StrFormat(
      "QFTC truncated: record %d field %s at offset %d runs past the end", record, field,
      offset));
}

absl::Status CheckUniqueNames(const std::vector<Tensor>& tensors) {
  std::set<absl::string_view> seen;
  for (const Tensor& t : tensors) {
    if (!seen.insert(t.name).second) {
      return absl::InvalidArgumentError(absl::StrCat("duplicate tensor name '", t.name, "'"));
    }
  }
  return absl::OkStatus();
}

void WriteRecord(const Tensor& t, std::string* out) {
  const size_t start = out->size();
  ByteWriter w(out);
  w.PutU16(static_cast<uint16_t>(t.name.size()));
  w.PutString(t.name);
  w.PutU8(static_cast<uint8_t>(t.dtype));
  w.PutU8(static_cast<uint8_t>(t.shape.size()));
  w.PutU16(0);
  for (int64_t d : t.shape) w.PutI64(d);
  if (t.dtype == DType::kPackedPerChannel) {
    w.PutBytes(t.bits.data(), t.bits.size());
    for (float s : t.scales) w.PutF32(s);
    for (int32_t z : t.zero_points) w.PutI32(z);
    w.PutU64(t.packed.size());
    w.PutBytes(t.packed.data(), t.packed.size());
  } else {
    w.PutU64(4 * static_cast<uint64_t>(t.values.size()));
    for (float v : t.values) w.PutF32(v);
  }
  w.PutU32(Crc32c(out->data() + start, out->size() - start));
}

absl::StatusOr<uint32_t> ReadHeader(ByteReader& r) {
  absl::string_view magic;
  uint16_t version = 0, flags = 0;
  uint32_t count = 0, reserved = 0;
  if (!r.ReadBytes(sizeof(kContainerMagic), &magic) || !r.ReadU16(&version) ||
      !r.ReadU16(&flags) || !r.ReadU32(&count) || !r.ReadU32(&reserved)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "QFTC truncated: %d bytes, the header alone needs %d", r.data().size(),
        kContainerHeaderBytes));
  }
  if (magic != absl::string_view(kContainerMagic, sizeof(kContainerMagic))) {
    return absl::InvalidArgumentError("not a QFTC container: bad magic");
  }
  if (version != kContainerVersion) {
    return absl::InvalidArgumentError(
        absl::StrFormat("unsupported QFTC version %d (this build reads %d)", version,
                        kContainerVersion));
  }
  if (flags != 0) return absl::InvalidArgumentError(absl::StrFormat("unknown QFTC flags 0x%x", flags));
  if (reserved != 0) return absl::InvalidArgumentError("QFTC header reserved field is not 0");
  if (count > kMaxContainerTensors) {
    return absl::InvalidArgumentError(
        absl::StrFormat("tensor_count %d exceeds the limit %d", count, kMaxContainerTensors));
  }
  const size_t body = r.remaining() < kContainerTrailerBytes
                          ? 0
                          : r.remaining() - kContainerTrailerBytes;
  if (static_cast<uint64_t>(count) * kMinTensorRecordBytes > body) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "tensor_count %d cannot fit in the %d bytes that follow the header", count,
        r.remaining()));
  }
  return count;
}

// Reads one record; see the layout in tensor_container.h.
absl::StatusOr<Tensor> ReadRecord(ByteReader& r, size_t index) {
  const size_t start = r.offset();
  Tensor t;
  uint16_t name_len = 0;
  absl::string_view name;
  if (!r.ReadU16(&name_len)) return Truncated(index, "name_len", r.offset());
  if (!r.ReadBytes(name_len, &name)) return Truncated(index, "name", r.offset());
  t.name = std::string(name);

  uint8_t dtype = 0, ndim = 0;
  uint16_t reserved = 0;
  if (!r.ReadU8(&dtype) || !r.ReadU8(&ndim) || !r.ReadU16(&reserved)) {
    return Truncated(index, "dtype/ndim/reserved", r.offset());
  }
  if (dtype > static_cast<uint8_t>(DType::kPackedPerChannel)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("record %d: unknown dtype %d", index, dtype));
  }
  t.dtype = static_cast<DType>(dtype);
  if (ndim > kMaxTensorDims) {
    return absl::InvalidArgumentError(
        absl::StrFormat("record %d: ndim %d exceeds %d", index, ndim, kMaxTensorDims));
  }
  if (reserved != 0) {
    return absl::InvalidArgumentError(absl::StrFormat("record %d: reserved field is not 0", index));
  }
  t.shape.resize(ndim);
  for (uint8_t i = 0; i < ndim; ++i) {
    if (!r.ReadI64(&t.shape[i])) return Truncated(index, "dims", r.offset());
  }

  if (t.dtype == DType::kPackedPerChannel) {
    const int64_t channels = t.Channels();
    if (channels < 0 || channels > kMaxTensorElements) {
      return absl::InvalidArgumentError(
          absl::StrFormat("record %d: channel count %d out of range", index, channels));
    }
    const uint64_t param_bytes = 9 * static_cast<uint64_t>(channels);  // u8 + f32 + i32
    if (param_bytes > r.remaining()) return Truncated(index, "channel params", r.offset());
    const size_t c = static_cast<size_t>(channels);
    t.bits.resize(c);
    t.scales.resize(c);
    t.zero_points.resize(c);
    for (size_t i = 0; i < c; ++i) r.ReadU8(&t.bits[i]);
    for (size_t i = 0; i < c; ++i) r.ReadF32(&t.scales[i]);
    for (size_t i = 0; i < c; ++i) r.ReadI32(&t.zero_points[i]);
  }

  uint64_t data_len = 0;
  absl::string_view data;
  if (!r.ReadU64(&data_len)) return Truncated(index, "data_len", r.offset());
  if (data_len > r.remaining()) return Truncated(index, "data", r.offset());
  r.ReadBytes(static_cast<size_t>(data_len), &data);
  const size_t end = r.offset();
  uint32_t stored_crc = 0;
  if (!r.ReadU32(&stored_crc)) return Truncated(index, "crc32c", r.offset());
  const uint32_t actual_crc = Crc32c(r.data().data() + start, end - start);
  if (actual_crc != stored_crc) {
    return absl::DataLossError(absl::StrFormat(
        "record %d: crc32c mismatch (stored 0x%08x, computed 0x%08x)", index, stored_crc,
        actual_crc));
  }

  if (t.dtype == DType::kPackedPerChannel) {
    t.packed.assign(data.begin(), data.end());
  } else {
    if (data_len % 4 != 0) {
      return absl::InvalidArgumentError(
          absl::StrFormat("record %d: float32 data_len %d is not a multiple of 4", index, data_len));
    }
    ByteReader values(data);
    t.values.resize(static_cast<size_t>(data_len / 4));
    for (float& v : t.values) values.ReadF32(&v);
  }
  absl::Status valid = ValidateTensor(t);
  if (!valid.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("record ", index, ": ", valid.message()));
  }
  return t;
}

}  // namespace

const Tensor* TensorContainer::Find(absl::string_view name) const {
  for (const Tensor& t : tensors) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

absl::StatusOr<std::string> EncodeContainer(const TensorContainer& c) {
  if (c.tensors.size() > kMaxContainerTensors) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%d tensors exceed the limit %d", c.tensors.size(), kMaxContainerTensors));
  }
  size_t total = kContainerHeaderBytes + kContainerTrailerBytes;
  for (const Tensor& t : c.tensors) {
    RETURN_IF_ERROR(ValidateTensor(t));
    total += kMinTensorRecordBytes + t.name.size() + 8 * t.shape.size() +
             9 * t.bits.size() + 4 * t.values.size() + t.packed.size();
  }
  RETURN_IF_ERROR(CheckUniqueNames(c.tensors));

  std::string out;
  out.reserve(total);
  ByteWriter w(&out);
  w.PutBytes(kContainerMagic, sizeof(kContainerMagic));
  w.PutU16(kContainerVersion);
  w.PutU16(0);
  w.PutU32(static_cast<uint32_t>(c.tensors.size()));
  w.PutU32(0);
  for (const Tensor& t : c.tensors) WriteRecord(t, &out);
  w.PutU32(Crc32c(out.data(), out.size()));
  return out;
}

absl::StatusOr<TensorContainer> DecodeContainer(absl::string_view bytes) {
  ByteReader r(bytes);
  ASSIGN_OR_RETURN(const uint32_t count, ReadHeader(r));
  TensorContainer c;
  c.tensors.reserve(count);  // bounded by ReadHeader's size check
  for (uint32_t i = 0; i < count; ++i) {
    ASSIGN_OR_RETURN(Tensor t, ReadRecord(r, i));
    c.tensors.push_back(std::move(t));
  }
  const size_t end = r.offset();
  uint32_t stored_crc = 0;
  if (!r.ReadU32(&stored_crc)) {
    return absl::InvalidArgumentError("QFTC truncated: file trailer crc32c missing");
  }
  if (r.remaining() != 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("QFTC has %d trailing bytes after the trailer", r.remaining()));
  }
  const uint32_t actual_crc = Crc32c(bytes.data(), end);
  if (actual_crc != stored_crc) {
    return absl::DataLossError(absl::StrFormat(
        "QFTC file crc32c mismatch (stored 0x%08x, computed 0x%08x)", stored_crc, actual_crc));
  }
  RETURN_IF_ERROR(CheckUniqueNames(c.tensors));
  return c;
}

}  // namespace qfleet
