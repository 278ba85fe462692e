#include "common/container_quant.h"

#include "absl/strings/str_format.h"
#include "common/status_macros.h"

namespace qfleet {

absl::StatusOr<TensorContainer> QuantizeContainer(const TensorContainer& model, int bits,
                                                  const QuantOptions& options) {
  if (bits < 1 || bits > 8) {
    return absl::InvalidArgumentError(absl::StrFormat("quantization bits %d not in 1..8", bits));
  }
  TensorContainer out;
  out.tensors.reserve(model.tensors.size());
  for (const Tensor& t : model.tensors) {
    if (t.dtype == DType::kFloat32 && t.shape.size() >= 2) {
      ASSIGN_OR_RETURN(Tensor q, QuantizePerChannel(t, {bits}, options));
      out.tensors.push_back(std::move(q));
    } else {
      RETURN_IF_ERROR(ValidateTensor(t));
      out.tensors.push_back(t);
    }
  }
  return out;
}

absl::StatusOr<TensorContainer> DequantizeContainer(const TensorContainer& model) {
  TensorContainer out;
  out.tensors.reserve(model.tensors.size());
  for (const Tensor& t : model.tensors) {
    Tensor f;
    f.name = t.name;
    f.shape = t.shape;
    f.dtype = DType::kFloat32;
    ASSIGN_OR_RETURN(f.values, DequantizeTensor(t));
    out.tensors.push_back(std::move(f));
  }
  return out;
}

absl::StatusOr<TensorContainer> FakeQuantizeContainer(const TensorContainer& model, int bits,
                                                      const QuantOptions& options) {
  ASSIGN_OR_RETURN(TensorContainer q, QuantizeContainer(model, bits, options));
  return DequantizeContainer(q);
}

namespace {

// Element-wise a + sign * b (see SubtractContainers / AddContainers).
absl::StatusOr<TensorContainer> Combine(const TensorContainer& a, const TensorContainer& b,
                                        float sign) {
  if (a.tensors.size() != b.tensors.size()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "containers hold %d and %d tensors", a.tensors.size(), b.tensors.size()));
  }
  TensorContainer out;
  out.tensors.reserve(a.tensors.size());
  for (const Tensor& ta : a.tensors) {
    const Tensor* tb = b.Find(ta.name);
    if (tb == nullptr) {
      return absl::InvalidArgumentError(absl::StrFormat("tensor '%s' missing", ta.name));
    }
    if (ta.shape != tb->shape) {
      return absl::InvalidArgumentError(absl::StrFormat("tensor '%s' shapes differ", ta.name));
    }
    ASSIGN_OR_RETURN(std::vector<float> va, DequantizeTensor(ta));
    ASSIGN_OR_RETURN(std::vector<float> vb, DequantizeTensor(*tb));
    Tensor d;
    d.name = ta.name;
    d.shape = ta.shape;
    d.values.resize(va.size());
    for (size_t i = 0; i < va.size(); ++i) d.values[i] = va[i] + sign * vb[i];
    out.tensors.push_back(std::move(d));
  }
  return out;
}

}  // namespace

absl::StatusOr<TensorContainer> SubtractContainers(const TensorContainer& a,
                                                   const TensorContainer& b) {
  return Combine(a, b, -1.0f);
}

absl::StatusOr<TensorContainer> AddContainers(const TensorContainer& a, const TensorContainer& b) {
  return Combine(a, b, 1.0f);
}

}  // namespace qfleet
