#include "sim/fleet_spec.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <numeric>
#include <random>

#include "absl/strings/str_format.h"

namespace qfleet::apps {

FleetSpec DefaultFleet() {
  FleetSpec f;
  //            name              share speed  load        down    up     mem   lowbit  avail
  f.classes.push_back({"edge-box", 0.15, 2.0, 0.9, 1.0, 100000, 50000, 16384, {8, 4}, 1.0});
  f.classes.push_back({"flagship-phone", 0.20, 1.0, 0.6, 1.0, 50000, 20000, 8192, {8, 4}, 0.9});
  f.classes.push_back({"midrange-phone", 0.40, 0.4, 0.5, 1.0, 20000, 5000, 4096, {8}, 0.8});
  f.classes.push_back({"lowend-phone", 0.25, 0.12, 0.4, 0.9, 5000, 1000, 2048, {}, 0.7});
  return f;
}

absl::StatusOr<FleetSpec> LoadFleetSpec(const std::string& path) {
  if (!std::filesystem::exists(path)) return absl::NotFoundError("fleet file not found: " + path);
  FleetSpec spec;
  try {
    YAML::Node root = YAML::LoadFile(path);
    YAML::Node classes = root["classes"];
    if (!classes || !classes.IsSequence() || classes.size() == 0) {
      return absl::InvalidArgumentError(path + ": needs a non-empty 'classes' list");
    }
    for (size_t i = 0; i < classes.size(); ++i) {
      const YAML::Node& c = classes[i];
      DeviceClass d;
      d.name = c["name"] ? c["name"].as<std::string>() : absl::StrFormat("class%d", i);
      d.share = c["share"] ? c["share"].as<double>() : 0;
      d.speed = c["speed"] ? c["speed"].as<double>() : 1.0;
      if (c["load"]) {
        if (c["load"].IsSequence() && c["load"].size() == 2) {
          d.load_min = c["load"][0].as<double>();
          d.load_max = c["load"][1].as<double>();
        } else {
          d.load_min = d.load_max = c["load"].as<double>();
        }
      }
      d.downlink_kbps = c["downlink_kbps"] ? c["downlink_kbps"].as<uint64_t>() : 0;
      d.uplink_kbps = c["uplink_kbps"] ? c["uplink_kbps"].as<uint64_t>() : 0;
      d.memory_mib = c["memory_mib"] ? c["memory_mib"].as<uint64_t>() : 0;
      if (c["lowbit"]) d.lowbit_support = c["lowbit"].as<std::vector<uint32_t>>();
      d.availability = c["availability"] ? c["availability"].as<double>() : 1.0;
      auto bad = [&](const char* what) {
        return absl::InvalidArgumentError(absl::StrFormat("%s: class '%s': %s", path, d.name, what));
      };
      if (!(d.share > 0) || !std::isfinite(d.share)) return bad("share must be > 0");
      if (!(d.speed > 0) || !std::isfinite(d.speed)) return bad("speed must be > 0");
      if (!(d.load_min > 0) || d.load_max > 1 || d.load_min > d.load_max) {
        return bad("load must lie in (0, 1] with min <= max");
      }
      if (d.availability < 0 || d.availability > 1) return bad("availability must be in [0, 1]");
      spec.classes.push_back(std::move(d));
    }
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(path + ": " + e.what());
  }
  return spec;
}

std::vector<SimDevice> DrawFleet(const FleetSpec& spec, int n, uint64_t seed) {
  const double total = std::accumulate(spec.classes.begin(), spec.classes.end(), 0.0,
                                       [](double s, const DeviceClass& c) { return s + c.share; });
  // Largest-remainder apportionment of n devices to classes.
  std::vector<int> counts(spec.classes.size());
  std::vector<std::pair<double, size_t>> remainders;
  int assigned = 0;
  for (size_t i = 0; i < spec.classes.size(); ++i) {
    const double exact = n * spec.classes[i].share / total;
    counts[i] = static_cast<int>(std::floor(exact));
    assigned += counts[i];
    remainders.push_back({exact - counts[i], i});
  }
  std::stable_sort(remainders.begin(), remainders.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  for (size_t k = 0; assigned < n; ++k, ++assigned) ++counts[remainders[k % remainders.size()].second];
  std::vector<size_t> classes;
  for (size_t i = 0; i < counts.size(); ++i) classes.insert(classes.end(), counts[i], i);
  std::mt19937_64 rng(seed ^ 0x5eedf1ee7ull);
  std::shuffle(classes.begin(), classes.end(), rng);
  std::vector<SimDevice> out;
  for (size_t idx : classes) {
    const DeviceClass& c = spec.classes[idx];
    SimDevice d;
    d.class_name = c.name;
    d.speed = c.speed;
    const double u = static_cast<double>(rng() >> 11) / static_cast<double>(1ull << 53);
    d.load = c.load_min + (c.load_max - c.load_min) * u;
    d.downlink_kbps = c.downlink_kbps;
    d.uplink_kbps = c.uplink_kbps;
    d.memory_mib = c.memory_mib;
    d.lowbit_support = c.lowbit_support;
    d.availability = c.availability;
    out.push_back(std::move(d));
  }
  return out;
}

}  // namespace qfleet::apps
