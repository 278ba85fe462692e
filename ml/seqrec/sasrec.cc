#include "ml/seqrec/sasrec.h"

#include <cmath>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "absl/strings/match.h"

namespace qfleet::ml {
namespace {

constexpr double kLayerNormEps = 1e-8;
// Additive attention mask value: large but finite, so a row with every key
// masked (a padding query) softmaxes to uniform instead of NaN.
constexpr double kMaskedLogit = -1e9;

torch::nn::LayerNormOptions NormOptions(int64_t d) {
  return torch::nn::LayerNormOptions({d}).eps(kLayerNormEps);
}

}  // namespace

SasRecBlockImpl::SasRecBlockImpl(int64_t hidden) {
  attn_norm = register_module("attn_norm", torch::nn::LayerNorm(NormOptions(hidden)));
  query = register_module("query", torch::nn::Linear(hidden, hidden));
  key = register_module("key", torch::nn::Linear(hidden, hidden));
  value = register_module("value", torch::nn::Linear(hidden, hidden));
  ffn_norm = register_module("ffn_norm", torch::nn::LayerNorm(NormOptions(hidden)));
  ffn1 = register_module("ffn1", torch::nn::Linear(hidden, hidden));
  ffn2 = register_module("ffn2", torch::nn::Linear(hidden, hidden));
}

SasRec::SasRec(const SeqRecConfig& config, uint64_t seed) : SeqRecModel(config) {
  const int64_t d = config.hidden;
  item_emb = register_module(
      "item_emb", torch::nn::Embedding(torch::nn::EmbeddingOptions(config.num_items + 1, d).padding_idx(0)));
  pos_emb = register_module("pos_emb", torch::nn::Embedding(config.max_length, d));
  blocks = register_module("blocks", torch::nn::ModuleList());
  for (int64_t i = 0; i < config.num_blocks; ++i) blocks->push_back(SasRecBlock(d));
  final_norm = register_module("final_norm", torch::nn::LayerNorm(NormOptions(d)));

  // Seeded init: Xavier-normal matrices, zero biases, unit/zero layer norms.
  at::Generator gen = at::detail::createCPUGenerator(seed);
  torch::NoGradGuard no_grad;
  for (auto& item : named_parameters(/*recurse=*/true)) {
    torch::Tensor p = item.value();
    const bool norm = absl::StrContains(item.key(), "norm");
    if (p.dim() >= 2) {
      XavierNormal(p, gen);
    } else if (norm && absl::EndsWith(item.key(), ".weight")) {
      p.fill_(1.0);
    } else {
      p.zero_();
    }
  }
  item_emb->weight[0].zero_();
}

torch::Tensor SasRec::Block(SasRecBlockImpl& block, torch::Tensor x, const torch::Tensor& attn_mask,
                            const torch::Tensor& keep) {
  const int64_t b = x.size(0), l = x.size(1), d = x.size(2);
  const int64_t heads = config().num_heads, dh = d / heads;
  torch::Tensor q = block.attn_norm->forward(x);
  auto split = [&](const torch::Tensor& t) { return t.view({b, l, heads, dh}).transpose(1, 2); };
  torch::Tensor qh = split(block.query->forward(q));
  torch::Tensor kh = split(block.key->forward(x));
  torch::Tensor vh = split(block.value->forward(x));
  torch::Tensor logits = torch::matmul(qh, kh.transpose(-2, -1)) * (1.0 / std::sqrt(static_cast<double>(dh)));
  logits = logits.masked_fill(attn_mask.unsqueeze(1), kMaskedLogit);
  torch::Tensor weights = Dropout(torch::softmax(logits, -1));
  torch::Tensor attended = torch::matmul(weights, vh).transpose(1, 2).reshape({b, l, d});
  x = q + attended;
  torch::Tensor y = block.ffn_norm->forward(x);
  torch::Tensor f = Dropout(block.ffn2->forward(Dropout(torch::relu(block.ffn1->forward(y)))));
  return (y + f) * keep;
}

torch::Tensor SasRec::Encode(const torch::Tensor& histories, int64_t* first_column) {
  torch::Tensor h = LastColumns(histories);
  // Leading columns that are padding in every row cannot influence any real
  // position (their keys are masked), so they are skipped; the remaining
  // columns keep their absolute positions.
  const int64_t full = h.size(1);
  torch::Tensor used = h.ne(0).any(0);
  int64_t first = full - 1;
  if (used.any().item<bool>()) first = used.to(torch::kInt).argmax().item<int64_t>();
  h = h.slice(1, first, full);
  if (first_column != nullptr) *first_column = first;
  const int64_t l = h.size(1);
  torch::Tensor keep = h.ne(0).unsqueeze(-1).to(torch::kFloat32);  // [B, l, 1]
  torch::Tensor x = item_emb->forward(h) * std::sqrt(static_cast<double>(config().hidden));
  x = x + pos_emb->forward(torch::arange(first, full, torch::kLong)).unsqueeze(0);
  x = Dropout(x) * keep;
  // True = masked: a later key (causal) or a padding key.
  torch::Tensor causal = torch::ones({l, l}, torch::kBool).triu(1).unsqueeze(0);
  torch::Tensor mask = causal.logical_or(h.eq(0).unsqueeze(1));  // [B, l, l]
  for (const auto& m : *blocks) x = Block(*m->as<SasRecBlockImpl>(), x, mask, keep);
  return final_norm->forward(x);
}

torch::Tensor SasRec::Query(const torch::Tensor& histories, const torch::Tensor& /*users*/) {
  return Encode(histories).select(1, -1);
}

torch::Tensor SasRec::Score(const torch::Tensor& histories, const torch::Tensor& users,
                            const torch::Tensor& candidates) {
  torch::Tensor last = Query(histories, users);          // [B, d]
  torch::Tensor emb = item_emb->forward(candidates);     // [B, C, d]
  return torch::bmm(emb, last.unsqueeze(2)).squeeze(2);
}

torch::Tensor SasRec::Loss(const SeqRecTrainBatch& batch) {
  int64_t first = 0;
  torch::Tensor hs = Encode(batch.histories, &first);  // [B, l, d]
  const int64_t full = batch.positives.size(1);
  torch::Tensor positives = batch.positives.slice(1, first, full);
  // One lookup for both targets (one dense embedding gradient, not two).
  torch::Tensor targets =
      item_emb->forward(torch::cat({positives, batch.negatives.slice(1, first, full)}, 1));
  const int64_t l = positives.size(1);
  torch::Tensor pos = (hs * targets.slice(1, 0, l)).sum(-1);
  torch::Tensor neg = (hs * targets.slice(1, l, 2 * l)).sum(-1);
  torch::Tensor valid = positives.ne(0).to(torch::kFloat32);
  torch::Tensor per_position = -torch::log_sigmoid(pos) - torch::log_sigmoid(-neg);
  return (per_position * valid).sum() / valid.sum().clamp_min(1.0);
}

}  // namespace qfleet::ml
