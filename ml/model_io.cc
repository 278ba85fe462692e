#include "ml/model_io.h"

#include <unordered_map>
#include <unordered_set>

#include <torch/torch.h>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"

namespace qfleet::ml {
namespace {

std::vector<std::pair<std::string, torch::Tensor>> NamedState(const torch::nn::Module& module) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& item : module.named_parameters(/*recurse=*/true)) out.emplace_back(item.key(), item.value());
  for (const auto& item : module.named_buffers(/*recurse=*/true)) out.emplace_back(item.key(), item.value());
  return out;
}

}  // namespace

Tensor FromTorch(const std::string& name, const torch::Tensor& t) {
  torch::Tensor c = t.detach().to(torch::kCPU, torch::kFloat32).contiguous();
  Tensor out;
  out.name = name;
  out.dtype = DType::kFloat32;
  out.shape.assign(c.sizes().begin(), c.sizes().end());
  out.values.assign(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
  return out;
}

absl::StatusOr<torch::Tensor> ToTorch(const Tensor& t) {
  ASSIGN_OR_RETURN(std::vector<float> values, DequantizeTensor(t));
  torch::Tensor out = torch::empty(t.shape, torch::kFloat32);
  std::copy(values.begin(), values.end(), out.data_ptr<float>());
  return out;
}

TensorContainer ModuleToContainer(const torch::nn::Module& module) {
  TensorContainer c;
  for (auto& [name, tensor] : NamedState(module)) c.tensors.push_back(FromTorch(name, tensor));
  return c;
}

absl::Status LoadContainer(const TensorContainer& container, torch::nn::Module& module) {
  auto state = NamedState(module);
  std::unordered_set<std::string> known;
  std::vector<torch::Tensor> staged;
  staged.reserve(state.size());
  for (auto& [name, tensor] : state) {
    known.insert(name);
    const Tensor* t = container.Find(name);
    if (t == nullptr) {
      return absl::InvalidArgumentError(absl::StrFormat("model tensor '%s' is missing", name));
    }
    if (std::vector<int64_t>(tensor.sizes().begin(), tensor.sizes().end()) != t->shape) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "tensor '%s' has shape [%s], model expects [%s]", name, absl::StrJoin(t->shape, ","),
          absl::StrJoin(tensor.sizes(), ",")));
    }
    ASSIGN_OR_RETURN(torch::Tensor value, ToTorch(*t));
    staged.push_back(std::move(value));
  }
  for (const Tensor& t : container.tensors) {
    if (!known.count(t.name)) {
      return absl::InvalidArgumentError(absl::StrFormat("unexpected tensor '%s'", t.name));
    }
  }
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < state.size(); ++i) state[i].second.copy_(staged[i]);
  return absl::OkStatus();
}

}  // namespace qfleet::ml
