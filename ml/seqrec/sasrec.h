#ifndef QFLEET_ML_SEQREC_SASREC_H_
#define QFLEET_ML_SEQREC_SASREC_H_

#include <cstdint>
#include <string>
#include <vector>

#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>

#include "ml/seqrec/seqrec_model.h"

namespace qfleet::ml {

// One SASRec self-attention block (pre-norm on the query, as in the authors'
// TensorFlow code):
//   q   = attn_norm(x)
//   a   = softmax(query(q) key(x)^T / sqrt(d_head) + mask) value(x)   per head,
//         mask = causal and key-padding; dropout on the attention weights
//   x   = q + a
//   y   = ffn_norm(x)
//   x   = y + dropout(ffn2(dropout(relu(ffn1(y)))))
//   x  *= not-padding
// query/key/value/ffn1/ffn2 are Linear(d, d) (weight [out = d, in = d]).
class SasRecBlockImpl : public torch::nn::Module {
 public:
  explicit SasRecBlockImpl(int64_t hidden);

  torch::nn::LayerNorm attn_norm{nullptr}, ffn_norm{nullptr};
  torch::nn::Linear query{nullptr}, key{nullptr}, value{nullptr};
  torch::nn::Linear ffn1{nullptr}, ffn2{nullptr};
};
TORCH_MODULE(SasRecBlock);

// SASRec (Kang & McAuley, ICDM 2018). Submodules and their weights:
//   item_emb        Embedding [num_items + 1, d], row 0 = padding (zero, no grad)
//   pos_emb         Embedding [max_length, d], position of each column
//   blocks.i.*      SasRecBlock, i < num_blocks
//   final_norm      LayerNorm(d)
// Input embedding: item_emb(h) * sqrt(d) + pos_emb(column), dropout, padded
// positions zeroed; column = position within the last max_length columns. Output h_t of the last position; score(i) =
// dot(h_t, item_emb[i]) (the output layer shares the item embedding).
// Training: every position predicts the next item against one negative
// (BCE). LayerNorm eps 1e-8; Xavier-normal weights, zero biases.
class SasRec : public SeqRecModel {
 public:
  // Builds the model with weights drawn from a generator seeded with `seed`.
  // `config` must pass ValidateSeqRecConfig with backbone kSasRec (checked
  // by MakeSeqRecModel; here a programmer error).
  SasRec(const SeqRecConfig& config, uint64_t seed);

  // Hidden states after the final layer norm for the last max_length columns
  // of `histories` [B, H] (left-padded): [B, max_length - first, d] for the
  // columns first..max_length-1, where `first` (stored in *first_column when
  // not null) is the number of leading columns that are padding in every
  // row. Skipping them is exact: no real position attends to a padding key.
  torch::Tensor Encode(const torch::Tensor& histories, int64_t* first_column = nullptr);

  torch::Tensor Score(const torch::Tensor& histories, const torch::Tensor& users,
                      const torch::Tensor& candidates) override;
  torch::Tensor Loss(const SeqRecTrainBatch& batch) override;
  // The last position's hidden state [B, d] (dotted with item_emb rows).
  torch::Tensor Query(const torch::Tensor& histories, const torch::Tensor& users) override;
  std::vector<std::string> QueryTables() const override { return {"item_emb"}; }

  torch::nn::Embedding item_emb{nullptr}, pos_emb{nullptr};
  torch::nn::ModuleList blocks{nullptr};
  torch::nn::LayerNorm final_norm{nullptr};

 private:
  torch::Tensor Block(SasRecBlockImpl& block, torch::Tensor x, const torch::Tensor& attn_mask,
                      const torch::Tensor& keep);
};

}  // namespace qfleet::ml

#endif  // QFLEET_ML_SEQREC_SASREC_H_
