#pragma once
// OutboxRegistry: the buffered instance behind lamin::connect_buffered. Private to lamin-cpp.
//
// Its parts live by concern:
//   outbox.cpp         opening the outbox folder, transactions, status and flush, the public functions
//   outbox_queue.cpp   writes: applied to the local state and queued in one local transaction; superseded uploads
//   outbox_upload.cpp  the uploader: pick the oldest pending operation, stage its bytes, record the answer
//   outbox_apply.cpp   sending one queued operation, with local ids translated to the server's
//
// Operation states: 'pending' until the server acknowledges it ('done') or rejects it ('failed'); 'superseded' when
// the artifact it uploads or annotates was deleted locally before the upload was sent, so it never needs to. An
// upload deleted locally after it was sent but before its answer came is retracted: it stays pending, is sent again
// with its key, and the server's copy is deleted (the server may have stored it before the answer was lost).

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "lamin/db/outbox.hpp"
#include "lamin/db/registry.hpp"
#include "rest_registry.hpp"
#include "sqlite_registry.hpp"

namespace lamin::detail {

/// Creates the queue, id map and meta tables of an outbox in `db` (if missing).
void create_outbox_tables(sqlite::Database& db);

/// The outbox: a RegistryWrapper over the local state. Reads are forwarded under the mutex (around()); writes are
/// applied locally and queued in one local transaction; the uploader thread sends the queue.
class OutboxRegistry : public RegistryWrapper {
 public:
  using Clock = std::chrono::steady_clock;

  /// Opens (or creates) the outbox at `dir` for `url`; starts the uploader when `options.background()`.
  OutboxRegistry(const std::string& url, const std::filesystem::path& dir, const OutboxOptions& options);
  /// Stops the uploader; warns when operations are still pending (background outboxes only).
  ~OutboxRegistry() override;

  // --- status, draining (outbox.cpp, outbox_upload.cpp) --------------------------------------------------------
  OutboxStatus status();
  /// Waits up to `timeout_s` for the queue to drain (in this thread when there is no uploader); returns status().
  OutboxStatus flush(double timeout_s);
  /// Drains in the calling thread until empty or the deadline; transient errors wait and retry.
  void drain_until(Clock::time_point deadline);

  // --- Registry: reads answer from the local state (forwarded by RegistryWrapper, under the mutex) ----------------
  void begin() override;
  void commit() override;
  void rollback() noexcept override;
  using Registry::feature_values_of_artifacts;
  std::vector<std::map<std::int64_t, std::vector<nlohmann::json>>> feature_values_of_artifacts(
      const std::vector<Feature>& features, const QuerySpec& spec) override;

  // --- Registry: writes go to the local state and the queue, in one local transaction (outbox_queue.cpp) ---------
  Artifact create_artifact(const std::filesystem::path& file, const ArtifactOptions& options) override;
  void delete_artifact(const Artifact& a) override;
  void add_run_input(const Artifact& a, const Run& r) override;
  Feature create_feature(const FeatureOptions& options) override;
  void add_values(const Artifact& a, const FeatureValues& values) override;
  void add_values(const Run& r, const FeatureValues& values) override;
  std::int64_t remove_values(const Artifact& a, const FeatureRef& f, const std::optional<nlohmann::json>& v) override;
  std::int64_t remove_values(const Run& r, const FeatureRef& f, const std::optional<nlohmann::json>& v) override;
  void set_feature_values(const Feature& f,
                          const std::vector<std::pair<std::int64_t, nlohmann::json>>& values) override;
  Transform create_transform(const TransformOptions& options) override;
  Run create_run(const Transform& transform, const RunOptions& options) override;
  Run finish_run(const Run& run, RunStatus status) override;

 private:
  enum class Round { empty, progress, transient };
  struct Op {
    std::int64_t seq = 0;
    std::string op, key;
    nlohmann::json payload;
  };
  /// (kind, local id, remote id, remote uid) for lamin_outbox_map.
  using IdMaps = std::vector<std::tuple<std::string, std::int64_t, std::int64_t, std::string>>;

  static std::shared_ptr<SqliteRegistry> open_local(const std::string& url, const std::filesystem::path& dir);
  /// Forwarded reads run under the mutex, so that they never interleave with the uploader's writes.
  void around(const char* name, const std::function<void()>& call) override;
  std::int64_t pending_locked();

  // --- the queue (outbox_queue.cpp) ------------------------------------------------------------------------------
  /// Runs `f` in one local transaction under the mutex; wakes the uploader once no caller's transaction is open.
  template <typename F>
  auto write(F&& f) -> decltype(f());
  /// Creates a record locally and queues its creation, unless `create` returned an existing record (dedupe).
  template <typename Create>
  auto create_queued(const char* table, const char* op, const nlohmann::json& options, Create&& create)
      -> decltype(create());
  std::int64_t max_id(const char* table);
  void enqueue(const std::string& op, const nlohmann::json& payload);
  void add_values_impl(const char* host, std::int64_t id, const FeatureValues& values, const Artifact* a,
                       const Run* r);
  /// Features named in `values` that the local state lacks, fetched from the server (best effort, short timeouts).
  void import_missing_features(const FeatureValues& values);
  /// Called (under the mutex, in the deleting transaction) when the artifact `local_id` is deleted locally. If its
  /// upload is still queued, nothing of the artifact needs to reach the server: the upload and every queued
  /// operation on the artifact become 'superseded' and true is returned. Otherwise the caller queues a delete. An
  /// upload already sent (under way, or its answer lost) is retracted (retract_upload()); the operations on it are
  /// superseded.
  bool supersede_upload(std::int64_t local_id);
  /// Marks the artifact upload `seq`, deleted locally once it was sent and before its answer came, to be sent
  /// again with its idempotency key: the server answers as the first time (or stores it now), and the copy it names
  /// is then deleted there. Its staged bytes stay until then. REQUIRES: the mutex.
  void retract_upload(std::int64_t seq);
  /// Records that `kind` `local_id` is `remote_id` (`remote_uid`) on the server. REQUIRES: the mutex.
  void map_id(const std::string& kind, std::int64_t local_id, std::int64_t remote_id, const std::string& remote_uid);

  // --- staged bytes (outbox_upload.cpp) --------------------------------------------------------------------------
  /// Where the bytes of upload `seq` wait for it: a hard link to the stored file, under the same file name (the
  /// server derives the suffix from it). Made as the upload starts, under the mutex, so that a local delete (an
  /// evicted checkpoint) cannot take the bytes from under the upload or its retries, in this process or the next.
  std::filesystem::path staged_dir(std::int64_t seq) const { return staging_dir_ / std::to_string(seq); }
  std::filesystem::path stage_upload(const Op& op);
  /// Removes the staged bytes of `seq` once it is no longer pending. REQUIRES: the mutex.
  void unstage(std::int64_t seq);
  /// At open: staged bytes whose operation was answered or superseded before a crash could remove them.
  void sweep_staged();

  // --- the uploader (outbox_upload.cpp) --------------------------------------------------------------------------
  void upload_loop();
  /// One round that never throws: an unexpected error (the local database failing, a corrupt queue entry) is
  /// reported and retried like a network error, so neither the uploader thread nor a flush can end the process.
  Round guarded_round(Clock::time_point deadline) noexcept;
  /// Waits until no caller's transaction is open on the local state (or stop, or the deadline); true if none is.
  /// The uploader's own writes must never join a caller's transaction: a rollback would take them, and connection
  /// settings cannot change inside one. REQUIRES: `lock` holds the mutex.
  bool wait_until_idle(std::unique_lock<std::mutex>& lock, Clock::time_point deadline);
  /// Uploads pending operations in order until the queue is empty, a transient error, the deadline or stop.
  Round upload_some(Clock::time_point deadline);
  /// Records the server's answer to `op` in the uploader's own local transaction; false if stopped (or past the
  /// deadline) while a caller's transaction was open.
  bool record(const Op& op, const IdMaps& maps, const std::string& failure, Clock::time_point deadline);
  Round transient(const Op& op, const std::string& message, Clock::time_point deadline);

  // --- sending one operation (outbox_apply.cpp) ------------------------------------------------------------------
  /// Sends one queued operation (an upload from `file`, its staged bytes); returns the id mappings to record.
  IdMaps apply(const Op& op, const std::filesystem::path& file);
  /// The server's (id, uid) of the local `kind` record `local_id`, if it was uploaded.
  std::optional<std::pair<std::int64_t, std::string>> mapped(const std::string& kind, std::int64_t local_id);
  /// As mapped(); throws lamin::IntegrityError when the record never reached the server.
  std::pair<std::int64_t, std::string> need(const std::string& kind, std::int64_t local_id);
  /// A local feature's id on the server: from the map, else created there from the local record (features that
  /// came with the local instance or were created outside this outbox).
  std::int64_t remote_feature(std::int64_t local_id);
  FeatureValues translate(const FeatureValues& values);
  FeatureRef translate(const FeatureRef& ref);

  std::shared_ptr<SqliteRegistry> local_;  // target(), with its connection
  std::string url_;
  std::filesystem::path dir_;
  OutboxOptions options_;
  std::unique_ptr<rest::RestRegistry> remote_;  // the uploader's connection
  std::mutex mutex_;
  std::condition_variable cv_, drained_cv_;
  std::condition_variable idle_cv_;  // a caller's transaction ended
  bool stop_ = false, wake_ = false;
  std::string last_error_;
  std::int64_t picked_seq_ = 0;  ///< the operation the uploader took last: sent, or about to be
  std::filesystem::path staging_dir_;
  std::thread uploader_;
};

}  // namespace lamin::detail
