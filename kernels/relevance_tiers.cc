#include "kernels/relevance_tiers.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "absl/strings/str_format.h"
#include "kernels/cpu/cpu_variants.h"

namespace qfleet::kernels {
namespace {

// Channel classes of a spec, catalog order.
enum : uint8_t { kHead = 0, kItem = 1, kLast = 2 };

// item relevance for one user: rel[r] = sum_k q_k row_rk, k ascending, in
// double (compiled with -ffp-contract=off: no FMA); -0.0 becomes +0.0.
void Relevance(const RelevanceTierSpec& s, const float* q, double* rel) {
  for (int64_t r = 0; r < s.items; ++r) {
    const float* row = s.item_rows.data() + r * s.width;
    double acc = 0.0;
    for (int64_t k = 0; k < s.width; ++k) {
      acc = acc + static_cast<double>(q[k]) * static_cast<double>(row[k]);
    }
    rel[r] = acc + 0.0;
  }
}

// Ranks items by relevance, highest first, equal relevance by index.
struct ByRelevance {
  const double* rel;
  bool operator()(int32_t a, int32_t b) const {
    return rel[a] > rel[b] || (rel[a] == rel[b] && a < b);
  }
};

// The reference walk of one user whose items are fully sorted: runs of
// equal relevance emit their channels block by block (catalog order).
void WalkSorted(const RelevanceTierPlan& plan, const double* rel, const int32_t* order,
                uint8_t* codes) {
  const int64_t items = plan.spec().items;
  double cum = plan.head_elements();
  for (int64_t j = 0; j < items;) {
    int64_t end = j + 1;
    while (end < items && rel[order[end]] == rel[order[j]]) ++end;
    for (size_t b = 0; b < plan.blocks().size(); ++b) {
      for (int64_t i = j; i < end; ++i) {
        cum += plan.block_elements()[b];
        codes[plan.blocks()[b] + order[i]] = static_cast<uint8_t>(plan.Tier(cum));
      }
    }
    j = end;
  }
}

void RefUser(const RelevanceTierPlan& plan, const double* rel, int32_t* order, uint8_t* codes) {
  const int64_t items = plan.spec().items;
  std::iota(order, order + items, 0);
  std::sort(order, order + items, ByRelevance{rel});
  WalkSorted(plan, rel, order, codes);
}

// rel[u, r] += q[u, k] * rows_t[k, r] for a tile of users, k ascending per
// value (as the reference sums), items in cache-sized blocks so the loop
// over items vectorizes. Compiled twice: portable and with AVX2 enabled
// (same operations, no FMA: -ffp-contract=off), picked at run time.
constexpr size_t kUserTile = 16;
constexpr int64_t kItemBlock = 512;

__attribute__((always_inline)) inline void TileProductsBody(const double* q, size_t tile,
                                                            int64_t width, const double* rows_t,
                                                            int64_t items, double* rel) {
  for (int64_t r0 = 0; r0 < items; r0 += kItemBlock) {
    const int64_t len = std::min(kItemBlock, items - r0);
    for (size_t u = 0; u < tile; ++u) {
      double* acc = rel + u * items + r0;
      const double* qu = q + u * width;
      int64_t k = 0;
      // Four k at a time: the same additions in the same order, with the
      // running sum kept in a register between them.
      for (; k + 4 <= width; k += 4) {
        const double q0 = qu[k], q1 = qu[k + 1], q2 = qu[k + 2], q3 = qu[k + 3];
        const double* w0 = rows_t + k * items + r0;
        const double* w1 = w0 + items;
        const double* w2 = w1 + items;
        const double* w3 = w2 + items;
        for (int64_t i = 0; i < len; ++i) {
          double a = acc[i];
          a = a + q0 * w0[i];
          a = a + q1 * w1[i];
          a = a + q2 * w2[i];
          a = a + q3 * w3[i];
          acc[i] = a;
        }
      }
      for (; k < width; ++k) {
        const double qk = qu[k];
        const double* row = rows_t + k * items + r0;
        for (int64_t i = 0; i < len; ++i) acc[i] = acc[i] + qk * row[i];
      }
    }
  }
}

void TileProductsPortable(const double* q, size_t tile, int64_t width, const double* rows_t,
                          int64_t items, double* rel) {
  TileProductsBody(q, tile, width, rows_t, items, rel);
}

#if defined(__x86_64__)
__attribute__((target("avx2"))) void TileProductsAvx2(const double* q, size_t tile,
                                                      int64_t width, const double* rows_t,
                                                      int64_t items, double* rel) {
  TileProductsBody(q, tile, width, rows_t, items, rel);
}
#else
void TileProductsAvx2(const double* q, size_t tile, int64_t width, const double* rows_t,
                      int64_t items, double* rel) {
  TileProductsBody(q, tile, width, rows_t, items, rel);
}
#endif

}  // namespace

absl::Status ValidateRelevanceTierSpec(const RelevanceTierSpec& s) {
  if (s.channels < 1) return absl::InvalidArgumentError("relevance tiers: no channels");
  if (static_cast<int64_t>(s.elements.size()) != s.channels) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "relevance tiers: %d element counts for %d channels", s.elements.size(), s.channels));
  }
  for (int64_t c = 0; c < s.channels; ++c) {
    const double e = s.elements[c];
    if (!std::isfinite(e) || e <= 0 || e != std::floor(e) || e >= 1099511627776.0) {
      return absl::InvalidArgumentError(
          absl::StrFormat("relevance tiers: channel %d has %g elements", c, e));
    }
  }
  if (s.items < 1 || s.width < 1 || s.items > 2147483647) {
    return absl::InvalidArgumentError(
        absl::StrFormat("relevance tiers: %d items of width %d", s.items, s.width));
  }
  if (static_cast<int64_t>(s.item_rows.size()) != s.items * s.width) {
    return absl::InvalidArgumentError(
        absl::StrFormat("relevance tiers: %d row values for %d x %d", s.item_rows.size(),
                        s.items, s.width));
  }
  for (float v : s.item_rows) {
    if (!std::isfinite(v)) {
      return absl::InvalidArgumentError("relevance tiers: a row holds NaN/Inf");
    }
  }
  if (s.item_blocks.empty()) return absl::InvalidArgumentError("relevance tiers: no item block");
  std::vector<uint8_t> seen(s.channels, 0);
  auto claim = [&](int64_t offset, int64_t count, const char* what) -> absl::Status {
    if (offset < 0 || count < 0 || offset > s.channels || count > s.channels - offset) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "relevance tiers: %s [%d, +%d) is outside %d channels", what, offset, count, s.channels));
    }
    for (int64_t c = offset; c < offset + count; ++c) {
      if (seen[c]) {
        return absl::InvalidArgumentError(
            absl::StrFormat("relevance tiers: channel %d is in two ranges", c));
      }
      seen[c] = 1;
    }
    return absl::OkStatus();
  };
  for (int64_t offset : s.item_blocks) {
    absl::Status st = claim(offset, s.items, "item block");
    if (!st.ok()) return st;
  }
  for (const auto& [offset, count] : s.last_ranges) {
    absl::Status st = claim(offset, count, "last range");
    if (!st.ok()) return st;
  }
  double sum = 0;
  for (double f : s.fractions) {
    if (!std::isfinite(f) || f < 0) {
      return absl::InvalidArgumentError(absl::StrFormat("relevance tiers: tier share %g", f));
    }
    sum += f;
  }
  if (std::abs(sum - 1.0) > 1e-6) {
    return absl::InvalidArgumentError(absl::StrFormat("relevance tiers: shares sum to %g", sum));
  }
  return absl::OkStatus();
}

absl::StatusOr<RelevanceTierPlan> RelevanceTierPlan::Create(RelevanceTierSpec spec) {
  absl::Status valid = ValidateRelevanceTierSpec(spec);
  if (!valid.ok()) return valid;
  RelevanceTierPlan p;
  p.blocks_ = spec.item_blocks;
  std::sort(p.blocks_.begin(), p.blocks_.end());
  std::vector<uint8_t> cls(spec.channels, kHead);
  for (int64_t offset : p.blocks_) {
    const double e = spec.elements[offset];
    for (int64_t r = 0; r < spec.items; ++r) {
      if (spec.elements[offset + r] != e) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "relevance tiers: item block at %d mixes %g and %g elements per channel", offset, e,
            spec.elements[offset + r]));
      }
      cls[offset + r] = kItem;
    }
    p.block_elements_.push_back(e);
    p.group_ += e;
  }
  for (const auto& [offset, count] : spec.last_ranges) {
    std::fill(cls.begin() + offset, cls.begin() + offset + count, kLast);
  }
  double total = 0;
  for (int64_t c = 0; c < spec.channels; ++c) {
    total += spec.elements[c];
    if (cls[c] == kHead) p.head_ += spec.elements[c];
  }
  double acc = 0;
  for (int t = 0; t < 3; ++t) {
    acc += spec.fractions[t];
    p.cuts_[t] = total * (acc + 1e-9);
  }
  // The head and last channels sit at the same place in every user's order.
  p.fixed_codes_.assign(spec.channels, 0);
  double cum = 0;
  for (int64_t c = 0; c < spec.channels; ++c) {
    if (cls[c] != kHead) continue;
    cum += spec.elements[c];
    p.fixed_codes_[c] = static_cast<uint8_t>(p.Tier(cum));
  }
  cum = p.head_ + static_cast<double>(spec.items) * p.group_;
  for (int64_t c = 0; c < spec.channels; ++c) {
    if (cls[c] != kLast) continue;
    cum += spec.elements[c];
    p.fixed_codes_[c] = static_cast<uint8_t>(p.Tier(cum));
  }
  p.rows_t_.resize(spec.item_rows.size());
  for (int64_t r = 0; r < spec.items; ++r) {
    for (int64_t k = 0; k < spec.width; ++k) {
      p.rows_t_[k * spec.items + r] = spec.item_rows[r * spec.width + k];
    }
  }
  p.spec_ = std::move(spec);
  return p;
}

void RelevanceTierCodesRef(const RelevanceTierPlan& plan, const float* queries, size_t users,
                           uint8_t* codes) {
  const RelevanceTierSpec& s = plan.spec();
  std::vector<double> rel(s.items);
  std::vector<int32_t> order(s.items);
  for (size_t u = 0; u < users; ++u) {
    uint8_t* out = codes + u * s.channels;
    std::copy(plan.fixed_codes().begin(), plan.fixed_codes().end(), out);
    Relevance(s, queries + u * s.width, rel.data());
    RefUser(plan, rel.data(), order.data(), out);
  }
}

void RelevanceTierCodesCpu(const RelevanceTierPlan& plan, const float* queries, size_t users,
                           uint8_t* codes, bool use_avx2) {
#if !defined(__x86_64__)
  use_avx2 = false;
#endif
  const RelevanceTierSpec& s = plan.spec();
  const int64_t items = s.items, width = s.width;
  // Relevance of a tile of users at a time (TileProducts*).
  std::vector<double> rel(kUserTile * items);
  std::vector<double> q(kUserTile * width);
  std::vector<int32_t> order(items);
  const double* rows_t = plan.rows_t().data();
  const double g = plan.group_elements(), h = plan.head_elements();
  for (size_t u0 = 0; u0 < users; u0 += kUserTile) {
    const size_t tile = std::min(kUserTile, users - u0);
    for (size_t i = 0; i < tile * width; ++i) q[i] = queries[u0 * width + i];
    std::fill(rel.begin(), rel.begin() + tile * items, 0.0);
    if (use_avx2) {
      TileProductsAvx2(q.data(), tile, width, rows_t, items, rel.data());
    } else {
      TileProductsPortable(q.data(), tile, width, rows_t, items, rel.data());
    }
    for (size_t u = 0; u < tile; ++u) {
      double* ru = rel.data() + u * items;
      for (int64_t r = 0; r < items; ++r) ru[r] = ru[r] + 0.0;
      uint8_t* out = codes + (u0 + u) * s.channels;
      std::copy(plan.fixed_codes().begin(), plan.fixed_codes().end(), out);
      // Item rank j spans cumulative counts (h + j g, h + (j + 1) g]. Cut t
      // falls in the group of rank a_t, the last rank starting below it:
      // ranks before a_t are inside cut t, ranks after it outside.
      std::array<int64_t, 3> a{};
      for (int t = 0; t < 3; ++t) {
        const double cut = plan.cuts()[t];
        int64_t j = cut > h ? static_cast<int64_t>((cut - h) / g) : 0;
        j = std::clamp<int64_t>(j, 0, items);
        while (j > 0 && h + static_cast<double>(j) * g >= cut) --j;
        while (j < items && h + static_cast<double>(j + 1) * g < cut) ++j;
        a[t] = j;
      }
      std::iota(order.begin(), order.end(), 0);
      const ByRelevance by{ru};
      int64_t lo = 0;
      bool tied = false;
      for (int t = 0; t < 3 && !tied; ++t) {
        if (a[t] >= items) break;
        if (a[t] >= lo) {
          std::nth_element(order.begin() + lo, order.begin() + a[t], order.end(), by);
          lo = a[t] + 1;
        }
        // A cut inside a run of equal relevance orders that run block by
        // block: leave it to the reference walk.
        const double v = ru[order[a[t]]];
        int64_t equal = 0;
        for (int64_t r = 0; r < items; ++r) equal += ru[r] == v;
        tied = equal > 1;
      }
      if (tied) {
        RefUser(plan, ru, order.data(), out);
        continue;
      }
      // A rank between the boundaries passes the cuts whose boundary lies
      // before it; a boundary item's channels are placed exactly.
      for (int64_t j = 0; j < items; ++j) {
        const int32_t r = order[j];
        if (j == a[0] || j == a[1] || j == a[2]) {
          double cum = h + static_cast<double>(j) * g;
          for (size_t b = 0; b < plan.blocks().size(); ++b) {
            cum += plan.block_elements()[b];
            out[plan.blocks()[b] + r] = static_cast<uint8_t>(plan.Tier(cum));
          }
        } else {
          const auto tier = static_cast<uint8_t>((j > a[0]) + (j > a[1]) + (j > a[2]));
          for (int64_t block : plan.blocks()) out[block + r] = tier;
        }
      }
    }
  }
}

absl::Status RelevanceTierCodes(DeviceKind device, const RelevanceTierPlan& plan,
                                const float* queries, size_t users, uint8_t* codes) {
  if (users == 0) return absl::OkStatus();
  if (queries == nullptr || codes == nullptr) {
    return absl::InvalidArgumentError("relevance tiers: null queries or codes");
  }
  const size_t n = users * static_cast<size_t>(plan.spec().width);
  for (size_t i = 0; i < n; ++i) {
    if (!std::isfinite(queries[i])) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "relevance tiers: query %d of user %d is %g", i % plan.spec().width,
          i / plan.spec().width, queries[i]));
    }
  }
  switch (device) {
    case DeviceKind::kRef:
      RelevanceTierCodesRef(plan, queries, users, codes);
      return absl::OkStatus();
    case DeviceKind::kCpu:
      RelevanceTierCodesCpu(plan, queries, users, codes, CpuHasAvx2Fma());
      return absl::OkStatus();
    case DeviceKind::kCuda:
#if defined(QFLEET_WITH_CUDA)
      if (CudaAvailable()) return RelevanceTierCodesCuda(plan, queries, users, codes);
#endif
      return absl::UnimplementedError("relevance tiers: no CUDA device in this build or machine");
  }
  return absl::InvalidArgumentError("relevance tiers: unknown device kind");
}

}  // namespace qfleet::kernels
