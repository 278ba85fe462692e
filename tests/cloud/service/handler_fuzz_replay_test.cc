// Deterministic stand-in for the handler fuzzers in tests/fuzz/ (built with
// clang and libFuzzer by run_fuzzers.sh): runs each target over its valid
// seeds and many mutations of them, so the normal g++ build compiles the
// targets and exercises their invariants. With QFLEET_FUZZ_SEED_DIR set it
// also writes the seeds there for the fuzzers' corpora.
#include <random>

#include "gtest/gtest.h"
#include "tests/fuzz/fuzz_mutate.h"
#include "tests/fuzz/handler_fuzz_targets.h"

namespace qfleet::cloud::fuzz {
namespace {

using Target = int (*)(const uint8_t*, size_t);

void Replay(const char* kind, Target target, const std::vector<std::string>& seeds,
            int mutations_per_seed, uint32_t rng_seed) {
  std::mt19937 rng(rng_seed);
  ResetFleet();
  const int64_t ok_before = SucceededCalls();
  for (size_t i = 0; i < seeds.size(); ++i) {
    ::qfleet::fuzz::WriteSeed(kind, static_cast<int>(i), seeds[i]);
    const std::string& seed = seeds[i];
    EXPECT_EQ(target(reinterpret_cast<const uint8_t*>(seed.data()), seed.size()), 0);
    std::string input = seed;
    for (int m = 0; m < mutations_per_seed; ++m) {
      // Walk: mutate the previous mutant, restarting from the seed now and then.
      input = ::qfleet::fuzz::Mutate(m % 8 == 0 ? seed : input, rng);
      EXPECT_EQ(target(reinterpret_cast<const uint8_t*>(input.data()), input.size()), 0);
    }
  }
  // The seeds are valid calls: some inputs must get through the handlers.
  EXPECT_GT(SucceededCalls(), ok_before + static_cast<int64_t>(seeds.size()) / 2) << kind;
}

TEST(HandlerFuzzReplayTest, FleetRequestsSurviveMutations) {
  Replay("fleet_request", FuzzFleetRequest, FleetRequestSeeds(), 200, 21);
}

TEST(HandlerFuzzReplayTest, UploadStreamsSurviveMutations) {
  Replay("upload_stream", FuzzUploadStream, UploadStreamSeeds(), 200, 22);
}

TEST(HandlerFuzzReplayTest, AdminRequestsSurviveMutations) {
  Replay("admin_request", FuzzAdminRequest, AdminRequestSeeds(), 100, 23);
}

}  // namespace
}  // namespace qfleet::cloud::fuzz
