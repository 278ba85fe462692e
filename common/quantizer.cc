#include "common/quantizer.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "absl/strings/str_format.h"
#include "common/bit_packing.h"
#include "common/status_macros.h"

namespace qfleet {
namespace {

// Clipping range of one channel; symmetric schemes use max(-lo, hi).
struct Range {
  double lo;
  double hi;
};

float ClampScale(double s) {
  constexpr float kMin = std::numeric_limits<float>::min();
  constexpr float kMax = std::numeric_limits<float>::max();
  if (!(s >= kMin)) return kMin;
  if (s > kMax) return kMax;
  return static_cast<float>(s);
}

ChannelParams AsymmetricParams(Range r, int bits) {
  const double lo = std::min(r.lo, 0.0);
  const double hi = std::max(r.hi, 0.0);
  const int qmax = (1 << bits) - 1;
  if (!(hi - lo > 0.0)) return ChannelParams{1.0f, 0};
  const float scale = ClampScale((hi - lo) / qmax);
  const double zero = std::clamp(std::nearbyint(-lo / scale), 0.0, static_cast<double>(qmax));
  return ChannelParams{scale, static_cast<int32_t>(zero)};
}

// bits >= 2.
ChannelParams SymmetricParams(Range r, int bits) {
  const double absmax = std::max(-r.lo, r.hi);
  const int zero = 1 << (bits - 1);
  if (!(absmax > 0.0)) return ChannelParams{1.0f, zero};
  return ChannelParams{ClampScale(absmax / (zero - 1)), zero};
}

ChannelParams ParamsFor(Range r, bool symmetric, int bits) {
  return symmetric ? SymmetricParams(r, bits) : AsymmetricParams(r, bits);
}

ChannelParams ConstantParams(float c, bool symmetric, int bits) {
  const int32_t sym_zero = 1 << (bits - 1);
  if (c == 0.0f) return ChannelParams{1.0f, symmetric ? sym_zero : 0};
  const float scale = ClampScale(std::fabs(static_cast<double>(c)));
  if (symmetric) return ChannelParams{scale, sym_zero};
  return ChannelParams{scale, c > 0.0f ? 0 : 1};
}

// Linearly interpolated percentile p (0..100) of v; reorders v. v non-empty.
double Percentile(std::vector<float>& v, double p) {
  const double pos = p / 100.0 * static_cast<double>(v.size() - 1);
  const size_t lower = static_cast<size_t>(std::floor(pos));
  std::nth_element(v.begin(), v.begin() + lower, v.end());
  const double a = v[lower];
  if (lower + 1 >= v.size()) return a;
  const double b = *std::min_element(v.begin() + lower + 1, v.end());
  return a + (pos - static_cast<double>(lower)) * (b - a);
}

Range PercentileRange(const float* x, size_t n, bool symmetric, double p, Range minmax) {
  std::vector<float> v(x, x + n);
  if (symmetric) {
    for (float& f : v) f = std::fabs(f);
    const double absmax = Percentile(v, p);
    return absmax > 0.0 ? Range{-absmax, absmax} : minmax;
  }
  const double hi = Percentile(v, p);
  const double lo = Percentile(v, 100.0 - p);
  return std::max(hi, 0.0) - std::min(lo, 0.0) > 0.0 ? Range{lo, hi} : minmax;
}

// Sum of squared fake-quant error of one channel under `p`. The same
// arithmetic as QuantizeValue/DequantizeValue, written so the compiler can
// vectorize it: rounding to nearest-even by adding and subtracting 1.5 * 2^23
// (exact for |v| < 2^22; |x / scale| <= qmax / kMseMinShrink here), the clamp
// as min/max, and eight independent float partial sums.
double SquaredError(const float* x, size_t n, ChannelParams p, int bits) {
  constexpr float kRound = 12582912.0f;  // 1.5 * 2^23
  const float scale = p.scale;
  const float zero = static_cast<float>(p.zero_point);
  const float qmax = static_cast<float>((1 << bits) - 1);
  constexpr size_t kLanes = 8;
  float acc[kLanes] = {};
  size_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (size_t j = 0; j < kLanes; ++j) {
      const float v = x[i + j] / scale;
      float q = (v + kRound) - kRound + zero;
      q = std::min(std::max(q, 0.0f), qmax);
      const float d = x[i + j] - (q - zero) * scale;
      acc[j] += d * d;
    }
  }
  double err = 0.0;
  for (size_t j = 0; j < kLanes; ++j) err += acc[j];
  for (; i < n; ++i) {
    const double d = static_cast<double>(x[i]) - DequantizeValue(QuantizeValue(x[i], p, bits), p);
    err += d * d;
  }
  return err;
}

// Shrink factor of point k of the kMseGridPoints-point grid.
double MseShrink(int k) { return 1.0 - (1.0 - kMseMinShrink) * k / (kMseGridPoints - 1); }

ChannelParams MseParams(const float* x, size_t n, bool symmetric, int bits, Range minmax) {
  std::vector<double> err(kMseGridPoints, -1.0);
  std::vector<ChannelParams> params(kMseGridPoints);
  auto eval = [&](int k) {
    if (k < 0 || k >= kMseGridPoints || err[k] >= 0.0) return;
    const double a = MseShrink(k);
    params[k] = ParamsFor(Range{a * minmax.lo, a * minmax.hi}, symmetric, bits);
    err[k] = SquaredError(x, n, params[k], bits);
  };
  // Coarse pass over every kMseCoarseStep-th point (and the last), then the
  // points around the coarse winner.
  for (int k = 0; k < kMseGridPoints; k += kMseCoarseStep) eval(k);
  eval(kMseGridPoints - 1);
  auto best_of = [&]() {
    int best = 0;
    for (int k = 1; k < kMseGridPoints; ++k) {
      if (err[k] >= 0.0 && err[k] < err[best]) best = k;  // ties keep the larger shrink factor
    }
    return best;
  };
  const int coarse = best_of();
  for (int k = coarse - kMseCoarseStep + 1; k < coarse + kMseCoarseStep; ++k) eval(k);
  return params[best_of()];
}

absl::Status ValidateOptions(int bits, const QuantOptions& opt) {
  if (bits < 1 || bits > 8) {
    return absl::InvalidArgumentError(absl::StrFormat("bits %d not in 1..8", bits));
  }
  if (opt.scheme != QuantScheme::kSymmetric && opt.scheme != QuantScheme::kAsymmetric) {
    return absl::InvalidArgumentError("unknown QuantScheme");
  }
  switch (opt.observer) {
    case Observer::kMinMax:
    case Observer::kMse:
      return absl::OkStatus();
    case Observer::kPercentile:
      if (!(opt.percentile >= 50.0 && opt.percentile <= 100.0)) {
        return absl::InvalidArgumentError(
            absl::StrFormat("percentile %g not in [50, 100]", opt.percentile));
      }
      return absl::OkStatus();
  }
  return absl::InvalidArgumentError("unknown Observer");
}

}  // namespace

absl::StatusOr<ChannelParams> ChooseChannelParams(const float* x, size_t n, int bits,
                                                  const QuantOptions& opt) {
  RETURN_IF_ERROR(ValidateOptions(bits, opt));
  const bool symmetric = opt.scheme == QuantScheme::kSymmetric && bits >= 2;
  if (n == 0) return ConstantParams(0.0f, symmetric, bits);
  if (x == nullptr) return absl::InvalidArgumentError("null values with n > 0");
  float mn = x[0], mx = x[0];
  for (size_t i = 0; i < n; ++i) {
    if (!std::isfinite(x[i])) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "value %d is %s", i, std::isnan(x[i]) ? "NaN" : "infinite"));
    }
    mn = std::min(mn, x[i]);
    mx = std::max(mx, x[i]);
  }
  if (mn == mx) return ConstantParams(mn, symmetric, bits);

  const double absmax = std::max(std::fabs(static_cast<double>(mn)), std::fabs(static_cast<double>(mx)));
  const Range minmax = symmetric ? Range{-absmax, absmax} : Range{mn, mx};
  switch (opt.observer) {
    case Observer::kMinMax:
      return ParamsFor(minmax, symmetric, bits);
    case Observer::kPercentile:
      return ParamsFor(PercentileRange(x, n, symmetric, opt.percentile, minmax), symmetric, bits);
    case Observer::kMse:
      return MseParams(x, n, symmetric, bits, minmax);
  }
  return absl::InvalidArgumentError("unknown Observer");
}

absl::StatusOr<Tensor> QuantizePerChannel(const Tensor& fp32,
                                          const std::vector<int>& bits_per_channel,
                                          const QuantOptions& opt) {
  if (fp32.dtype != DType::kFloat32) {
    return absl::InvalidArgumentError(
        absl::StrFormat("tensor '%s': QuantizePerChannel needs a kFloat32 tensor", fp32.name));
  }
  RETURN_IF_ERROR(ValidateTensor(fp32));
  const int64_t channels = fp32.Channels();
  const size_t row = static_cast<size_t>(fp32.RowLength());
  if (bits_per_channel.size() != 1 &&
      static_cast<int64_t>(bits_per_channel.size()) != channels) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "tensor '%s': %d bit-widths given for %d channels (need 1 or one per channel)",
        fp32.name, bits_per_channel.size(), channels));
  }
  for (int b : bits_per_channel) {
    if (b < 1 || b > 8) {
      return absl::InvalidArgumentError(
          absl::StrFormat("tensor '%s': bit-width %d not in 1..8", fp32.name, b));
    }
  }

  Tensor out;
  out.name = fp32.name;
  out.dtype = DType::kPackedPerChannel;
  out.shape = fp32.shape;
  out.bits.resize(static_cast<size_t>(channels));
  out.scales.resize(static_cast<size_t>(channels));
  out.zero_points.resize(static_cast<size_t>(channels));
  size_t packed_bytes = 0;
  for (int64_t c = 0; c < channels; ++c) {
    const int b = bits_per_channel.size() == 1 ? bits_per_channel[0] : bits_per_channel[c];
    out.bits[c] = static_cast<uint8_t>(b);
    packed_bytes += PackedBytes(row, b);
  }
  out.packed.assign(packed_bytes, 0);

  std::vector<uint8_t> codes(row);
  size_t offset = 0;
  for (int64_t c = 0; c < channels; ++c) {
    const int b = out.bits[c];
    const float* x = fp32.values.data() + static_cast<size_t>(c) * row;
    ASSIGN_OR_RETURN(const ChannelParams p, ChooseChannelParams(x, row, b, opt));
    out.scales[c] = p.scale;
    out.zero_points[c] = p.zero_point;
    for (size_t i = 0; i < row; ++i) codes[i] = QuantizeValue(x[i], p, b);
    PackBits(codes.data(), row, b, out.packed.data() + offset);
    offset += PackedBytes(row, b);
  }
  return out;
}

absl::StatusOr<Tensor> FakeQuantizePerChannel(const Tensor& fp32,
                                              const std::vector<int>& bits_per_channel,
                                              const QuantOptions& opt) {
  ASSIGN_OR_RETURN(const Tensor q, QuantizePerChannel(fp32, bits_per_channel, opt));
  Tensor out;
  out.name = fp32.name;
  out.dtype = DType::kFloat32;
  out.shape = fp32.shape;
  ASSIGN_OR_RETURN(out.values, DequantizeTensor(q));
  return out;
}

}  // namespace qfleet
