// qfleet_format_probe: the C++ side of tests/python/test_cross_language.py.
// It writes a QFTC container and a QFPL plan with the C++ encoders (packed
// tensors from the deployed weight quantizer) and decodes a file, printing
// what it read so Python can compare value by value:
//   qfleet_format_probe write-container FILE
//   qfleet_format_probe write-plan FILE
//   qfleet_format_probe read FILE
// `read` prints, for a container, one line per tensor:
//   tensor NAME DTYPE SHAPE BITS ZEROS SCALES VALUES
// (SHAPE etc. comma-separated, "-" when empty; floats as C99 hex, values
// dequantized) and for a plan "plan VERSION" then "layer NAME CHANNELS
// CODES" lines. Exit 1 with the decoder's status on stderr when it fails.
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/container_quant.h"
#include "common/file_io.h"
#include "common/plan_codec.h"
#include "common/quantizer.h"
#include "common/tensor_container.h"

namespace {

using qfleet::Tensor;

std::string Hex(float v) { return absl::StrFormat("%a", v); }

template <typename T, typename F>
std::string Join(const std::vector<T>& v, F format) {
  if (v.empty()) return "-";
  std::vector<std::string> parts;
  for (const T& x : v) parts.push_back(format(x));
  return absl::StrJoin(parts, ",");
}

Tensor Float(const std::string& name, std::vector<int64_t> shape, float step) {
  Tensor t;
  t.name = name;
  t.shape = std::move(shape);
  for (int64_t i = 0; i < t.NumElements(); ++i) t.values.push_back(step * (i - 5));
  return t;
}

absl::StatusOr<std::string> SampleContainer() {
  qfleet::TensorContainer c;
  c.tensors.push_back(Float("fc1.weight", {3, 4}, 0.37f));
  c.tensors.push_back(Float("fc1.bias", {3}, -0.125f));
  c.tensors.push_back(Float("scalar", {}, 1.5f));
  auto packed = qfleet::QuantizePerChannel(Float("conv.weight", {4, 2, 3}, 0.0731f),
                                           {2, 3, 5, 8}, qfleet::DeployedWeightQuant());
  if (!packed.ok()) return packed.status();
  c.tensors.push_back(*packed);
  auto uniform = qfleet::QuantizeContainer({{Float("fc2.weight", {2, 7}, -0.05f)}}, 4,
                                           qfleet::DeployedWeightQuant());
  if (!uniform.ok()) return uniform.status();
  c.tensors.push_back(uniform->tensors[0]);
  return qfleet::EncodeContainer(c);
}

absl::StatusOr<std::string> SamplePlan() {
  qfleet::PrecisionPlan p;
  p.version = 0x0102030405060708ull;
  p.layer_names = {"conv1", "fc", "head"};
  p.channels = {3, 6, 13};
  for (uint32_t i = 0; i < 22; ++i) p.codes.push_back(static_cast<uint8_t>((i * 7 + 1) % 4));
  return qfleet::EncodePlan(p);
}

int Read(const std::string& bytes) {
  if (bytes.compare(0, 4, "QFPL") == 0) {
    auto plan = qfleet::DecodePlan(bytes);
    if (!plan.ok()) {
      std::fprintf(stderr, "%s\n", plan.status().ToString().c_str());
      return 1;
    }
    std::printf("plan %llu\n", static_cast<unsigned long long>(plan->version));
    size_t offset = 0;
    for (size_t l = 0; l < plan->layer_names.size(); ++l) {
      std::vector<int> codes(plan->codes.begin() + offset,
                             plan->codes.begin() + offset + plan->channels[l]);
      offset += plan->channels[l];
      std::printf("layer %s %u %s\n", plan->layer_names[l].c_str(), plan->channels[l],
                  absl::StrJoin(codes, ",").c_str());
    }
    return 0;
  }
  auto c = qfleet::DecodeContainer(bytes);
  if (!c.ok()) {
    std::fprintf(stderr, "%s\n", c.status().ToString().c_str());
    return 1;
  }
  for (const Tensor& t : c->tensors) {
    auto values = qfleet::DequantizeTensor(t);
    if (!values.ok()) return 1;
    auto itoa = [](auto x) { return absl::StrCat(+x); };  // + prints a u8 as a number
    std::printf("tensor %s %d %s %s %s %s %s\n", t.name.c_str(), static_cast<int>(t.dtype),
                Join(t.shape, itoa).c_str(), Join(t.bits, itoa).c_str(),
                Join(t.zero_points, itoa).c_str(), Join(t.scales, Hex).c_str(),
                Join(*values, Hex).c_str());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s write-container|write-plan|read FILE\n", argv[0]);
    return 2;
  }
  const std::string command = argv[1], path = argv[2];
  if (command == "read") {
    auto bytes = qfleet::ReadFileToString(path, 1ull << 30);
    if (!bytes.ok()) {
      std::fprintf(stderr, "%s\n", bytes.status().ToString().c_str());
      return 1;
    }
    return Read(*bytes);
  }
  absl::StatusOr<std::string> bytes = absl::InvalidArgumentError("unknown command " + command);
  if (command == "write-container") bytes = SampleContainer();
  if (command == "write-plan") bytes = SamplePlan();
  absl::Status s = bytes.ok() ? qfleet::WriteStringToFile(path, *bytes) : bytes.status();
  if (!s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    return 1;
  }
  return 0;
}
