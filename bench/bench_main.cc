// qfleet-bench's main: Google Benchmark's flags and console table, followed
// by the bandwidth ratios the fake-quant targets are stated in
// (BM_FakeQuant/4 >= 0.6x BM_Memcpy and >= 8x BM_TorchFakeQuant, single
// thread). The ratios use the median of the repetitions when there are any.

#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

namespace {

class RatioReporter : public benchmark::ConsoleReporter {
 public:
  explicit RatioReporter(OutputOptions options) : ConsoleReporter(options) {}

  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& run : runs) {
      const auto it = run.counters.find("bytes_per_second");
      if (it == run.counters.end() || run.error_occurred) continue;
      const bool median = run.run_type == Run::RT_Aggregate && run.aggregate_name == "median";
      if (run.run_type == Run::RT_Aggregate && !median) continue;
      Rate& r = rates_[run.run_name.str()];
      if (median || !r.median) r = Rate{it->second.value, median};
    }
  }

  void Finalize() override {
    ConsoleReporter::Finalize();
    const auto rate = [&](const char* name) -> double {
      const auto it = rates_.find(name);
      return it == rates_.end() ? 0.0 : it->second.bytes_per_second;
    };
    struct Ratio {
      const char* num;
      const char* den;
      double target;  // 0: informational
    };
    const Ratio ratios[] = {{"BM_FakeQuant/2", "BM_Memcpy", 0},
                            {"BM_FakeQuant/4", "BM_Memcpy", 0.6},
                            {"BM_FakeQuant/8", "BM_Memcpy", 0},
                            {"BM_FakeQuant/4", "BM_MemcpyStream", 0},
                            {"BM_FakeQuantNoStream/4", "BM_Memcpy", 0},
                            {"BM_FakeQuant/4", "BM_TorchFakeQuant", 8.0},
                            {"BM_FakeQuant/4", "BM_FakeQuantRef/4", 0},
                            {"BM_PlanTiersCpu", "BM_PlanTiersTorch", 0},
                            {"BM_PlanTiersCpu", "BM_PlanTiersRef", 0},
                            {"BM_PlanTiersCuda", "BM_PlanTiersTorch", 0},
                            {"BM_PlanTiersCuda", "BM_PlanTiersCpu", 0}};
    bool header = false;
    for (const Ratio& r : ratios) {
      const double num = rate(r.num), den = rate(r.den);
      if (num <= 0 || den <= 0) continue;
      if (!header) {
        std::printf("\nBandwidth ratios (bytes_per_second%s):\n",
                    rates_.begin()->second.median ? ", medians" : "");
        header = true;
      }
      const double x = num / den;
      std::printf("  %-22s / %-18s = %8.3fx", r.num, r.den, x);
      if (r.target > 0) {
        std::printf("   target >= %.1fx: %s", r.target, x >= r.target ? "MET" : "MISSED");
      }
      std::printf("\n");
    }
    std::fflush(stdout);
  }

 private:
  struct Rate {
    double bytes_per_second = 0;
    bool median = false;
  };
  std::map<std::string, Rate> rates_;
};

// Console colours as Google Benchmark's own reporter would pick them:
// --benchmark_color=true/false/auto (default auto: only on a terminal). A
// reporter passed to RunSpecifiedBenchmarks does not see the flag itself.
benchmark::ConsoleReporter::OutputOptions ConsoleOptions(int argc, char** argv) {
  constexpr char kFlag[] = "--benchmark_color=";
  bool color = isatty(STDOUT_FILENO) != 0;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], kFlag, sizeof(kFlag) - 1) != 0) continue;
    const std::string v = argv[i] + sizeof(kFlag) - 1;
    if (v == "true" || v == "yes" || v == "1") color = true;
    if (v == "false" || v == "no" || v == "0") color = false;
  }
  return color ? benchmark::ConsoleReporter::OO_Defaults
               : benchmark::ConsoleReporter::OO_Tabular;
}

// True when the command line picks a display format other than the console
// table; the ratio summary is then left out so the output stays parseable.
bool NonConsoleFormat(int argc, char** argv) {
  constexpr char kFlag[] = "--benchmark_format=";
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], kFlag, sizeof(kFlag) - 1) == 0 &&
        std::strcmp(argv[i] + sizeof(kFlag) - 1, "console") != 0) {
      return true;
    }
  }
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  const bool plain = NonConsoleFormat(argc, argv);
  const benchmark::ConsoleReporter::OutputOptions options = ConsoleOptions(argc, argv);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  if (plain) {
    benchmark::RunSpecifiedBenchmarks();
  } else {
    RatioReporter reporter(options);
    benchmark::RunSpecifiedBenchmarks(&reporter);
  }
  benchmark::Shutdown();
  return 0;
}
