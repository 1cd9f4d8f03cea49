// The durable outbox: opening the folder, transactions, status and flush, and the public functions of outbox.hpp.
// The class and the map of its other files: outbox_registry.hpp.
#include "lamin/db/outbox.hpp"

#include <sstream>

#include "core/python.hpp"
#include "lamin/error.hpp"
#include "lamin/log.hpp"
#include "outbox_registry.hpp"

namespace lamin {
namespace detail {
namespace fs = std::filesystem;

void create_outbox_tables(sqlite::Database& db) {
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

OutboxRegistry::OutboxRegistry(const std::string& url, const fs::path& dir, const OutboxOptions& options)
    : RegistryWrapper(open_local(url, dir)),
      local_(std::static_pointer_cast<SqliteRegistry>(target_ptr())),
      url_(url),
      dir_(dir),
      options_(options) {
  auto& db = local_->database();
  create_outbox_tables(db);
  auto s = db.prepare("SELECT value FROM lamin_outbox_meta WHERE name = 'remote_url'");
  if (s.step()) {
    if (s.text(0) != url)
      throw ConfigurationError("lamin: the outbox at '" + dir.string() + "' belongs to " + s.text(0) + ", not " +
                               url);
  } else {
    auto ins = db.prepare("INSERT INTO lamin_outbox_meta (name, value) VALUES ('remote_url', ?)");
    ins.bind(1, url);
    ins.run();
  }
  staging_dir_ = local_->info().root / ".lamindb" / "outbox-uploads";
  sweep_staged();
  if (options_.background()) {
    uploader_ = std::thread([this] {
      try {
        upload_loop();
      } catch (...) {  // a thread's exception would end the process: uploads stop, training goes on
        log::error("lamin: the outbox uploader stopped; run `lamin sync --outbox " + dir_.string() + "` later");
      }
    });
  }
}

OutboxRegistry::~OutboxRegistry() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  cv_.notify_all();
  idle_cv_.notify_all();
  if (uploader_.joinable()) uploader_.join();
  if (!options_.background()) return;  // lamin status / lamin sync report for themselves
  try {
    auto st = status();
    if (st.pending > 0)
      log::warn("lamin: " + std::to_string(st.pending) + " registry operations are still pending in the outbox " +
                dir_.string() + "; run `lamin sync --outbox " + dir_.string() + "` to upload them");
  } catch (...) {
  }
}

std::shared_ptr<SqliteRegistry> OutboxRegistry::open_local(const std::string& url, const fs::path& dir) {
  if (!is_remote_url(url)) throw ConfigurationError("lamin: the outbox needs an http(s) URL, got '" + url + "'");
  return SqliteRegistry::open(dir, true);
}

// --- status, draining ------------------------------------------------------------------------------------------
OutboxStatus OutboxRegistry::status() {
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
  while (f.step()) {
    st.failures.push_back("op #" + std::to_string(f.int64(0)) + " (" + f.text(1) +
                          "): " + f.opt_text(2).value_or(""));
  }
  return st;
}

OutboxStatus OutboxRegistry::flush(double timeout_s) {
  const auto deadline =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(timeout_s));
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

std::int64_t OutboxRegistry::pending_locked() {
  auto s = local_->database().prepare("SELECT COUNT(*) FROM lamin_outbox_op WHERE state = 'pending'");
  return s.step() ? s.int64(0) : 0;
}

// --- Registry: reads answer from the local state (forwarded by RegistryWrapper, under the mutex) ---------------
void OutboxRegistry::begin() {
  std::lock_guard<std::mutex> l(mutex_);
  local_->begin();
}

void OutboxRegistry::commit() {
  {
    std::lock_guard<std::mutex> l(mutex_);
    local_->commit();
  }
  idle_cv_.notify_all();
  cv_.notify_all();
}

void OutboxRegistry::rollback() noexcept {
  {
    std::lock_guard<std::mutex> l(mutex_);
    local_->rollback();
  }
  idle_cv_.notify_all();
}

std::vector<std::map<std::int64_t, std::vector<nlohmann::json>>> OutboxRegistry::feature_values_of_artifacts(
    const std::vector<Feature>& features, const QuerySpec& spec) {
  return forward("feature_values_of_artifacts", [&] { return local_->feature_values_of_artifacts(features, spec); });
}

void OutboxRegistry::around(const char* /*name*/, const std::function<void()>& call) {
  std::lock_guard<std::mutex> lock(mutex_);
  call();
}

namespace {
std::string remote_url_of(const fs::path& dir) {
  auto local = SqliteRegistry::open(dir, false);
  create_outbox_tables(local->database());
  auto s = local->database().prepare("SELECT value FROM lamin_outbox_meta WHERE name = 'remote_url'");
  if (!s.step()) throw NotFoundError("lamin: '" + dir.string() + "' is not an outbox (no remote URL recorded)");
  return s.text(0);
}
}  // namespace

}  // namespace detail

std::string to_string(const OutboxStatus& st) {
  std::ostringstream out;
  out << "outbox " << st.dir.string() << " -> " << st.remote_url << ": " << st.pending << " pending, " << st.failed
      << " failed, " << st.done << " uploaded";
  if (st.superseded > 0) out << ", " << st.superseded << " superseded (deleted before their upload)";
  if (!st.last_error.empty()) out << "\nlast error: " << st.last_error;
  for (const auto& f : st.failures) out << "\nfailed " << f;
  return out.str();
}

Instance connect_buffered(const std::string& url, const std::filesystem::path& dir, const OutboxOptions& options) {
  return Instance(std::make_shared<detail::OutboxRegistry>(url, dir, options));
}

OutboxStatus flush(const Instance& instance, double timeout_s) {
  auto* outbox = dynamic_cast<detail::OutboxRegistry*>(instance.ptr().get());
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

OutboxStatus sync_outbox(const std::filesystem::path& dir, double timeout_s, const OutboxOptions& options) {
  OutboxOptions o = options;
  o.background(false);
  detail::OutboxRegistry outbox(detail::remote_url_of(dir), dir, o);
  return outbox.flush(timeout_s);
}

OutboxStatus outbox_status(const std::filesystem::path& dir) {
  detail::OutboxRegistry outbox(detail::remote_url_of(dir), dir, OutboxOptions().background(false));
  return outbox.status();
}

}  // namespace lamin
