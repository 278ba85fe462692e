#include "cloud/store/record_rows.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace qfleet::cloud {
namespace {

using Json = nlohmann::json;
using Statement = SqliteDb::Statement;

std::vector<std::string> SplitColumns(absl::string_view columns) {
  std::vector<std::string> names;
  for (absl::string_view name : absl::StrSplit(columns, ',')) {
    names.emplace_back(absl::StripAsciiWhitespace(name));
  }
  return names;
}

std::optional<int64_t> NullIfZero(uint64_t id) {
  if (id == 0) return std::nullopt;
  return static_cast<int64_t>(id);
}

// Doubles come back exactly as bound, except that SQLite stores NaN as NULL.
double ReadReal(const Statement& stmt, int col) {
  if (stmt.ColumnIsNull(col)) return std::numeric_limits<double>::quiet_NaN();
  return stmt.ColumnDouble(col);
}

template <typename T>
std::string EncodeList(const std::vector<T>& values) {
  return absl::StrCat("[", absl::StrJoin(values, ","), "]");
}

// Parses a JSON array of unsigned integers no larger than `max`.
template <typename T>
absl::Status DecodeList(absl::string_view text, absl::string_view what,
                        std::vector<T>* out) {
  const Json json = Json::parse(text.begin(), text.end(), nullptr,
                                /*allow_exceptions=*/false);
  out->clear();
  bool ok = json.is_array();
  if (ok) {
    for (const Json& item : json) {
      if (!item.is_number_unsigned() ||
          item.get<uint64_t>() > std::numeric_limits<T>::max()) {
        ok = false;
        break;
      }
      out->push_back(static_cast<T>(item.get<uint64_t>()));
    }
  }
  if (ok) return absl::OkStatus();
  return absl::DataLossError(absl::StrCat("stored ", what,
                                          " is not a JSON array of unsigned "
                                          "integers: '",
                                          text.substr(0, 80), "'"));
}

absl::StatusOr<std::string> EncodeMetrics(
    const std::map<std::string, double>& metrics) {
  Json json = Json::object();
  for (const auto& [name, value] : metrics) {
    if (std::isnan(value)) {
      json[name] = "nan";
    } else if (std::isinf(value)) {
      json[name] = value > 0 ? "inf" : "-inf";
    } else {
      json[name] = value;
    }
  }
  try {
    return json.dump();  // Shortest text that parses back to the same double.
  } catch (const Json::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("report metrics: a metric name is not UTF-8: ", e.what()));
  }
}

absl::Status DecodeMetrics(absl::string_view text,
                           std::map<std::string, double>* out) {
  const Json json = Json::parse(text.begin(), text.end(), nullptr,
                                /*allow_exceptions=*/false);
  out->clear();
  bool ok = json.is_object();
  if (ok) {
    for (const auto& [name, value] : json.items()) {
      if (value.is_number()) {
        (*out)[name] = value.get<double>();
      } else if (value == "nan") {
        (*out)[name] = std::numeric_limits<double>::quiet_NaN();
      } else if (value == "inf") {
        (*out)[name] = std::numeric_limits<double>::infinity();
      } else if (value == "-inf") {
        (*out)[name] = -std::numeric_limits<double>::infinity();
      } else {
        ok = false;
        break;
      }
    }
  }
  if (ok) return absl::OkStatus();
  return absl::DataLossError(
      absl::StrCat("stored report metrics are not a JSON object of numbers: '",
                   text.substr(0, 80), "'"));
}

}  // namespace

std::string InsertSql(absl::string_view table, absl::string_view columns) {
  const size_t count = SplitColumns(columns).size();
  std::vector<std::string> placeholders;
  for (size_t i = 1; i <= count; ++i)
    placeholders.push_back(absl::StrCat("?", i));
  return absl::StrCat("INSERT INTO ", table, " (", columns, ") VALUES (",
                      absl::StrJoin(placeholders, ", "), ")");
}

std::string UpdateSql(absl::string_view table, absl::string_view columns) {
  const std::vector<std::string> names = SplitColumns(columns);
  std::vector<std::string> sets;
  for (size_t i = 1; i < names.size(); ++i) {
    sets.push_back(absl::StrCat(names[i], " = ?", i + 1));
  }
  return absl::StrCat("UPDATE ", table, " SET ", absl::StrJoin(sets, ", "),
                      " WHERE ", names[0], " = ?1");
}

std::string Qualify(absl::string_view alias, absl::string_view columns) {
  std::vector<std::string> names = SplitColumns(columns);
  for (std::string& name : names) name = absl::StrCat(alias, ".", name);
  return absl::StrJoin(names, ", ");
}

// --- devices ----------------------------------------------------------------

absl::Status BindRow(Statement& stmt, const DeviceRecord& r) {
  return stmt.BindAll(NullIfZero(r.id), r.name, r.token_hash, r.compute_gflops,
                      r.memory_mib, EncodeList(r.lowbit_support), r.uplink_kbps,
                      r.downlink_kbps, r.availability, r.sample_count,
                      EncodeList(r.label_histogram), r.agent_version, r.state,
                      r.registered_ms, r.last_seen_ms, r.enrolled_by);
}

absl::Status ReadRow(const Statement& stmt, DeviceRecord* r) {
  r->id = stmt.ColumnUint64(0);
  r->name = stmt.ColumnText(1);
  r->token_hash = stmt.ColumnText(2);
  r->compute_gflops = ReadReal(stmt, 3);
  r->memory_mib = stmt.ColumnUint64(4);
  RETURN_IF_ERROR(DecodeList(stmt.ColumnText(5),
                             absl::StrCat("lowbit_support of device ", r->id),
                             &r->lowbit_support));
  r->uplink_kbps = stmt.ColumnUint64(6);
  r->downlink_kbps = stmt.ColumnUint64(7);
  r->availability = ReadReal(stmt, 8);
  r->sample_count = stmt.ColumnUint64(9);
  RETURN_IF_ERROR(DecodeList(stmt.ColumnText(10),
                             absl::StrCat("label_histogram of device ", r->id),
                             &r->label_histogram));
  r->agent_version = stmt.ColumnText(11);
  r->state = stmt.ColumnText(12);
  r->registered_ms = stmt.ColumnInt64(13);
  r->last_seen_ms = stmt.ColumnInt64(14);
  r->enrolled_by = stmt.ColumnUint64(15);
  return absl::OkStatus();
}

// --- campaigns --------------------------------------------------------------

absl::Status BindRow(Statement& stmt, const CampaignRecord& r) {
  return stmt.BindAll(NullIfZero(r.id), r.config_json, r.first_round,
                      r.last_round, r.state, r.created_ms);
}

absl::Status ReadRow(const Statement& stmt, CampaignRecord* r) {
  r->id = stmt.ColumnUint64(0);
  r->config_json = stmt.ColumnText(1);
  r->first_round = stmt.ColumnUint64(2);
  r->last_round = stmt.ColumnUint64(3);
  r->state = stmt.ColumnText(4);
  r->created_ms = stmt.ColumnInt64(5);
  return absl::OkStatus();
}

// --- rounds -----------------------------------------------------------------

absl::Status BindRow(Statement& stmt, const RoundRecord& r) {
  return stmt.BindAll(r.round, NullIfZero(r.campaign_id), r.state,
                      r.model_version_in, r.model_version_out, r.started_ms,
                      r.deadline_ms, r.finished_ms, r.acc_fp32, r.acc_q8,
                      r.bytes_down, r.bytes_up, r.detail, r.sim_seconds,
                      r.selector_seconds, r.acc_served);
}

absl::Status ReadRow(const Statement& stmt, RoundRecord* r) {
  r->round = stmt.ColumnUint64(0);
  r->campaign_id = stmt.ColumnUint64(1);  // NULL reads as 0.
  r->state = stmt.ColumnText(2);
  r->model_version_in = stmt.ColumnUint64(3);
  r->model_version_out = stmt.ColumnUint64(4);
  r->started_ms = stmt.ColumnInt64(5);
  r->deadline_ms = stmt.ColumnInt64(6);
  r->finished_ms = stmt.ColumnInt64(7);
  r->acc_fp32 = ReadReal(stmt, 8);
  r->acc_q8 = ReadReal(stmt, 9);
  r->bytes_down = stmt.ColumnUint64(10);
  r->bytes_up = stmt.ColumnUint64(11);
  r->detail = stmt.ColumnText(12);
  r->sim_seconds = ReadReal(stmt, 13);
  r->selector_seconds = ReadReal(stmt, 14);
  r->acc_served = ReadReal(stmt, 15);
  return absl::OkStatus();
}

// --- tasks ------------------------------------------------------------------

absl::Status BindRow(Statement& stmt, const TaskRecord& r) {
  return stmt.BindAll(NullIfZero(r.task_id), r.round, r.device_id, r.strategy,
                      r.weight_bits, r.activation_bits, r.model_version,
                      r.train_config_json, NullIfZero(r.plan_id), r.deadline_ms,
                      r.created_ms);
}

absl::Status ReadRow(const Statement& stmt, TaskRecord* r) {
  r->task_id = stmt.ColumnUint64(0);
  r->round = stmt.ColumnUint64(1);
  r->device_id = stmt.ColumnUint64(2);
  r->strategy = stmt.ColumnText(3);
  r->weight_bits = static_cast<uint32_t>(stmt.ColumnInt64(4));
  r->activation_bits = static_cast<uint32_t>(stmt.ColumnInt64(5));
  r->model_version = stmt.ColumnUint64(6);
  r->train_config_json = stmt.ColumnText(7);
  r->plan_id = stmt.ColumnUint64(8);  // NULL reads as 0.
  r->deadline_ms = stmt.ColumnInt64(9);
  r->created_ms = stmt.ColumnInt64(10);
  return absl::OkStatus();
}

// --- participants -----------------------------------------------------------

absl::Status BindRow(Statement& stmt, const ParticipantRecord& r) {
  return stmt.BindAll(r.round, r.device_id, r.status, r.task_id, r.detail);
}

absl::Status ReadRow(const Statement& stmt, ParticipantRecord* r) {
  r->round = stmt.ColumnUint64(0);
  r->device_id = stmt.ColumnUint64(1);
  r->status = stmt.ColumnText(2);
  r->task_id = stmt.ColumnUint64(3);
  r->detail = stmt.ColumnText(4);
  return absl::OkStatus();
}

// --- plans ------------------------------------------------------------------

absl::Status BindRow(Statement& stmt, const PlanRecord& r) {
  return stmt.BindAll(NullIfZero(r.plan_id), r.device_id, r.version,
                      Statement::Blob{r.bytes}, r.created_ms, r.method, r.input_sha256,
                      r.generator, r.model_version);
}

absl::Status ReadRow(const Statement& stmt, PlanRecord* r) {
  r->plan_id = stmt.ColumnUint64(0);
  r->device_id = stmt.ColumnUint64(1);
  r->version = stmt.ColumnUint64(2);
  r->bytes = stmt.ColumnBlob(3);
  r->created_ms = stmt.ColumnInt64(4);
  r->method = stmt.ColumnText(5);
  r->input_sha256 = stmt.ColumnText(6);
  r->generator = stmt.ColumnText(7);
  r->model_version = stmt.ColumnUint64(8);
  return absl::OkStatus();
}

// --- updates ----------------------------------------------------------------

absl::Status BindRow(Statement& stmt, const UpdateRecord& r) {
  return stmt.BindAll(NullIfZero(r.update_id), r.round, r.device_id, r.task_id,
                      r.request_id, r.blob_hash, r.sample_count, r.bytes,
                      r.received_ms);
}

absl::Status ReadRow(const Statement& stmt, UpdateRecord* r) {
  r->update_id = stmt.ColumnUint64(0);
  r->round = stmt.ColumnUint64(1);
  r->device_id = stmt.ColumnUint64(2);
  r->task_id = stmt.ColumnUint64(3);
  r->request_id = stmt.ColumnText(4);
  r->blob_hash = stmt.ColumnText(5);
  r->sample_count = stmt.ColumnUint64(6);
  r->bytes = stmt.ColumnUint64(7);
  r->received_ms = stmt.ColumnInt64(8);
  return absl::OkStatus();
}

// --- partial uploads --------------------------------------------------------

absl::Status BindRow(Statement& stmt, const PartialUploadRecord& r) {
  return stmt.BindAll(NullIfZero(r.id), r.device_id, r.task_id, r.request_id,
                      r.total_bytes, r.sha256, r.sample_count,
                      r.committed_bytes, r.updated_ms);
}

absl::Status ReadRow(const Statement& stmt, PartialUploadRecord* r) {
  r->id = stmt.ColumnUint64(0);
  r->device_id = stmt.ColumnUint64(1);
  r->task_id = stmt.ColumnUint64(2);
  r->request_id = stmt.ColumnText(3);
  r->total_bytes = stmt.ColumnUint64(4);
  r->sha256 = stmt.ColumnText(5);
  r->sample_count = stmt.ColumnUint64(6);
  r->committed_bytes = stmt.ColumnUint64(7);
  r->updated_ms = stmt.ColumnInt64(8);
  return absl::OkStatus();
}

// --- reports ----------------------------------------------------------------

absl::Status BindRow(Statement& stmt, const ReportRecord& r) {
  ASSIGN_OR_RETURN(const std::string metrics, EncodeMetrics(r.metrics));
  return stmt.BindAll(r.round, r.device_id, r.task_id, r.request_id,
                      r.train_loss, r.train_accuracy, r.compute_seconds,
                      r.quantize_seconds, r.bytes_down, r.bytes_up, r.steps,
                      metrics, r.error, r.created_ms);
}

absl::Status ReadRow(const Statement& stmt, ReportRecord* r) {
  r->round = stmt.ColumnUint64(0);
  r->device_id = stmt.ColumnUint64(1);
  r->task_id = stmt.ColumnUint64(2);
  r->request_id = stmt.ColumnText(3);
  r->train_loss = ReadReal(stmt, 4);
  r->train_accuracy = ReadReal(stmt, 5);
  r->compute_seconds = ReadReal(stmt, 6);
  r->quantize_seconds = ReadReal(stmt, 7);
  r->bytes_down = stmt.ColumnUint64(8);
  r->bytes_up = stmt.ColumnUint64(9);
  r->steps = stmt.ColumnUint64(10);
  RETURN_IF_ERROR(DecodeMetrics(stmt.ColumnText(11), &r->metrics));
  r->error = stmt.ColumnText(12);
  r->created_ms = stmt.ColumnInt64(13);
  return absl::OkStatus();
}

// --- model versions ---------------------------------------------------------

absl::Status BindRow(Statement& stmt, const ModelVersionRecord& r) {
  return stmt.BindAll(r.version, r.blob_hash, r.bytes, r.round, r.acc_fp32,
                      r.acc_q8, r.created_ms, r.pinned, r.pruned_ms);
}

absl::Status ReadRow(const Statement& stmt, ModelVersionRecord* r) {
  r->version = stmt.ColumnUint64(0);
  r->blob_hash = stmt.ColumnText(1);
  r->bytes = stmt.ColumnUint64(2);
  r->round = stmt.ColumnUint64(3);
  r->acc_fp32 = ReadReal(stmt, 4);
  r->acc_q8 = ReadReal(stmt, 5);
  r->created_ms = stmt.ColumnInt64(6);
  r->pinned = stmt.ColumnInt64(7) != 0;
  r->pruned_ms = stmt.ColumnInt64(8);
  return absl::OkStatus();
}

}  // namespace qfleet::cloud
