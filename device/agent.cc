#include "device/agent.h"

#include <algorithm>
#include <chrono>
#include <random>
#include <thread>

#include <torch/torch.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/container_quant.h"
#include "common/file_io.h"
#include "common/partition.h"
#include "common/status_macros.h"
#include "device/quant_gap.h"
#include "ml/fmnist_cnn.h"
#include "ml/model_io.h"
#include "ml/qat_state.h"
#include "ml/qat_trainer.h"
#include "ml/served_eval.h"
#include "common/bit_packing.h"
#include "common/quantizer.h"
#include <optional>
#include "ml/trainer.h"

namespace qfleet::device {
namespace {

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

bool Transient(const absl::Status& s) { return IsTransient(s); }

}  // namespace

Agent::Agent(FleetClient* client, AgentOptions options)
    : client_(client), options_(std::move(options)) {}

Agent::~Agent() = default;

absl::Status Agent::Register() {
  const bool images = options_.train != nullptr && !options_.indices.empty();
  if (!images && !options_.seqrec.has_value()) {
    return absl::InvalidArgumentError("agent has no local training data");
  }
  if (options_.seqrec.has_value()) RETURN_IF_ERROR(ValidateSeqRecDeviceData(*options_.seqrec));
  if (images) {
    for (int64_t i : options_.indices) {
      if (i < 0 || i >= options_.train->count) {
        return absl::InvalidArgumentError(absl::StrFormat("local sample index %d out of range", i));
      }
    }
  }
  RegisterInfo info;
  info.device_name = options_.device_name;
  info.profile = options_.profile;
  if (images) {
    info.sample_count = options_.indices.size();
    info.label_histogram =
        LabelHistogram(options_.train->labels, options_.indices, options_.train->num_classes);
  } else {
    info.sample_count = options_.seqrec->history.size();
  }
  info.join_secret = options_.join_secret;
  info.agent_version = "qfleet-agent/0.1";
  if (!options_.state_file.empty() && client_->token().empty()) {
    absl::StatusOr<std::string> kept = ReadFileToString(options_.state_file, 4096);
    if (kept.ok()) {
      info.current_token = std::string(absl::StripAsciiWhitespace(*kept));
    } else if (!absl::IsNotFound(kept.status())) {
      return kept.status();
    }
  }
  RETURN_IF_ERROR(client_->Register(info));
  if (!options_.state_file.empty()) {
    // Written to a temporary name and renamed, so a crash never leaves a
    // half-written token behind.
    const std::string tmp = options_.state_file + ".tmp";
    RETURN_IF_ERROR(WriteStringToFile(tmp, client_->token() + "\n", 0600));
    if (std::rename(tmp.c_str(), options_.state_file.c_str()) != 0) {
      return absl::UnavailableError("cannot replace the agent state file " + options_.state_file);
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> Agent::ModelBytes(const DeviceTask& task, uint64_t* downloaded) {
  *downloaded = 0;
  if (cached_version_ != task.model_version || cached_model_.empty()) {
    ASSIGN_OR_RETURN(cached_model_, client_->DownloadModel(task.model_version, task.model_sha256));
    cached_version_ = task.model_version;
    *downloaded = cached_model_.size();
  }
  return cached_model_;
}

namespace {

// QAT's starting activation steps: what the coordinator's served-model
// calibration (cloud/fmnist_backend.cc) picks for the downloaded model,
// computed on up to kQatCalibrationImages of this device's own samples. A
// QAT client then trains against the activation grid its model will be
// served on; LSQ's own initialisation (2 mean|a| / sqrt(Qp)) clips far
// lower, and the served model lost 10-15 points to that mismatch at 3 bits
// (docs/notebook/2026-12-07-fedhq.md, "Pilot: low-bit activations").
constexpr size_t kQatCalibrationImages = 512;

absl::StatusOr<std::vector<double>> ServedActivationSteps(const TensorContainer& global, int wbits,
                                                          int abits, const ImageDataset& data,
                                                          const std::vector<int64_t>& indices) {
  ASSIGN_OR_RETURN(TensorContainer served,
                   FakeQuantizeContainer(global, wbits, DeployedWeightQuant()));
  ml::FmnistCnn net = ml::MakeFmnistCnn(0);
  RETURN_IF_ERROR(ml::LoadContainer(served, *net));
  const std::vector<int64_t> sample(
      indices.begin(), indices.begin() + std::min(indices.size(), kQatCalibrationImages));
  ASSIGN_OR_RETURN(ImageDataset calib, SelectImages(data, sample));
  return ml::CalibrateActivationSteps(net, calib, abits);
}

// Packs the latent weights of a QAT model with its learned LSQ steps:
// symmetric codes, zero point 2^(bits-1), scale = step (what the device
// trained against). Biases stay FP32.
absl::StatusOr<TensorContainer> PackWithSteps(const TensorContainer& latent,
                                              const ml::QatState& state) {
  const int bits = state.weight_bits();
  const int32_t zero = 1 << (bits - 1);
  TensorContainer out;
  for (const Tensor& t : latent.tensors) {
    torch::Tensor step = state.weight_step(t.name);
    if (t.shape.size() < 2 || !step.defined()) {
      out.tensors.push_back(t);
      continue;
    }
    const int64_t channels = t.Channels(), row = t.RowLength();
    Tensor q;
    q.name = t.name;
    q.shape = t.shape;
    q.dtype = DType::kPackedPerChannel;
    q.bits.assign(channels, static_cast<uint8_t>(bits));
    q.zero_points.assign(channels, zero);
    std::vector<uint8_t> codes(row);
    torch::Tensor steps = step.detach().to(torch::kFloat32).contiguous();
    for (int64_t c = 0; c < channels; ++c) {
      ChannelParams p{steps.data_ptr<float>()[c], zero};
      if (!(p.scale > 0) || !std::isfinite(p.scale)) {
        return absl::InternalError(absl::StrFormat("QAT step of %s[%d] is %g", t.name, c, p.scale));
      }
      q.scales.push_back(p.scale);
      for (int64_t i = 0; i < row; ++i) codes[i] = QuantizeValue(t.values[c * row + i], p, bits);
      const size_t offset = q.packed.size();
      q.packed.resize(offset + PackedBytes(row, bits));
      PackBits(codes.data(), row, bits, q.packed.data() + offset);
    }
    out.tensors.push_back(std::move(q));
  }
  return out;
}

}  // namespace

absl::Status Agent::Execute(const DeviceTask& task, TaskReport* report, std::string* upload) {
  if (task.strategy == "eval") {
    if (!options_.seqrec.has_value()) {
      return absl::FailedPreconditionError("an eval task needs recommendation data on this device");
    }
    uint64_t downloaded = 0;
    ASSIGN_OR_RETURN(std::string model_bytes, ModelBytes(task, &downloaded));
    report->bytes_down = downloaded;
    stats_.bytes_down += downloaded;
    const auto start = std::chrono::steady_clock::now();
    ASSIGN_OR_RETURN(report->metrics, RunSeqRecEvalTask(*client_, task, model_bytes, *options_.seqrec));
    report->compute_seconds = SecondsSince(start);
    return absl::OkStatus();
  }
  if (task.strategy != "fp32" && task.strategy != "ptq" && task.strategy != "qat") {
    return absl::UnimplementedError("strategy '" + task.strategy + "' is not supported by this agent");
  }
  if (task.upload_delta && task.strategy != "ptq") {
    return absl::InvalidArgumentError("task " + std::to_string(task.task_id) + ": strategy '" +
                                      task.strategy + "' cannot upload a delta (ptq only)");
  }
  if (options_.train == nullptr || options_.indices.empty()) {
    return absl::FailedPreconditionError("a training task needs image data on this device");
  }
  uint64_t downloaded = 0;
  ASSIGN_OR_RETURN(std::string model_bytes, ModelBytes(task, &downloaded));
  report->bytes_down = downloaded;
  stats_.bytes_down += downloaded;
  ASSIGN_OR_RETURN(TensorContainer global, DecodeContainer(model_bytes));

  ml::FmnistCnn model = ml::MakeFmnistCnn(0);
  RETURN_IF_ERROR(ml::LoadContainer(global, *model));
  ml::TrainOptions train;
  train.epochs = static_cast<int>(task.local_epochs);
  train.batch_size = static_cast<int>(task.batch_size);
  train.learning_rate = task.learning_rate;
  train.max_steps = task.max_steps;
  train.seed = task.seed;
  const int wbits = static_cast<int>(task.weight_bits);
  const int abits = static_cast<int>(task.activation_bits);
  std::optional<ml::QatState> qat;
  ml::TrainStats stats;
  if (task.strategy == "qat") {
    ASSIGN_OR_RETURN(ml::QatState state,
                     ml::QatState::Create(*model, wbits, abits, ml::kFmnistActPoints));
    qat.emplace(std::move(state));
    if (abits > 0) {
      // The coordinator's steps when it sent them (nothing to calibrate
      // here), else this device's own calibration.
      std::vector<double> steps = task.activation_steps;
      if (steps.empty()) {
        ASSIGN_OR_RETURN(steps, ServedActivationSteps(global, wbits, abits, *options_.train,
                                                      options_.indices));
      }
      RETURN_IF_ERROR(qat->SetActivationSteps(steps));
    }
    ASSIGN_OR_RETURN(stats, ml::TrainClassifierQat(model, *qat, *options_.train,
                                                       options_.indices, train));
  } else {
    ASSIGN_OR_RETURN(stats, ml::TrainClassifier(model, *options_.train, options_.indices, train));
  }
  report->train_loss = stats.loss;
  report->train_accuracy = stats.accuracy;
  report->compute_seconds = stats.seconds;
  report->steps = stats.steps;

  const auto quant_start = std::chrono::steady_clock::now();
  TensorContainer local = ml::ModuleToContainer(*model);
  TensorContainer upload_model = local;
  if (task.strategy == "ptq" && task.upload_delta) {
    // The change from the downloaded model, quantized per channel with
    // calibrated clipping; the coordinator adds it back to that model.
    ASSIGN_OR_RETURN(TensorContainer delta, SubtractContainers(local, global));
    ASSIGN_OR_RETURN(upload_model, QuantizeContainer(delta, wbits, DeployedWeightQuant()));
  } else if (task.strategy == "ptq") {
    // Post-training quantization with calibrated (MSE-optimal) clipping.
    ASSIGN_OR_RETURN(upload_model, QuantizeContainer(local, wbits, DeployedWeightQuant()));
  } else if (task.strategy == "qat") {
    ASSIGN_OR_RETURN(upload_model, PackWithSteps(local, *qat));
  }
  ASSIGN_OR_RETURN(*upload, EncodeContainer(upload_model));
  report->quantize_seconds = SecondsSince(quant_start);
  const bool gap_check = task.strategy == "ptq" && task.report_quant_gap;
  if (gap_check) {
    // How much post-training quantization cost on local data (what the
    // FedHQ selector learns PTQ's harm from; asked for only where it fits
    // inside the round). Counted in the simulated time as gap_check_s.
    ASSIGN_OR_RETURN(TensorContainer deq, task.upload_delta ? AddContainers(global, upload_model)
                                                            : DequantizeContainer(upload_model));
    ASSIGN_OR_RETURN(report->metrics["quant_gap"],
                     QuantizationGap(local, deq, *options_.train, options_.indices, task.seed));
  }
  if (options_.sim_costs.valid()) {
    ASSIGN_OR_RETURN(double sim,
                     ComputeSeconds(options_.sim_costs, task.strategy, stats.steps,
                                    options_.profile.compute_gflops, options_.sim_load, gap_check));
    report->metrics["sim_compute_s"] = sim;
  }
  report->metrics["weight_bits"] = task.strategy == "fp32" ? 32 : wbits;
  return absl::OkStatus();
}

absl::Status Agent::Deliver() {
  PendingTask& p = *pending_;
  if (!p.uploaded) {
    const std::string request_id =
        absl::StrFormat("%s-t%d-update", options_.device_name, p.task.task_id);
    absl::Status up =
        client_->UploadUpdate(p.task.task_id, request_id, options_.indices.size(), p.upload)
            .status();
    if (Transient(up)) return up;  // resumed with the same request id
    if (up.ok()) {
      p.report.bytes_up = p.upload.size();
      stats_.bytes_up += p.upload.size();
      ++stats_.tasks_done;
    } else {
      // Refused (round closed or cancelled, update rejected): say why.
      p.report.error = up.ToString();
      ++stats_.tasks_failed;
    }
    p.uploaded = true;
  }
  absl::Status s = client_->SubmitReport(p.report).status();
  if (Transient(s)) return s;
  pending_.reset();
  return s;
}

absl::StatusOr<bool> Agent::RunOnce(uint32_t* retry_after_ms, bool* idle, uint32_t* waited_ms) {
  if (pending_.has_value()) {
    RETURN_IF_ERROR(Deliver());
    return true;
  }
  ASSIGN_OR_RETURN(PullResult pulled, client_->PullTask(options_.pull_wait_ms));
  if (retry_after_ms != nullptr) *retry_after_ms = pulled.retry_after_ms;
  if (idle != nullptr) *idle = pulled.fleet_idle;
  if (waited_ms != nullptr) *waited_ms = pulled.waited_ms;
  if (!pulled.task.has_value()) return false;
  PendingTask p;
  p.task = *std::move(pulled.task);
  p.report.task_id = p.task.task_id;
  p.report.request_id = absl::StrFormat("%s-t%d-report", options_.device_name, p.task.task_id);
  absl::Status s = Execute(p.task, &p.report, &p.upload);
  if (s.ok() && p.task.strategy == "eval") {
    p.uploaded = true;  // an evaluation is reported, never uploaded
    ++stats_.tasks_done;
  }
  if (!s.ok()) {
    if (Transient(s)) return s;  // the task is still ours: pulled again next time
    p.report.error = s.ToString();
    p.uploaded = true;  // nothing to upload
    ++stats_.tasks_failed;
  }
  pending_ = std::move(p);
  RETURN_IF_ERROR(Deliver());
  return true;
}

void Agent::NoteRecovered(RetryBackoff& backoff) {
  if (options_.log != nullptr && backoff.failures() > 0) {
    *options_.log << options_.device_name << ": the coordinator is back after "
                  << absl::FormatDuration(absl::Milliseconds(backoff.OutageMs())) << " ("
                  << backoff.failures() << " failed calls)\n";
  }
  backoff.Reset();
}

absl::Status Agent::Run(const std::atomic<bool>& stop) {
  RetryBackoff backoff(options_.backoff, options_.clock,
                       std::hash<std::string>()(options_.device_name));
  auto sleep_ms = [&stop](int64_t ms) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (!stop.load() && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(std::min<int64_t>(ms, 20)));
    }
  };
  // Waits before the next try; the give-up error once the outage is over.
  auto retry_after = [&](const absl::Status& failure) -> absl::Status {
    if (options_.log != nullptr && backoff.failures() == 0) {
      *options_.log << options_.device_name << ": lost the coordinator (" << failure
                    << "); retrying for up to "
                    << absl::FormatDuration(absl::Milliseconds(options_.backoff.max_outage_ms))
                    << "\n";
    }
    absl::StatusOr<int64_t> delay = backoff.NextDelayMs(failure, "the coordinator");
    if (!delay.ok()) return delay.status();
    sleep_ms(*delay);
    return absl::OkStatus();
  };
  for (;;) {
    if (stop.load()) return absl::OkStatus();
    absl::Status s = Register();
    if (s.ok()) break;
    if (!Transient(s)) return s;
    RETURN_IF_ERROR(retry_after(s));
  }
  NoteRecovered(backoff);

  absl::Notification heartbeat_stop;
  // Heartbeats, and on `stop` cancels the long-poll the loop may be in.
  std::thread heartbeat([this, &stop, &heartbeat_stop] {
    const absl::Duration every = absl::Milliseconds(client_->heartbeat_interval_ms());
    absl::Time next_beat = absl::Now() + every;
    while (!heartbeat_stop.WaitForNotificationWithTimeout(absl::Milliseconds(50))) {
      if (stop.load()) {
        client_->CancelWaits();
        return;
      }
      if (absl::Now() >= next_beat) {
        (void)client_->Heartbeat();  // a missed beat is retried next interval
        next_beat = absl::Now() + every;
      }
    }
  });
  absl::Status result = absl::OkStatus();
  while (!stop.load()) {
    uint32_t retry_after_ms = 200;
    uint32_t waited_ms = 0;
    bool idle = false;
    absl::StatusOr<bool> ran = RunOnce(&retry_after_ms, &idle, &waited_ms);
    if (!ran.ok()) {
      if (stop.load()) break;  // a long-poll cancelled on the way out
      absl::Status failure = ran.status();
      if (absl::IsUnauthenticated(failure)) {
        // The coordinator forgot or rotated us: enroll again.
        if (absl::Status r = Register(); !r.ok()) {
          if (!Transient(r)) {
            result = r;
            break;
          }
          failure = r;
        }
      } else if (!Transient(failure) && !absl::IsFailedPrecondition(failure) &&
                 !absl::IsNotFound(failure) && !absl::IsInvalidArgument(failure)) {
        result = failure;
        break;
      }
      if (absl::Status given_up = retry_after(failure); !given_up.ok()) {
        result = given_up;
        break;
      }
      continue;
    }
    NoteRecovered(backoff);
    if (*ran) continue;
    if (idle && options_.exit_when_idle) break;
    // A long-poll that was held came back because something changed or its
    // wait ran out: pull again at once. One answered at once asks for a pause.
    if (waited_ms == 0) sleep_ms(retry_after_ms);
  }
  heartbeat_stop.Notify();
  heartbeat.join();
  return result;
}

}  // namespace qfleet::device
