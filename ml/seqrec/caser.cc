#include "ml/seqrec/caser.h"

#include <cmath>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

namespace qfleet::ml {

Caser::Caser(const SeqRecConfig& config, uint64_t seed) : SeqRecModel(config) {
  const int64_t d = config.hidden, l = config.window;
  const int64_t nv = config.vertical_filters, nh = config.horizontal_filters;
  item_emb = register_module(
      "item_emb", torch::nn::Embedding(torch::nn::EmbeddingOptions(config.num_items + 1, d).padding_idx(0)));
  user_emb = register_module("user_emb", torch::nn::Embedding(config.num_users, d));
  conv_v = register_module("conv_v", torch::nn::Conv2d(torch::nn::Conv2dOptions(1, nv, {l, 1})));
  conv_h = register_module("conv_h", torch::nn::ModuleList());
  for (int64_t k = 1; k <= l; ++k) {
    conv_h->push_back(torch::nn::Conv2d(torch::nn::Conv2dOptions(1, nh, {k, d})));
  }
  fc1 = register_module("fc1", torch::nn::Linear(nv * d + nh * l, d));
  out_emb = register_module("out_emb", torch::nn::Embedding(config.num_items + 1, 2 * d));
  out_bias = register_module("out_bias", torch::nn::Embedding(config.num_items + 1, 1));

  at::Generator gen = at::detail::createCPUGenerator(seed);
  torch::NoGradGuard no_grad;
  Normal(item_emb->weight, 1.0 / d, gen);
  item_emb->weight[0].zero_();
  Normal(user_emb->weight, 1.0 / d, gen);
  // Conv and fc: PyTorch's default bounds, drawn from our generator.
  auto init_layer = [&](torch::Tensor& w, torch::Tensor& b) {
    const int64_t fan_in = w.numel() / w.size(0);
    UniformFanIn(w, fan_in, gen);
    UniformFanIn(b, fan_in, gen);
  };
  init_layer(conv_v->weight, conv_v->bias);
  for (const auto& m : *conv_h) {
    auto* conv = m->as<torch::nn::Conv2dImpl>();
    init_layer(conv->weight, conv->bias);
  }
  init_layer(fc1->weight, fc1->bias);
  Normal(out_emb->weight, 1.0 / (2 * d), gen);
  out_bias->weight.zero_();
}

torch::Tensor Caser::Represent(const torch::Tensor& histories, const torch::Tensor& users) {
  const int64_t b = histories.size(0);
  torch::Tensor e = item_emb->forward(LastColumns(histories)).unsqueeze(1);  // [B, 1, L, d]
  torch::Tensor o_v = conv_v->forward(e).reshape({b, -1});                   // [B, n_v * d]
  std::vector<torch::Tensor> parts = {o_v};
  for (const auto& m : *conv_h) {
    torch::Tensor c = torch::relu(m->as<torch::nn::Conv2dImpl>()->forward(e)).squeeze(3);
    parts.push_back(std::get<0>(c.max(2)));  // max over time: [B, n_h]
  }
  torch::Tensor z = torch::relu(fc1->forward(Dropout(torch::cat(parts, 1))));
  return torch::cat({z, user_emb->forward(users)}, 1);  // [B, 2d]
}

torch::Tensor Caser::ScoreFrom(const torch::Tensor& x, const torch::Tensor& candidates) {
  torch::Tensor w = out_emb->forward(candidates);             // [B, C, 2d]
  torch::Tensor bias = out_bias->forward(candidates).squeeze(2);  // [B, C]
  return torch::bmm(w, x.unsqueeze(2)).squeeze(2) + bias;
}

torch::Tensor Caser::Score(const torch::Tensor& histories, const torch::Tensor& users,
                           const torch::Tensor& candidates) {
  return ScoreFrom(Represent(histories, users), candidates);
}

torch::Tensor Caser::Query(const torch::Tensor& histories, const torch::Tensor& users) {
  torch::Tensor x = Represent(histories, users);
  return torch::cat({x, torch::ones({x.size(0), 1}, x.options())}, 1);
}

torch::Tensor Caser::Loss(const SeqRecTrainBatch& batch) {
  torch::Tensor x = Represent(batch.histories, batch.users);
  torch::Tensor pos = ScoreFrom(x, batch.positives);
  torch::Tensor neg = ScoreFrom(x, batch.negatives);
  torch::Tensor valid = batch.positives.ne(0).to(torch::kFloat32);
  torch::Tensor pos_loss = (-torch::log_sigmoid(pos) * valid).sum() / valid.sum().clamp_min(1.0);
  torch::Tensor neg_loss = (-torch::log_sigmoid(-neg)).mean();
  return pos_loss + neg_loss;
}

}  // namespace qfleet::ml
