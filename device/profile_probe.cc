#include "device/profile_probe.h"

#include <unistd.h>

#include <chrono>
#include <fstream>
#include <string>

#include <torch/torch.h>

namespace qfleet::device {

double MeasureMatmulGflops(int64_t budget_ms) {
  constexpr int64_t kN = 256;
  torch::NoGradGuard no_grad;
  torch::Tensor a = torch::ones({kN, kN});
  torch::Tensor b = torch::ones({kN, kN});
  torch::Tensor c = torch::mm(a, b);  // warm-up
  int64_t iters = 0;
  const auto start = std::chrono::steady_clock::now();
  double elapsed = 0;
  do {
    c = torch::mm(a, b);
    ++iters;
    elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  } while (elapsed * 1000 < budget_ms);
  return 2.0 * kN * kN * kN * iters / elapsed / 1e9;
}

uint64_t AvailableMemoryMib() {
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  uint64_t kib = 0;
  std::string unit;
  while (meminfo >> key >> kib >> unit) {
    if (key == "MemAvailable:") return kib / 1024;
  }
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long page = sysconf(_SC_PAGE_SIZE);
  if (pages > 0 && page > 0) return static_cast<uint64_t>(pages) * page / (1024 * 1024);
  return 0;
}

}  // namespace qfleet::device
