// CHORD plans: a device's user embedding in, its precision plan out, made
// in batches by the hypernetworks behind PlanGenerator and kept in SQLite.
#include <chrono>
#include <cmath>
#include <cstring>
#include <exception>
#include <future>
#include <map>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cloud/coordinator.h"
#include "common/sha256.h"
#include "common/status_macros.h"

namespace qfleet::cloud {

struct Coordinator::PendingPlan {
  uint64_t device_id = 0;
  uint64_t model_version = 0;
  std::vector<float> embedding;
  std::string input_sha256;
  std::promise<absl::StatusOr<PlanReply>> done;
};

namespace {

// What a stored "chord" plan was made from: the generator, the model and
// the embedding's exact float bits.
std::string PlanInputHash(const std::string& generator, uint64_t model_version,
                          const std::vector<float>& embedding) {
  std::string buf = absl::StrFormat("%s|%d|", generator, model_version);
  const size_t head = buf.size();
  buf.resize(head + embedding.size() * sizeof(float));
  if (!embedding.empty()) std::memcpy(buf.data() + head, embedding.data(), embedding.size() * sizeof(float));
  return Sha256Hex(buf);
}

}  // namespace

void Coordinator::SetPlanGenerator(std::shared_ptr<PlanGenerator> generator) {
  absl::MutexLock lock(&plan_mu_);
  planner_ = std::move(generator);
  if (planner_ != nullptr && !plan_thread_.joinable()) {
    plan_stop_ = false;
    plan_thread_ = std::thread([this] { PlanLoop(); });
  }
}

bool Coordinator::ServesPlans() { return CurrentPlanGenerator() != nullptr; }

std::shared_ptr<PlanGenerator> Coordinator::CurrentPlanGenerator() {
  absl::MutexLock lock(&plan_mu_);
  return planner_;
}

void Coordinator::StopPlanThread() {
  {
    absl::MutexLock lock(&plan_mu_);
    plan_stop_ = true;
  }
  if (plan_thread_.joinable()) plan_thread_.join();
}

absl::StatusOr<PlanReply> Coordinator::RequestPlan(uint64_t device_id, const std::string& method,
                                                   std::vector<float> embedding) {
  std::shared_ptr<PlanGenerator> generator = CurrentPlanGenerator();
  if (generator == nullptr) {
    return absl::FailedPreconditionError("this coordinator serves no CHORD hypernetworks");
  }
  ASSIGN_OR_RETURN(PlanReply reply,
                   RequestPlanFrom(generator, device_id, method, std::move(embedding)));
  reply.tier_importance = generator->TierImportance();
  return reply;
}

absl::StatusOr<PlanReply> Coordinator::RequestPlanFrom(std::shared_ptr<PlanGenerator> generator,
                                                       uint64_t device_id,
                                                       const std::string& method,
                                                       std::vector<float> embedding) {
  ASSIGN_OR_RETURN(const DeviceRecord device, store_->GetDevice(device_id));
  const uint64_t model_version = GetModel(0)->version;
  if (method == "chord-mean" || method == "static") {
    ASSIGN_OR_RETURN(FleetPlan fleet, generator->FleetPlanFor(method));
    PlanReply reply;
    reply.bytes = std::move(fleet.bytes);
    reply.tier_bits = std::move(fleet.tier_bits);
    reply.model_version = model_version;
    reply.cached = true;
    return reply;
  }
  if (method != "chord") {
    return absl::InvalidArgumentError(absl::StrFormat(
        "plan method '%s' is not one of chord, chord-mean, static", method.substr(0, 64)));
  }
  if (static_cast<int64_t>(embedding.size()) != generator->EmbedDim()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "user embedding has %d values, the hypernetworks read %d", embedding.size(),
        generator->EmbedDim()));
  }
  for (float v : embedding) {
    if (!std::isfinite(v)) return absl::InvalidArgumentError("user embedding holds NaN or Inf");
  }
  auto pending = std::make_shared<PendingPlan>();
  pending->device_id = device.id;
  pending->model_version = model_version;
  pending->input_sha256 = PlanInputHash(generator->Id(), model_version, embedding);
  // The same input to the same generator: the stored plan.
  ASSIGN_OR_RETURN(std::optional<PlanRecord> latest, store_->LatestPlanForDevice(device.id));
  if (latest.has_value() && latest->method == "chord" &&
      latest->input_sha256 == pending->input_sha256) {
    PlanReply reply;
    reply.bytes = std::move(latest->bytes);
    reply.plan_version = latest->version;
    reply.model_version = latest->model_version;
    reply.cached = true;
    return reply;
  }
  pending->embedding = std::move(embedding);
  std::future<absl::StatusOr<PlanReply>> result = pending->done.get_future();
  {
    absl::MutexLock lock(&plan_mu_);
    if (plan_stop_) return absl::UnavailableError("coordinator is shutting down");
    if (plan_queue_.size() >= options_.plan_queue_max) {
      return absl::ResourceExhaustedError(absl::StrFormat(
          "%d plan requests are waiting; try again later", plan_queue_.size()));
    }
    // A device's fair share of the queue: one request waiting at a time, so
    // no device can fill it.
    if (!plan_queued_devices_.insert(device.id).second) {
      return absl::ResourceExhaustedError(absl::StrFormat(
          "device %d already has a plan request waiting; one at a time", device.id));
    }
    plan_queue_.push_back(std::move(pending));
  }
  if (result.wait_for(std::chrono::milliseconds(std::max<int64_t>(1, options_.plan_timeout_ms))) !=
      std::future_status::ready) {
    return absl::DeadlineExceededError(absl::StrFormat(
        "no plan within %d ms (the hypernetworks are busy)", options_.plan_timeout_ms));
  }
  return result.get();
}

void Coordinator::PlanLoop() {
  for (;;) {
    std::vector<std::shared_ptr<PendingPlan>> batch;
    std::shared_ptr<PlanGenerator> generator;
    {
      absl::MutexLock lock(&plan_mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(plan_mu_) {
        return plan_stop_ || !plan_queue_.empty();
      };
      plan_mu_.Await(absl::Condition(&ready));
      if (plan_queue_.empty() && plan_stop_) return;
      // Give the requests in flight a moment to join this batch.
      const size_t max = static_cast<size_t>(std::max(1, options_.plan_batch_max));
      auto full = [this, max]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(plan_mu_) {
        return plan_stop_ || plan_queue_.size() >= max;
      };
      plan_mu_.AwaitWithTimeout(absl::Condition(&full),
                                absl::Microseconds(std::max<int64_t>(0, options_.plan_batch_wait_us)));
      while (!plan_queue_.empty() && batch.size() < max) {
        plan_queued_devices_.erase(plan_queue_.front()->device_id);
        batch.push_back(std::move(plan_queue_.front()));
        plan_queue_.pop_front();
      }
      generator = planner_;
    }
    if (generator == nullptr) {
      for (auto& p : batch) {
        p->done.set_value(absl::FailedPreconditionError("CHORD hypernetworks were removed"));
      }
      continue;
    }
    ProcessPlanBatch(*generator, batch);
  }
}

void Coordinator::ProcessPlanBatch(PlanGenerator& generator,
                                   std::vector<std::shared_ptr<PendingPlan>>& batch) {
  const auto start = std::chrono::steady_clock::now();
  auto fail_all = [&](const absl::Status& s) {
    for (auto& p : batch) p->done.set_value(s);
  };
  // Next version per device (a device may be twice in one batch).
  std::map<uint64_t, uint64_t> next_version;
  std::vector<uint64_t> versions;
  std::vector<float> flat;
  flat.reserve(batch.size() * static_cast<size_t>(generator.EmbedDim()));
  for (auto& p : batch) {
    auto it = next_version.find(p->device_id);
    if (it == next_version.end()) {
      absl::StatusOr<std::optional<PlanRecord>> latest = store_->LatestPlanForDevice(p->device_id);
      if (!latest.ok()) return fail_all(latest.status());
      it = next_version.emplace(p->device_id, latest->has_value() ? (*latest)->version : 0).first;
    }
    versions.push_back(++it->second);
    flat.insert(flat.end(), p->embedding.begin(), p->embedding.end());
  }
  absl::StatusOr<std::vector<std::string>> plans;
  try {
    plans = generator.Generate(flat, versions);
  } catch (const std::exception& e) {
    plans = absl::InternalError(std::string("plan generation failed: ") + e.what());
  }
  if (!plans.ok()) return fail_all(plans.status());
  if (plans->size() != batch.size()) {
    return fail_all(absl::InternalError("plan generator returned the wrong number of plans"));
  }
  const int64_t now = clock_->NowMs();
  const std::string generator_id = generator.Id();
  absl::Status stored = store_->RunInTransaction([&]() -> absl::Status {
    for (size_t i = 0; i < batch.size(); ++i) {
      PlanRecord rec;
      rec.device_id = batch[i]->device_id;
      rec.version = versions[i];
      rec.bytes = (*plans)[i];
      rec.created_ms = now;
      rec.method = "chord";
      rec.input_sha256 = batch[i]->input_sha256;
      rec.generator = generator_id;
      rec.model_version = batch[i]->model_version;
      RETURN_IF_ERROR(store_->InsertPlan(rec).status());
    }
    return absl::OkStatus();
  });
  if (!stored.ok()) return fail_all(stored);
  const double us =
      std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count() /
      static_cast<double>(batch.size());
  for (size_t i = 0; i < batch.size(); ++i) {
    PlanReply reply;
    reply.bytes = std::move((*plans)[i]);
    reply.plan_version = versions[i];
    reply.model_version = batch[i]->model_version;
    reply.generation_us = us;
    batch[i]->done.set_value(std::move(reply));
  }
}

}  // namespace qfleet::cloud
