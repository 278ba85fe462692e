#include "cloud/service/admin_conversions.h"

#include "cloud/coordinator.h"

namespace qfleet::cloud {

admin::v1::DeviceInfo DeviceToProto(const DeviceRecord& d, int64_t now_ms, int64_t lease_ms) {
  admin::v1::DeviceInfo out;
  out.set_device_id(d.id);
  out.set_name(d.name);
  std::string state = d.state;
  if (state == "active" && now_ms - d.last_seen_ms > lease_ms) state = "offline";
  out.set_state(state);
  out.set_compute_gflops(d.compute_gflops);
  out.set_memory_mib(d.memory_mib);
  for (uint32_t b : d.lowbit_support) out.add_lowbit_support(b);
  out.set_uplink_kbps(d.uplink_kbps);
  out.set_downlink_kbps(d.downlink_kbps);
  out.set_sample_count(d.sample_count);
  for (uint64_t h : d.label_histogram) out.add_label_histogram(h);
  out.set_registered_ms(d.registered_ms);
  out.set_last_seen_ms(d.last_seen_ms);
  return out;
}

admin::v1::RoundInfo RoundToProto(const RoundRecord& r, uint64_t participants, uint64_t updates,
                                  uint64_t reports) {
  admin::v1::RoundInfo out;
  out.set_round(r.round);
  out.set_state(r.state);
  out.set_participants(participants);
  out.set_updates_accepted(updates);
  out.set_reports(reports);
  out.set_model_version_in(r.model_version_in);
  out.set_model_version_out(r.model_version_out);
  out.set_acc_fp32(r.acc_fp32);
  out.set_acc_q8(r.acc_q8);
  out.set_bytes_down(r.bytes_down);
  out.set_bytes_up(r.bytes_up);
  out.set_started_ms(r.started_ms);
  out.set_finished_ms(r.finished_ms);
  out.set_detail(r.detail);
  out.set_sim_seconds(r.sim_seconds);
  out.set_selector_seconds(r.selector_seconds);
  out.set_acc_served(r.acc_served);
  return out;
}

admin::v1::ParticipantInfo ParticipantToProto(const ParticipantRecord& p, const TaskRecord* task) {
  admin::v1::ParticipantInfo out;
  out.set_device_id(p.device_id);
  out.set_status(p.status);
  out.set_detail(p.detail);
  if (task != nullptr) {
    out.set_strategy(task->strategy);
    out.set_weight_bits(task->weight_bits);
  }
  return out;
}

admin::v1::ReportInfo ReportToProto(const ReportRecord& r) {
  admin::v1::ReportInfo out;
  out.set_round(r.round);
  out.set_device_id(r.device_id);
  out.set_train_loss(r.train_loss);
  out.set_train_accuracy(r.train_accuracy);
  out.set_compute_seconds(r.compute_seconds);
  out.set_quantize_seconds(r.quantize_seconds);
  out.set_bytes_down(r.bytes_down);
  out.set_bytes_up(r.bytes_up);
  out.set_steps(r.steps);
  out.mutable_metrics()->insert(r.metrics.begin(), r.metrics.end());
  out.set_error(r.error);
  return out;
}

admin::v1::JoinTokenInfo JoinTokenToProto(const JoinTokenRecord& t, int64_t now_ms) {
  admin::v1::JoinTokenInfo out;
  out.set_token_id(t.id);
  out.set_label(t.label);
  out.set_state(JoinTokenState(t, now_ms));
  out.set_created_ms(t.created_ms);
  out.set_expires_ms(t.expires_ms);
  out.set_revoked_ms(t.revoked_ms);
  out.set_max_uses(t.max_uses);
  out.set_uses(t.uses);
  return out;
}

CampaignConfig CampaignFromProto(const admin::v1::CampaignConfig& c) {
  CampaignConfig out;  // proto3 zeros mean "use the default"
  if (c.rounds() > 0) out.rounds = c.rounds();
  out.clients_per_round = c.clients_per_round();
  if (c.min_devices() > 0) out.min_devices = c.min_devices();
  if (c.round_deadline_s() > 0) out.round_deadline_s = c.round_deadline_s();
  if (!c.strategy().empty()) out.strategy = c.strategy();
  if (c.weight_bits() > 0) out.weight_bits = c.weight_bits();
  out.activation_bits = c.activation_bits();
  if (c.local_epochs() > 0) out.local_epochs = c.local_epochs();
  if (c.batch_size() > 0) out.batch_size = c.batch_size();
  if (c.learning_rate() != 0) out.learning_rate = c.learning_rate();
  out.max_steps = c.max_steps();
  if (c.seed() > 0) out.seed = c.seed();
  if (c.min_updates() > 0) out.min_updates = c.min_updates();
  out.sim_deadline_s = c.sim_deadline_s();
  out.step_costs.ref_gflops = c.step_costs().ref_gflops();
  out.step_costs.fp32_step_s = c.step_costs().fp32_step_s();
  out.step_costs.qat_step_s = c.step_costs().qat_step_s();
  out.step_costs.ptq_quantize_s = c.step_costs().ptq_quantize_s();
  out.step_costs.gap_check_s = c.step_costs().gap_check_s();
  if (c.fedhq_keep_qat_ratio() > 0) out.fedhq_keep_qat_ratio = c.fedhq_keep_qat_ratio();
  out.eval_methods.assign(c.eval_methods().begin(), c.eval_methods().end());
  if (c.budget_bits() != 0) out.budget_bits = c.budget_bits();
  if (!c.ptq_upload().empty()) out.ptq_upload = c.ptq_upload();
  if (!c.aggregator().empty()) out.aggregator = c.aggregator();
  if (c.trim_fraction() != 0) out.trim_fraction = c.trim_fraction();
  out.clip_norm = c.clip_norm();
  out.max_update_share = c.max_update_share();
  return out;
}

admin::v1::CampaignConfig CampaignToProto(const CampaignConfig& c) {
  admin::v1::CampaignConfig out;
  out.set_rounds(c.rounds);
  out.set_clients_per_round(c.clients_per_round);
  out.set_min_devices(c.min_devices);
  out.set_round_deadline_s(c.round_deadline_s);
  out.set_strategy(c.strategy);
  out.set_weight_bits(c.weight_bits);
  out.set_activation_bits(c.activation_bits);
  out.set_local_epochs(c.local_epochs);
  out.set_batch_size(c.batch_size);
  out.set_learning_rate(c.learning_rate);
  out.set_max_steps(c.max_steps);
  out.set_seed(c.seed);
  out.set_min_updates(c.min_updates);
  out.set_sim_deadline_s(c.sim_deadline_s);
  out.mutable_step_costs()->set_ref_gflops(c.step_costs.ref_gflops);
  out.mutable_step_costs()->set_fp32_step_s(c.step_costs.fp32_step_s);
  out.mutable_step_costs()->set_qat_step_s(c.step_costs.qat_step_s);
  out.mutable_step_costs()->set_ptq_quantize_s(c.step_costs.ptq_quantize_s);
  out.mutable_step_costs()->set_gap_check_s(c.step_costs.gap_check_s);
  out.set_fedhq_keep_qat_ratio(c.fedhq_keep_qat_ratio);
  for (const std::string& m : c.eval_methods) out.add_eval_methods(m);
  out.set_budget_bits(c.budget_bits);
  out.set_ptq_upload(c.ptq_upload);
  out.set_aggregator(c.aggregator);
  out.set_trim_fraction(c.trim_fraction);
  out.set_clip_norm(c.clip_norm);
  out.set_max_update_share(c.max_update_share);
  return out;
}

admin::v1::ModelVersionInfo ModelVersionToProto(const ModelVersionRecord& m) {
  admin::v1::ModelVersionInfo out;
  out.set_version(m.version);
  out.set_sha256(m.blob_hash);
  out.set_bytes(m.bytes);
  out.set_round(m.round);
  out.set_acc_fp32(m.acc_fp32);
  out.set_acc_q8(m.acc_q8);
  out.set_created_ms(m.created_ms);
  out.set_pinned(m.pinned);
  out.set_pruned_ms(m.pruned_ms);
  return out;
}

}  // namespace qfleet::cloud
