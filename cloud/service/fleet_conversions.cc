#include "cloud/service/fleet_conversions.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_format.h"

namespace qfleet::cloud {

DeviceRecord DeviceFromRegister(const fleet::v1::RegisterRequest& req) {
  DeviceRecord d;
  d.name = req.device_name();
  const auto& p = req.profile();
  d.compute_gflops = p.compute_gflops();
  d.memory_mib = p.memory_mib();
  d.lowbit_support.assign(p.lowbit_support().begin(), p.lowbit_support().end());
  d.uplink_kbps = p.uplink_kbps();
  d.downlink_kbps = p.downlink_kbps();
  // 0 on the wire means "not measured": treat the device as always available.
  d.availability = p.availability() == 0 ? 1.0 : p.availability();
  d.sample_count = req.data().sample_count();
  d.label_histogram.assign(req.data().label_histogram().begin(), req.data().label_histogram().end());
  d.agent_version = req.agent_version().substr(0, 64);
  return d;
}

absl::StatusOr<fleet::v1::Strategy> StrategyToProto(absl::string_view strategy) {
  if (strategy == "fp32") return fleet::v1::STRATEGY_FP32;
  if (strategy == "ptq") return fleet::v1::STRATEGY_PTQ;
  if (strategy == "qat") return fleet::v1::STRATEGY_QAT;
  if (strategy == "eval") return fleet::v1::STRATEGY_EVAL;
  return absl::InvalidArgumentError(absl::StrFormat("unknown strategy '%s'", strategy));
}

absl::StatusOr<fleet::v1::Task> TaskToProto(const PulledTask& pulled) {
  const TaskRecord& t = *pulled.task;
  fleet::v1::Task out;
  out.set_task_id(t.task_id);
  out.set_round(t.round);
  auto strategy = StrategyToProto(t.strategy);
  if (!strategy.ok()) return strategy.status();
  out.set_strategy(*strategy);
  out.set_weight_bits(t.weight_bits);
  out.set_activation_bits(t.activation_bits);
  out.set_model_version(pulled.model.version);
  out.set_model_bytes(pulled.model.bytes ? pulled.model.bytes->size() : 0);
  out.set_model_sha256(pulled.model.sha256);
  out.set_precision_plan(pulled.plan_bytes);
  out.set_deadline_ms(t.deadline_ms);
  nlohmann::json j = nlohmann::json::parse(t.train_config_json, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::InternalError(absl::StrFormat("task %d has a corrupt train config", t.task_id));
  }
  try {
    auto* tc = out.mutable_train();
    tc->set_local_epochs(j.value("local_epochs", 1u));
    tc->set_batch_size(j.value("batch_size", 32u));
    tc->set_learning_rate(j.value("learning_rate", 0.05f));
    tc->set_max_steps(j.value("max_steps", 0u));
    tc->set_seed(j.value("seed", uint64_t{1}));
    out.set_eval_method(j.value("eval_method", std::string()));
    out.set_budget_bits(j.value("budget_bits", 0.0));
    out.set_upload_delta(j.value("upload_delta", false));
    out.set_report_quant_gap(j.value("quant_gap", false));
  } catch (const nlohmann::json::exception& e) {
    return absl::InternalError(
        absl::StrFormat("task %d has a corrupt train config: %s", t.task_id, e.what()));
  }
  if (auto it = j.find("act_steps"); it != j.end() && it->is_array()) {
    for (const auto& v : *it) {
      if (!v.is_number()) {
        return absl::InternalError(
            absl::StrFormat("task %d has a corrupt activation step", t.task_id));
      }
      out.add_activation_steps(v.get<double>());
    }
  }
  return out;
}

ReportRecord ReportFromProto(const fleet::v1::Report& r) {
  ReportRecord out;
  out.device_id = r.device_id();
  out.task_id = r.task_id();
  out.request_id = r.request_id();
  out.train_loss = r.train_loss();
  out.train_accuracy = r.train_accuracy();
  out.compute_seconds = r.compute_seconds();
  out.quantize_seconds = r.quantize_seconds();
  out.bytes_down = r.bytes_down();
  out.bytes_up = r.bytes_up();
  out.steps = r.steps();
  out.metrics.insert(r.metrics().begin(), r.metrics().end());
  out.error = r.error();
  return out;
}

UploadHeader UploadHeaderFromProto(const fleet::v1::UpdateChunk::Header& h) {
  UploadHeader out;
  out.device_id = h.device_id();
  out.task_id = h.task_id();
  out.request_id = h.request_id();
  out.sample_count = h.sample_count();
  out.total_bytes = h.total_bytes();
  out.sha256 = h.sha256();
  return out;
}

fleet::v1::UploadStatusResponse UploadProgressToProto(const UploadProgress& p) {
  fleet::v1::UploadStatusResponse out;
  out.set_committed_bytes(p.committed_bytes);
  out.set_total_bytes(p.total_bytes);
  out.set_sha256(p.sha256);
  out.set_accepted(p.accepted.has_value());
  if (p.accepted.has_value()) out.set_update_id(p.accepted->update_id);
  return out;
}

}  // namespace qfleet::cloud
