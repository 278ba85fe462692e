// libFuzzer target: the tensor-container decoder must never crash or read
// out of bounds; whatever it accepts must validate, dequantize and re-encode.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "common/tensor_container.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<qfleet::TensorContainer> c = qfleet::DecodeContainer(bytes);
  if (!c.ok()) return 0;
  for (const qfleet::Tensor& t : c->tensors) {
    if (!qfleet::ValidateTensor(t).ok()) std::abort();
    if (!qfleet::DequantizeTensor(t).ok()) std::abort();
  }
  absl::StatusOr<std::string> again = qfleet::EncodeContainer(*c);
  if (!again.ok() || *again != bytes) std::abort();
  return 0;
}
