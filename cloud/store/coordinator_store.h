#ifndef QFLEET_CLOUD_STORE_COORDINATOR_STORE_H_
#define QFLEET_CLOUD_STORE_COORDINATOR_STORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "cloud/store/records.h"
#include "cloud/store/sqlite_db.h"

namespace qfleet::cloud {

// How CoordinatorStore::Open configures its database.
struct CoordinatorStoreOptions {
  // synchronous=FULL: every commit survives power loss (see SqliteOptions).
  bool durable = false;
};

// The coordinator's durable state (devices, campaigns, rounds, tasks,
// participants, plans, updates, reports, model versions) in one SQLite
// database; large payloads live in a BlobStore and are referenced by hash.
//
// Thread-safety and locking: every method is thread-safe. All of them run
// on one connection guarded by SqliteDb's reentrant mutex; each write runs
// in SqliteDb::Transaction. Inside RunInTransaction the calling thread keeps
// the mutex, so the methods it calls nest as SAVEPOINTs (their failure rolls
// back only their own writes) while other threads wait for the outer COMMIT.
//
// Errors: NotFound names the missing id; AlreadyExists for a duplicate key;
// InvalidArgument for a malformed record (unknown state or strategy, id 0
// where one is required); DataLoss if stored data does not decode;
// Unavailable when the database stays locked.
class CoordinatorStore {
 public:
  // Opens (creating if needed) the database at `path` (":memory:" for a
  // private in-memory one) and applies missing schema migrations. Fails as
  // SqliteDb::Open does (DataLoss naming the path for a corrupt file) and
  // with FailedPrecondition if the schema is newer than this build.
  static absl::StatusOr<std::unique_ptr<CoordinatorStore>> Open(
      const std::string& path, const CoordinatorStoreOptions& options = {});

  // --- devices ---------------------------------------------------------
  // Inserts a device and returns its new id (1, 2, ...; record.id is
  // ignored). AlreadyExists if the name is taken, InvalidArgument for an
  // empty name or unknown state. Thread-safe.
  absl::StatusOr<uint64_t> InsertDevice(const DeviceRecord& record);
  // Overwrites every field of the device with record.id. NotFound if
  // absent, AlreadyExists if renamed to a taken name. Thread-safe.
  absl::Status UpdateDevice(const DeviceRecord& record);
  // What authenticating a call needs of a device, from a memory cache kept
  // coherent with every write of the devices table made through this store
  // (the cache is read and filled under the connection lock, and writes
  // drop the entry inside their transaction). NotFound for an unknown id.
  struct DeviceAuth {
    std::string token_hash;
    std::string state;
  };
  absl::StatusOr<DeviceAuth> GetDeviceAuth(uint64_t id);
  // Look a device up by id or by name. NotFound if absent. Thread-safe.
  absl::StatusOr<DeviceRecord> GetDevice(uint64_t id);
  absl::StatusOr<DeviceRecord> GetDeviceByName(absl::string_view name);
  // All devices, ordered by id. Thread-safe.
  absl::StatusOr<std::vector<DeviceRecord>> ListDevices();
  // Ids of the devices in state "active" with last_seen_ms >= since_ms,
  // ascending (participant selection: a cheap read of a large fleet).
  // Thread-safe.
  absl::StatusOr<std::vector<uint64_t>> ActiveDevicesSeenSince(int64_t since_ms);
  // Sets last_seen_ms. NotFound if the device is absent. Thread-safe.
  absl::Status TouchDevice(uint64_t id, int64_t now_ms);
  // Sets last_seen_ms of many devices (never moving it back), in one
  // transaction per 32 devices; ids that do not exist are skipped. On an
  // error the slices before it stay written (rewriting them is harmless).
  absl::Status TouchDevices(const std::vector<std::pair<uint64_t, int64_t>>& seen);
  // Sets the state (active|offline|drained|revoked). NotFound if absent,
  // InvalidArgument for another state. Thread-safe.
  absl::Status SetDeviceState(uint64_t id, absl::string_view state);

  // --- model versions --------------------------------------------------
  // Records a global model version (>= 1). AlreadyExists if the version is
  // taken, InvalidArgument for version 0. Thread-safe.
  absl::Status InsertModelVersion(const ModelVersionRecord& record);
  // NotFound if absent. Thread-safe.
  absl::StatusOr<ModelVersionRecord> GetModelVersion(uint64_t version);
  // The highest version, or nullopt when there is none. Thread-safe.
  absl::StatusOr<std::optional<ModelVersionRecord>> LatestModelVersion();
  // All versions, ascending. Thread-safe.
  absl::StatusOr<std::vector<ModelVersionRecord>> ListModelVersions();
  // Records the test accuracies of a version stored without them (-1, the
  // coordinator evaluates its first version after it starts serving).
  // NotFound for an unknown version. Thread-safe.
  absl::Status SetModelVersionAccuracy(uint64_t version, double acc_fp32, double acc_q8);

  // --- retention (coordinator_store_retention.cc) -------------------------
  // Pins (kept whatever retention says) or unpins a version and returns it.
  // NotFound for an unknown version. Thread-safe.
  absl::StatusOr<ModelVersionRecord> SetModelPinned(uint64_t version, bool pinned);
  // Marks pruned (pruned_ms = now_ms) every version that is not among the
  // newest `keep`, not pinned, and not the input of an open or aggregating
  // round or of one of its tasks; returns them. keep <= 0 keeps all.
  // The caller deletes the blobs. Thread-safe.
  absl::StatusOr<std::vector<ModelVersionRecord>> PruneModelVersions(int keep, int64_t now_ms);
  // Marks pruned the updates of finished (done, failed, cancelled) rounds
  // at least `keep_rounds` rounds older than the latest round; returns how
  // many. keep_rounds <= 0 keeps all. Thread-safe.
  absl::StatusOr<uint64_t> PruneUpdateBlobs(int keep_rounds, int64_t now_ms);
  // Deletes plan rows older than each device's newest `keep_per_device`
  // that no task refers to; returns how many. <= 0 keeps all. Thread-safe.
  absl::StatusOr<uint64_t> PrunePlans(int keep_per_device);
  // The blob hashes that unpruned model versions and updates refer to.
  // Thread-safe.
  absl::StatusOr<absl::flat_hash_set<std::string>> LiveBlobHashes();

  // --- campaigns -------------------------------------------------------
  // Inserts a campaign and returns its new id (record.id is ignored).
  // InvalidArgument for an unknown state. Thread-safe.
  absl::StatusOr<uint64_t> InsertCampaign(const CampaignRecord& record);
  // Overwrites every field of campaign record.id. NotFound if absent.
  // Thread-safe.
  absl::Status UpdateCampaign(const CampaignRecord& record);
  // NotFound if absent. Thread-safe.
  absl::StatusOr<CampaignRecord> GetCampaign(uint64_t id);
  // All campaigns, ordered by id. Thread-safe.
  absl::StatusOr<std::vector<CampaignRecord>> ListCampaigns();
  // The newest campaign whose state is "running", or nullopt. Thread-safe.
  absl::StatusOr<std::optional<CampaignRecord>> ActiveCampaign();

  // --- rounds, tasks, participants -------------------------------------
  // In one transaction inserts the round, its tasks (ids assigned; a task
  // round of 0 is set to round.round) and an "assigned" participant per
  // task; returns the tasks as stored. Nothing is written on failure:
  // AlreadyExists for an existing round or two tasks for one device,
  // NotFound for an unknown device, campaign or plan, InvalidArgument for
  // round 0, an unknown state/strategy or a task of another round.
  // Thread-safe.
  absl::StatusOr<std::vector<TaskRecord>> CreateRound(
      const RoundRecord& round, const std::vector<TaskRecord>& tasks);
  // Overwrites every field of round record.round. NotFound if absent,
  // InvalidArgument for an unknown state. Thread-safe.
  absl::Status UpdateRound(const RoundRecord& record);
  // NotFound if absent. Thread-safe.
  absl::StatusOr<RoundRecord> GetRound(uint64_t round);
  // All rounds, ascending. Thread-safe.
  absl::StatusOr<std::vector<RoundRecord>> ListRounds();
  // The highest-numbered round, or nullopt. Thread-safe.
  absl::StatusOr<std::optional<RoundRecord>> LatestRound();
  // The highest round number, 0 when there are no rounds. Thread-safe.
  absl::StatusOr<uint64_t> MaxRoundNumber();

  // NotFound if absent. Thread-safe.
  absl::StatusOr<TaskRecord> GetTask(uint64_t task_id);
  // The device's task in the newest round that is "open" and where its
  // participant status is "assigned" or "pulled"; nullopt if none.
  // NotFound if the device is absent. Thread-safe.
  absl::StatusOr<std::optional<TaskRecord>> OpenTaskForDevice(
      uint64_t device_id);
  // The round's participants ordered by device id. NotFound if the round
  // is absent. Thread-safe.
  absl::StatusOr<std::vector<ParticipantRecord>> ListParticipants(
      uint64_t round);
  // One device's participation in a round; nullopt if it has none.
  // Thread-safe.
  absl::StatusOr<std::optional<ParticipantRecord>> GetParticipant(uint64_t round,
                                                                  uint64_t device_id);
  // Sets a participant's status (assigned|pulled|uploaded|reported|
  // rejected|dropped) and detail. NotFound if the device has no task in
  // that round, InvalidArgument for another status. Thread-safe.
  absl::Status SetParticipantStatus(uint64_t round, uint64_t device_id,
                                    absl::string_view status,
                                    absl::string_view detail);

  // --- updates and reports (idempotent by (device_id, request_id)) -----
  // Records an uploaded update for record.task_id (record.round 0 = the
  // task's round) and advances the participant from assigned/pulled to
  // "uploaded", atomically. A retry with the same (device_id, request_id)
  // returns the stored record and duplicate=true, writing nothing.
  // AlreadyExists if the device already has another update in the round or
  // reused the request_id for another task; NotFound for an unknown task;
  // InvalidArgument for an empty request_id or a task of another device or
  // round. Thread-safe.
  absl::StatusOr<std::pair<UpdateRecord, bool /*duplicate*/>> InsertUpdate(
      const UpdateRecord& record);
  // The round's updates ordered by device id. NotFound if the round is
  // absent. Thread-safe.
  absl::StatusOr<std::vector<UpdateRecord>> ListUpdates(uint64_t round);

  // Records a report and moves the participant from assigned/pulled/
  // uploaded to "reported", or to "dropped" with detail = error when error
  // is non-empty, atomically. Returns true (and writes nothing) for a retry
  // with the same (device_id, request_id). Fails like InsertUpdate, plus
  // InvalidArgument for a metric name that is not UTF-8. Thread-safe.
  absl::StatusOr<bool /*duplicate*/> InsertReport(const ReportRecord& record);
  // The round's reports ordered by device id. NotFound if the round is
  // absent. Thread-safe.
  absl::StatusOr<std::vector<ReportRecord>> ListReports(uint64_t round);

  // The device's update recorded under request_id, or nullopt.
  // Thread-safe.
  absl::StatusOr<std::optional<UpdateRecord>> FindUpdate(
      uint64_t device_id, absl::string_view request_id);

  // --- partial uploads (coordinator_store_uploads.cc) ------------------
  // The kept prefix for (device_id, task_id, request_id), or nullopt.
  // Thread-safe.
  absl::StatusOr<std::optional<PartialUploadRecord>> GetPartialUpload(
      uint64_t device_id, uint64_t task_id, absl::string_view request_id);
  // Appends `data` at `offset` to the prefix kept under `header`'s key, in
  // one transaction, and returns the record as stored. offset 0 starts the
  // prefix afresh (replacing one with another header); otherwise a prefix
  // with the same total_bytes, sha256 and sample_count must exist and hold
  // exactly `offset` bytes (FailedPrecondition naming what it holds).
  // InvalidArgument when the data would pass total_bytes. A new prefix
  // beyond `max_per_device` of the device's drops its oldest ones.
  // NotFound for an unknown device or task. Thread-safe.
  absl::StatusOr<PartialUploadRecord> AppendPartialUpload(
      const PartialUploadRecord& header, uint64_t offset,
      absl::string_view data, int64_t now_ms, int max_per_device);
  // The kept bytes of upload `id`, offset 0..committed_bytes. NotFound if
  // absent, DataLoss if the stored chunks have a gap. Thread-safe.
  absl::StatusOr<std::string> ReadPartialUpload(uint64_t id);
  // Drops the prefix under the key, if any. Thread-safe.
  absl::Status DeletePartialUpload(uint64_t device_id, uint64_t task_id,
                                   absl::string_view request_id);
  // Drops prefixes idle since before `idle_before_ms` and those whose
  // task's round is no longer open; returns how many. Thread-safe.
  absl::StatusOr<int64_t> PrunePartialUploads(int64_t idle_before_ms);

  // --- precision plans -------------------------------------------------
  // Stores a plan and returns its plan_id; version 0 means the device's
  // previous version + 1 (1 for its first plan). NotFound for an unknown
  // device, AlreadyExists for a version it already has. Thread-safe.
  absl::StatusOr<uint64_t> InsertPlan(const PlanRecord& record);
  // The device's highest-version plan, or nullopt. NotFound if the device
  // is absent. Thread-safe.
  absl::StatusOr<std::optional<PlanRecord>> LatestPlanForDevice(
      uint64_t device_id);
  // NotFound if absent. Thread-safe.
  absl::StatusOr<PlanRecord> GetPlan(uint64_t plan_id);

  // --- small named state (kv) ---
  // Stores `value` under `key` (replacing any previous value).
  // InvalidArgument for an empty key. Thread-safe.
  absl::Status PutKv(absl::string_view key, absl::string_view value, int64_t now_ms);
  // The value under `key`, or nullopt. Thread-safe.
  absl::StatusOr<std::optional<std::string>> GetKv(absl::string_view key);

  // --- join tokens (coordinator_store_join_tokens.cc) -------------------
  // Inserts a join token and returns its new id (record.id is ignored).
  // AlreadyExists if the hash is taken, InvalidArgument for an empty hash.
  // Thread-safe.
  absl::StatusOr<uint64_t> InsertJoinToken(const JoinTokenRecord& record);
  // The token whose secret hashes to `token_hash`, or nullopt. Thread-safe.
  absl::StatusOr<std::optional<JoinTokenRecord>> FindJoinToken(absl::string_view token_hash);
  // NotFound naming the id if absent. Thread-safe.
  absl::StatusOr<JoinTokenRecord> GetJoinToken(uint64_t id);
  // All join tokens, ordered by id. Thread-safe.
  absl::StatusOr<std::vector<JoinTokenRecord>> ListJoinTokens();
  // Overwrites uses and revoked_ms of token record.id (the rest is
  // immutable). NotFound if absent. Thread-safe.
  absl::Status UpdateJoinToken(const JoinTokenRecord& record);

  // --- misc ------------------------------------------------------------
  // Runs `body` atomically; store methods called from body on this thread
  // join the transaction (as savepoints). A non-OK body rolls everything
  // back and is returned. Other threads' calls wait until it ends, so body
  // must not wait for them. Thread-safe.
  absl::Status RunInTransaction(const std::function<absl::Status()>& body);

  // Schema version of the open database (the latest this build knows).
  // Thread-safe.
  int SchemaVersion() const { return schema_version_; }

 private:
  CoordinatorStore(std::unique_ptr<SqliteDb> db, int schema_version)
      : db_(std::move(db)), schema_version_(schema_version) {}

  // Helpers; callers hold the connection lock. NotFound naming the id.
  absl::Status CheckDeviceExists(uint64_t device_id);
  absl::Status CheckRoundExists(uint64_t round);
  absl::Status CheckCampaignExists(uint64_t campaign_id);
  // Loads task `task_id` and checks that it belongs to `device_id` and, if
  // `round` is non-zero, to that round (InvalidArgument otherwise).
  absl::StatusOr<TaskRecord> TaskOfDevice(uint64_t task_id, uint64_t device_id,
                                          uint64_t round);
  // Inserts `task` (assigning task_id) and its "assigned" participant row.
  absl::Status InsertTaskLocked(TaskRecord* task);

  // Cache upkeep; callers hold the connection lock (so a concurrent miss
  // cannot re-fill an entry from a row read before the write).
  // Campaigns change, or a round is (re)opened: every cached "no open
  // task" answer and the cached active campaign are void. (A "no open
  // task" answer only goes stale when a device gains a task.)
  void VoidTaskCaches();
  // Device `device_id`'s participation changed: its own cached "no open
  // task" answer is void (no other device's answer depends on it).
  void VoidNoTaskFor(uint64_t device_id);
  void ForgetAuth(uint64_t device_id);

  const std::unique_ptr<SqliteDb> db_;
  const int schema_version_;
  // Read-mostly caches that let the calls a large fleet makes most often
  // (authentication, idle polls) be answered without the connection lock.
  // A hit takes only cache_mu_; a miss reads SQLite under the connection
  // lock and fills the cache before releasing it; every write that makes
  // an entry stale voids it under the connection lock, inside its
  // transaction. Lock order: connection lock, then cache_mu_.
  mutable absl::Mutex cache_mu_;
  std::unordered_map<uint64_t, DeviceAuth> auth_cache_ ABSL_GUARDED_BY(cache_mu_);
  // Bumped by VoidTaskCaches; "no open task" answers cached at an older
  // epoch are not used.
  uint64_t task_epoch_ ABSL_GUARDED_BY(cache_mu_) = 1;
  std::unordered_map<uint64_t, uint64_t> no_task_epoch_ ABSL_GUARDED_BY(cache_mu_);
  std::optional<std::optional<CampaignRecord>> active_campaign_ ABSL_GUARDED_BY(cache_mu_);
  uint64_t active_campaign_epoch_ ABSL_GUARDED_BY(cache_mu_) = 0;
};

}  // namespace qfleet::cloud

#endif  // QFLEET_CLOUD_STORE_COORDINATOR_STORE_H_
