#include "cloud/campaign_config.h"

#include <algorithm>
#include <cmath>

#include <nlohmann/json.hpp>

#include "absl/strings/str_format.h"

namespace qfleet::cloud {

absl::Status CampaignConfig::Validate() const {
  auto bad = [](const std::string& what) { return absl::InvalidArgumentError("campaign: " + what); };
  if (rounds < 1 || rounds > 100000) return bad(absl::StrFormat("rounds=%d not in [1,100000]", rounds));
  if (min_devices < 1) return bad("min_devices must be >= 1");
  if (!(round_deadline_s > 0) || !std::isfinite(round_deadline_s)) {
    return bad(absl::StrFormat("round_deadline_s=%g must be > 0", round_deadline_s));
  }
  if (strategy != "fp32" && strategy != "ptq" && strategy != "qat" && !UsesSelector() &&
      !IsEval()) {
    return bad("strategy '" + strategy + "' is not one of fp32, ptq, qat, fedhq, fedhq-init, eval");
  }
  if (IsEval()) {
    if (eval_methods.size() != rounds) {
      return bad(absl::StrFormat("strategy eval needs one eval method per round (%d rounds, %d methods)",
                                 rounds, eval_methods.size()));
    }
    for (const std::string& m : eval_methods) {
      if (!IsKnownEvalMethod(m)) {
        return bad("eval method '" + m +
                   "' is not one of fp32, rtn1..rtn8, static, chord-mean, chord");
      }
    }
    if (!(budget_bits >= 1 && budget_bits <= 8)) {
      return bad(absl::StrFormat("budget_bits=%g not in [1,8]", budget_bits));
    }
  } else if (!eval_methods.empty()) {
    return bad("eval_methods is only for strategy eval");
  }
  if (UsesSelector() && !step_costs.valid()) {
    return bad("strategy " + strategy + " needs calibrated step_costs");
  }
  if (!(sim_deadline_s >= 0) || !std::isfinite(sim_deadline_s)) return bad("sim_deadline_s < 0");
  if (!(fedhq_keep_qat_ratio >= 0) || !std::isfinite(fedhq_keep_qat_ratio)) {
    return bad("fedhq_keep_qat_ratio < 0");
  }
  if (ptq_upload != "model" && ptq_upload != "delta") {
    return bad("ptq_upload '" + ptq_upload + "' is not model or delta");
  }
  if (strategy != "fp32" && (weight_bits < 1 || weight_bits > 8)) {
    return bad(absl::StrFormat("weight_bits=%d not in [1,8]", weight_bits));
  }
  if (activation_bits > 8) return bad(absl::StrFormat("activation_bits=%d > 8", activation_bits));
  if (local_epochs < 1 || local_epochs > 1000) return bad("local_epochs not in [1,1000]");
  if (batch_size < 1 || batch_size > 65536) return bad("batch_size not in [1,65536]");
  if (!(learning_rate > 0) || !std::isfinite(learning_rate) || learning_rate > 100) {
    return bad(absl::StrFormat("learning_rate=%g not in (0,100]", learning_rate));
  }
  if (min_updates < 1) return bad("min_updates must be >= 1");
  if (!IsKnownAggregator(aggregator)) {
    return bad("aggregator '" + aggregator + "' is not one of fedavg, median, trimmed_mean");
  }
  if (!(trim_fraction >= 0 && trim_fraction < 0.5)) {
    return bad(absl::StrFormat("trim_fraction=%g not in [0,0.5)", trim_fraction));
  }
  if (!(clip_norm >= 0) || !std::isfinite(clip_norm)) {
    return bad(absl::StrFormat("clip_norm=%g must be finite and >= 0 (0 = off)", clip_norm));
  }
  if (!(max_update_share >= 0 && max_update_share <= 1)) {
    return bad(absl::StrFormat("max_update_share=%g not in [0,1] (0 = automatic)",
                               max_update_share));
  }
  return absl::OkStatus();
}

std::string CampaignConfig::ToJson() const {
  nlohmann::json j = {{"rounds", rounds},
                      {"clients_per_round", clients_per_round},
                      {"min_devices", min_devices},
                      {"round_deadline_s", round_deadline_s},
                      {"strategy", strategy},
                      {"weight_bits", weight_bits},
                      {"activation_bits", activation_bits},
                      {"local_epochs", local_epochs},
                      {"batch_size", batch_size},
                      {"learning_rate", learning_rate},
                      {"max_steps", max_steps},
                      {"seed", seed},
                      {"min_updates", min_updates},
                      {"sim_deadline_s", sim_deadline_s},
                      {"step_costs", nlohmann::json::parse(step_costs.ToJson())},
                      {"fedhq_keep_qat_ratio", fedhq_keep_qat_ratio},
                      {"ptq_upload", ptq_upload},
                      {"eval_methods", eval_methods},
                      {"budget_bits", budget_bits},
                      {"aggregator", aggregator},
                      {"trim_fraction", trim_fraction},
                      {"clip_norm", clip_norm},
                      {"max_update_share", max_update_share}};
  return j.dump();
}

absl::StatusOr<CampaignConfig> CampaignConfig::FromJson(absl::string_view json) {
  nlohmann::json j = nlohmann::json::parse(json.begin(), json.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::InvalidArgumentError("campaign config is not a JSON object");
  }
  CampaignConfig c;
  try {
    auto get = [&j](const char* key, auto& field) {
      if (j.contains(key)) j.at(key).get_to(field);
    };
    get("rounds", c.rounds);
    get("clients_per_round", c.clients_per_round);
    get("min_devices", c.min_devices);
    get("round_deadline_s", c.round_deadline_s);
    get("strategy", c.strategy);
    get("weight_bits", c.weight_bits);
    get("activation_bits", c.activation_bits);
    get("local_epochs", c.local_epochs);
    get("batch_size", c.batch_size);
    get("learning_rate", c.learning_rate);
    get("max_steps", c.max_steps);
    get("seed", c.seed);
    get("min_updates", c.min_updates);
    get("sim_deadline_s", c.sim_deadline_s);
    get("fedhq_keep_qat_ratio", c.fedhq_keep_qat_ratio);
    get("ptq_upload", c.ptq_upload);
    get("eval_methods", c.eval_methods);
    get("budget_bits", c.budget_bits);
    get("aggregator", c.aggregator);
    get("trim_fraction", c.trim_fraction);
    get("clip_norm", c.clip_norm);
    get("max_update_share", c.max_update_share);
    if (j.contains("step_costs")) {
      auto costs = StepCosts::FromJson(j.at("step_costs").dump());
      if (!costs.ok()) return costs.status();
      c.step_costs = *costs;
    }
  } catch (const nlohmann::json::exception& e) {
    return absl::InvalidArgumentError(std::string("campaign config: ") + e.what());
  }
  return c;
}

std::string CampaignConfig::EvalMethod(uint64_t index) const {
  if (!IsEval() || index >= eval_methods.size()) return "";
  return eval_methods[index];
}

AggregatorOptions CampaignConfig::Aggregation() const {
  AggregatorOptions o;
  o.rule = aggregator;
  o.trim_fraction = trim_fraction;
  o.clip_norm = clip_norm;
  return o;
}

double CampaignConfig::MaxUpdateShare(size_t participants) const {
  if (max_update_share > 0) return max_update_share;
  if (participants == 0) return 1.0;
  return std::min(1.0, 4.0 / static_cast<double>(participants));
}

bool IsKnownEvalMethod(absl::string_view method) {
  if (method == "fp32" || EvalMethodNeedsPlan(method)) return true;
  return method.size() == 4 && method.substr(0, 3) == "rtn" && method[3] >= '1' && method[3] <= '8';
}

bool EvalMethodNeedsPlan(absl::string_view method) {
  return method == "static" || method == "chord-mean" || method == "chord";
}

}  // namespace qfleet::cloud
