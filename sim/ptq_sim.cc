#include "sim/ptq_sim.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <numeric>
#include <sstream>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "apps/cli_util.h"
#include "common/bit_allocator.h"
#include "common/idx_dataset.h"
#include "common/seeded_random.h"
#include "common/status_macros.h"
#include "common/tensor_container.h"
#include "ml/fmnist_cnn.h"
#include "ml/gptq.h"
#include "ml/hessian_trace.h"
#include "ml/layer_weights.h"
#include "ml/model_io.h"
#include "ml/plan_apply.h"
#include "ml/trainer.h"

namespace qfleet::apps {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int64_t kQuickTrain = 5000;
constexpr int64_t kQuickTest = 1000;
constexpr int kQuickBatch = 32;
constexpr int kQuickEpochs = 2;
constexpr int kQuickHessianSamples = 16;
constexpr int64_t kQuickHessianBatch = 256;
// Names the cache's training settings; the tensor is stripped before loading.
constexpr char kCacheMetaName[] = "ptq_sim.train_config";
constexpr float kCacheFormat = 1.0f;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// The first n images of `d` (all of them when n is 0 or larger).
ImageDataset Truncate(ImageDataset d, int64_t n) {
  if (n <= 0 || n >= d.count) return d;
  const int64_t pixels = d.rows * d.cols;
  d.count = n;
  d.pixels.resize(static_cast<size_t>(n * pixels));
  d.labels.resize(static_cast<size_t>(n));
  return d;
}

std::string ObserverName(Observer o) {
  switch (o) {
    case Observer::kMinMax: return "minmax";
    case Observer::kPercentile: return "percentile";
    case Observer::kMse: return "mse";
  }
  return "?";
}

std::string QuantName(const QuantOptions& q) {
  return absl::StrCat(q.scheme == QuantScheme::kSymmetric ? "symmetric" : "asymmetric", "/",
                      ObserverName(q.observer));
}

// The training settings a cached model must match: format, epochs, sample
// count, batch size, learning rate, and the seed in 16-bit pieces (exact in
// float32).
Tensor CacheMeta(const PtqSimOptions& o, int epochs, int64_t train_count) {
  Tensor t;
  t.name = kCacheMetaName;
  t.values = {kCacheFormat, static_cast<float>(epochs), static_cast<float>(train_count),
              static_cast<float>(o.batch_size), o.learning_rate};
  for (int shift = 0; shift < 64; shift += 16) {
    t.values.push_back(static_cast<float>((o.seed >> shift) & 0xffff));
  }
  t.shape = {static_cast<int64_t>(t.values.size())};
  return t;
}

// Loads the cached model into `model` if the file decodes, carries matching
// training settings and fits the model. The model is unchanged otherwise.
absl::Status LoadCache(const std::string& path, const Tensor& meta, torch::nn::Module& model) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("no cache at ", path));
  std::stringstream bytes;
  bytes << in.rdbuf();
  ASSIGN_OR_RETURN(TensorContainer c, DecodeContainer(bytes.str()));
  const Tensor* stored = c.Find(kCacheMetaName);
  if (stored == nullptr || stored->values != meta.values) {
    return absl::FailedPreconditionError("cache was trained with other settings");
  }
  c.tensors.erase(std::remove_if(c.tensors.begin(), c.tensors.end(),
                                 [](const Tensor& t) { return t.name == kCacheMetaName; }),
                  c.tensors.end());
  return ml::LoadContainer(c, model);
}

// Writes the model and its settings atomically (temp file + rename), then
// reads it back to check it loads.
absl::Status StoreCache(const std::string& path, const Tensor& meta, torch::nn::Module& model) {
  TensorContainer c = ml::ModuleToContainer(model);
  c.tensors.push_back(meta);
  ASSIGN_OR_RETURN(std::string bytes, EncodeContainer(c));
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out) return absl::UnavailableError(absl::StrCat("cannot write ", tmp));
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return absl::UnavailableError(absl::StrCat("cannot rename ", tmp, ": ", ec.message()));
  ml::FmnistCnn check = ml::MakeFmnistCnn(0);
  return LoadCache(path, meta, *check);
}

// Mean squared logit difference between the model and FP32 on `x`.
double LogitMse(ml::FmnistCnn& model, const torch::Tensor& x, const torch::Tensor& fp_logits) {
  torch::NoGradGuard no_grad;
  model->eval();
  return (model->forward(x) - fp_logits).pow(2).mean().item<double>();
}

ml::ChannelBitMap Uniform(const std::vector<ml::LayerWeight>& layers, int bits) {
  ml::ChannelBitMap m;
  for (const auto& l : layers) m[l.layer] = {bits};
  return m;
}

// What the alloc method needs per channel, computed once per run.
struct AllocInputs {
  std::vector<ChannelBitCost> costs;           // all channels of all layers, in layer order
  std::vector<std::pair<std::string, int64_t>> layers;  // (layer, channels)
};

// Sensitivity per channel: max(Hutchinson trace, 0) / elements (a trace
// estimate below 0 is noise or negative curvature; neither asks for bits).
// Error table: the per-element MSE of RTN with `quant` at each allowed
// width, measured on the channel's weights.
absl::StatusOr<AllocInputs> PrepareAlloc(ml::FmnistCnn& model,
                                         const std::vector<ml::LayerSensitivity>& sens,
                                         const PtqSimOptions& o) {
  AllocInputs in;
  const auto layers = ml::QuantizableLayers(*model);
  if (layers.size() != sens.size()) return absl::InternalError("sensitivity/layer mismatch");
  for (size_t l = 0; l < layers.size(); ++l) {
    const Tensor w = ml::FromTorch(layers[l].param_name, layers[l].weight);
    const int64_t row = w.RowLength();
    std::vector<std::vector<float>> fake;
    for (int b : o.alloc_bits) {
      ASSIGN_OR_RETURN(Tensor q, FakeQuantizePerChannel(w, {b}, o.quant));
      fake.push_back(std::move(q.values));
    }
    for (int64_t c = 0; c < layers[l].channels; ++c) {
      ChannelBitCost cost;
      cost.elements = row;
      cost.sensitivity = std::max(sens[l].per_channel[c], 0.0) / static_cast<double>(row);
      for (const auto& values : fake) {
        double err = 0;
        for (int64_t i = c * row; i < (c + 1) * row; ++i) {
          const double d = static_cast<double>(values[i]) - w.values[i];
          err += d * d;
        }
        cost.error.push_back(err / static_cast<double>(row));
      }
      in.costs.push_back(std::move(cost));
    }
    in.layers.emplace_back(layers[l].layer, layers[l].channels);
  }
  return in;
}

absl::StatusOr<ml::ChannelBitMap> AllocatedBits(const AllocInputs& in, int wbits,
                                                    const PtqSimOptions& o, double* avg_bits) {
  BitAllocOptions bo;
  bo.allowed_bits = o.alloc_bits;
  bo.average_bits = wbits;
  ASSIGN_OR_RETURN(std::vector<int> bits, AllocateBits(in.costs, bo));
  *avg_bits = AverageBits(in.costs, bits);
  ml::ChannelBitMap m;
  size_t offset = 0;
  for (const auto& [layer, channels] : in.layers) {
    m[layer].assign(bits.begin() + offset, bits.begin() + offset + channels);
    offset += channels;
  }
  return m;
}

absl::Status ValidateOptions(const PtqSimOptions& o) {
  if (o.methods.empty() || o.wbits.empty()) {
    return absl::InvalidArgumentError("need at least one method and one width");
  }
  for (const std::string& m : o.methods) {
    if (m != "rtn" && m != "gptq" && m != "alloc") {
      return absl::InvalidArgumentError(absl::StrCat("unknown method '", m, "'"));
    }
  }
  for (int b : o.wbits) {
    if (b < 1 || b > 8) return absl::InvalidArgumentError(absl::StrFormat("width %d not in 1..8", b));
  }
  if (o.calib < 1 || o.train_epochs < 1 || o.batch_size < 1 || o.hessian_samples < 1 ||
      o.hessian_batch < 0 || o.threads < 1 || !(o.learning_rate > 0)) {
    return absl::InvalidArgumentError(
        "calib, epochs, batch size, Hessian samples, threads and the learning rate must be "
        "positive");
  }
  return absl::OkStatus();
}

// Trains (or loads) the FP32 model into `model`; fills the cache fields.
absl::Status PrepareModel(const PtqSimOptions& o, const ImageDataset& train, int epochs,
                          ml::FmnistCnn& model, PtqSimResult& r, std::ostream& progress) {
  const Tensor meta = CacheMeta(o, epochs, train.count);
  if (!o.cache_path.empty()) {
    absl::Status s = LoadCache(o.cache_path, meta, *model);
    if (s.ok()) {
      r.from_cache = true;
      progress << "loaded FP32 model from " << o.cache_path << "\n";
      return absl::OkStatus();
    }
    // LoadCache leaves the freshly initialised model untouched on failure.
    if (!absl::IsNotFound(s)) progress << "cache unusable (" << s.message() << "); retraining\n";
  }
  std::vector<int64_t> idx(static_cast<size_t>(train.count));
  std::iota(idx.begin(), idx.end(), 0);
  ml::TrainOptions t;
  t.epochs = epochs;
  t.batch_size = o.batch_size;
  t.learning_rate = o.learning_rate;
  t.seed = o.seed;
  const auto start = Clock::now();
  ASSIGN_OR_RETURN(ml::TrainStats stats, ml::TrainClassifier(model, train, idx, t));
  r.train_seconds = SecondsSince(start);
  progress << absl::StrFormat("trained FP32 model: %d epochs, train acc %.4f, %.1f s\n", epochs,
                              stats.accuracy, r.train_seconds);
  if (!o.cache_path.empty()) {
    absl::Status s = StoreCache(o.cache_path, meta, *model);
    if (!s.ok()) progress << "cache not written: " << s.message() << "\n";
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<PtqSimResult> RunPtqSim(const PtqSimOptions& options, std::ostream& progress) {
  RETURN_IF_ERROR(ValidateOptions(options));
  PtqSimOptions o = options;
  const bool want_alloc = std::count(o.methods.begin(), o.methods.end(), "alloc") > 0;
  if (want_alloc) {
    for (int b : o.wbits) {
      if (o.alloc_bits.empty() || b < o.alloc_bits.front() || b > o.alloc_bits.back()) {
        return absl::InvalidArgumentError(
            absl::StrFormat("alloc budget %d outside the allowed widths", b));
      }
    }
  }
  const int epochs = o.quick ? kQuickEpochs : o.train_epochs;
  if (o.quick) {
    o.batch_size = kQuickBatch;
    o.hessian_samples = std::min(o.hessian_samples, kQuickHessianSamples);
    o.hessian_batch = kQuickHessianBatch;
  }
  torch::set_num_threads(o.threads);
  const std::string dir = o.data_dir.empty() ? kDefaultFashionMnistDir : o.data_dir;
  ASSIGN_OR_RETURN(ImageDataset train, LoadFashionMnist(dir, /*train=*/true));
  ASSIGN_OR_RETURN(ImageDataset test, LoadFashionMnist(dir, /*train=*/false));
  if (o.quick) {
    train = Truncate(std::move(train), kQuickTrain);
    test = Truncate(std::move(test), kQuickTest);
  }
  if (o.calib > train.count) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%d calibration samples but only %d training images", o.calib, train.count));
  }

  PtqSimResult r;
  r.train_samples = train.count;
  r.test_samples = test.count;
  r.calib_samples = o.calib;
  r.quant = QuantName(o.quant);
  ml::FmnistCnn model = ml::MakeFmnistCnn(o.seed);
  RETURN_IF_ERROR(PrepareModel(o, train, epochs, model, r, progress));
  ASSIGN_OR_RETURN(r.fp32_acc, ml::EvaluateAccuracy(model, test));
  progress << absl::StrFormat("FP32 test accuracy %.4f\n", r.fp32_acc);

  // Calibration batch: `calib` training images in a seeded random order.
  std::vector<int64_t> order(static_cast<size_t>(train.count));
  std::iota(order.begin(), order.end(), 0);
  SeededRandom rng(o.seed ^ 0xca1b'ca1bULL);
  rng.Shuffle(order);
  auto [calib_x, calib_y] = ml::MakeBatch(train, order.data(), static_cast<size_t>(o.calib));
  torch::Tensor fp_logits;
  {
    torch::NoGradGuard no_grad;
    model->eval();
    fp_logits = model->forward(calib_x);
  }
  const TensorContainer fp32 = ml::ModuleToContainer(*model);
  const auto layers = ml::QuantizableLayers(*model);

  AllocInputs alloc;
  if (want_alloc) {
    const auto start = Clock::now();
    const int64_t n = o.hessian_batch > 0 ? std::min(o.hessian_batch, o.calib) : o.calib;
    ASSIGN_OR_RETURN(auto sens, ml::HessianTrace(model, calib_x.narrow(0, 0, n),
                                                     calib_y.narrow(0, 0, n), o.hessian_samples,
                                                     o.seed));
    ASSIGN_OR_RETURN(alloc, PrepareAlloc(model, sens, o));
    r.hessian_seconds = SecondsSince(start);
    progress << absl::StrFormat("Hessian traces (%d samples, %d images): ", o.hessian_samples, n);
    for (const auto& s : sens) progress << absl::StrFormat("%s %.4g  ", s.name, s.trace);
    progress << absl::StrFormat("(%.1f s)\n", r.hessian_seconds);
  }

  ml::GptqOptions gopts;
  gopts.quant = o.quant;
  gopts.act_order = o.gptq_act_order;
  for (const std::string& method : o.methods) {
    for (int wbits : o.wbits) {
      RETURN_IF_ERROR(ml::LoadContainer(fp32, *model));
      PtqResultRow row;
      row.method = method;
      row.wbits = wbits;
      row.avg_bits = wbits;
      const auto start = Clock::now();
      std::string detail;
      if (method == "rtn") {
        RETURN_IF_ERROR(ml::ApplyChannelBits(*model, Uniform(layers, wbits), o.quant));
      } else if (method == "gptq") {
        ASSIGN_OR_RETURN(auto reports,
                         ml::GptqQuantizeModel(model, calib_x, Uniform(layers, wbits), gopts));
        for (const auto& rep : reports) {
          row.layers.push_back({rep.layer, rep.gptq_error, rep.rtn_error,
                                rep.collect_seconds + rep.quantize_seconds});
          absl::StrAppendFormat(&detail, "  %s: err %.3g vs rtn %.3g (%.1f+%.1f s)\n", rep.layer,
                                rep.gptq_error, rep.rtn_error, rep.collect_seconds,
                                rep.quantize_seconds);
        }
      } else {
        ASSIGN_OR_RETURN(auto bits, AllocatedBits(alloc, wbits, o, &row.avg_bits));
        RETURN_IF_ERROR(ml::ApplyChannelBits(*model, bits, o.quant));
        for (const auto& [layer, widths] : bits) {
          std::map<int, int> hist;
          for (int b : widths) ++hist[b];
          absl::StrAppend(&detail, "  ", layer, " widths:");
          for (const auto& [b, n] : hist) absl::StrAppendFormat(&detail, " %dx%d", n, b);
          detail += "\n";
        }
      }
      row.seconds = SecondsSince(start);
      ASSIGN_OR_RETURN(row.acc, ml::EvaluateAccuracy(model, test));
      row.calib_logit_mse = LogitMse(model, calib_x, fp_logits);
      progress << absl::StrFormat("%-5s w%d: acc %.4f (avg %.3f bits, %.1f s)\n", method, wbits,
                                  row.acc, row.avg_bits, row.seconds)
               << detail;
      r.results.push_back(std::move(row));
    }
  }
  RETURN_IF_ERROR(ml::LoadContainer(fp32, *model));
  return r;
}

std::string FormatPtqTable(const PtqSimResult& r) {
  std::string out = absl::StrFormat(
      "FP32 accuracy %.4f  (train %d, test %d, calib %d, grids %s%s)\n", r.fp32_acc,
      r.train_samples, r.test_samples, r.calib_samples, r.quant, r.from_cache ? ", cached model" : "");
  absl::StrAppendFormat(&out, "%-6s %5s %8s %8s %8s %12s %8s\n", "method", "wbits", "avg_bits",
                        "acc", "d_acc", "logit_mse", "secs");
  for (const PtqResultRow& row : r.results) {
    absl::StrAppendFormat(&out, "%-6s %5d %8.3f %8.4f %+8.4f %12.4g %8.2f\n", row.method, row.wbits,
                          row.avg_bits, row.acc, row.acc - r.fp32_acc, row.calib_logit_mse,
                          row.seconds);
  }
  return out;
}

std::string PtqResultToJson(const PtqSimResult& r) {
  nlohmann::json j;
  j["fp32_acc"] = r.fp32_acc;
  j["train_samples"] = r.train_samples;
  j["test_samples"] = r.test_samples;
  j["calib_samples"] = r.calib_samples;
  j["quant"] = r.quant;
  j["from_cache"] = r.from_cache;
  j["train_seconds"] = r.train_seconds;
  j["hessian_seconds"] = r.hessian_seconds;
  j["results"] = nlohmann::json::array();
  for (const PtqResultRow& row : r.results) {
    nlohmann::json e = {{"method", row.method},       {"wbits", row.wbits},
                        {"avg_bits", row.avg_bits},   {"acc", row.acc},
                        {"calib_logit_mse", row.calib_logit_mse}, {"seconds", row.seconds}};
    if (!row.layers.empty()) {
      e["layers"] = nlohmann::json::array();
      for (const PtqLayerRow& l : row.layers) {
        e["layers"].push_back(
            {{"layer", l.layer}, {"gptq_error", l.gptq_error}, {"rtn_error", l.rtn_error},
             {"seconds", l.seconds}});
      }
    }
    j["results"].push_back(std::move(e));
  }
  return j.dump(2) + "\n";
}

bool SelectsPtqTask(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--task=ptq") == 0) return true;
    if (std::strcmp(argv[i], "--task") == 0 && i + 1 < argc && std::strcmp(argv[i + 1], "ptq") == 0) {
      return true;
    }
  }
  return false;
}

int PtqSimMain(int argc, char** argv) {
  CLI::App app{"qfleet-sim --task ptq: post-training quantization of the Fashion-MNIST CNN",
               "qfleet-sim"};
  PtqSimOptions o;
  o.data_dir = kDefaultFashionMnistDir;
  std::string task = "ptq", json_path, observer = "mse", scheme = "asym";
  app.add_option("--task", task, "ptq (this study) or fl (the fleet simulator)")
      ->check(CLI::IsMember({"ptq"}));
  app.add_option("--methods", o.methods, "comma-separated: rtn, gptq, alloc")
      ->delimiter(',')
      ->check(CLI::IsMember({"rtn", "gptq", "alloc"}));
  app.add_option("--wbits", o.wbits, "comma-separated weight widths (alloc: average budget)")
      ->delimiter(',')
      ->check(CLI::Range(1, 8));
  app.add_option("--seed", o.seed, "seed of model init, training order and calibration draw");
  app.add_option("--json", json_path, "write the results as JSON to this file");
  app.add_option("--cache", o.cache_path, "FP32 model cache (QFTC); trained and written if absent");
  app.add_option("--data-dir", o.data_dir, "Fashion-MNIST IDX directory");
  app.add_option("--calib", o.calib, "calibration samples from the training split")
      ->check(CLI::Range(1, 60000));
  app.add_option("--train-epochs", o.train_epochs, "FP32 training epochs")->check(CLI::Range(1, 100));
  app.add_option("--batch-size", o.batch_size, "FP32 training batch size")->check(CLI::Range(1, 4096));
  app.add_option("--lr", o.learning_rate, "FP32 training SGD learning rate")
      ->check(CLI::PositiveNumber);
  app.add_flag("--quick", o.quick, "5000 train / 1000 test images, 2 epochs (tests)");
  app.add_option("--hessian-samples", o.hessian_samples, "Hutchinson samples for alloc")
      ->check(CLI::Range(1, 10000));
  app.add_option("--hessian-batch", o.hessian_batch,
                 "calibration images for the Hessian (0 = all --calib)")
      ->check(CLI::Range(0, 60000));
  app.add_option("--observer", observer, "per-channel range observer")
      ->check(CLI::IsMember({"minmax", "mse", "percentile"}));
  app.add_option("--scheme", scheme, "asym or sym grids")->check(CLI::IsMember({"asym", "sym"}));
  app.add_flag("--act-order", o.gptq_act_order, "GPTQ: quantize columns by decreasing diag(H)");
  app.add_option("--alloc-bits", o.alloc_bits, "comma-separated allowed widths for alloc")
      ->delimiter(',')
      ->check(CLI::Range(1, 8));
  app.add_option("--threads", o.threads, "torch intra-op threads")->check(CLI::Range(1, 256));
  if (int rc = ParseOrExit(app, argc, argv); rc >= 0) return rc;
  o.quant.observer = observer == "minmax" ? Observer::kMinMax
                     : observer == "mse"  ? Observer::kMse
                                          : Observer::kPercentile;
  o.quant.scheme = scheme == "sym" ? QuantScheme::kSymmetric : QuantScheme::kAsymmetric;
  std::sort(o.alloc_bits.begin(), o.alloc_bits.end());
  o.alloc_bits.erase(std::unique(o.alloc_bits.begin(), o.alloc_bits.end()), o.alloc_bits.end());

  auto result = RunPtqSim(o, std::cerr);
  if (!result.ok()) {
    std::cerr << "qfleet-sim: " << result.status().message() << "\n";
    return 1;
  }
  std::cout << FormatPtqTable(*result);
  if (!json_path.empty()) {
    std::ofstream out(json_path);
    out << PtqResultToJson(*result);
    if (!out) {
      std::cerr << "qfleet-sim: cannot write " << json_path << "\n";
      return 1;
    }
  }
  return 0;
}

}  // namespace qfleet::apps
