#ifndef QFLEET_COMMON_TENSOR_CONTAINER_H_
#define QFLEET_COMMON_TENSOR_CONTAINER_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/tensor.h"  // DType, Tensor, ValidateTensor, DequantizeTensor

namespace qfleet {

// QFTC: qfleet's model wire/disk format, version 1.
//
// All integers are little-endian, floats are IEEE-754 binary32 bit patterns,
// and every field is written byte by byte (no struct is copied).
//
// File header, 16 bytes:
//   off 0   4 bytes  magic "QFTC" (0x51 0x46 0x54 0x43)
//   off 4   u16      version = 1
//   off 6   u16      flags = 0 (none defined; nonzero is rejected)
//   off 8   u32      tensor_count (<= kMaxContainerTensors)
//   off 12  u32      reserved = 0
// Then tensor_count records, each laid out as:
//   u16        name_len (1..255)
//   name_len   name bytes (unique within the file)
//   u8         dtype (0 = kFloat32, 1 = kPackedPerChannel)
//   u8         ndim (0..8)
//   u16        reserved = 0
//   i64[ndim]  dims (each 0..2^31, product <= 2^31 elements)
//   kPackedPerChannel only, with C = dims[0] (1 when ndim == 0):
//     u8[C]    bits (1..8)
//     f32[C]   scales (finite, > 0)
//     i32[C]   zero_points (0..2^bits-1)
//   u64        data_len
//   data_len   data: kFloat32: NumElements() f32 values, row-major
//              (data_len = 4 * NumElements()); kPackedPerChannel: the channel
//              rows, row c being PackedBytes(row_len, bits[c]) bytes in the
//              PackBits layout (data_len = sum of those)
//   u32        crc32c of the record from name_len through the last data byte
// File trailer:
//   u32        crc32c of every byte of the file before it
//
// Smallest record: 2 + 1 + 1 + 1 + 2 + 8 + 4 = 19 bytes (1-byte name, scalar
// dims omitted, empty data); smallest file: 16 + 4 = 20 bytes.
constexpr char kContainerMagic[4] = {'Q', 'F', 'T', 'C'};
constexpr uint16_t kContainerVersion = 1;
constexpr size_t kContainerHeaderBytes = 16;
constexpr size_t kContainerTrailerBytes = 4;
constexpr size_t kMinTensorRecordBytes = 19;
constexpr uint32_t kMaxContainerTensors = 1u << 16;
static_assert(sizeof(kContainerMagic) + 2 + 2 + 4 + 4 == kContainerHeaderBytes,
              "QFTC header is magic, version, flags, tensor_count, reserved");
static_assert(2 + 1 + 1 + 1 + 2 + 8 + 4 == kMinTensorRecordBytes,
              "smallest record: name_len, name, dtype, ndim, reserved, data_len, crc");

// An ordered list of uniquely named tensors (order is preserved on the wire).
struct TensorContainer {
  std::vector<Tensor> tensors;

  // Returns the tensor called `name`, or nullptr if there is none. The
  // pointer is valid until `tensors` is modified. Linear scan.
  // Thread-compatible.
  const Tensor* Find(absl::string_view name) const;
};

// Serializes `c` in QFTC version 1. Returns InvalidArgument if a tensor fails
// ValidateTensor, two tensors share a name, or there are more than
// kMaxContainerTensors tensors. Thread-safe.
absl::StatusOr<std::string> EncodeContainer(const TensorContainer& c);

// Parses a QFTC buffer. Fields needed to find where a record ends are checked
// as they are read; a short buffer, bad magic, unknown version, nonzero
// flags/reserved, unknown dtype, too many dims or a count that cannot fit
// gives InvalidArgument. A record or trailer CRC mismatch gives DataLoss.
// Each decoded tensor is then checked with ValidateTensor (InvalidArgument,
// which rejects NaN/Inf), as are duplicate names and trailing bytes.
// Allocates only after checking the bytes are present; never reads past
// `bytes`. Thread-safe.
absl::StatusOr<TensorContainer> DecodeContainer(absl::string_view bytes);

}  // namespace qfleet

#endif  // QFLEET_COMMON_TENSOR_CONTAINER_H_
