#include "kernels/cpu/cpu_variants.h"

namespace qfleet::kernels {

bool CpuHasAvx2Fma() {
#if defined(QFLEET_KERNELS_HAVE_AVX2_VARIANTS)
  static const bool has = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  }();
  return has;
#else
  return false;
#endif
}

}  // namespace qfleet::kernels
