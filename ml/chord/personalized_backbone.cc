#include "ml/chord/personalized_backbone.h"

#include <cmath>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "ml/seqrec/caser.h"
#include "ml/seqrec/sasrec.h"

namespace qfleet::ml::chord {
namespace {

constexpr double kLayerNormEps = 1e-8;
constexpr double kMaskedLogit = -1e9;

// x [U, L, in] times per-user weights w [U, out, in], plus bias [out].
torch::Tensor UserLinear(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b) {
  return torch::matmul(x, w.transpose(1, 2)) + b;
}

torch::Tensor Norm(const torch::nn::LayerNorm& ln, const torch::Tensor& x) {
  return torch::layer_norm(x, {x.size(-1)}, ln->weight, ln->bias, kLayerNormEps);
}

absl::StatusOr<int64_t> Need(const ChannelCatalog& catalog, const std::string& name,
                             int64_t channels, int64_t row_length) {
  const int64_t l = catalog.LayerIndex(name);
  if (l < 0) return absl::InvalidArgumentError(absl::StrCat("catalog lacks layer '", name, "'"));
  const ChordLayer& layer = catalog.layers()[l];
  if (layer.channels != channels || layer.row_length != row_length) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "layer '%s' is %dx%d in the catalog, %dx%d in the model", name, layer.channels,
        layer.row_length, channels, row_length));
  }
  return l;
}

class SasRecView final : public PersonalizedBackbone {
 public:
  SasRecView(std::shared_ptr<SeqRecModel> model, const ChannelCatalog& catalog)
      : PersonalizedBackbone(std::move(model), catalog),
        sas_(dynamic_cast<SasRec*>(model_.get())) {}

  absl::Status Init() {
    const SeqRecConfig& c = sas_->config();
    const int64_t d = c.hidden;
    auto need = [&](const std::string& name, int64_t ch, int64_t len, int64_t* out) {
      absl::StatusOr<int64_t> l = Need(catalog_, name, ch, len);
      if (!l.ok()) return l.status();
      *out = *l;
      return absl::OkStatus();
    };
    absl::Status s = need("item_emb", c.num_items + 1, d, &item_);
    if (s.ok()) s = need("pos_emb", c.max_length, d, &pos_);
    for (int64_t i = 0; s.ok() && i < c.num_blocks; ++i) {
      Block b;
      const std::string p = absl::StrCat("blocks.", i, ".");
      s = need(p + "query", d, d, &b.q);
      if (s.ok()) s = need(p + "key", d, d, &b.k);
      if (s.ok()) s = need(p + "value", d, d, &b.v);
      if (s.ok()) s = need(p + "ffn1", d, d, &b.f1);
      if (s.ok()) s = need(p + "ffn2", d, d, &b.f2);
      blocks_.push_back(b);
    }
    return s;
  }

  torch::Tensor Score(const UserWeights& w, const torch::Tensor& histories,
                      const torch::Tensor& /*users*/, const torch::Tensor& candidates) override {
    torch::Tensor last = Encode(w, histories, nullptr).select(1, -1);  // [U, d]
    torch::Tensor emb = w.Rows(item_, candidates);                    // [U, C, d]
    return torch::bmm(emb, last.unsqueeze(2)).squeeze(2);
  }

  std::pair<torch::Tensor, torch::Tensor> TargetLogits(const UserWeights& w,
                                                       const SeqRecTrainBatch& batch) override {
    int64_t first = 0;
    torch::Tensor hs = Encode(w, batch.histories, &first);
    const int64_t full = batch.positives.size(1);
    torch::Tensor positives = batch.positives.slice(1, first, full);
    torch::Tensor negatives = batch.negatives.slice(1, first, full);
    torch::Tensor targets = w.Rows(item_, torch::cat({positives, negatives}, 1));
    torch::Tensor logits = (torch::cat({hs, hs}, 1) * targets).sum(-1);
    torch::Tensor valid = positives.ne(0).to(torch::kFloat32);
    return {logits, torch::cat({valid, valid}, 1)};
  }

  torch::Tensor Loss(const UserWeights& w, const SeqRecTrainBatch& batch) override {
    int64_t first = 0;
    torch::Tensor hs = Encode(w, batch.histories, &first);
    const int64_t full = batch.positives.size(1);
    torch::Tensor positives = batch.positives.slice(1, first, full);
    torch::Tensor negatives = batch.negatives.slice(1, first, full);
    const int64_t l = positives.size(1);
    torch::Tensor targets = w.Rows(item_, torch::cat({positives, negatives}, 1));
    torch::Tensor pos = (hs * targets.slice(1, 0, l)).sum(-1);
    torch::Tensor neg = (hs * targets.slice(1, l, 2 * l)).sum(-1);
    torch::Tensor valid = positives.ne(0).to(torch::kFloat32);
    torch::Tensor per_position = -torch::log_sigmoid(pos) - torch::log_sigmoid(-neg);
    return (per_position * valid).sum(1) / valid.sum(1).clamp_min(1.0);
  }

 private:
  struct Block {
    int64_t q = 0, k = 0, v = 0, f1 = 0, f2 = 0;
  };

  torch::Tensor Encode(const UserWeights& w, const torch::Tensor& histories, int64_t* first_out) {
    const SeqRecConfig& c = sas_->config();
    torch::Tensor h = LastColumns(histories);
    const int64_t full = h.size(1), u = h.size(0);
    torch::Tensor used = h.ne(0).any(0);
    int64_t first = full - 1;
    if (used.any().item<bool>()) first = used.to(torch::kInt).argmax().item<int64_t>();
    h = h.slice(1, first, full);
    if (first_out != nullptr) *first_out = first;
    const int64_t l = h.size(1), d = c.hidden;
    torch::Tensor keep = h.ne(0).unsqueeze(-1).to(torch::kFloat32);
    torch::Tensor positions = torch::arange(first, full, torch::kLong).unsqueeze(0).expand({u, l});
    torch::Tensor x = w.Rows(item_, h) * std::sqrt(static_cast<double>(d)) + w.Rows(pos_, positions);
    x = x * keep;
    torch::Tensor causal = torch::ones({l, l}, torch::kBool).triu(1).unsqueeze(0);
    torch::Tensor mask = causal.logical_or(h.eq(0).unsqueeze(1));
    const int64_t heads = c.num_heads, dh = d / heads;
    for (size_t i = 0; i < blocks_.size(); ++i) {
      auto& m = *sas_->blocks[i]->as<SasRecBlockImpl>();
      const Block& b = blocks_[i];
      torch::Tensor q = Norm(m.attn_norm, x);
      auto split = [&](const torch::Tensor& t) { return t.view({u, l, heads, dh}).transpose(1, 2); };
      torch::Tensor qh = split(UserLinear(q, w.All(b.q), m.query->bias));
      torch::Tensor kh = split(UserLinear(x, w.All(b.k), m.key->bias));
      torch::Tensor vh = split(UserLinear(x, w.All(b.v), m.value->bias));
      torch::Tensor logits =
          torch::matmul(qh, kh.transpose(-2, -1)) * (1.0 / std::sqrt(static_cast<double>(dh)));
      logits = logits.masked_fill(mask.unsqueeze(1), kMaskedLogit);
      torch::Tensor att = torch::matmul(torch::softmax(logits, -1), vh).transpose(1, 2).reshape({u, l, d});
      x = q + att;
      torch::Tensor y = Norm(m.ffn_norm, x);
      torch::Tensor f = UserLinear(torch::relu(UserLinear(y, w.All(b.f1), m.ffn1->bias)),
                                   w.All(b.f2), m.ffn2->bias);
      x = (y + f) * keep;
    }
    return Norm(sas_->final_norm, x);
  }

  SasRec* sas_;
  int64_t item_ = 0, pos_ = 0;
  std::vector<Block> blocks_;
};

class CaserView final : public PersonalizedBackbone {
 public:
  CaserView(std::shared_ptr<SeqRecModel> model, const ChannelCatalog& catalog)
      : PersonalizedBackbone(std::move(model), catalog),
        caser_(dynamic_cast<Caser*>(model_.get())) {}

  absl::Status Init() {
    const SeqRecConfig& c = caser_->config();
    const int64_t d = c.hidden, l = c.window, nv = c.vertical_filters, nh = c.horizontal_filters;
    absl::StatusOr<int64_t> r = Need(catalog_, "item_emb", c.num_items + 1, d);
    if (!r.ok()) return r.status();
    item_ = *r;
    r = Need(catalog_, "user_emb", c.num_users, d);
    if (!r.ok()) return r.status();
    user_ = *r;
    r = Need(catalog_, "conv_v", nv, l);
    if (!r.ok()) return r.status();
    conv_v_ = *r;
    for (int64_t k = 0; k < l; ++k) {
      r = Need(catalog_, absl::StrCat("conv_h.", k), nh, (k + 1) * d);
      if (!r.ok()) return r.status();
      conv_h_.push_back(*r);
    }
    r = Need(catalog_, "fc1", d, nv * d + nh * l);
    if (!r.ok()) return r.status();
    fc1_ = *r;
    r = Need(catalog_, "out_emb", c.num_items + 1, 2 * d);
    if (!r.ok()) return r.status();
    out_ = *r;
    r = Need(catalog_, "out_bias", c.num_items + 1, 1);
    if (!r.ok()) return r.status();
    out_bias_ = *r;
    return absl::OkStatus();
  }

  torch::Tensor Score(const UserWeights& w, const torch::Tensor& histories,
                      const torch::Tensor& users, const torch::Tensor& candidates) override {
    return ScoreFrom(w, Represent(w, histories, users), candidates);
  }

  std::pair<torch::Tensor, torch::Tensor> TargetLogits(const UserWeights& w,
                                                       const SeqRecTrainBatch& batch) override {
    torch::Tensor x = Represent(w, batch.histories, batch.users);
    torch::Tensor logits = ScoreFrom(w, x, torch::cat({batch.positives, batch.negatives}, 1));
    torch::Tensor mask = torch::cat({batch.positives.ne(0).to(torch::kFloat32),
                                     torch::ones(batch.negatives.sizes())}, 1);
    return {logits, mask};
  }

  torch::Tensor Loss(const UserWeights& w, const SeqRecTrainBatch& batch) override {
    torch::Tensor x = Represent(w, batch.histories, batch.users);
    torch::Tensor pos = ScoreFrom(w, x, batch.positives);
    torch::Tensor neg = ScoreFrom(w, x, batch.negatives);
    torch::Tensor valid = batch.positives.ne(0).to(torch::kFloat32);
    torch::Tensor pos_loss = (-torch::log_sigmoid(pos) * valid).sum(1) / valid.sum(1).clamp_min(1.0);
    torch::Tensor neg_loss = (-torch::log_sigmoid(-neg)).mean(1);
    return pos_loss + neg_loss;
  }

 private:
  torch::Tensor Represent(const UserWeights& w, const torch::Tensor& histories,
                          const torch::Tensor& users) {
    const SeqRecConfig& c = caser_->config();
    const int64_t d = c.hidden, l = c.window;
    torch::Tensor e = w.Rows(item_, LastColumns(histories));  // [U, L, d]
    const int64_t u = e.size(0);
    torch::Tensor wv = w.All(conv_v_);                          // [U, n_v, L]
    torch::Tensor o_v = torch::einsum("uvl,uld->uvd", {wv, e}) +
                        caser_->conv_v->bias.view({1, -1, 1});
    std::vector<torch::Tensor> parts = {o_v.reshape({u, -1})};
    for (int64_t k = 0; k < l; ++k) {
      auto* conv = caser_->conv_h[k]->as<torch::nn::Conv2dImpl>();
      // Windows of k+1 consecutive items, flattened time-major: [U, L-k, (k+1)*d].
      torch::Tensor win = e.unfold(1, k + 1, 1).permute({0, 1, 3, 2}).reshape({u, l - k, (k + 1) * d});
      torch::Tensor out = torch::relu(UserLinear(win, w.All(conv_h_[k]), conv->bias));
      parts.push_back(std::get<0>(out.max(1)));  // [U, n_h]
    }
    torch::Tensor z = torch::relu(UserLinear(torch::cat(parts, 1).unsqueeze(1), w.All(fc1_),
                                             caser_->fc1->bias)).squeeze(1);
    torch::Tensor ue = w.Rows(user_, users.reshape({u, 1})).squeeze(1);
    return torch::cat({z, ue}, 1);
  }

  torch::Tensor ScoreFrom(const UserWeights& w, const torch::Tensor& x,
                          const torch::Tensor& candidates) {
    torch::Tensor emb = w.Rows(out_, candidates);
    torch::Tensor bias = w.Rows(out_bias_, candidates).squeeze(2);
    return torch::bmm(emb, x.unsqueeze(2)).squeeze(2) + bias;
  }

  Caser* caser_;
  int64_t item_ = 0, user_ = 0, conv_v_ = 0, fc1_ = 0, out_ = 0, out_bias_ = 0;
  std::vector<int64_t> conv_h_;
};

}  // namespace

torch::Tensor PersonalizedBackbone::LastColumns(const torch::Tensor& histories) const {
  const int64_t want = model_->HistoryLength(), have = histories.size(1);
  if (have >= want) return histories.slice(1, have - want, have);
  return torch::constant_pad_nd(histories, {want - have, 0}, 0);
}

absl::StatusOr<std::unique_ptr<PersonalizedBackbone>> PersonalizedBackbone::Create(
    std::shared_ptr<SeqRecModel> model, const ChannelCatalog& catalog) {
  if (model == nullptr) return absl::InvalidArgumentError("null backbone");
  if (dynamic_cast<SasRec*>(model.get()) != nullptr) {
    auto view = std::make_unique<SasRecView>(std::move(model), catalog);
    absl::Status s = view->Init();
    if (!s.ok()) return s;
    return std::unique_ptr<PersonalizedBackbone>(std::move(view));
  }
  if (dynamic_cast<Caser*>(model.get()) != nullptr) {
    auto view = std::make_unique<CaserView>(std::move(model), catalog);
    absl::Status s = view->Init();
    if (!s.ok()) return s;
    return std::unique_ptr<PersonalizedBackbone>(std::move(view));
  }
  return absl::InvalidArgumentError("backbone is neither SASRec nor Caser");
}

}  // namespace qfleet::ml::chord
