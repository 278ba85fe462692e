#ifndef QFLEET_ML_CHORD_USER_ENCODER_H_
#define QFLEET_ML_CHORD_USER_ENCODER_H_

#include <cstdint>

#include <torch/nn/module.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/types.h>

#include "absl/status/statusor.h"

namespace qfleet::ml::chord {

struct UserEncoderOptions {
  int64_t num_items = 0;   // item ids 1..num_items; 0 is padding
  int64_t item_dim = 16;   // the encoder's own item embedding
  int64_t history = 20;    // last L items read
  int64_t embed_dim = 32;  // E, the user embedding sent to the cloud
  int64_t hidden = 64;     // MLP width
};

// InvalidArgument unless num_items in [1, 2^24] and the sizes are >= 1
// (history <= 4096, the dims <= 4096). Thread-safe.
absl::Status ValidateUserEncoderOptions(const UserEncoderOptions& options);

// The device-side feature extractor of CHORD: the last `history` item ids
// (left-padded with 0) -> a user embedding [E].
//   e_i   = item_emb(h_i) + pos_emb(i)             (item_emb row 0 = zero)
//   a_i   = softmax over real items of attn(e_i)   (attention pooling)
//   m     = [sum_i a_i e_i, mean of the real e_i]
//   u     = tanh(out(relu(mlp(m))))                (in [-1, 1]^E)
// A user with no real item gets the embedding of m = 0. Parameters:
//   item_emb [num_items+1, item_dim], pos_emb [history, item_dim],
//   attn Linear(item_dim, 1), mlp Linear(2*item_dim, hidden),
//   out Linear(hidden, E); all named so ModuleToContainer / LoadContainer
//   (ml/model_io.h) export it as a QFTC container.
// Seeded init, no global generator. Not thread-safe per instance.
class UserEncoderImpl : public torch::nn::Module {
 public:
  UserEncoderImpl(const UserEncoderOptions& options, uint64_t seed);

  const UserEncoderOptions& options() const { return options_; }

  // histories [U, H] int64 (any H >= 1; the last `history` columns are
  // read, shorter histories left-padded) -> [U, E]. Throws c10::Error on
  // bad input (use EncodeUsers for a checked call).
  torch::Tensor forward(const torch::Tensor& histories);

  torch::nn::Embedding item_emb{nullptr}, pos_emb{nullptr};
  torch::nn::Linear attn{nullptr}, mlp{nullptr}, out{nullptr};

 private:
  UserEncoderOptions options_;
};
TORCH_MODULE(UserEncoder);

// Validating front door: InvalidArgument unless histories is int64
// [U >= 1, H >= 1] with ids in [0, num_items]; Internal if LibTorch throws.
// Runs without gradient. Not thread-safe per encoder.
absl::StatusOr<torch::Tensor> EncodeUsers(UserEncoder& encoder, const torch::Tensor& histories);

}  // namespace qfleet::ml::chord

#endif  // QFLEET_ML_CHORD_USER_ENCODER_H_
