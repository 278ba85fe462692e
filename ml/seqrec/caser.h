#ifndef QFLEET_ML_SEQREC_CASER_H_
#define QFLEET_ML_SEQREC_CASER_H_

#include <cstdint>
#include <string>
#include <vector>

#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>

#include "ml/seqrec/seqrec_model.h"

namespace qfleet::ml {

// Caser (Tang & Wang, WSDM 2018), as in the authors' PyTorch code.
// Submodules and their weights (L = window, d = hidden):
//   item_emb   Embedding [num_items + 1, d], row 0 = padding (zero, no grad)
//   user_emb   Embedding [num_users, d]
//   conv_v     Conv2d(1 -> n_v, kernel L x 1)        weight [n_v, 1, L, 1]
//   conv_h.k   Conv2d(1 -> n_h, kernel (k+1) x d)    weight [n_h, 1, k+1, d], k < L
//   fc1        Linear(n_v * d + n_h * L -> d)
//   out_emb    Embedding [num_items + 1, 2d]  (W2: one output row per item)
//   out_bias   Embedding [num_items + 1, 1]   (b2)
// Forward for the last L items E [L, d] and user u:
//   o_v = conv_v(E) flattened; o_h = concat_k maxpool_time(relu(conv_h.k(E)));
//   z = relu(fc1(dropout([o_v, o_h]))); x = [z, user_emb(u)];
//   score(i) = dot(out_emb[i], x) + out_bias[i].
// Training: T next items against N negatives, BCE (positive and negative
// terms each averaged, then summed). Init: embeddings N(0, 1/d), out_emb
// N(0, 1/(2d)), out_bias 0, conv / fc U(+-1/sqrt(fan_in)).
class Caser : public SeqRecModel {
 public:
  // Builds the model with weights drawn from a generator seeded with `seed`.
  // `config` must pass ValidateSeqRecConfig with backbone kCaser.
  Caser(const SeqRecConfig& config, uint64_t seed);

  // The user/sequence representation x [B, 2d] for the last L columns of
  // `histories` [B, H] and `users` [B].
  torch::Tensor Represent(const torch::Tensor& histories, const torch::Tensor& users);

  torch::Tensor Score(const torch::Tensor& histories, const torch::Tensor& users,
                      const torch::Tensor& candidates) override;
  torch::Tensor Loss(const SeqRecTrainBatch& batch) override;
  // [x, 1] [B, 2d + 1] (dotted with out_emb and out_bias rows side by side).
  torch::Tensor Query(const torch::Tensor& histories, const torch::Tensor& users) override;
  std::vector<std::string> QueryTables() const override { return {"out_emb", "out_bias"}; }

  torch::nn::Embedding item_emb{nullptr}, user_emb{nullptr};
  torch::nn::Conv2d conv_v{nullptr};
  torch::nn::ModuleList conv_h{nullptr};
  torch::nn::Linear fc1{nullptr};
  torch::nn::Embedding out_emb{nullptr}, out_bias{nullptr};

 private:
  torch::Tensor ScoreFrom(const torch::Tensor& x, const torch::Tensor& candidates);
};

}  // namespace qfleet::ml

#endif  // QFLEET_ML_SEQREC_CASER_H_
