#ifndef QFLEET_KERNELS_QUANT_MATH_H_
#define QFLEET_KERNELS_QUANT_MATH_H_

// Element math of per-channel uniform quantization, shared by the reference,
// the CPU and the CUDA kernels. Every function here is bit-identical to the
// definitions in common/quantizer.h (QuantizeValue, DequantizeValue and the
// kMinMax path of ChooseChannelParams) on the host and on the device: the
// device side uses the IEEE round-to-nearest intrinsics (__fdiv_rn, ...) so
// nvcc can neither contract them into FMAs nor swap in approximations under
// --use_fast_math. Plain C++17 plus CUDA's built-ins: no Abseil, no STL
// containers, so any .cu file can include it.

#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define QFLEET_HD __host__ __device__
#else
#define QFLEET_HD
#endif

namespace qfleet::kernels {

// Scale and zero point of one channel: values are (q - zero_point) * scale
// for codes q in 0..2^bits-1. Same meaning as qfleet::ChannelParams.
struct QuantParams {
  float scale;
  int32_t zero_point;
};

// --- IEEE primitives (round to nearest even, no contraction) ----------------
// a / b, a + b, a - b, a * b, each rounded once to nearest-even; on the
// device through the _rn intrinsics. Thread-safe.

QFLEET_HD inline float DivRn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fdiv_rn(a, b);
#else
  return a / b;
#endif
}
QFLEET_HD inline float AddRn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fadd_rn(a, b);
#else
  return a + b;
#endif
}
QFLEET_HD inline float SubRn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fsub_rn(a, b);
#else
  return a - b;
#endif
}
QFLEET_HD inline float MulRn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}
QFLEET_HD inline double DivRn(double a, double b) {
#if defined(__CUDA_ARCH__)
  return __ddiv_rn(a, b);
#else
  return a / b;
#endif
}
QFLEET_HD inline double SubRn(double a, double b) {
#if defined(__CUDA_ARCH__)
  return __dsub_rn(a, b);
#else
  return a - b;
#endif
}
// Round half to even (std::nearbyint in the default rounding mode).
QFLEET_HD inline float RoundHalfEven(float x) {
#if defined(__CUDA_ARCH__)
  return rintf(x);
#else
  return std::nearbyint(x);
#endif
}
QFLEET_HD inline double RoundHalfEven(double x) {
#if defined(__CUDA_ARCH__)
  return rint(x);
#else
  return std::nearbyint(x);
#endif
}

QFLEET_HD inline double AbsD(double x) {
#if defined(__CUDA_ARCH__)
  return fabs(x);
#else
  return std::fabs(x);
#endif
}

// --- Codes and values --------------------------------------------------------

// Largest code at `bits` (1..8): 2^bits - 1. Thread-safe.
QFLEET_HD inline int32_t QuantMax(int bits) { return (1 << bits) - 1; }

// Code for `x`: clamp(nearbyint(x / scale) + zero_point, 0, 2^bits - 1),
// NaN -> 0, +-Inf -> qmax / 0. Identical to qfleet::QuantizeValue. `bits` in
// 1..8 and scale > 0 are preconditions (not checked). Thread-safe.
QFLEET_HD inline uint8_t QuantizeCode(float x, float scale, int32_t zero_point, int bits) {
  const float q = AddRn(RoundHalfEven(DivRn(x, scale)), static_cast<float>(zero_point));
  const float qmax = static_cast<float>(QuantMax(bits));
  if (!(q > 0.0f)) return 0;  // also NaN
  if (q >= qmax) return static_cast<uint8_t>(QuantMax(bits));
  return static_cast<uint8_t>(q);
}

// Value of code `q`: (q - zero_point) * scale, identical to
// qfleet::DequantizeValue. Thread-safe.
QFLEET_HD inline float DequantizeCode(uint8_t q, float scale, int32_t zero_point) {
  return MulRn(static_cast<float>(static_cast<int32_t>(q) - zero_point), scale);
}

// Quantize then dequantize ("fake quantization") of one value; same
// preconditions as QuantizeCode. Thread-safe.
QFLEET_HD inline float FakeQuantValue(float x, float scale, int32_t zero_point, int bits) {
  return DequantizeCode(QuantizeCode(x, scale, zero_point, bits), scale, zero_point);
}

// --- Min-max parameters ------------------------------------------------------

// Clamps a computed scale into [FLT_MIN, FLT_MAX] (NaN -> FLT_MIN), as
// common's quantizer does. Thread-safe.
QFLEET_HD inline float ClampScale(double s) {
  constexpr double kMin = 1.17549435082228750797e-38;  // FLT_MIN
  constexpr double kMax = 3.40282346638528859812e+38;  // FLT_MAX
  if (!(s >= kMin)) return static_cast<float>(kMin);
  if (s > kMax) return static_cast<float>(kMax);
  return static_cast<float>(s);
}

// Parameters of a channel whose values all equal `c` (common's constant-
// channel rule: c is reproduced exactly). `bits` in 1..8. Thread-safe.
QFLEET_HD inline QuantParams ConstantQuantParams(float c, int bits, bool symmetric) {
  const int32_t sym_zero = 1 << (bits - 1);
  if (c == 0.0f) return QuantParams{1.0f, symmetric ? sym_zero : 0};
  const float scale = ClampScale(AbsD(static_cast<double>(c)));
  if (symmetric) return QuantParams{scale, sym_zero};
  return QuantParams{scale, c > 0.0f ? 0 : 1};
}

// Scale and zero point for a channel with finite minimum `mn` and maximum
// `mx` (mn <= mx; an empty channel passes 0, 0) at `bits` in 1..8: exactly
// what qfleet::ChooseChannelParams returns with Observer::kMinMax and
// kSymmetric (symmetric == true) or kAsymmetric. Symmetric at 1 bit is
// asymmetric, as there. Preconditions not checked. Thread-safe.
QFLEET_HD inline QuantParams MinMaxQuantParams(float mn, float mx, int bits, bool symmetric) {
  symmetric = symmetric && bits >= 2;
  if (mn == mx) return ConstantQuantParams(mn, bits, symmetric);
  if (symmetric) {
    const double a = AbsD(static_cast<double>(mn));
    const double b = AbsD(static_cast<double>(mx));
    const double absmax = a > b ? a : b;
    const int32_t zero = 1 << (bits - 1);
    if (!(absmax > 0.0)) return QuantParams{1.0f, zero};
    return QuantParams{ClampScale(DivRn(absmax, static_cast<double>(zero - 1))), zero};
  }
  const double lo = static_cast<double>(mn) < 0.0 ? static_cast<double>(mn) : 0.0;
  const double hi = static_cast<double>(mx) > 0.0 ? static_cast<double>(mx) : 0.0;
  const int32_t qmax = QuantMax(bits);
  if (!(SubRn(hi, lo) > 0.0)) return QuantParams{1.0f, 0};
  const float scale = ClampScale(DivRn(SubRn(hi, lo), static_cast<double>(qmax)));
  double zero = RoundHalfEven(DivRn(-lo, static_cast<double>(scale)));
  if (zero < 0.0) zero = 0.0;
  if (zero > static_cast<double>(qmax)) zero = static_cast<double>(qmax);
  return QuantParams{scale, static_cast<int32_t>(zero)};
}

}  // namespace qfleet::kernels

#endif  // QFLEET_KERNELS_QUANT_MATH_H_
