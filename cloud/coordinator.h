#ifndef QFLEET_CLOUD_COORDINATOR_H_
#define QFLEET_CLOUD_COORDINATOR_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <set>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "cloud/campaign_config.h"
#include "cloud/fedhq/fedhq_selector.h"
#include "cloud/metrics/coordinator_metrics.h"
#include "cloud/model_backend.h"
#include "cloud/plan_generator.h"
#include "cloud/store/blob_store.h"
#include "cloud/store/coordinator_store.h"
#include "common/clock.h"
#include "common/tensor_container.h"

namespace qfleet::cloud {

struct CoordinatorOptions {
  // SQLite database file (":memory:" for tests). Created when absent.
  std::string db_path;
  // Directory of content-addressed model and update blobs; defaults to
  // db_path + ".blobs" (a temporary directory for ":memory:").
  std::string blob_dir;
  // Seed of the first model version when the database holds none.
  uint64_t model_seed = 1;
  // The first model version when the database holds none, instead of a
  // seeded one: a tensor container file (as `qfleetctl models export`
  // writes it) that must fit the backend's model. Ignored once the
  // database has a version.
  std::string initial_model_path;
  int64_t heartbeat_interval_ms = 10000;
  // A device that has not been heard from for this long is offline.
  int64_t lease_ms = 30000;
  // retry_after handed to devices with nothing to do.
  uint32_t poll_interval_ms = 200;
  // How often the round engine writes the last-seen times of heartbeats and
  // polls to SQLite (anything that reads them, such as participant
  // selection, /metrics and the admin API, flushes first). Well below
  // lease_ms; a crash loses at most this much last-seen history.
  int64_t last_seen_flush_ms = 5000;
  // Largest update container accepted, bytes.
  uint64_t max_update_bytes = 64ull << 20;
  // The fleet's shared enrollment secret; empty = none. Devices may also
  // enroll with join tokens an admin mints (CreateJoinToken).
  std::string join_secret;
  // Accept Register without any enrollment credential. Off by default:
  // with neither a join secret nor a presented join token, Register is
  // refused and says how to configure one.
  bool open_enrollment = false;
  // SQLite synchronous=FULL (every acknowledged write survives power loss)
  // instead of NORMAL (survives a process crash, not a power loss).
  bool durable_store = true;
  // Resumable uploads: kept prefixes per device (the oldest is dropped
  // beyond this), and how long an idle one is kept.
  int max_partial_uploads_per_device = 2;
  int64_t partial_upload_ttl_ms = 10 * 60 * 1000;
  // CHORD plan batches: the plan thread waits up to this long after the
  // first queued request for others to join, and generates at most
  // plan_batch_max plans per hypernetwork call.
  int64_t plan_batch_wait_us = 2000;
  int plan_batch_max = 512;
  // Requests queued beyond this are refused (ResourceExhausted); a request
  // not answered within plan_timeout_ms gets DeadlineExceeded.
  size_t plan_queue_max = 65536;
  int64_t plan_timeout_ms = 60000;
  // A round whose aggregation fails (e.g. the disk is full) is retried
  // after aggregation_backoff_ms, doubling up to aggregation_backoff_max_ms,
  // and marked "failed" (the error in its detail) after this many attempts.
  int max_aggregation_attempts = 5;
  int64_t aggregation_backoff_ms = 500;
  int64_t aggregation_backoff_max_ms = 30000;
  // Long-polls (PullTask with a wait, WaitForStateChange): the longest wait
  // granted, wall-clock milliseconds, and how many calls may wait at once
  // (each holds a server thread); beyond that a call is answered at once,
  // as without a wait.
  int64_t max_wait_ms = 30000;
  int max_waiters = 256;
  // Retention (RunRetention), every retention_interval_ms of the round
  // engine (0 = only when called): model versions beyond the newest
  // keep_models (0 = keep all; pinned ones and an open round's input are
  // always kept), the update blobs of finished rounds more than
  // keep_update_rounds behind the latest (0 = keep all), plan rows beyond
  // each device's newest keep_plans_per_device (0 = keep all), and blob
  // files nothing refers to that are older than blob_gc_min_age_s.
  int keep_models = 0;
  int keep_update_rounds = 3;
  int keep_plans_per_device = 4;
  int64_t retention_interval_ms = 10 * 60 * 1000;
  int64_t blob_gc_min_age_s = 600;
  // Injected clock; nullptr = the real clock. Not owned.
  Clock* clock = nullptr;
};

// What one RunRetention() pass removed.
struct RetentionResult {
  uint64_t model_versions = 0;  // versions whose blob went
  uint64_t updates = 0;         // updates whose blob went
  uint64_t plans = 0;           // plan rows deleted
  uint64_t blobs = 0;           // blob files deleted
  uint64_t blob_bytes = 0;
};

// A precision plan as RequestPlan hands it out.
struct PlanReply {
  std::string bytes;           // packed plan (common/plan_codec.h)
  uint64_t plan_version = 0;   // the device's plan version; 0 = fleet-wide
  uint64_t model_version = 0;  // the model whose channels it describes
  std::vector<int> tier_bits;  // apply as is; empty = decode for the budget
  std::vector<double> tier_importance;  // PlanGenerator::TierImportance()
  bool cached = false;         // stored earlier for the same input
  double generation_us = 0;    // batch wall time / batch size (0 if cached)
};

// A model version ready to be served: its container bytes and hash.
struct ModelBlob {
  uint64_t version = 0;
  std::shared_ptr<const std::string> bytes;
  std::string sha256;
};

// A device's next piece of work as the service hands it out.
struct PulledTask {
  std::optional<TaskRecord> task;
  ModelBlob model;         // set with task
  std::string plan_bytes;  // packed plan, empty when the task has none
  bool fleet_idle = false; // no campaign is running
  uint32_t retry_after_ms = 0;
  uint32_t waited_ms = 0;  // how long a long-poll held the call (wall clock)
};

// A join token as CreateJoinToken mints it: the stored record and the
// secret, which is not stored and cannot be shown again.
struct NewJoinToken {
  JoinTokenRecord record;
  std::string secret;
};

// "active", "expired", "revoked" or "used_up" (max_uses new devices
// enrolled) for a join token at `now_ms`; revoked wins over expired, which
// wins over used up.
std::string JoinTokenState(const JoinTokenRecord& token, int64_t now_ms);

// What a device says about an update it streams (UpdateChunk.Header).
struct UploadHeader {
  uint64_t device_id = 0;
  uint64_t task_id = 0;
  std::string request_id;
  uint64_t sample_count = 0;
  uint64_t total_bytes = 0;
  std::string sha256;  // hex, of the whole update
};

// Where an upload stands: the bytes kept from a broken stream, or the
// update it was already recorded as.
struct UploadProgress {
  uint64_t committed_bytes = 0;
  uint64_t total_bytes = 0;  // of the kept prefix's header; 0 when none
  std::string sha256;
  std::optional<UpdateRecord> accepted;
};

// How a stream starting at some offset begins: the kept bytes before that
// offset, or the update when request_id was already recorded.
struct UploadStart {
  std::string prefix;
  std::optional<UpdateRecord> accepted;
};

struct Registration {
  uint64_t device_id = 0;
  std::string token;
  int64_t heartbeat_interval_ms = 0;
};

// The coordinator's domain logic: enrollment, tasks, uploads, reports, and
// the synchronous round engine (select → hand out → collect until all
// report or the deadline → FedAvg → evaluate → new model version). All state
// is in SQLite and the blob store, so a restarted coordinator resumes where
// it stopped. All public methods are thread-safe.
class Coordinator {
 public:
  // Opens (or creates) the store, and makes model version 1 from the
  // backend when the store holds no model (not evaluated yet: see
  // FinishStartup). DataLoss/FailedPrecondition for a corrupt or too-new
  // database; errors of the backend pass through. Costs no evaluation and
  // no test-data load, so a program can serve right after it.
  static absl::StatusOr<std::unique_ptr<Coordinator>> Open(const CoordinatorOptions& options,
                                                           std::unique_ptr<ModelBackend> backend);
  ~Coordinator();

  Coordinator(const Coordinator&) = delete;
  Coordinator& operator=(const Coordinator&) = delete;

  // What Open() leaves for later, so a start is not held up by it: loads
  // the backend's test data (ModelBackend::Prepare) and evaluates a first
  // model version stored without accuracies. Call it on a background thread
  // once the coordinator serves; rounds may run meanwhile. Idempotent;
  // errors of the backend and the store pass through.
  absl::Status FinishStartup();

  // --- Device API -----------------------------------------------------------
  // Enrolls a device. A name belongs to the credential that enrolled it:
  // a known name re-enrolls (rotating its token; a drained device stays
  // drained) only with `current_token`, the device's valid bearer token,
  // or with the join token that enrolled it, or after an admin cleared its
  // token (ResetDevice, or EnableDevice of a revoked device); the shared
  // join secret alone never takes over a known name. `join_secret` is the
  // coordinator's join secret or the secret of a join token minted by
  // CreateJoinToken; enrolling a new device spends one use of such a token.
  // PermissionDenied on a wrong secret, a revoked, expired or used-up join
  // token (the message says which), a revoked device name, a known name
  // without its credential, or no credential at all without
  // open_enrollment (the message says how to configure one);
  // InvalidArgument on a bad name or profile. Thread-safe.
  absl::StatusOr<Registration> Register(DeviceRecord device, absl::string_view join_secret,
                                        absl::string_view current_token = {});
  // OK when `token` belongs to `device_id` and the device is not revoked;
  // Unauthenticated otherwise (unknown device included, so ids cannot be
  // probed). Only the token's SHA-256 is stored; compared in constant time.
  absl::Status Authenticate(uint64_t device_id, absl::string_view token);
  // Renews the device's lease; returns the lease expiry (Unix ms).
  absl::StatusOr<int64_t> Heartbeat(uint64_t device_id);
  // The device's open task, if any; marks it pulled.
  absl::StatusOr<PulledTask> PullTask(uint64_t device_id);
  // Long-poll PullTask (coordinator_waits.cc): when the device has no task,
  // waits up to min(wait_ms, max_wait_ms) of wall time for a round or
  // campaign to change state and pulls again. Returns when a task is handed
  // out, fleet_idle differs from the first pull's, the wait is over,
  // `cancelled` (may be null) returns true, or ShutdownWaiters() ran.
  // Answers at once, like PullTask, for wait_ms <= 0 or when max_waiters
  // calls already wait. Errors of PullTask pass through.
  absl::StatusOr<PulledTask> PullTask(uint64_t device_id, int64_t wait_ms,
                                      const std::function<bool()>& cancelled);
  // A stored model version. NotFound for an unknown version or one the
  // retention policy removed; DataLoss if the blob on disk is damaged.
  // version 0 = latest.
  absl::StatusOr<ModelBlob> GetModel(uint64_t version);
  // Validates and records an update for `task_id`. PermissionDenied if the
  // task is another device's; FailedPrecondition if its round is closed;
  // InvalidArgument (and the participant marked rejected) for a container
  // that is corrupt, of the wrong shape, or holds NaN/Inf. Retrying with the
  // same request_id returns the first result with duplicate=true.
  absl::StatusOr<std::pair<UpdateRecord, bool>> AcceptUpdate(uint64_t device_id, uint64_t task_id,
                                                             const std::string& request_id,
                                                             uint64_t sample_count,
                                                             const std::string& bytes);
  // Resumable uploads (coordinator_uploads.cc). A stream is BeginUpload,
  // KeepUploadPrefix for what arrived when it breaks (or every few MiB),
  // and FinishUpload with the whole object.
  //
  // Where the device's upload `request_id` for `task_id` stands.
  // PermissionDenied for another device's task, NotFound for an unknown one.
  absl::StatusOr<UploadProgress> UploadStatus(uint64_t device_id, uint64_t task_id,
                                              const std::string& request_id);
  // Checks a header (InvalidArgument: total_bytes 0 or over the limit, sha256
  // not 64 hex digits, request_id not 1..128 bytes; PermissionDenied /
  // NotFound for the task) and where the stream starts: 0, or exactly the
  // committed bytes of a kept prefix with the same header (OutOfRange
  // naming the committed offset otherwise). Returns the kept bytes before
  // `offset`, or the recorded update when request_id is already done.
  absl::StatusOr<UploadStart> BeginUpload(const UploadHeader& header, uint64_t offset);
  // Keeps `data`, verified bytes [offset, offset + size) of the upload, so a
  // broken stream can resume after them. FailedPrecondition when the kept
  // prefix does not end at `offset` (another stream moved it).
  absl::Status KeepUploadPrefix(const UploadHeader& header, uint64_t offset,
                                absl::string_view data);
  // Checks `bytes` against header.sha256 (DataLoss otherwise, and the kept
  // prefix is dropped), records them with AcceptUpdate, and drops the kept
  // prefix unless the store was unavailable.
  absl::StatusOr<std::pair<UpdateRecord, bool>> FinishUpload(const UploadHeader& header,
                                                             const std::string& bytes);
  // Records a report (idempotent by request_id); returns true for a repeat.
  absl::StatusOr<bool> AcceptReport(ReportRecord report);

  // CHORD plans (coordinator_plans.cc). SetPlanGenerator makes the
  // coordinator serve plans from `generator` (replacing any before; nullptr
  // stops serving them); a thread of its own batches the requests.
  void SetPlanGenerator(std::shared_ptr<PlanGenerator> generator);
  bool ServesPlans();
  // method "chord": the device's own plan for its user `embedding`, from
  // one batched hypernetwork call shared with the requests that arrive
  // within plan_batch_wait_us, stored in SQLite as the device's next plan
  // version; the same embedding to the same generator and model returns the
  // stored plan (cached). "chord-mean" / "static": the fleet-wide plan.
  // FailedPrecondition when no generator is set; InvalidArgument for
  // another method, an embedding of the wrong width or with NaN/Inf;
  // NotFound for an unknown device or a fleet plan the generator lacks;
  // ResourceExhausted when plan_queue_max requests wait or the device
  // already has one waiting (one per device at a time); DeadlineExceeded
  // after plan_timeout_ms; Internal when the generator fails.
  absl::StatusOr<PlanReply> RequestPlan(uint64_t device_id, const std::string& method,
                                        std::vector<float> embedding);

  // --- Admin API --------------------------------------------------------------
  // Plans config.rounds more rounds. FailedPrecondition while another
  // campaign runs; InvalidArgument for a bad config.
  absl::StatusOr<CampaignRecord> StartCampaign(const CampaignConfig& config);
  // Device lifecycle (coordinator_devices.cc); each returns the updated
  // device and fails with NotFound for an unknown id. All persistent.
  // RevokeDevice: state "revoked" — its token stops working, its task in an
  // open round is dropped, and Register refuses its name. A single-use join
  // token that enrolled it (max_uses 1: a per-device token) is revoked with
  // it. Idempotent.
  absl::StatusOr<DeviceRecord> RevokeDevice(uint64_t device_id);
  // DrainDevice: state "drained" — not selected for new rounds; its token
  // keeps working. FailedPrecondition for a revoked device. Idempotent.
  absl::StatusOr<DeviceRecord> DrainDevice(uint64_t device_id);
  // EnableDevice: drained → "active"; revoked → "offline" with its token
  // hash cleared, so it must Register again (join secret) for a new token.
  // Other states are left alone.
  absl::StatusOr<DeviceRecord> EnableDevice(uint64_t device_id);
  // ResetDevice: clears the device's token (it stops working at once) and
  // drops its task in an open round, so that the next Register of its name
  // with a valid enrollment credential takes the name over -- the admin's
  // way to re-enroll a device that lost its token. State "offline" unless
  // drained. FailedPrecondition for a revoked device (EnableDevice does the
  // same for it).
  absl::StatusOr<DeviceRecord> ResetDevice(uint64_t device_id);
  // Join tokens (coordinator_join_tokens.cc). CreateJoinToken mints a
  // token that expires `ttl_ms` from now (0 = never) and enrolls at most
  // `max_uses` new devices (0 = unlimited); only its SHA-256 is stored.
  // InvalidArgument for a negative ttl or a label over 256 bytes.
  absl::StatusOr<NewJoinToken> CreateJoinToken(absl::string_view label, int64_t ttl_ms,
                                               uint64_t max_uses);
  // All join tokens, ordered by id (no secrets: they are not stored).
  absl::StatusOr<std::vector<JoinTokenRecord>> ListJoinTokens();
  // Register refuses the token from now on; devices it enrolled keep their
  // own tokens. Persistent; idempotent (the first revocation time is kept).
  // NotFound for an unknown id.
  absl::StatusOr<JoinTokenRecord> RevokeJoinToken(uint64_t token_id);
  // Cancels an open round (coordinator_round_cancel.cc): participants still
  // assigned or pulled are dropped, no further update or report is accepted
  // for it (FailedPrecondition naming the cancellation), updates already
  // accepted stay stored but are never aggregated, and the round is marked
  // "cancelled" with `reason` in its detail. The campaign then moves on to
  // its next round (the cancelled number counts as one of its rounds), or
  // ends if it was the last. NotFound for an unknown round;
  // FailedPrecondition for a round that is not open; InvalidArgument for a
  // reason over 1024 bytes.
  absl::StatusOr<RoundRecord> CancelRound(uint64_t round, absl::string_view reason);
  // The version of the round and campaign state: it changes whenever a
  // round opens, closes, is aggregated or cancelled, or a campaign starts or
  // ends. Starts at the wall-clock microseconds of Open(), so it differs
  // across restarts. Thread-safe.
  uint64_t StateVersion();
  // Waits while StateVersion() == known, up to min(wait_ms, max_wait_ms) of
  // wall time, `cancelled` (may be null) returning true, ShutdownWaiters(),
  // or max_waiters calls already waiting (then it returns at once). Returns
  // the version when it stops waiting; known == 0 never waits.
  uint64_t WaitForStateChange(uint64_t known, int64_t wait_ms,
                              const std::function<bool()>& cancelled);
  // Wakes every waiting long-poll and makes later ones answer at once (the
  // server is shutting down). Irreversible. Thread-safe.
  void ShutdownWaiters();
  // Calls waiting in PullTask / WaitForStateChange now (for /metrics, tests).
  int waiters();
  // Registered and online (active, within lease) devices and finished
  // rounds, read from the store, for /metrics.
  absl::StatusOr<FleetGauges> Gauges();

  CoordinatorStore& store() { return *store_; }
  int64_t NowMs() const { return clock_->NowMs(); }
  int64_t lease_ms() const { return options_.lease_ms; }
  uint64_t max_update_bytes() const { return options_.max_update_bytes; }
  // Writes the last-seen times recorded since the previous flush. Readers of
  // DeviceRecord::last_seen_ms through store() call this first.
  absl::Status FlushLastSeen();
  int64_t started_ms() const { return started_ms_; }

  // --- Retention (coordinator_retention.cc) ----------------------------------
  // One retention pass (see CoordinatorOptions::keep_models and below):
  // marks what goes in the store, then deletes blob files no unpruned row
  // refers to. Store errors pass through; a blob file that cannot be
  // deleted is left for the next pass. Thread-safe.
  absl::StatusOr<RetentionResult> RunRetention();
  // Pins a version (retention keeps it) or unpins it. NotFound for an
  // unknown version, FailedPrecondition to pin one already pruned.
  absl::StatusOr<ModelVersionRecord> PinModel(uint64_t version, bool pinned);

  // --- Round engine -----------------------------------------------------------
  // Advances the round state machine by one decision (start a round, close
  // one, aggregate). Called by the engine thread, or directly by tests with a
  // fake clock. Errors are recorded on the round and returned.
  absl::Status Step();
  // Runs Step() every `period_ms` on a background thread until StopEngine().
  void StartEngine(int64_t period_ms = 50);
  void StopEngine();

 private:
  Coordinator(CoordinatorOptions options, std::unique_ptr<CoordinatorStore> store,
              std::unique_ptr<BlobStore> blobs, std::unique_ptr<ModelBackend> backend);

  absl::Status LoadOrCreateModel();
  // The enrollment credential `secret` names: the id of a usable join token
  // whose secret it is, or 0 for the coordinator's join secret (or no
  // secret under open_enrollment). PermissionDenied otherwise: a wrong
  // secret, an unusable join token, or no secret with enrollment closed
  // (the message says how to open it).
  absl::StatusOr<uint64_t> CheckJoinSecret(absl::string_view secret, int64_t now_ms);
  // OK when the device's update for `task` may still count: device not
  // revoked or reset (PermissionDenied), round open and before the task's
  // deadline, participant neither rejected nor dropped (FailedPrecondition).
  absl::Status CheckMayContribute(uint64_t device_id, const TaskRecord& task);
  // Passes `attempt` through; when it failed for a round in "aggregating",
  // schedules the next attempt (backoff) or, after max_aggregation_attempts,
  // marks the round failed. Round-engine thread only.
  absl::Status WithAggregationRetry(const RoundRecord& round, absl::Status attempt);
  // Marks the device's task in an open round "dropped" (reason `why`), if
  // it has one. Call inside a store transaction.
  absl::Status DropOpenTask(uint64_t device_id, absl::string_view why);
  // Re-checks join token `token_id` (max_uses included) and counts one use.
  absl::Status ConsumeJoinToken(uint64_t token_id, int64_t now_ms);
  // FailedPrecondition naming the cancellation if `round` was cancelled;
  // `what` is "update" or "report".
  static absl::Status CheckNotCancelled(const RoundRecord& round, absl::string_view what);
  // InvalidArgument unless request_id is 1..128 bytes.
  static absl::Status CheckRequestId(const std::string& request_id);
  // The task `task_id` if it is `device_id`'s: NotFound for an unknown task,
  // PermissionDenied for another device's.
  absl::StatusOr<TaskRecord> OwnTask(uint64_t device_id, uint64_t task_id);
  // One decision of Step(); Step() then notes whether the round state
  // changed (NoteRoundState).
  absl::Status AdvanceRounds();
  // Wakes long-polls when the latest round's number or state or the active
  // campaign differs from what the previous call saw. Requires step_mu_.
  absl::Status NoteRoundState();
  // Bumps the state version and wakes every waiter.
  void NotifyStateChanged();
  // Registers a waiter; false when max_waiters already wait or waits are
  // shut down.
  bool EnterWait();
  void LeaveWait();
  // Blocks until the version differs from `known`, `deadline`, `cancelled`
  // or shutdown; returns the version. Requires a registered waiter.
  uint64_t AwaitVersionChange(uint64_t known, absl::Time deadline,
                              const std::function<bool()>& cancelled);
  absl::Status MaybeStartRound();
  absl::Status CloseRoundIfDue(RoundRecord round);
  absl::Status Aggregate(RoundRecord round);
  // An eval round's end: the mean of each reported metric in the round's
  // detail (JSON), mean hr10 as its served accuracy; no new model version.
  absl::Status FinishEvalRound(const CampaignConfig& config, RoundRecord& round,
                               const std::vector<ReportRecord>& reports);
  absl::StatusOr<std::vector<uint64_t>> SelectParticipants(const CampaignConfig& config,
                                                           uint64_t round);
  // Drops kept upload prefixes that idled past their TTL or whose round
  // closed, at most once a second.
  absl::Status MaybePrunePartialUploads();
  // RunRetention() once every retention_interval_ms (round engine).
  absl::Status MaybeRunRetention();
  absl::Status RejectParticipant(uint64_t round, uint64_t device_id, const std::string& why);
  // The FedHQ selector of `campaign`, restored from the store on first use.
  absl::StatusOr<FedHqSelector*> SelectorFor(const CampaignRecord& campaign,
                                             const CampaignConfig& config);
  // Campaigns with quantized activations: the served activation steps of
  // the round's model (ModelBackend::ServedActivationSteps) in every QAT
  // task's train config ("act_steps"), computed once for the round.
  absl::Status AttachActivationSteps(const CampaignConfig& config, std::vector<TaskRecord>& tasks);
  // Assigns a strategy per participant; fills the tasks' strategies and
  // predictions and returns the selector's wall seconds.
  absl::StatusOr<double> AssignStrategies(const CampaignRecord& campaign,
                                          const CampaignConfig& config,
                                          std::vector<TaskRecord>& tasks);
  // Simulated-time accounting and selector learning for a closing round:
  // drops updates that missed the simulated deadline and returns the round's
  // simulated seconds (0 when the campaign does not simulate time).
  absl::StatusOr<double> AccountRound(const CampaignRecord* campaign, const CampaignConfig& config,
                                      RoundRecord& round, std::vector<UpdateRecord>& updates,
                                      const std::vector<ReportRecord>& reports);
  std::shared_ptr<const TensorContainer> current_model() const;
  // CHORD plan batching (coordinator_plans.cc).
  struct PendingPlan;
  void PlanLoop();
  void StopPlanThread();
  std::shared_ptr<PlanGenerator> CurrentPlanGenerator();
  // RequestPlan of `generator` (not null), without tier_importance.
  absl::StatusOr<PlanReply> RequestPlanFrom(std::shared_ptr<PlanGenerator> generator,
                                            uint64_t device_id, const std::string& method,
                                            std::vector<float> embedding);
  // Generates and stores the plans of `batch` and completes each request.
  void ProcessPlanBatch(PlanGenerator& generator,
                        std::vector<std::shared_ptr<PendingPlan>>& batch);

  CoordinatorOptions options_;
  Clock* clock_;
  std::unique_ptr<CoordinatorStore> store_;
  std::unique_ptr<BlobStore> blobs_;
  std::unique_ptr<ModelBackend> backend_;
  int64_t started_ms_ = 0;

  // Serializes round transitions against upload acceptance, so an update is
  // either in the aggregate or rejected, never silently left out.
  absl::Mutex round_mu_;
  // Serializes Step() callers.
  absl::Mutex step_mu_;
  // Heartbeats and polls record last-seen times here; FlushLastSeen() writes
  // them to SQLite (every last_seen_flush_ms from the engine, and before
  // anything reads devices), so a busy fleet costs no database write per call.
  mutable absl::Mutex seen_mu_;
  std::unordered_map<uint64_t, int64_t> seen_ ABSL_GUARDED_BY(seen_mu_);

  mutable absl::Mutex model_mu_;
  ModelBlob latest_ ABSL_GUARDED_BY(model_mu_);
  std::shared_ptr<const TensorContainer> latest_container_ ABSL_GUARDED_BY(model_mu_);

  // Owned by the round engine (Step() callers hold step_mu_).
  std::unique_ptr<FedHqSelector> selector_;
  uint64_t selector_campaign_ = 0;

  std::thread engine_;
  std::unique_ptr<absl::Notification> stop_engine_;
  // Owned by the round engine: when partial uploads were last pruned and
  // last-seen times last flushed.
  int64_t last_prune_ms_ = 0;
  int64_t last_seen_flush_at_ms_ = 0;
  int64_t last_temp_gc_ms_ = 0;
  int64_t last_retention_ms_ = 0;
  // Failed aggregation attempts of `round` and when to try again
  // (WithAggregationRetry; guarded by step_mu_ like the rest of Step's state).
  struct AggregationRetry {
    uint64_t round = 0;
    int tries = 0;
    int64_t next_ms = 0;
  };
  AggregationRetry aggregation_retry_;

  // Long-polls: the state version, the calls waiting on it, and whether
  // waits are shut down.
  absl::Mutex wait_mu_;
  absl::CondVar wait_cv_;
  uint64_t state_version_ ABSL_GUARDED_BY(wait_mu_) = 0;
  int waiters_ ABSL_GUARDED_BY(wait_mu_) = 0;
  bool waits_shut_down_ ABSL_GUARDED_BY(wait_mu_) = false;
  // Owned by the round engine: the round state NoteRoundState last saw.
  std::string round_signature_;

  absl::Mutex plan_mu_;
  std::shared_ptr<PlanGenerator> planner_ ABSL_GUARDED_BY(plan_mu_);
  std::deque<std::shared_ptr<PendingPlan>> plan_queue_ ABSL_GUARDED_BY(plan_mu_);
  std::set<uint64_t> plan_queued_devices_ ABSL_GUARDED_BY(plan_mu_);  // one each
  bool plan_stop_ ABSL_GUARDED_BY(plan_mu_) = false;
  std::thread plan_thread_;
};

}  // namespace qfleet::cloud

#endif  // QFLEET_CLOUD_COORDINATOR_H_
