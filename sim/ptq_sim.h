#ifndef QFLEET_SIM_PTQ_SIM_H_
#define QFLEET_SIM_PTQ_SIM_H_

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/quantizer.h"

namespace qfleet::apps {

// qfleet-sim --task ptq: a post-training quantization study on the
// Fashion-MNIST CNN. Trains the model in FP32 (or loads it from a cache),
// then quantizes every weight per output channel with each method at each
// width and reports test accuracy:
//   rtn    round-to-nearest at a uniform width (common/quantizer.h)
//   gptq   GPTQ at a uniform width (ml/gptq.h), sequential
//   alloc  HAWQ-V2 mixed precision: per-channel Hutchinson Hessian traces
//          on the calibration batch, widths from `alloc_bits` chosen by
//          common/bit_allocator.h so the element-weighted mean width is at
//          most --wbits, then RTN.
struct PtqSimOptions {
  std::vector<std::string> methods = {"rtn", "gptq", "alloc"};
  std::vector<int> wbits = {2, 3, 4, 8};
  uint64_t seed = 1;
  std::string data_dir;    // empty: kDefaultFashionMnistDir
  std::string cache_path;  // empty: always train; else load / store here
  int64_t calib = 512;     // calibration samples drawn from the train split
  int train_epochs = 3;
  int batch_size = 64;
  float learning_rate = 0.05f;
  // Quick mode for tests: first 5000 train / 1000 test images, 2 epochs at
  // batch 32, Hessian from 16 samples on 256 images.
  bool quick = false;
  int hessian_samples = 32;
  // Calibration images the Hutchinson estimate uses (the first ones of the
  // calibration batch; 0 = all).
  int64_t hessian_batch = 0;
  // Scheme and observer of every per-channel grid (RTN, GPTQ and alloc).
  QuantOptions quant{QuantScheme::kAsymmetric, Observer::kMse};
  bool gptq_act_order = false;
  // Widths the allocator may give a channel. 1 bit is left out by default:
  // a two-level grid is far outside the second-order (Hessian) model the
  // costs come from, and letting the allocator use it lost accuracy.
  std::vector<int> alloc_bits = {2, 3, 4, 5, 6, 7, 8};
  // LibTorch intra-op threads. 1 by default: results depend on the thread
  // count, and on a shared machine more threads can be several times slower.
  int threads = 1;
};

// GPTQ's per-layer proxy errors (GptqLayerReport) for one row.
struct PtqLayerRow {
  std::string layer;
  double gptq_error = 0;
  double rtn_error = 0;
  double seconds = 0;  // collecting H plus quantizing
};

struct PtqResultRow {
  std::string method;
  int wbits = 0;                 // requested width / budget
  double avg_bits = 0;           // element-weighted mean width used
  double acc = 0;                // test top-1
  double calib_logit_mse = 0;    // mean squared logit change vs FP32 on calibration data
  double seconds = 0;            // quantization time (excludes the shared Hessian)
  std::vector<PtqLayerRow> layers;  // gptq only
};

struct PtqSimResult {
  double fp32_acc = 0;
  int64_t train_samples = 0, test_samples = 0, calib_samples = 0;
  bool from_cache = false;
  double train_seconds = 0;    // 0 when loaded from the cache
  double hessian_seconds = 0;  // 0 without alloc
  std::string quant;           // e.g. "asymmetric/mse"
  std::vector<PtqResultRow> results;
};

// Runs the study. Deterministic for a seed and thread count. NotFound when
// the dataset is missing; InvalidArgument for an unknown method, a width
// outside 1..8 (or outside alloc_bits for alloc), calib < 1 or more than the
// training samples, or bad training settings; Internal if training fails.
// A corrupt or mismatched cache is retrained and rewritten (noted on
// `progress`); a cache that cannot be written is reported there too and is
// not an error.
absl::StatusOr<PtqSimResult> RunPtqSim(const PtqSimOptions& options, std::ostream& progress);

// Human table, and the JSON document
// {"fp32_acc":…,"results":[{"method":"gptq","wbits":3,"acc":…,…},…],…}.
std::string FormatPtqTable(const PtqSimResult& result);
std::string PtqResultToJson(const PtqSimResult& result);

// True when argv selects "--task ptq" (or "--task=ptq").
bool SelectsPtqTask(int argc, char** argv);

// The qfleet-sim --task ptq command line: parses argv, runs RunPtqSim,
// prints the table, writes --json. Returns the process exit code: 0 on
// success, 1 on a failed run, 2 on a bad flag (0 after --help).
int PtqSimMain(int argc, char** argv);

}  // namespace qfleet::apps

#endif  // QFLEET_SIM_PTQ_SIM_H_
