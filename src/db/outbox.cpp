// The durable outbox: a local lamin-cpp instance plus a queue table, uploaded in order by a background thread.
#include "lamin/db/outbox.hpp"

#include "core/python.hpp"

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <sstream>
#include <thread>

#include "lamin/db/track.hpp"
#include "lamin/db/uid.hpp"
#include "lamin/error.hpp"
#include "lamin/log.hpp"
#include "rest_json.hpp"
#include "rest_registry.hpp"
#include "sqlite_registry.hpp"

namespace lamin {
namespace {
using nlohmann::json;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

void create_tables(sqlite::Database& db) {
  db.exec(
      "CREATE TABLE IF NOT EXISTS lamin_outbox_op (seq INTEGER PRIMARY KEY AUTOINCREMENT, op TEXT NOT NULL, "
      "payload TEXT NOT NULL, key TEXT NOT NULL, state TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL "
      "DEFAULT 0, error TEXT, created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)");
  db.exec(
      "CREATE TABLE IF NOT EXISTS lamin_outbox_map (kind TEXT NOT NULL, local_id INTEGER NOT NULL, remote_id "
      "INTEGER NOT NULL, remote_uid TEXT, PRIMARY KEY (kind, local_id))");
  db.exec("CREATE TABLE IF NOT EXISTS lamin_outbox_meta (name TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL)");
  // The uploader asks for the oldest pending operation after every upload: without this index that is a scan of
  // every operation ever uploaded.
  db.exec("CREATE INDEX IF NOT EXISTS lamin_outbox_pending ON lamin_outbox_op (seq) WHERE state = 'pending'");
}

// Operation states: 'pending' until the server acknowledges it ('done') or rejects it ('failed'); 'superseded' when
// the artifact it uploads or annotates was deleted locally before the upload was sent, so it never needs to.

/// The outbox: a RegistryWrapper over the local state. Reads are forwarded under the mutex (around()); writes are
/// applied locally and queued in one local transaction; the uploader thread sends the queue.
class OutboxRegistry : public RegistryWrapper {
 public:
  OutboxRegistry(const std::string& url, const fs::path& dir, const OutboxOptions& options)
      : RegistryWrapper(open_local(url, dir)),
        local_(std::static_pointer_cast<detail::SqliteRegistry>(target_ptr())),
        url_(url),
        dir_(dir),
        options_(options) {
    auto& db = local_->database();
    create_tables(db);
    auto s = db.prepare("SELECT value FROM lamin_outbox_meta WHERE name = 'remote_url'");
    if (s.step()) {
      if (s.text(0) != url)
        throw ConfigurationError("lamin: the outbox at '" + dir.string() + "' belongs to " + s.text(0) + ", not " + url);
    } else {
      auto ins = db.prepare("INSERT INTO lamin_outbox_meta (name, value) VALUES ('remote_url', ?)");
      ins.bind(1, url);
      ins.run();
    }
    staging_dir_ = local_->info().root / ".lamindb" / "outbox-uploads";
    sweep_staged();
    if (options_.background) {
      uploader_ = std::thread([this] {
        try {
          upload_loop();
        } catch (...) {  // a thread's exception would end the process: uploads stop, training goes on
          log::error("lamin: the outbox uploader stopped; run `lamin sync --outbox " + dir_.string() + "` later");
        }
      });
    }
  }

  ~OutboxRegistry() override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    cv_.notify_all();
    idle_cv_.notify_all();
    if (uploader_.joinable()) uploader_.join();
    if (!options_.background) return;  // lamin status / lamin sync report for themselves
    try {
      auto st = status();
      if (st.pending > 0)
        log::warn("lamin: " + std::to_string(st.pending) + " registry operations are still pending in the outbox " +
                  dir_.string() + "; run `lamin sync --outbox " + dir_.string() + "` to upload them");
    } catch (...) {
    }
  }

  // --- status, draining --------------------------------------------------------------------------------------
  OutboxStatus status() {
    std::lock_guard<std::mutex> lock(mutex_);
    OutboxStatus st;
    st.remote_url = url_;
    st.dir = dir_;
    st.last_error = last_error_;
    auto& db = local_->database();
    auto s = db.prepare("SELECT state, COUNT(*) FROM lamin_outbox_op GROUP BY state");
    while (s.step()) {
      const auto state = s.text(0);
      if (state == "pending") st.pending += s.int64(1);
      else if (state == "failed") st.failed += s.int64(1);
      else if (state == "superseded") st.superseded += s.int64(1);
      else st.done += s.int64(1);
    }
    auto f = db.prepare("SELECT seq, op, error FROM lamin_outbox_op WHERE state = 'failed' ORDER BY seq LIMIT 10");
    while (f.step())
      st.failures.push_back("op #" + std::to_string(f.int64(0)) + " (" + f.text(1) + "): " + f.opt_text(2).value_or(""));
    return st;
  }

  OutboxStatus flush(double timeout_s) {
    const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(timeout_s));
    if (!uploader_.joinable()) {
      drain_until(deadline);
    } else {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_ = true;
      cv_.notify_all();
      drained_cv_.wait_until(lock, deadline, [&] { return pending_locked() == 0; });
    }
    return status();
  }

  /// Drains in the calling thread until empty or the deadline; transient errors wait and retry.
  void drain_until(Clock::time_point deadline) {
    double wait = options_.retry_min_s;
    while (Clock::now() < deadline) {
      const auto r = guarded_round(deadline);
      if (r == Round::empty) return;
      if (r == Round::transient) {
        std::this_thread::sleep_for(std::chrono::duration<double>(
            std::min(wait, std::chrono::duration<double>(deadline - Clock::now()).count())));
        wait = std::min(options_.retry_max_s, wait * 2);
      } else {
        wait = options_.retry_min_s;
      }
    }
  }

  // --- Registry: reads answer from the local state (forwarded by RegistryWrapper, under the mutex) ----------
  void begin() override { std::lock_guard<std::mutex> l(mutex_); local_->begin(); }
  void commit() override {
    {
      std::lock_guard<std::mutex> l(mutex_);
      local_->commit();
    }
    idle_cv_.notify_all();
    cv_.notify_all();
  }
  void rollback() noexcept override {
    {
      std::lock_guard<std::mutex> l(mutex_);
      local_->rollback();
    }
    idle_cv_.notify_all();
  }
  using Registry::feature_values_of_artifacts;
  std::vector<std::map<std::int64_t, std::vector<json>>> feature_values_of_artifacts(const std::vector<Feature>& f,
                                                                                   const QuerySpec& s) override {
    return forward("feature_values_of_artifacts", [&] { return local_->feature_values_of_artifacts(f, s); });
  }

  // --- Registry: writes go to the local state and the queue, in one local transaction ------------------------
  Artifact create_artifact(const fs::path& file, const ArtifactOptions& options) override {
    ArtifactOptions o = options;
    std::optional<std::int64_t> run_id;
    if (options.run_mode() == ArtifactOptions::RunMode::given) run_id = options.run_id();
    if (options.run_mode() == ArtifactOptions::RunMode::current) run_id = detail::current_run_id(this);
    if (run_id) {
      Run r;
      r.id = *run_id;
      o.run(r);
    } else {
      o.no_run();
    }
    return write([&] {
      std::int64_t before = 0;
      {
        auto s = local_->database().prepare("SELECT COALESCE(MAX(id), 0) FROM lamindb_artifact");
        if (s.step()) before = s.int64(0);
      }
      Artifact a = local_->create_artifact(file, o);
      if (a.id > before) {  // a new record (not an existing one with the same hash)
        enqueue("artifact", {{"local_id", a.id}, {"file", local_->storage_path(a).string()},
                             {"kwargs", rest::to_json(o, run_id)}});
      }
      return a;
    });
  }
  void delete_artifact(const Artifact& a) override {
    write([&] {
      local_->delete_artifact(a);
      if (!supersede_upload(a.id)) enqueue("delete_artifact", {{"local_id", a.id}});
      return 0;
    });
  }
  void add_run_input(const Artifact& a, const Run& r) override {
    write([&] {
      local_->add_run_input(a, r);
      enqueue("run_input", {{"artifact_id", a.id}, {"run_id", r.id}});
      return 0;
    });
  }
  Feature create_feature(const FeatureOptions& options) override {
    return create_queued("lamindb_feature", "feature", rest::to_json(options),
                         [&] { return local_->create_feature(options); });
  }
  void add_values(const Artifact& a, const FeatureValues& values) override { add_values_impl("artifact", a.id, values, &a, nullptr); }
  void add_values(const Run& r, const FeatureValues& values) override { add_values_impl("run", r.id, values, nullptr, &r); }
  std::int64_t remove_values(const Artifact& a, const FeatureRef& f, const std::optional<json>& v) override {
    return write([&] {
      auto n = local_->remove_values(a, f, v);
      if (n > 0) enqueue("remove_values", remove_payload("artifact", a.id, f, v));
      return n;
    });
  }
  std::int64_t remove_values(const Run& r, const FeatureRef& f, const std::optional<json>& v) override {
    return write([&] {
      auto n = local_->remove_values(r, f, v);
      if (n > 0) enqueue("remove_values", remove_payload("run", r.id, f, v));
      return n;
    });
  }
  void set_feature_values(const Feature& f, const std::vector<std::pair<std::int64_t, json>>& values) override {
    write([&] {
      local_->set_feature_values(f, values);
      // One queued operation (sent as a few batch calls), not a remove and an add per artifact.
      json targets = json::array();
      for (const auto& [id, v] : values) targets.push_back({id, v});
      if (!targets.empty()) enqueue("set_feature_values", {{"feature", rest::to_json(f)}, {"values", targets}});
      return 0;
    });
  }
  Transform create_transform(const TransformOptions& options) override {
    return create_queued("lamindb_transform", "transform", rest::to_json(options),
                         [&] { return local_->create_transform(options); });
  }
  Run create_run(const Transform& transform, const RunOptions& options) override {
    return write([&] {
      Run r = local_->create_run(transform, options);
      // The server's run gets the same uid: checkpoint keys contain it.
      RunOptions uploaded = options;
      uploaded.uid(r.uid);
      enqueue("run", {{"local_id", r.id}, {"transform_id", transform.id}, {"options", rest::to_json(uploaded)}});
      return r;
    });
  }
  Run finish_run(const Run& run, RunStatus status) override {
    return write([&] {
      Run r = local_->finish_run(run, status);
      enqueue("finish_run", {{"run_id", run.id}, {"status", static_cast<int>(status)}});
      return r;
    });
  }

 private:
  enum class Round { empty, progress, transient };
  struct Op {
    std::int64_t seq = 0;
    std::string op, key;
    json payload;
  };
  using IdMaps = std::vector<std::tuple<std::string, std::int64_t, std::int64_t, std::string>>;

  static std::shared_ptr<detail::SqliteRegistry> open_local(const std::string& url, const fs::path& dir) {
    if (!is_remote_url(url)) throw ConfigurationError("lamin: the outbox needs an http(s) URL, got '" + url + "'");
    return detail::SqliteRegistry::open(dir, true);
  }
  /// Forwarded reads run under the mutex, so that they never interleave with the uploader's writes.
  void around(const char* /*name*/, const std::function<void()>& call) override {
    std::lock_guard<std::mutex> lock(mutex_);
    call();
  }
  template <typename F>
  auto write(F&& f) -> decltype(f()) {
    std::unique_lock<std::mutex> lock(mutex_);
    Transaction tx(*local_);
    auto out = f();
    tx.commit();
    const bool outer = local_->in_transaction();
    lock.unlock();
    if (!outer) {
      idle_cv_.notify_all();
      cv_.notify_all();
    }
    return out;
  }
  /// Creates a record locally and queues its creation, unless `create` returned an existing record (dedupe).
  template <typename Create>
  auto create_queued(const char* table, const char* op, const json& options, Create&& create) -> decltype(create()) {
    return write([&] {
      const std::int64_t before = max_id(table);
      auto record = create();
      if (record.id > before) enqueue(op, {{"local_id", record.id}, {"options", options}});
      return record;
    });
  }
  std::int64_t max_id(const char* table) {
    auto s = local_->database().prepare(std::string("SELECT COALESCE(MAX(id), 0) FROM ") + table);  // fixed names
    return s.step() ? s.int64(0) : 0;
  }
  void enqueue(const std::string& op, const json& payload) {
    auto s = local_->database().prepare("INSERT INTO lamin_outbox_op (op, payload, key) VALUES (?, ?, ?)");
    s.bind(1, op).bind(2, payload.dump()).bind(3, base62_uid(20));
    s.run();
  }
  static json remove_payload(const char* host, std::int64_t id, const FeatureRef& f, const std::optional<json>& v) {
    json p = {{"host", host}, {"local_id", id}, {"feature", rest::to_json(f)}};
    if (v) p["value"] = *v;
    return p;
  }

  void add_values_impl(const char* host, std::int64_t id, const FeatureValues& values, const Artifact* a, const Run* r) {
    import_missing_features(values);
    write([&] {
      if (a) local_->add_values(*a, values);
      else local_->add_values(*r, values);
      enqueue("add_values", {{"host", host}, {"local_id", id}, {"values", rest::to_json(values)}});
      return 0;
    });
  }

  /// Features named in `values` that the local state lacks, fetched from the server (best effort, short timeouts).
  void import_missing_features(const FeatureValues& values) {
    std::vector<std::string> missing;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (const auto& [ref, v] : values) {
        (void)v;
        if (ref.id()) continue;
        try {
          if (!local_->find_feature(ref)) missing.push_back(ref.name());
        } catch (const Error&) {
        }
      }
    }
    if (missing.empty()) return;
    try {
      RestOptions ro = options_.rest;
      ro.max_attempts = 1;
      ro.connect_timeout_s = std::min(ro.connect_timeout_s, 2.0);
      ro.request_timeout_s = std::min(ro.request_timeout_s, 5.0);
      rest::RestRegistry remote(url_, ro);
      for (const auto& name : missing) {
        auto f = remote.find_feature(FeatureRef(name));
        if (!f || f->type_id) continue;  // features under a type: define them locally first
        FeatureOptions o(f->name, f->dtype.value_or(""));
        if (!f->dtype) o = FeatureOptions().name(f->name);
        o.is_type(f->is_type);
        if (f->description) o.description(*f->description);
        if (f->unit) o.unit(*f->unit);
        create_feature(o);
      }
    } catch (const Error& e) {
      log::debug(std::string("lamin: could not fetch features from the server: ") + e.what());
    }
  }

  std::int64_t pending_locked() {
    auto s = local_->database().prepare("SELECT COUNT(*) FROM lamin_outbox_op WHERE state = 'pending'");
    return s.step() ? s.int64(0) : 0;
  }

  // --- superseded uploads and staged bytes ------------------------------------------------------------------
  /// Called (under the mutex, in the deleting transaction) when the artifact `local_id` is deleted locally. If its
  /// upload is still queued, nothing of the artifact needs to reach the server: the upload and every queued
  /// operation on the artifact become 'superseded' and true is returned. Otherwise the caller queues a delete. An
  /// upload already under way finishes from its staged bytes and is then deleted on the server (see record()).
  bool supersede_upload(std::int64_t local_id) {
    auto& db = local_->database();
    auto find = db.prepare(
        "SELECT seq FROM lamin_outbox_op WHERE state = 'pending' AND op = 'artifact' AND "
        "json_extract(payload, '$.local_id') = ? ORDER BY seq DESC LIMIT 1");
    find.bind(1, local_id);
    if (!find.step()) return false;
    const std::int64_t since = find.int64(0);  // local ids can be reused: only operations from this upload on
    db.prepare(
          "UPDATE lamin_outbox_op SET state = 'superseded' WHERE state = 'pending' AND seq >= ?1 AND ("
          "(op = 'artifact' AND json_extract(payload, '$.local_id') = ?2) OR "
          "(op IN ('add_values', 'remove_values') AND json_extract(payload, '$.host') = 'artifact' AND "
          "json_extract(payload, '$.local_id') = ?2) OR "
          "(op = 'run_input' AND json_extract(payload, '$.artifact_id') = ?2))")
        .bind(1, since)
        .bind(2, local_id)
        .run();
    // Batched value writes (ranks) name many artifacts: this one leaves them.
    std::vector<std::pair<std::int64_t, json>> batches;
    {
      auto s = db.prepare(
          "SELECT seq, payload FROM lamin_outbox_op WHERE state = 'pending' AND op = 'set_feature_values' AND "
          "seq > ?1 AND EXISTS (SELECT 1 FROM json_each(payload, '$.values') WHERE json_extract(value, '$[0]') = ?2)");
      s.bind(1, since).bind(2, local_id);
      while (s.step()) batches.emplace_back(s.int64(0), json::parse(s.text(1)));
    }
    for (auto& [seq, payload] : batches) {
      json kept = json::array();
      for (const auto& item : payload.at("values"))
        if (item.at(0).get<std::int64_t>() != local_id) kept.push_back(item);
      payload["values"] = kept;
      auto u = kept.empty() ? db.prepare("UPDATE lamin_outbox_op SET state = 'superseded' WHERE seq = ?1")
                            : db.prepare("UPDATE lamin_outbox_op SET payload = ?2 WHERE seq = ?1");
      u.bind(1, seq);
      if (!kept.empty()) u.bind(2, payload.dump());
      u.run();
    }
    return true;
  }

  /// Where the bytes of upload `seq` wait for it: a hard link to the stored file, under the same file name (the
  /// server derives the suffix from it). Made as the upload starts, under the mutex, so that a local delete (an
  /// evicted checkpoint) cannot take the bytes from under the upload or its retries, in this process or the next.
  fs::path staged_dir(std::int64_t seq) const { return staging_dir_ / std::to_string(seq); }
  fs::path stage_upload(const Op& op) {
    const fs::path stored = op.payload.at("file").get<std::string>();
    const fs::path staged = staged_dir(op.seq) / stored.filename();
    std::error_code ec;
    if (fs::is_regular_file(staged, ec)) return staged;
    fs::create_directories(staged.parent_path(), ec);
    fs::create_hard_link(stored, staged, ec);
    if (!ec) return staged;
    if (fs::exists(stored)) log::debug("lamin: the outbox uploads " + stored.string() + " unstaged: " + ec.message());
    return stored;
  }
  /// Removes the staged bytes of `seq` once it is no longer pending. REQUIRES: the mutex.
  void unstage(std::int64_t seq) {
    std::error_code ec;
    if (!fs::exists(staged_dir(seq), ec)) return;
    auto s = local_->database().prepare("SELECT 1 FROM lamin_outbox_op WHERE seq = ? AND state = 'pending'");
    s.bind(1, seq);
    if (!s.step()) fs::remove_all(staged_dir(seq), ec);
  }
  /// At open: staged bytes whose operation was answered or superseded before a crash could remove them.
  void sweep_staged() {
    std::error_code ec;
    std::vector<std::int64_t> seqs;
    for (fs::directory_iterator it(staging_dir_, ec), end; !ec && it != end; it.increment(ec)) {
      try {
        seqs.push_back(std::stoll(it->path().filename().string()));
      } catch (const std::exception&) {
      }
    }
    for (const auto seq : seqs) unstage(seq);
  }

  // --- the uploader ------------------------------------------------------------------------------------------
  void upload_loop() {
    double wait = options_.retry_min_s;
    while (true) {
      {
        std::unique_lock<std::mutex> lock(mutex_);
        if (stop_) return;
      }
      const auto r = guarded_round(Clock::time_point::max());
      std::unique_lock<std::mutex> lock(mutex_);
      if (stop_) return;
      if (r == Round::empty) {
        drained_cv_.notify_all();
        wait = options_.retry_min_s;
        cv_.wait_for(lock, std::chrono::seconds(5));
      } else if (r == Round::transient) {
        wake_ = false;
        cv_.wait_for(lock, std::chrono::duration<double>(wait), [&] { return stop_ || wake_; });
        wake_ = false;
        wait = std::min(options_.retry_max_s, wait * 2);
      } else {
        wait = options_.retry_min_s;
      }
    }
  }

  /// One round that never throws: an unexpected error (the local database failing, a corrupt queue entry) is
  /// reported and retried like a network error, so neither the uploader thread nor a flush can end the process.
  Round guarded_round(Clock::time_point deadline) noexcept {
    std::string what = "unknown error";
    try {
      return upload_some(deadline);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    try {
      {
        std::lock_guard<std::mutex> lock(mutex_);
        last_error_ = what;
      }
      log::warn("lamin: the outbox uploader failed (" + what + "); it retries, and training goes on");
    } catch (...) {
    }
    return Round::transient;
  }

  /// Waits until no caller's transaction is open on the local state (or stop, or the deadline); true if none is.
  /// The uploader's own writes must never join a caller's transaction: a rollback would take them, and connection
  /// settings cannot change inside one. REQUIRES: `lock` holds the mutex.
  bool wait_until_idle(std::unique_lock<std::mutex>& lock, Clock::time_point deadline) {
    auto idle = [&] { return stop_ || !local_->in_transaction(); };
    if (deadline == Clock::time_point::max()) idle_cv_.wait(lock, idle);
    else idle_cv_.wait_until(lock, deadline, idle);
    return !stop_ && !local_->in_transaction();
  }

  /// Uploads pending operations in order until the queue is empty, a transient error, the deadline or stop.
  Round upload_some(Clock::time_point deadline) {
    bool progress = false;
    while (Clock::now() < deadline) {
      Op op;
      fs::path file;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        if (stop_) return Round::progress;
        if (!wait_until_idle(lock, deadline)) return progress ? Round::progress : Round::transient;
        auto s = local_->database().prepare(
            "SELECT seq, op, payload, key FROM lamin_outbox_op WHERE state = 'pending' ORDER BY seq LIMIT 1");
        if (!s.step()) return progress ? Round::progress : Round::empty;
        op.seq = s.int64(0);
        op.op = s.text(1);
        op.payload = json::parse(s.text(2));
        op.key = s.text(3);
        if (op.op == "artifact") file = stage_upload(op);
      }
      std::string failure;
      IdMaps maps;
      try {
        if (!remote_) remote_ = std::make_unique<rest::RestRegistry>(url_, options_.rest);
        maps = apply(op, file);
      } catch (const NetworkError& e) {
        return transient(op, e.what(), deadline);
      } catch (const ConfigurationError& e) {  // 401/403: a token problem, retried after a fix
        remote_.reset();
        return transient(op, e.what(), deadline);
      } catch (const Error& e) {
        failure = e.what();
      } catch (const std::exception& e) {
        failure = e.what();
      }
      if (!record(op, maps, failure, deadline)) return Round::progress;  // sent again later with the same key
      progress = true;
    }
    return Round::progress;
  }

  /// Records the server's answer to `op` in the uploader's own local transaction; false if stopped (or past the
  /// deadline) while a caller's transaction was open.
  bool record(const Op& op, const IdMaps& maps, const std::string& failure, Clock::time_point deadline) {
    std::unique_lock<std::mutex> lock(mutex_);
    if (!wait_until_idle(lock, deadline)) return false;
    auto& db = local_->database();
    // Recording an answer need not wait for the disk (the caller's writes do): if a crash loses the record, the
    // operation is sent again with its idempotency key and the server answers as the first time.
    db.set_pragma("synchronous", "NORMAL");
    struct RestoreSync {
      sqlite::Database& db;
      ~RestoreSync() {
        try {
          db.set_pragma("synchronous", "FULL");
        } catch (...) {
        }
      }
    } restore{db};
    Transaction tx(*local_);
    auto st = db.prepare("SELECT state FROM lamin_outbox_op WHERE seq = ?");
    st.bind(1, op.seq);
    const std::string state = st.step() ? st.text(0) : "";
    if (state == "pending") {
      for (const auto& [kind, local_id, remote_id, remote_uid] : maps) {
        auto m = db.prepare(
            "INSERT OR REPLACE INTO lamin_outbox_map (kind, local_id, remote_id, remote_uid) VALUES (?, ?, ?, ?)");
        m.bind(1, kind).bind(2, local_id).bind(3, remote_id).bind(4, remote_uid);
        m.run();
      }
      auto u = db.prepare("UPDATE lamin_outbox_op SET state = ?, error = ?, attempts = attempts + 1 WHERE seq = ?");
      u.bind(1, failure.empty() ? "done" : "failed");
      if (failure.empty()) u.bind(2, nullptr);
      else u.bind(2, failure);
      u.bind(3, op.seq);
      u.run();
    } else if (state == "superseded" && failure.empty() && op.op == "artifact" && !maps.empty()) {
      // Deleted locally while its upload was under way: the server's copy goes too.
      enqueue("delete_remote_artifact", {{"uid", std::get<3>(maps.front())}});
    }
    tx.commit();
    unstage(op.seq);
    if (state == "pending" && !failure.empty())
      log::warn("lamin: the server rejected queued " + op.op + " #" + std::to_string(op.seq) + ": " + failure);
    last_error_.clear();
    return true;
  }

  Round transient(const Op& op, const std::string& message, Clock::time_point deadline) {
    std::unique_lock<std::mutex> lock(mutex_);
    last_error_ = message;
    if (!wait_until_idle(lock, deadline)) return Round::transient;
    auto u = local_->database().prepare("UPDATE lamin_outbox_op SET attempts = attempts + 1, error = ? WHERE seq = ?");
    u.bind(1, message).bind(2, op.seq);
    u.run();
    unstage(op.seq);  // superseded while it was being sent
    return Round::transient;
  }

  std::optional<std::pair<std::int64_t, std::string>> mapped(const std::string& kind, std::int64_t local_id) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto s = local_->database().prepare("SELECT remote_id, remote_uid FROM lamin_outbox_map WHERE kind = ? AND local_id = ?");
    s.bind(1, kind).bind(2, local_id);
    if (!s.step()) return std::nullopt;
    return std::make_pair(s.int64(0), s.opt_text(1).value_or(""));
  }
  std::pair<std::int64_t, std::string> need(const std::string& kind, std::int64_t local_id) {
    auto m = mapped(kind, local_id);
    if (!m) throw IntegrityError("lamin: the " + kind + " (local id " + std::to_string(local_id) + ") it refers to never reached the server");
    return *m;
  }
  /// A local feature's id on the server: from the map, else created there from the local record (features that
  /// came with the local instance or were created outside this outbox).
  std::int64_t remote_feature(std::int64_t local_id) {
    if (auto m = mapped("feature", local_id)) return m->first;
    std::optional<Feature> f;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (const auto& x : local_->features())
        if (x.id == local_id) f = x;
    }
    if (!f) throw IntegrityError("lamin: unknown local feature id " + std::to_string(local_id));
    FeatureOptions o = FeatureOptions().name(f->name);
    if (f->dtype && !f->is_type) o.dtype(*f->dtype);
    if (f->is_type) {
      o.is_type(true);
      if (f->dtype) o.type_dtype_str(*f->dtype);
    }
    if (f->type_id) {
      Feature t;
      t.id = remote_feature(*f->type_id);
      o.type(t);
    }
    if (f->description) o.description(*f->description);
    if (f->unit) o.unit(*f->unit);
    Feature remote = remote_->create_feature(o);
    std::unique_lock<std::mutex> lock(mutex_);
    if (!wait_until_idle(lock, Clock::time_point::max())) return remote.id;  // mapped again next time
    auto m = local_->database().prepare("INSERT OR REPLACE INTO lamin_outbox_map (kind, local_id, remote_id, remote_uid) VALUES ('feature', ?, ?, ?)");
    m.bind(1, local_id).bind(2, remote.id).bind(3, remote.uid);
    m.run();
    return remote.id;
  }
  FeatureValues translate(const FeatureValues& values) {
    FeatureValues out;
    for (const auto& [ref, v] : values) out.emplace_back(translate(ref), v);
    return out;
  }
  FeatureRef translate(const FeatureRef& ref) {
    if (!ref.id()) return ref;
    Feature f;
    f.name = ref.name();
    f.id = remote_feature(*ref.id());
    return FeatureRef(f);
  }

  /// Sends one queued operation (an upload from `file`, its staged bytes); returns the id mappings to record.
  IdMaps apply(const Op& op, const fs::path& file) {
    auto& r = *remote_;
    const json& p = op.payload;
    r.set_next_key(op.key);
    if (op.op == "feature") {
      FeatureOptions o = rest::feature_options_from_json(p.at("options"));
      if (o.type_id()) {
        Feature t;
        t.id = remote_feature(*o.type_id());
        o.type(t);
      }
      r.set_next_key(op.key);
      Feature f = r.create_feature(o);
      return {{"feature", p.at("local_id").get<std::int64_t>(), f.id, f.uid}};
    }
    if (op.op == "transform") {
      Transform t = r.create_transform(rest::transform_options_from_json(p.at("options")));
      return {{"transform", p.at("local_id").get<std::int64_t>(), t.id, t.uid}};
    }
    if (op.op == "run") {
      const auto transform = need("transform", p.at("transform_id").get<std::int64_t>());
      RunOptions o = rest::run_options_from_json(p.at("options"));
      if (o.initiated_by_run_id()) o.initiated_by_run_id(need("run", *o.initiated_by_run_id()).first);
      Run run = r.create_run_by_id(transform.first, o);
      return {{"run", p.at("local_id").get<std::int64_t>(), run.id, run.uid}};
    }
    if (op.op == "finish_run") {
      r.finish_run_by_uid(need("run", p.at("run_id").get<std::int64_t>()).second, static_cast<RunStatus>(p.at("status").get<int>()));
      return {};
    }
    if (op.op == "artifact") {
      json kwargs = p.at("kwargs");
      if (!kwargs["run_id"].is_null()) kwargs["run_id"] = need("run", kwargs["run_id"].get<std::int64_t>()).first;
      Artifact a = r.upload(file, kwargs);
      return {{"artifact", p.at("local_id").get<std::int64_t>(), a.id, a.uid}};
    }
    if (op.op == "delete_artifact") {
      r.delete_artifact_by_uid(need("artifact", p.at("local_id").get<std::int64_t>()).second);
      return {};
    }
    if (op.op == "delete_remote_artifact") {
      r.delete_artifact_by_uid(p.at("uid").get<std::string>());
      return {};
    }
    if (op.op == "run_input") {
      r.add_run_input_by_id(need("artifact", p.at("artifact_id").get<std::int64_t>()).first,
                            need("run", p.at("run_id").get<std::int64_t>()).first);
      return {};
    }
    const std::string host = p.value("host", "");
    if (op.op == "add_values") {
      const auto id = need(host, p.at("local_id").get<std::int64_t>()).first;
      const auto values = translate(rest::feature_values_from_json(p.at("values")));
      r.set_next_key(op.key);
      r.add_values_by_id(host, id, values);
      return {};
    }
    if (op.op == "remove_values") {
      const auto id = need(host, p.at("local_id").get<std::int64_t>()).first;
      const auto ref = translate(rest::feature_ref_from_json(p.at("feature")));
      std::optional<json> value;
      if (p.contains("value")) value = p["value"];
      r.set_next_key(op.key);
      r.remove_values_by_id(host, id, ref, value);
      return {};
    }
    if (op.op == "set_feature_values") {
      Feature f = rest::feature_from_json(p.at("feature"));
      f.id = remote_feature(f.id);
      std::vector<std::pair<std::int64_t, json>> values;
      for (const auto& item : p.at("values")) values.emplace_back(need("artifact", item.at(0).get<std::int64_t>()).first, item.at(1));
      r.set_next_key(op.key);
      r.set_feature_values(f, values);
      return {};
    }
    throw IntegrityError("lamin: unknown queued operation '" + op.op + "'");
  }

  std::shared_ptr<detail::SqliteRegistry> local_;  // target(), with its connection
  std::string url_;
  fs::path dir_;
  OutboxOptions options_;
  std::unique_ptr<rest::RestRegistry> remote_;  // the uploader's connection
  std::mutex mutex_;
  std::condition_variable cv_, drained_cv_;
  std::condition_variable idle_cv_;  // a caller's transaction ended
  bool stop_ = false, wake_ = false;
  std::string last_error_;
  fs::path staging_dir_;
  std::thread uploader_;
};

std::string remote_url_of(const fs::path& dir) {
  auto local = detail::SqliteRegistry::open(dir, false);
  create_tables(local->database());
  auto s = local->database().prepare("SELECT value FROM lamin_outbox_meta WHERE name = 'remote_url'");
  if (!s.step()) throw NotFoundError("lamin: '" + dir.string() + "' is not an outbox (no remote URL recorded)");
  return s.text(0);
}

}  // namespace

std::string to_string(const OutboxStatus& st) {
  std::ostringstream out;
  out << "outbox " << st.dir.string() << " -> " << st.remote_url << ": " << st.pending << " pending, " << st.failed
      << " failed, " << st.done << " uploaded";
  if (st.superseded > 0) out << ", " << st.superseded << " superseded (deleted before their upload)";
  if (!st.last_error.empty()) out << "\nlast error: " << st.last_error;
  for (const auto& f : st.failures) out << "\nfailed " << f;
  return out.str();
}

Instance connect_buffered(const std::string& url, const fs::path& dir, const OutboxOptions& options) {
  return Instance(std::make_shared<OutboxRegistry>(url, dir, options));
}

OutboxStatus flush(const Instance& instance, double timeout_s) {
  auto* outbox = dynamic_cast<OutboxRegistry*>(instance.ptr().get());
  if (!outbox) return {};
  auto st = outbox->flush(timeout_s);
  if (st.pending > 0) {
    log::warn("lamin: " + std::to_string(st.pending) + " registry operations could not be uploaded within " +
              detail::python_repr(timeout_s) + " s" +
              (st.last_error.empty() ? std::string() : " (" + st.last_error + ")") +
              "; they stay queued in " + st.dir.string() + ": run `lamin sync --outbox " + st.dir.string() + "`");
  }
  return st;
}

OutboxStatus sync_outbox(const fs::path& dir, double timeout_s, const OutboxOptions& options) {
  OutboxOptions o = options;
  o.background = false;
  OutboxRegistry outbox(remote_url_of(dir), dir, o);
  return outbox.flush(timeout_s);
}

OutboxStatus outbox_status(const fs::path& dir) {
  OutboxOptions o;
  o.background = false;
  OutboxRegistry outbox(remote_url_of(dir), dir, o);
  return outbox.status();
}

}  // namespace lamin
