#include "sim/fl_compare.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <numeric>

#include <unistd.h>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/container_quant.h"
#include "common/file_io.h"
#include "common/status_macros.h"
#include "device/profile_probe.h"
#include "device/quant_gap.h"
#include "ml/fmnist_cnn.h"
#include "ml/model_io.h"
#include "ml/qat_trainer.h"
#include "ml/trainer.h"

namespace qfleet::apps {
namespace {

double Since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

absl::StatusOr<StepCosts> CalibrateStepCosts(const ImageDataset& train, int wbits, int abits,
                                             int batch_size, float learning_rate,
                                             std::ostream& log) {
  torch::set_num_threads(1);
  constexpr int kWarmup = 5, kSteps = 40;
  std::vector<int64_t> idx(static_cast<size_t>(batch_size) * (kWarmup + kSteps));
  std::iota(idx.begin(), idx.end(), 0);
  if (static_cast<int64_t>(idx.size()) > train.count) {
    return absl::InvalidArgumentError("too few training images to calibrate");
  }
  ml::TrainOptions opts;
  opts.batch_size = batch_size;
  opts.learning_rate = learning_rate;
  StepCosts c;
  auto per_step = [&](bool qat) -> absl::StatusOr<double> {
    ml::FmnistCnn m = ml::MakeFmnistCnn(1);
    std::vector<int64_t> warm(idx.begin(), idx.begin() + batch_size * kWarmup);
    std::vector<int64_t> timed(idx.begin() + batch_size * kWarmup, idx.end());
    if (qat) {
      RETURN_IF_ERROR(ml::TrainClassifierQat(m, train, warm, opts, wbits, abits).status());
    } else {
      RETURN_IF_ERROR(ml::TrainClassifier(m, train, warm, opts).status());
    }
    const auto t0 = std::chrono::steady_clock::now();
    if (qat) {
      RETURN_IF_ERROR(ml::TrainClassifierQat(m, train, timed, opts, wbits, abits).status());
    } else {
      RETURN_IF_ERROR(ml::TrainClassifier(m, train, timed, opts).status());
    }
    return Since(t0) / kSteps;
  };
  // Alternating repeats, keeping each strategy's fastest: a busy machine
  // only ever slows a measurement down, and alternating keeps a burst of
  // load from landing on one strategy alone.
  constexpr int kRepeats = 3;
  c.fp32_step_s = c.qat_step_s = std::numeric_limits<double>::infinity();
  for (int r = 0; r < kRepeats; ++r) {
    // The probe joins the repeats (fastest kept, like the steps): measured
    // once beside them it drifted 4.3-5.8 GFLOP/s between calibrations.
    c.ref_gflops = std::max(c.ref_gflops, device::MeasureMatmulGflops(200));
    ASSIGN_OR_RETURN(double fp32, per_step(false));
    ASSIGN_OR_RETURN(double qat, per_step(true));
    c.fp32_step_s = std::min(c.fp32_step_s, fp32);
    c.qat_step_s = std::min(c.qat_step_s, qat);
  }
  // PTQ's fixed costs per upload, as the agent pays them: quantizing the
  // trained model, and (when the task asks) dequantizing it and scoring
  // both on kQuantGapImages local samples (the quantization gap the FedHQ
  // selector learns from).
  TensorContainer model = ml::ModuleToContainer(*ml::MakeFmnistCnn(1));
  const QuantOptions q = DeployedWeightQuant();
  std::vector<int64_t> gap_sample(std::min<size_t>(device::kQuantGapImages, idx.size()));
  std::copy_n(idx.begin(), gap_sample.size(), gap_sample.begin());
  c.ptq_quantize_s = c.gap_check_s = std::numeric_limits<double>::infinity();
  for (int r = 0; r < 5; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    ASSIGN_OR_RETURN(TensorContainer packed, QuantizeContainer(model, wbits, q));
    const auto t1 = std::chrono::steady_clock::now();
    ASSIGN_OR_RETURN(TensorContainer deq, DequantizeContainer(packed));
    RETURN_IF_ERROR(device::QuantizationGap(model, deq, train, gap_sample, 1).status());
    c.ptq_quantize_s =
        std::min(c.ptq_quantize_s, std::chrono::duration<double>(t1 - t0).count());
    c.gap_check_s = std::min(c.gap_check_s, Since(t1));
  }
  log << absl::StrFormat(
      "calibration (this machine, 1 thread, batch %d): probe %.2f GFLOP/s; FP32 step %.2f ms; "
      "QAT step (w%d a%d) %.2f ms (%.2fx); PTQ quantization %.2f ms, gap check %.2f ms per "
      "model\n",
      batch_size, c.ref_gflops, c.fp32_step_s * 1e3, wbits, abits, c.qat_step_s * 1e3,
      c.qat_step_s / c.fp32_step_s, c.ptq_quantize_s * 1e3, c.gap_check_s * 1e3);
  return c;
}

absl::StatusOr<StepCosts> LoadOrCalibrate(const std::string& path, const ImageDataset& train,
                                          int wbits, int abits, int batch_size,
                                          float learning_rate, std::ostream& log) {
  if (!path.empty() && std::filesystem::exists(path)) {
    ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
    nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("costs") || !j["costs"].is_object()) {
      return absl::InvalidArgumentError(path + ": not a calibration file (want {\"costs\":{…},…})");
    }
    const auto field = [&](const char* key) -> int {
      return j.contains(key) && j[key].is_number_integer() ? j[key].get<int>() : -1;
    };
    if (field("wbits") != wbits || field("abits") != abits || field("batch_size") != batch_size) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s was measured for wbits %d abits %d batch %d, this run uses %d/%d/%d; delete it or "
          "pass another --calibration file",
          path, field("wbits"), field("abits"), field("batch_size"), wbits, abits, batch_size));
    }
    if (!j["costs"].contains("gap_check_s")) {
      return absl::InvalidArgumentError(
          path + ": has no gap_check_s (measured before the gap check was timed on its own); "
                 "delete it or pass another --calibration file");
    }
    ASSIGN_OR_RETURN(StepCosts c, StepCosts::FromJson(j["costs"].dump()));
    if (!c.valid()) return absl::InvalidArgumentError(path + ": step costs are not positive");
    log << absl::StrFormat(
        "calibration from %s: probe %.2f GFLOP/s; FP32 step %.2f ms; QAT step %.2f ms (%.2fx); "
        "PTQ quantization %.2f ms, gap check %.2f ms per model\n",
        path, c.ref_gflops, c.fp32_step_s * 1e3, c.qat_step_s * 1e3, c.qat_step_s / c.fp32_step_s,
        c.ptq_quantize_s * 1e3, c.gap_check_s * 1e3);
    return c;
  }
  ASSIGN_OR_RETURN(StepCosts c,
                   CalibrateStepCosts(train, wbits, abits, batch_size, learning_rate, log));
  if (!path.empty()) {
    nlohmann::json j = {{"wbits", wbits},
                        {"abits", abits},
                        {"batch_size", batch_size},
                        {"costs", nlohmann::json::parse(c.ToJson())}};
    RETURN_IF_ERROR(WriteStringToFile(path, j.dump(2) + "\n"));
    log << "calibration written to " << path << "\n";
  }
  return c;
}

absl::StatusOr<std::vector<StrategyResult>> RunFlCompare(const FlCompareOptions& o,
                                                         std::ostream& progress) {
  if (o.strategies.empty()) return absl::InvalidArgumentError("--compare lists no strategy");
  FleetSpec spec = DefaultFleet();
  if (!o.fleet_file.empty()) {
    ASSIGN_OR_RETURN(spec, LoadFleetSpec(o.fleet_file));
  }
  ASSIGN_OR_RETURN(ImageDataset train, LoadFashionMnist(o.sim.data_dir, /*train=*/true));
  FlSimOptions sim = o.sim;
  ASSIGN_OR_RETURN(sim.step_costs,
                   LoadOrCalibrate(o.calibration_path, train, static_cast<int>(sim.weight_bits),
                                   static_cast<int>(sim.activation_bits),
                                   static_cast<int>(sim.batch_size), sim.learning_rate, progress));
  sim.fleet = DrawFleet(spec, sim.devices, sim.seed);
  std::map<std::string, int> mix;
  for (const SimDevice& d : sim.fleet) ++mix[d.class_name];
  std::vector<std::string> parts;
  for (const auto& [name, n] : mix) parts.push_back(absl::StrFormat("%d %s", n, name));
  progress << "fleet: " << absl::StrJoin(parts, ", ") << "\n";
  progress << "PTQ clients upload their quantized " << (sim.ptq_upload == "delta" ? "change from the global model" : "model") << "\n";
  if (sim.max_steps > 0) {
    // What each device's local work costs in simulated time (before
    // transfers), to read against --sim-deadline-s.
    for (size_t i = 0; i < sim.fleet.size(); ++i) {
      const SimDevice& d = sim.fleet[i];
      const double gflops = sim.step_costs.ref_gflops * d.speed;
      ASSIGN_OR_RETURN(double ptq, ComputeSeconds(sim.step_costs, "ptq", sim.max_steps, gflops, d.load));
      ASSIGN_OR_RETURN(double qat, ComputeSeconds(sim.step_costs, "qat", sim.max_steps, gflops, d.load));
      progress << absl::StrFormat(
          "  device %2d %-15s speed %.2f load %.2f: %d steps take %.2f s (PTQ) / %.2f s (QAT); "
          "links %d/%d kbit/s\n",
          i, d.class_name, d.speed, d.load, sim.max_steps, ptq, qat, d.downlink_kbps,
          d.uplink_kbps);
    }
  }

  // A warm-up model written to a temporary file is removed on every exit.
  struct RemoveFile {
    std::string path;
    ~RemoveFile() {
      std::error_code ignored;
      if (!path.empty()) std::filesystem::remove(path, ignored);
    }
  } temporary_warmup;
  if (o.warmup_rounds > 0) {
    FlSimOptions warm = sim;
    warm.strategy = "fp32";
    warm.rounds = o.warmup_rounds;
    warm.db.clear();
    warm.coordinator.clear();
    warm.init_model_path.clear();
    // Every device's data goes into the trained model: no simulated
    // deadline drops a slow device's FP32 update here.
    warm.sim_deadline_s = 0;
    warm.export_model_path = o.warmup_model_path;
    if (warm.export_model_path.empty()) {
      warm.export_model_path =
          (std::filesystem::temp_directory_path() /
           absl::StrFormat("qfleet-warmup-%d-seed%d.qftc", ::getpid(), sim.seed))
              .string();
      temporary_warmup.path = warm.export_model_path;
    }
    progress << absl::StrFormat("warm-up: %d FP32 rounds\n", o.warmup_rounds);
    ASSIGN_OR_RETURN(FlSimResult w, RunFlSim(warm, progress));
    double warm_s = 0;
    for (const RoundRow& row : w.rounds) warm_s += row.sim_seconds;
    const RoundRow* last = w.rounds.empty() ? nullptr : &w.rounds.back();
    progress << absl::StrFormat(
        "warm-up done: %.0f simulated s; FP32 acc %.4f, served at w%d a%d %.4f; every strategy "
        "starts from %s\n",
        warm_s, last ? last->acc_fp32 : -1.0, sim.weight_bits, sim.activation_bits,
        last ? last->acc_served : -1.0, warm.export_model_path);
    sim.init_model_path = warm.export_model_path;
  }

  std::vector<StrategyResult> results;
  for (const std::string& name : o.strategies) {
    FlSimOptions run = sim;
    run.strategy = name;
    run.db.clear();
    run.coordinator.clear();
    const auto t0 = std::chrono::steady_clock::now();
    ASSIGN_OR_RETURN(FlSimResult r, RunFlSim(run, progress));
    StrategyResult s;
    s.name = name;
    s.wall_s = Since(t0);
    s.rounds = r.rounds;
    for (const RoundRow& row : r.rounds) {
      s.total_time_s += row.sim_seconds;
      s.bytes += row.bytes_down + row.bytes_up;
      s.selector_overhead_s += row.selector_seconds;
      if (row.state == "done") s.final_acc = row.acc_served;
      if (s.time_to_target_s < 0 && row.state == "done" && row.acc_served >= o.target_acc) {
        s.time_to_target_s = s.total_time_s;
      }
    }
    std::vector<double> done;
    for (const RoundRow& row : r.rounds) {
      if (row.state == "done") done.push_back(row.acc_served);
    }
    if (!done.empty()) {
      const size_t k = std::min<size_t>(5, done.size());
      s.final_acc_last5 = std::accumulate(done.end() - k, done.end(), 0.0) / static_cast<double>(k);
    }
    progress << absl::StrFormat("%s: final served acc %.4f, simulated %.0f s, wall %.0f s\n", name,
                                s.final_acc, s.total_time_s, s.wall_s);
    results.push_back(std::move(s));
  }
  if (!o.json_path.empty()) {
    std::ofstream out(o.json_path);
    out << CompareToJson(results, sim.step_costs);
    if (!out) return absl::UnavailableError("cannot write " + o.json_path);
  }
  if (!o.plot_path.empty()) RETURN_IF_ERROR(WriteComparePlot(results, o.plot_path, o.target_acc));
  return results;
}

std::string FormatCompareTable(const std::vector<StrategyResult>& results) {
  std::string out = absl::StrFormat("%-11s %-10s %-10s %-16s %-14s %-12s %-9s %-12s\n",
                                    "strategy", "final_acc", "last5_acc", "time_to_target_s", "total_time_s", "bytes",
                                    "wall_s", "selector_s");
  for (const StrategyResult& s : results) {
    out += absl::StrFormat(
        "%-11s %-10.4f %-10.4f %-16s %-14.1f %-12d %-9.1f %-12.4f\n", s.name, s.final_acc,
        s.final_acc_last5,
        s.time_to_target_s < 0 ? std::string("never") : absl::StrFormat("%.1f", s.time_to_target_s),
        s.total_time_s, s.bytes, s.wall_s, s.selector_overhead_s);
  }
  return out;
}

std::string CompareToJson(const std::vector<StrategyResult>& results, const StepCosts& costs) {
  nlohmann::json arr = nlohmann::json::array();
  for (const StrategyResult& s : results) {
    nlohmann::json rounds = nlohmann::json::array();
    double t = 0;
    for (const RoundRow& r : s.rounds) {
      t += r.sim_seconds;
      rounds.push_back({{"round", r.round}, {"acc", r.acc_served}, {"acc_fp32", r.acc_fp32},
                        {"sim_time_s", t}, {"bytes", r.bytes_down + r.bytes_up}});
    }
    arr.push_back({{"name", s.name},
                   {"final_acc", s.final_acc},
                   {"final_acc_last5", s.final_acc_last5},
                   {"time_to_target_s", s.time_to_target_s < 0 ? nlohmann::json(nullptr)
                                                               : nlohmann::json(s.time_to_target_s)},
                   {"total_time_s", s.total_time_s},
                   {"bytes", s.bytes},
                   {"wall_s", s.wall_s},
                   {"selector_overhead_s", s.selector_overhead_s},
                   {"rounds", rounds}});
  }
  nlohmann::json calib = nlohmann::json::parse(costs.ToJson());
  return nlohmann::json{{"calibration", calib}, {"strategies", arr}}.dump(2) + "\n";
}

absl::Status WriteComparePlot(const std::vector<StrategyResult>& results, const std::string& png,
                              double target_acc) {
  if (std::system("command -v gnuplot >/dev/null 2>&1") != 0) {
    return absl::UnavailableError("gnuplot is not installed; cannot write " + png);
  }
  const std::filesystem::path dir = std::filesystem::temp_directory_path() /
                                    absl::StrFormat("qfleet-plot-%d", ::getpid());
  std::filesystem::create_directories(dir);
  std::string plot = "plot ";
  for (size_t i = 0; i < results.size(); ++i) {
    const std::filesystem::path data = dir / (results[i].name + ".dat");
    std::ofstream out(data);
    double t = 0;
    for (const RoundRow& r : results[i].rounds) {
      t += r.sim_seconds;
      if (r.state == "done") out << t << " " << r.acc_served << "\n";
    }
    plot += absl::StrFormat("%s'%s' using 1:2 with linespoints title '%s'", i ? ", " : "",
                            data.string(), results[i].name);
  }
  plot += absl::StrFormat(", %g with lines dashtype 2 lc rgb 'gray' title 'target'", target_acc);
  const std::filesystem::path script = dir / "plot.gp";
  std::ofstream(script) << "set terminal pngcairo size 1000,640 font 'sans,11'\n"
                        << "set output '" << png << "'\n"
                        << "set xlabel 'simulated time (s)'\nset ylabel 'served (quantized) test accuracy'\n"
                        << "set key bottom right\nset grid\n"
                        << plot << "\n";
  const int rc = std::system(("gnuplot '" + script.string() + "'").c_str());
  std::filesystem::remove_all(dir);
  if (rc != 0) return absl::InternalError("gnuplot failed writing " + png);
  return absl::OkStatus();
}

}  // namespace qfleet::apps
