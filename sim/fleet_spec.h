#ifndef QFLEET_SIM_FLEET_SPEC_H_
#define QFLEET_SIM_FLEET_SPEC_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace qfleet::apps {

// One class of device in a simulated fleet. Speeds are relative to the
// machine running the simulation (its matmul probe = 1.0).
struct DeviceClass {
  std::string name;
  double share = 0;          // fraction of the fleet
  double speed = 1.0;        // compute relative to the calibration machine
  double load_min = 1.0;     // share of compute training gets: uniform in
  double load_max = 1.0;     //   [load_min, load_max], hidden from the cloud
  uint64_t downlink_kbps = 0;
  uint64_t uplink_kbps = 0;
  uint64_t memory_mib = 0;
  std::vector<uint32_t> lowbit_support;
  double availability = 1.0;
};

struct FleetSpec {
  std::vector<DeviceClass> classes;
};

// One simulated device drawn from a FleetSpec.
struct SimDevice {
  std::string class_name;
  double speed = 1.0;
  double load = 1.0;
  uint64_t downlink_kbps = 0, uplink_kbps = 0, memory_mib = 0;
  std::vector<uint32_t> lowbit_support;
  double availability = 1.0;
};

// The default mix (docs/fleet.md explains where its spread comes from).
FleetSpec DefaultFleet();

// Reads a fleet YAML file:
//   classes:
//     - {name: flagship, share: 0.2, speed: 1.0, load: [0.6, 1.0],
//        downlink_kbps: 50000, uplink_kbps: 20000, memory_mib: 8192,
//        lowbit: [8, 4], availability: 0.9}
// NotFound for a missing file; InvalidArgument naming the field for bad
// values (shares must be > 0; they are normalized).
absl::StatusOr<FleetSpec> LoadFleetSpec(const std::string& path);

// Draws `n` devices: class counts proportional to shares (largest
// remainder), classes assigned to device indices by a seeded shuffle, loads
// drawn per device. Deterministic for a seed.
std::vector<SimDevice> DrawFleet(const FleetSpec& spec, int n, uint64_t seed);

}  // namespace qfleet::apps

#endif  // QFLEET_SIM_FLEET_SPEC_H_
