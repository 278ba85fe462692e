#include "ml/chord/user_encoder.h"

#include <cmath>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "absl/strings/str_format.h"

namespace qfleet::ml::chord {

absl::Status ValidateUserEncoderOptions(const UserEncoderOptions& o) {
  if (o.num_items < 1 || o.num_items > (int64_t{1} << 24)) {
    return absl::InvalidArgumentError(absl::StrFormat("num_items %d not in [1, 2^24]", o.num_items));
  }
  for (int64_t v : {o.item_dim, o.history, o.embed_dim, o.hidden}) {
    if (v < 1 || v > 4096) {
      return absl::InvalidArgumentError(absl::StrFormat("user encoder size %d not in [1, 4096]", v));
    }
  }
  return absl::OkStatus();
}

UserEncoderImpl::UserEncoderImpl(const UserEncoderOptions& options, uint64_t seed)
    : options_(options) {
  const int64_t k = options.item_dim;
  item_emb = register_module(
      "item_emb",
      torch::nn::Embedding(torch::nn::EmbeddingOptions(options.num_items + 1, k).padding_idx(0)));
  pos_emb = register_module("pos_emb", torch::nn::Embedding(options.history, k));
  attn = register_module("attn", torch::nn::Linear(k, 1));
  mlp = register_module("mlp", torch::nn::Linear(2 * k, options.hidden));
  out = register_module("out", torch::nn::Linear(options.hidden, options.embed_dim));
  at::Generator gen = at::detail::createCPUGenerator(seed);
  torch::NoGradGuard no_grad;
  for (auto& p : named_parameters()) {
    torch::Tensor t = p.value();
    if (t.dim() >= 2) {
      const double fan_in = static_cast<double>(t.numel() / t.size(0));
      const bool emb = p.key().find("emb") != std::string::npos;
      t.normal_(0.0, emb ? 0.1 : 1.0 / std::sqrt(fan_in), gen);
    } else {
      t.zero_();
    }
  }
  item_emb->weight[0].zero_();
}

torch::Tensor UserEncoderImpl::forward(const torch::Tensor& histories) {
  const int64_t want = options_.history, have = histories.size(1);
  torch::Tensor h = have >= want ? histories.slice(1, have - want, have)
                                 : torch::constant_pad_nd(histories, {want - have, 0}, 0);
  torch::Tensor real = h.ne(0).to(torch::kFloat32).unsqueeze(-1);  // [U, L, 1]
  torch::Tensor e = (item_emb->forward(h) + pos_emb->weight.unsqueeze(0)) * real;
  torch::Tensor logits = attn->forward(e).masked_fill(real.eq(0), -1e9);
  torch::Tensor a = torch::softmax(logits, 1) * real;  // all-padding rows -> 0
  torch::Tensor pooled = (a * e).sum(1);
  torch::Tensor mean = e.sum(1) / real.sum(1).clamp_min(1.0);
  return torch::tanh(out->forward(torch::relu(mlp->forward(torch::cat({pooled, mean}, 1)))));
}

absl::StatusOr<torch::Tensor> EncodeUsers(UserEncoder& encoder, const torch::Tensor& histories) {
  if (!histories.defined() || histories.dim() != 2 || histories.scalar_type() != torch::kLong ||
      histories.size(0) < 1 || histories.size(1) < 1) {
    return absl::InvalidArgumentError("histories must be int64 [U >= 1, H >= 1]");
  }
  const int64_t lo = histories.min().item<int64_t>(), hi = histories.max().item<int64_t>();
  if (lo < 0 || hi > encoder->options().num_items) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "item ids in [%d, %d], expected [0, %d]", lo, hi, encoder->options().num_items));
  }
  try {
    torch::NoGradGuard no_grad;
    return encoder->forward(histories);
  } catch (const c10::Error& e) {
    return absl::InternalError(e.what_without_backtrace());
  }
}

}  // namespace qfleet::ml::chord
