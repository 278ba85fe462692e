#ifndef QFLEET_KERNELS_RELEVANCE_TIERS_H_
#define QFLEET_KERNELS_RELEVANCE_TIERS_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kernels/device_kind.h"

namespace qfleet::kernels {

// CHORD's plan generation in relevance mode, the cloud's heavy per-device
// work: from a user's relevance query q [K] (the hypernetwork's projection
// of the user embedding), the tier code 0..3 of every channel of the frozen
// backbone. This is the batched hot path behind the coordinator's plan
// requests; the LibTorch model (cloud/chord) only computes the
// queries.
//
// The channels (catalog order, N of them) fall into three groups:
//  - item channels: `item_blocks` are the channel offsets of B blocks of R
//    channels each; channel item_blocks[b] + r belongs to item r (the
//    relevance layer's row r and the tied layers' rows r);
//  - last channels: the [offset, count) ranges in `last_ranges` (a per-user
//    table, of which a device keeps its own row);
//  - every other channel (the backbone's small dense layers).
// Item r's relevance for a user is rel_r = sum_k q_k * row_rk over the K
// columns of item_rows [R, K], in double precision, k ascending, each
// product and sum rounded on its own (no FMA): the same value on every
// device kind.
//
// The ranking (definition): every other channel first, in catalog order;
// then the item channels by relevance, highest first, channels of equal
// relevance in catalog order; then the last channels in catalog order.
// Walking that order, cum_i is the element count of channels 0..i; channel
// i's tier is the number of cuts it passes, cum_i > cut_t, with
// cut_t = total * (f_0 + ... + f_t + 1e-9) for t = 0, 1, 2 (the fractions
// summed in double, left to right). This is AssignTiers
// (cloud/chord/tiering.h) on RelevanceLayout::RankKey's keys,
// with the relevance ordered exactly rather than through a float z-score.
struct RelevanceTierSpec {
  int64_t channels = 0;                // N
  std::vector<double> elements;        // [N] weights per channel, finite, > 0
  int64_t items = 0;                   // R, 1..2^31 - 1
  int64_t width = 0;                   // K >= 1
  std::vector<float> item_rows;        // [R, K] row-major, finite
  std::vector<int64_t> item_blocks;    // B >= 1 channel offsets, blocks disjoint, inside [0, N)
  std::vector<std::pair<int64_t, int64_t>> last_ranges;  // [offset, count), disjoint from the rest
  std::array<double, 4> fractions{};   // tier shares, each finite and >= 0, summing to 1 (+-1e-6)
};

// OK when `spec` is as described above; InvalidArgument naming the first
// problem otherwise.
absl::Status ValidateRelevanceTierSpec(const RelevanceTierSpec& spec);

// A spec checked once and laid out for the kernels. Immutable; thread-safe
// to share.
class RelevanceTierPlan {
 public:
  // ValidateRelevanceTierSpec's failures, plus InvalidArgument when the
  // channels of one item block differ in element count (a block is one
  // layer's rows) or an element count is not an integer below 2^40.
  static absl::StatusOr<RelevanceTierPlan> Create(RelevanceTierSpec spec);

  const RelevanceTierSpec& spec() const { return spec_; }
  // The item blocks' offsets in catalog (ascending) order, and the element
  // count of one channel of each.
  const std::vector<int64_t>& blocks() const { return blocks_; }
  const std::vector<double>& block_elements() const { return block_elements_; }
  double group_elements() const { return group_; }  // one item's channels, all blocks
  double head_elements() const { return head_; }    // the channels ranked before the items
  const std::array<double, 3>& cuts() const { return cuts_; }
  // [N] the codes of the non-item channels (the same for every user); 0 at
  // item channels.
  const std::vector<uint8_t>& fixed_codes() const { return fixed_codes_; }
  // [K, R] the item rows as double, transposed (the CPU path's layout).
  const std::vector<double>& rows_t() const { return rows_t_; }
  // Tier of a channel whose cumulative element count is `cum`.
  int Tier(double cum) const {
    return (cum > cuts_[0]) + (cum > cuts_[1]) + (cum > cuts_[2]);
  }

 private:
  RelevanceTierSpec spec_;
  std::vector<int64_t> blocks_;
  std::vector<double> block_elements_;
  double group_ = 0, head_ = 0;
  std::array<double, 3> cuts_{};
  std::vector<uint8_t> fixed_codes_;
  std::vector<double> rows_t_;
};

// Codes [users, N] (row-major, one byte per channel, values 0..3) for the
// queries [users, K] (row-major, finite). InvalidArgument for a null
// pointer with users > 0 or a non-finite query; Unimplemented for kCuda
// unless CudaAvailable(). Every device kind gives identical codes.
// Thread-safe.
absl::Status RelevanceTierCodes(DeviceKind device, const RelevanceTierPlan& plan,
                                const float* queries, size_t users, uint8_t* codes);

// Reference: a full sort per user; defines the result.
void RelevanceTierCodesRef(const RelevanceTierPlan& plan, const float* queries, size_t users,
                           uint8_t* codes);
// CPU: blocked relevance products (vectorized for AVX2 when `use_avx2`,
// which the front end sets from CpuHasAvx2Fma(); ignored off x86), then per
// user a selection of the three cut positions (nth_element) instead of a
// sort; a user whose cut falls among items of equal relevance takes the
// reference's sort. One thread.
void RelevanceTierCodesCpu(const RelevanceTierPlan& plan, const float* queries, size_t users,
                           uint8_t* codes, bool use_avx2);

#if defined(QFLEET_WITH_CUDA)
// CUDA (kernels/cuda/relevance_tiers.cu): relevance products with the
// explicitly rounded double intrinsics, a stable segmented radix sort per
// user, then one thread per user walks its order. Internal /
// ResourceExhausted for CUDA errors. Arguments are not checked.
absl::Status RelevanceTierCodesCuda(const RelevanceTierPlan& plan, const float* queries,
                                    size_t users, uint8_t* codes);
#endif

}  // namespace qfleet::kernels

#endif  // QFLEET_KERNELS_RELEVANCE_TIERS_H_
