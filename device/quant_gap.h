#ifndef QFLEET_DEVICE_QUANT_GAP_H_
#define QFLEET_DEVICE_QUANT_GAP_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "common/idx_dataset.h"
#include "common/tensor_container.h"

namespace qfleet::device {

// Images of the device's own data the quantization-gap check scores.
inline constexpr size_t kQuantGapImages = 64;

// What post-training quantization cost this client on its own data: the
// cross-entropy of the Fashion-MNIST CNN with `quantized` weights minus that
// with `local` (the FP32 model it trained), both on the same
// min(|indices|, kQuantGapImages) of its samples, drawn by `seed`. A PTQ
// client reports it as "quant_gap"; the FedHQ selector learns PTQ's harm
// from it. Its time is part of StepCosts::ptq_quantize_s (the calibration
// runs this function). InvalidArgument when a container does not fit the
// model or `indices` is empty or out of range.
absl::StatusOr<double> QuantizationGap(const TensorContainer& local,
                                       const TensorContainer& quantized, const ImageDataset& data,
                                       const std::vector<int64_t>& indices, uint64_t seed);

}  // namespace qfleet::device

#endif  // QFLEET_DEVICE_QUANT_GAP_H_
