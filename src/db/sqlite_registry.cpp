#include "sqlite_registry.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <cstdlib>
#include <map>
#include <set>
#include <tuple>
#include <type_traits>
#include <unordered_map>

#include "core/file_io.hpp"
#include "file_store.hpp"
#include "lamin/db/hash.hpp"
#include "lamin/db/key.hpp"
#include "lamin/db/track.hpp"
#include "lamin/db/uid.hpp"
#include "lamin/db/value.hpp"
#include "lamin/error.hpp"
#include "lamin/log.hpp"
#include "rank.hpp"
#include "schema.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace lamin::detail {
namespace {

void (*g_step_hook)(const char*) = nullptr;
void step(const char* name) {
  if (g_step_hook) g_step_hook(name);
}

constexpr const char* kNowSql = "STRFTIME('%Y-%m-%d %H:%M:%f', 'NOW')";
constexpr std::int64_t kMainBranch = 1;
constexpr std::int64_t kTrashBranch = -1;

const char* kArtifactColumns =
    "a.id, a.uid, a.key, a.description, a.suffix, a.kind, a.otype, a.size, a.hash, a._hash_type, a.version_tag, "
    "a.is_latest, a._key_is_virtual, a._overwrite_versions, a.run_id, a.storage_id, a.branch_id, a.space_id, "
    "a.created_by_id, a.created_at, a.updated_at, a._aux";

Artifact read_artifact(const sqlite::Statement& s) {
  Artifact a;
  a.id = s.int64(0);
  a.uid = s.text(1);
  a.key = s.opt_text(2);
  a.description = s.opt_text(3);
  a.suffix = s.text(4);
  a.kind = s.opt_text(5);
  a.otype = s.opt_text(6);
  a.size = s.opt_int64(7);
  a.hash = s.opt_text(8);
  a.hash_type = s.opt_text(9);
  a.version_tag = s.opt_text(10);
  a.is_latest = s.int64(11) != 0;
  a.key_is_virtual = s.int64(12) != 0;
  a.overwrite_versions = s.int64(13) != 0;
  a.run_id = s.opt_int64(14);
  a.storage_id = s.int64(15);
  a.branch_id = s.int64(16);
  a.space_id = s.int64(17);
  a.created_by_id = s.int64(18);
  a.created_at = s.text(19);
  a.updated_at = s.text(20);
  const auto aux = s.opt_text(21);
  a.aux = aux ? json::parse(*aux, nullptr, false) : json();
  if (a.aux.is_discarded()) a.aux = json();
  return a;
}

const char* kRunColumns =
    "r.id, r.uid, r.name, r.description, r.entrypoint, r.started_at, r.finished_at, r.params, r.reference, "
    "r.reference_type, r.cli_args, r._status_code, r.transform_id, r.initiated_by_run_id, r.branch_id, "
    "r.created_by_id, r.created_at";

Run read_run(const sqlite::Statement& s) {
  Run r;
  r.id = s.int64(0);
  r.uid = s.text(1);
  r.name = s.opt_text(2);
  r.description = s.opt_text(3);
  r.entrypoint = s.opt_text(4);
  r.started_at = s.text(5);
  r.finished_at = s.opt_text(6);
  const auto params = s.opt_text(7);
  if (params) {
    r.params = json::parse(*params, nullptr, false);
    if (r.params.is_discarded()) r.params = json();
  }
  r.reference = s.opt_text(8);
  r.reference_type = s.opt_text(9);
  r.cli_args = s.opt_text(10);
  r.status_code = static_cast<int>(s.int64(11));
  r.transform_id = s.int64(12);
  r.initiated_by_run_id = s.opt_int64(13);
  r.branch_id = s.int64(14);
  r.created_by_id = s.int64(15);
  r.created_at = s.text(16);
  return r;
}

const char* kFeatureColumns =
    "f.id, f.uid, f.name, f._dtype_str, f.is_type, f.type_id, f.unit, f.description, f.nullable, f.branch_id";

Feature read_feature(const sqlite::Statement& s) {
  Feature f;
  f.id = s.int64(0);
  f.uid = s.text(1);
  f.name = s.text(2);
  f.dtype = s.opt_text(3);
  f.is_type = s.int64(4) != 0;
  f.type_id = s.opt_int64(5);
  f.unit = s.opt_text(6);
  f.description = s.opt_text(7);
  if (!s.is_null(8)) f.nullable = s.int64(8) != 0;
  f.branch_id = s.int64(9);
  return f;
}

const char* kTransformColumns =
    "t.id, t.uid, t.key, t.description, t.kind, t.source_code, t.hash, t.reference, t.reference_type, "
    "t.version_tag, t.is_latest, t.created_at";

Transform read_transform(const sqlite::Statement& s) {
  Transform t;
  t.id = s.int64(0);
  t.uid = s.text(1);
  t.key = s.text(2);
  t.description = s.opt_text(3);
  t.kind = s.text(4);
  t.source_code = s.opt_text(5);
  t.hash = s.opt_text(6);
  t.reference = s.opt_text(7);
  t.reference_type = s.opt_text(8);
  t.version_tag = s.opt_text(9);
  t.is_latest = s.int64(10) != 0;
  t.created_at = s.text(11);
  return t;
}

bool is_base62(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return kBase62Alphabet.find(c) != std::string_view::npos; });
}

// Highest version suffix among uids of one family (by base62 value, never by collation).
std::string max_suffix(sqlite::Database& db, const char* table, const std::string& stem, std::size_t uid_len) {
  auto s = db.prepare(std::string("SELECT uid FROM ") + table + " WHERE uid >= ? AND uid <= ?");
  s.bind(1, stem + std::string(uid_len - stem.size(), '0')).bind(2, stem + std::string(uid_len - stem.size(), 'z'));
  std::string best;
  unsigned long long best_v = 0;
  while (s.step()) {
    const std::string uid = s.text(0);
    if (uid.size() != uid_len || uid.compare(0, stem.size(), stem) != 0) continue;
    const std::string suffix = uid.substr(stem.size());
    if (!is_base62(suffix)) continue;
    const auto v = base62_decode(suffix);
    if (best.empty() || v > best_v) {
      best = suffix;
      best_v = v;
    }
  }
  return best;
}

std::string python_list_repr(const std::vector<std::string>& names) {
  std::string out = "[";
  for (std::size_t i = 0; i < names.size(); ++i) out += (i ? ", '" : "'") + names[i] + "'";
  return out + "]";
}

bool is_numeric_dtype(const std::string& d) { return d == "int" || d == "float" || d == "num"; }

}  // namespace

void SqliteRegistry::set_step_hook(void (*hook)(const char*)) { g_step_hook = hook; }

// One logical operation: joins an open transaction or runs in its own (BEGIN IMMEDIATE).
struct SqliteRegistry::Tx {
  explicit Tx(SqliteRegistry& r) : reg(r) { reg.begin(); }
  ~Tx() {
    if (open) reg.rollback();
  }
  void commit() {
    open = false;
    reg.commit();
  }
  SqliteRegistry& reg;
  bool open = true;
};

// --- opening ------------------------------------------------------------------------------------------------------

std::shared_ptr<SqliteRegistry> SqliteRegistry::open(const fs::path& root_in, bool create,
                                                     const std::string& storage_uid,
                                                     const std::string& instance_uid) {
  std::error_code ec;
  fs::path root = fs::absolute(root_in, ec);
  if (ec) throw StorageError("cannot resolve '" + root_in.string() + "': " + ec.message());
  root = root.lexically_normal();
  if (root.has_filename() == false && root.has_parent_path()) root = root.parent_path();
  const fs::path lamindb_dir = root / ".lamindb";
  const fs::path db_path = lamindb_dir / "lamin.db";

  if (!create) {
    if (!fs::exists(db_path)) {
      throw NotFoundError("'" + root_in.string() + "' is not a LaminDB instance: there is no .lamindb/lamin.db " +
                          "(create one with `lamin init " + root_in.string() + "`)");
    }
  } else {
    ensure_writable_directory(lamindb_dir);
  }
  if (fs::exists(root)) root = fs::canonical(root);

  std::shared_ptr<SqliteRegistry> reg(new SqliteRegistry());
  reg->db_ = std::make_unique<sqlite::Database>(db_path.string(), create);
  auto& db = *reg->db_;
  sqlite3_update_hook(db.handle(), &SqliteRegistry::on_row_change, reg.get());
  sqlite3_rollback_hook(db.handle(), &SqliteRegistry::on_rollback, reg.get());

  // Refuse databases from a newer schema before touching anything.
  {
    auto s = db.prepare("PRAGMA user_version");
    s.step();
    const auto version = s.int64(0);
    if (version > db_schema::kSchemaVersion) {
      throw IntegrityError("The database at '" + db_path.string() + "' has schema version " +
                           std::to_string(version) + ", newer than this lamin-cpp understands (" +
                           std::to_string(db_schema::kSchemaVersion) + "); upgrade lamin-cpp.");
    }
    auto m = db.prepare("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'django_migrations'");
    m.step();
    if (m.int64(0) > 0) {
      auto q = db.prepare("SELECT name FROM django_migrations WHERE app = 'lamindb'");
      int newest = 0;
      std::string newest_name;
      while (q.step()) {
        const std::string name = q.text(0);
        const int n = std::atoi(name.c_str());
        if (n > newest) {
          newest = n;
          newest_name = name;
        }
      }
      if (newest > db_schema::kMaxKnownLaminMigration) {
        throw IntegrityError("The database at '" + db_path.string() + "' is at LaminDB migration " + newest_name +
                             ", newer than this lamin-cpp understands (up to " +
                             std::to_string(db_schema::kMaxKnownLaminMigration) + "); upgrade lamin-cpp.");
      }
    }
  }

  db.set_pragma("journal_mode", "WAL");
  db.set_pragma("synchronous", "FULL");
  db.set_pragma("foreign_keys", "ON");
  db.set_pragma("cache_size", "-65536");     // 64 MiB page cache
  db.set_pragma("mmap_size", "1073741824");  // read through mmap: feature queries touch many small rows
  db.set_pragma("temp_store", "MEMORY");
  // Scratch space of set_feature_values (per connection, never on disk with the instance).
  db.exec("CREATE TEMP TABLE IF NOT EXISTS lamin_set_values (artifact_id INTEGER PRIMARY KEY, jsonvalue_id INTEGER NOT NULL)");

  auto table_count = [&] {
    auto s = db.prepare("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'lamindb_artifact'");
    s.step();
    return s.int64(0);
  };
  if (create && table_count() == 0) {
    Tx tx(*reg);
    for (const auto& stmt : db_schema::ddl()) db.exec(stmt);
    for (const auto& stmt : db_schema::extra_index_ddl()) db.exec(stmt);
    db.prepare("INSERT OR IGNORE INTO lamindb_user (uid, handle, name) VALUES ('00000000', 'anonymous', NULL)").run();
    std::int64_t user_id = 0;
    {
      auto s = db.prepare("SELECT id FROM lamindb_user WHERE handle = 'anonymous'");
      s.step();
      user_id = s.int64(0);
    }
    db.prepare(
          "INSERT OR IGNORE INTO lamindb_space (id, name, uid, description, created_by_id) VALUES "
          "(1, 'all', 'aaaaaaaaaaaa', 'Every team & user with access to the instance has access.', NULL)")
        .run();
    auto b = db.prepare("INSERT OR IGNORE INTO lamindb_branch (id, name, uid, space_id, created_by_id) VALUES (?, ?, ?, 1, ?)");
    const std::tuple<int, const char*, const char*> branches[] = {
        {-1, "trash", "tttttttttttt"}, {0, "archive", "aaaaaaaaaaaa"}, {1, "main", "mmmmmmmmmmmm"}};
    for (const auto& [id, name, uid] : branches) {
      b.reset();
      b.bind(1, id).bind(2, name).bind(3, uid).bind(4, user_id).run();
    }
    const std::string suid = storage_uid.empty() ? base62_uid(12) : storage_uid;
    const std::string iuid = instance_uid.empty() ? base62_uid(12) : instance_uid;
    db.prepare("INSERT OR IGNORE INTO lamindb_storage (uid, root, type, region, instance_uid, created_by_id) "
               "VALUES (?, ?, 'local', NULL, ?, ?)")
        .bind(1, suid)
        .bind(2, root.string())
        .bind(3, iuid)
        .bind(4, user_id)
        .run();
    db.exec("PRAGMA user_version = " + std::to_string(db_schema::kSchemaVersion));
    tx.commit();
    // LaminDB marks a storage root with the storage uid.
    atomic_write(lamindb_dir / "storage_uid.txt", suid);
  } else {
    for (const auto& name : db_schema::table_names()) {
      auto s = db.prepare("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?");
      s.bind(1, name).step();
      if (s.int64(0) == 0) {
        throw IntegrityError("'" + db_path.string() + "' is not a LaminDB database: table " + name + " is missing");
      }
    }
    try {
      Tx tx(*reg);
      for (const auto& stmt : db_schema::extra_index_ddl()) db.exec(stmt);
      tx.commit();
    } catch (const Error& e) {
      log::debug(std::string("could not add query indexes: ") + e.what());
    }
  }
  reg->load_info(root);
  return reg;
}

void SqliteRegistry::load_info(const fs::path& root) {
  info_.root = root;
  info_.db_path = root / ".lamindb" / "lamin.db";
  auto& db = *db_;
  auto s = db.prepare("SELECT id, uid, root, type, COALESCE(instance_uid, '') FROM lamindb_storage WHERE root = ?");
  s.bind(1, root.string());
  bool found = s.step();
  if (!found) {
    s = db.prepare(
        "SELECT id, uid, root, type, COALESCE(instance_uid, '') FROM lamindb_storage "
        "WHERE instance_uid IS NOT NULL AND type = 'local' ORDER BY id LIMIT 1");
    found = s.step();
    if (found) {
      log::warn("the instance's storage root '" + s.text(2) + "' differs from its folder '" + root.string() +
                "'; files are read and written under the folder");
    }
  }
  if (!found) throw IntegrityError("instance at '" + root.string() + "' has no storage record for its root");
  info_.storage = Storage{s.int64(0), s.text(1), s.text(2), s.text(3), s.text(4)};
  const char* user_env = std::getenv("LAMIN_USER_HANDLE");
  auto u = db.prepare("SELECT id, uid, handle FROM lamindb_user WHERE handle = ? UNION ALL "
                      "SELECT id, uid, handle FROM (SELECT id, uid, handle FROM lamindb_user ORDER BY id LIMIT 1)");
  u.bind(1, user_env ? user_env : "anonymous");
  if (!u.step()) throw IntegrityError("instance at '" + root.string() + "' has no user record");
  info_.user = User{u.int64(0), u.text(1), u.text(2)};
}

SqliteRegistry::~SqliteRegistry() {
  // Closing the connection may roll back an open transaction: no hook may reach a half-destroyed registry.
  if (db_) {
    sqlite3_update_hook(db_->handle(), nullptr, nullptr);
    sqlite3_rollback_hook(db_->handle(), nullptr, nullptr);
  }
}

// --- transactions -------------------------------------------------------------------------------------------------

void SqliteRegistry::begin() {
  if (depth_ == 0) {
    db_->exec("BEGIN IMMEDIATE");
  } else {
    db_->exec("SAVEPOINT lamin_" + std::to_string(depth_));
  }
  ++depth_;
}

void SqliteRegistry::commit() {
  if (depth_ == 0) throw Error("commit() without an open transaction");
  if (depth_ == 1) {
    try {
      db_->exec("COMMIT");
    } catch (...) {
      rollback();
      throw;
    }
    depth_ = 0;
    for (const auto& [d, path] : delete_on_commit_) {
      // Only the file that belonged to the deleted record: a new version may already reuse its uid and path.
      const auto it = delete_inodes_.find(path.string());
      struct stat st {};
      if (::stat(path.c_str(), &st) != 0) continue;
      if (it != delete_inodes_.end() && it->second != static_cast<std::uint64_t>(st.st_ino)) continue;
      std::error_code ec;
      fs::remove(path, ec);
      if (ec) log::warn("could not delete stored file '" + path.string() + "': " + ec.message());
    }
    delete_inodes_.clear();
    // The unlinks are not fsynced: the deletion of the record is durable with the commit, and a file that a power
    // loss brings back has no record (disk space only, never a record without its file).
    delete_on_commit_.clear();
    stored_in_tx_.clear();
    return;
  }
  --depth_;
  db_->exec("RELEASE lamin_" + std::to_string(depth_));
}

void SqliteRegistry::rollback() noexcept {
  if (depth_ == 0) return;
  --depth_;
  try {
    if (depth_ == 0) {
      db_->exec("ROLLBACK");
    } else {
      db_->exec("ROLLBACK TO lamin_" + std::to_string(depth_));
      db_->exec("RELEASE lamin_" + std::to_string(depth_));
    }
  } catch (const std::exception& e) {
    log::error(std::string("rollback failed: ") + e.what());
  }
  // Files stored inside the rolled-back scope have no record any more; deletions did not happen.
  auto undo = [&](auto& list, bool remove_file) {
    for (auto it = list.begin(); it != list.end();) {
      if (it->first >= depth_) {
        if (remove_file) {
          std::error_code ec;
          fs::remove(it->second, ec);
        }
        it = list.erase(it);
      } else {
        ++it;
      }
    }
  };
  // What rank_artifacts remembers may include writes that are gone now (ROLLBACK TO has no hook).
  invalidate_rank_caches();
  undo(stored_in_tx_, true);
  undo(delete_on_commit_, false);
  if (depth_ == 0) delete_inodes_.clear();
}

// --- artifacts ----------------------------------------------------------------------------------------------------

fs::path SqliteRegistry::storage_path(const Artifact& artifact) const { return info_.root / artifact.storage_key(); }

std::optional<std::int64_t> SqliteRegistry::output_run_id(const ArtifactOptions& options) {
  switch (options.run_mode()) {
    case ArtifactOptions::RunMode::none: return std::nullopt;
    case ArtifactOptions::RunMode::given: return options.run_id();
    case ArtifactOptions::RunMode::current: return current_run_id(this);
  }
  return std::nullopt;
}

Artifact SqliteRegistry::create_artifact(const fs::path& file, const ArtifactOptions& options) {
  // 1. Validate everything before writing anything.
  std::error_code ec;
  const auto status = fs::status(file, ec);
  if (ec || !fs::exists(status)) throw NotFoundError("No such file: '" + file.string() + "'");
  if (!fs::is_regular_file(status)) {
    throw ValidationError("'" + file.string() + "' is not a regular file (folders are not supported yet)");
  }
  const std::string suffix = canonical_suffix(file);
  if (options.key()) {
    validate_key(*options.key());
    validate_key_suffix(*options.key(), suffix);
  }
  if (options.kind() && options.kind()->size() > 20) throw ValidationError("kind is limited to 20 characters");
  if (options.version_tag() && options.version_tag()->size() > 30) {
    throw ValidationError("version_tag is limited to 30 characters");
  }
  const auto run_id = output_run_id(options);
  if (!run_id && options.run_mode() == ArtifactOptions::RunMode::current) {
    log::debug("no run is tracked, the artifact has no run");
  }

  // 2. Hash outside any lock (bounded cost: at most 100 MiB are read).
  const FileHash h = hash_file(file);

  if (!options.skip_hash_lookup() && h.size > 0) {
    auto s = db_->prepare(std::string("SELECT ") + kArtifactColumns +
                          " FROM lamindb_artifact a WHERE a.hash = ? AND a.branch_id != ? ORDER BY a.id LIMIT 1");
    s.bind(1, h.hash).bind(2, kTrashBranch);
    if (s.step()) {
      Artifact existing = read_artifact(s);
      log::info("returning existing artifact with same hash: " + existing.uid);
      return existing;
    }
  }

  const bool own_transaction = !in_transaction();
  std::int64_t id = 0;
  Artifact created;
  {
    Tx tx(*this);
    std::string uid;
    if (options.key()) {
      // Versioning by key: a new version of the latest artifact with this key.
      auto s = db_->prepare(
          "SELECT id, uid, is_latest, hash, branch_id FROM lamindb_artifact WHERE key = ? AND storage_id = ? AND "
          "branch_id != ? ORDER BY created_at DESC, id DESC");
      s.bind(1, *options.key()).bind(2, info_.storage.id).bind(3, kTrashBranch);
      std::optional<std::pair<std::int64_t, std::string>> head;
      bool any = false;
      while (s.step()) {
        any = true;
        if (s.opt_text(3) == h.hash) {
          Artifact same = get_artifact_by_id(s.int64(0));
          log::info("an artifact with key '" + *options.key() + "' and the same content exists: " + same.uid);
          tx.commit();
          return same;
        }
        if (s.int64(2) != 0 && (!head || s.int64(4) == kMainBranch)) head = {s.int64(0), s.text(1)};
      }
      if (any && !head) {
        throw IntegrityError("Cannot create a new artifact version for key '" + *options.key() +
                             "': none of its versions is marked is_latest.");
      }
      if (head) {
        const std::string stem = head->second.substr(0, 16);
        const std::string max = max_suffix(*db_, "lamindb_artifact", stem, kArtifactUidLength);
        uid = stem + increment_version_suffix(max.empty() ? "0000" : max);
        db_->prepare("UPDATE lamindb_artifact SET is_latest = 0 WHERE uid >= ? AND uid <= ? AND is_latest = 1")
            .bind(1, stem + "0000")
            .bind(2, stem + "zzzz")
            .run();
      }
    }
    if (uid.empty()) uid = base62_uid(16) + "0000";

    auto ins = db_->prepare(
        "INSERT INTO lamindb_artifact (uid, key, description, suffix, kind, size, hash, _hash_type, version_tag, "
        "is_latest, _key_is_virtual, _overwrite_versions, run_id, storage_id, created_by_id, _aux, branch_id, "
        "created_on_id, space_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1, 1, 0, ?, ?, ?, '{\"so\": 1}', 1, 1, 1)");
    ins.bind(1, uid)
        .bind(2, options.key())
        .bind(3, options.description())
        .bind(4, suffix)
        .bind(5, options.kind())
        .bind(6, static_cast<std::int64_t>(h.size))
        .bind(7, h.hash)
        .bind(8, h.hash_type)
        .bind(9, options.version_tag())
        .bind(10, run_id)
        .bind(11, info_.storage.id)
        .bind(12, info_.user.id)
        .run();
    id = db_->last_insert_rowid();
    created = get_artifact_by_id(id);
    if (own_transaction) tx.commit();
    step("inserted");

    // 3. Store the file: the record says "storage ongoing" until the file is complete.
    const fs::path dest = storage_path(created);
    {
      // No other record can own this name (the uid is unique and is this record's), so a file already there was
      // left by a writer that died between storing it and committing its record (a server killed mid-upload):
      // replace it, or every later attempt at this version would fail.
      std::error_code ec;
      if (fs::exists(fs::symlink_status(dest, ec))) {
        log::warn("replacing '" + dest.string() + "', left by an interrupted write");
        fs::remove(dest, ec);
      }
    }
    try {
      store_file(file, dest, options.storage_mode(), h.size);
    } catch (...) {
      if (own_transaction) {
        try {
          Tx undo(*this);
          delete_artifact_record(id, nullptr);
          undo.commit();
        } catch (const std::exception& e) {
          log::error(std::string("could not remove the record of a failed upload: ") + e.what());
        }
      }
      throw;
    }
    if (!own_transaction) stored_in_tx_.emplace_back(depth_ - 1, dest);
    step("stored");

    if (own_transaction) {
      Tx done(*this);
      db_->prepare("UPDATE lamindb_artifact SET _aux = NULL WHERE id = ?").bind(1, id).run();
      done.commit();
    } else {
      db_->prepare("UPDATE lamindb_artifact SET _aux = NULL WHERE id = ?").bind(1, id).run();
      tx.commit();
    }
  }
  step("completed");
  return get_artifact_by_id(id);
}

Artifact SqliteRegistry::get_artifact_by_id(std::int64_t id) {
  auto s = db_->prepare(std::string("SELECT ") + kArtifactColumns + " FROM lamindb_artifact a WHERE a.id = ?");
  s.bind(1, id);
  if (!s.step()) throw NotFoundError("Artifact matching query does not exist (id=" + std::to_string(id) + ").");
  return read_artifact(s);
}

std::optional<Artifact> SqliteRegistry::find_artifact(const std::string& uid_or_key) {
  if (uid_or_key.size() == kArtifactUidLength && is_base62(uid_or_key)) {
    auto s = db_->prepare(std::string("SELECT ") + kArtifactColumns + " FROM lamindb_artifact a WHERE a.uid = ?");
    s.bind(1, uid_or_key);
    if (s.step()) return read_artifact(s);
  }
  if (uid_or_key.size() == 16 && is_base62(uid_or_key)) {
    auto s = db_->prepare(std::string("SELECT ") + kArtifactColumns +
                          " FROM lamindb_artifact a WHERE a.uid >= ? AND a.uid <= ? "
                          "ORDER BY a.is_latest DESC, a.created_at DESC, a.id DESC LIMIT 1");
    s.bind(1, uid_or_key + "0000").bind(2, uid_or_key + "zzzz");
    if (s.step()) return read_artifact(s);
  }
  auto s = db_->prepare(std::string("SELECT ") + kArtifactColumns +
                        " FROM lamindb_artifact a WHERE a.key = ? AND a.branch_id = 1 "
                        "ORDER BY a.is_latest DESC, a.created_at DESC, a.id DESC LIMIT 1");
  s.bind(1, uid_or_key);
  if (s.step()) return read_artifact(s);
  return std::nullopt;
}

void SqliteRegistry::delete_artifact_record(std::int64_t id, fs::path* file) {
  const Artifact a = get_artifact_by_id(id);
  {
    auto s = db_->prepare(
        "SELECT (SELECT count(*) FROM lamindb_run WHERE environment_id = ?1 OR plan_id = ?1 OR report_id = ?1) + "
        "(SELECT count(*) FROM lamindb_transform WHERE environment_id = ?1 OR plan_id = ?1)");
    s.bind(1, id).step();
    if (s.int64(0) > 0) {
      throw IntegrityError("Cannot delete artifact " + a.uid +
                           ": it is the environment, plan or report of a run or transform (protected).");
    }
  }
  db_->prepare("DELETE FROM lamindb_artifactjsonvalue WHERE artifact_id = ?").bind(1, id).run();
  db_->prepare("DELETE FROM lamindb_artifact_input_of_runs WHERE artifact_id = ?").bind(1, id).run();
  db_->prepare("DELETE FROM lamindb_artifact WHERE id = ?").bind(1, id).run();
  if (a.is_latest) {
    // Promote the newest remaining version of the same family on the same branch.
    auto s = db_->prepare(
        "SELECT id FROM lamindb_artifact WHERE uid >= ? AND uid <= ? AND branch_id = ? "
        "ORDER BY created_at DESC, id DESC LIMIT 1");
    s.bind(1, a.stem_uid() + "0000").bind(2, a.stem_uid() + "zzzz").bind(3, a.branch_id);
    if (s.step()) {
      db_->prepare("UPDATE lamindb_artifact SET is_latest = 1 WHERE id = ?").bind(1, s.int64(0)).run();
    }
  }
  if (file) {
    *file = storage_path(a);
    struct stat st {};
    if (::stat(file->c_str(), &st) == 0) delete_inodes_[file->string()] = static_cast<std::uint64_t>(st.st_ino);
  }
}

void SqliteRegistry::delete_artifact(const Artifact& artifact) {
  Tx tx(*this);
  fs::path file;
  delete_artifact_record(artifact.id, &file);
  delete_on_commit_.emplace_back(depth_ - 1, file);
  tx.commit();
}

void SqliteRegistry::add_run_input(const Artifact& artifact, const Run& run) {
  Tx tx(*this);
  db_->prepare("INSERT OR IGNORE INTO lamindb_artifact_input_of_runs (artifact_id, run_id) VALUES (?, ?)")
      .bind(1, artifact.id)
      .bind(2, run.id)
      .run();
  tx.commit();
}

std::vector<Run> SqliteRegistry::input_of_runs(const Artifact& artifact) {
  auto s = db_->prepare(std::string("SELECT ") + kRunColumns +
                        " FROM lamindb_run r JOIN lamindb_artifact_input_of_runs i ON i.run_id = r.id "
                        "WHERE i.artifact_id = ? ORDER BY r.id");
  s.bind(1, artifact.id);
  std::vector<Run> out;
  while (s.step()) out.push_back(read_run(s));
  return out;
}

std::vector<Artifact> SqliteRegistry::run_inputs(const Run& run) {
  auto s = db_->prepare(std::string("SELECT ") + kArtifactColumns +
                        " FROM lamindb_artifact a JOIN lamindb_artifact_input_of_runs i ON i.artifact_id = a.id "
                        "WHERE i.run_id = ? ORDER BY a.id");
  s.bind(1, run.id);
  std::vector<Artifact> out;
  while (s.step()) out.push_back(read_artifact(s));
  return out;
}

std::int64_t SqliteRegistry::recover(double min_age_seconds) {
  const std::string age = "-" + std::to_string(std::max(0.0, min_age_seconds)) + " seconds";
  std::vector<Artifact> stale;
  {
    auto s = db_->prepare(std::string("SELECT ") + kArtifactColumns +
                          " FROM lamindb_artifact a WHERE a._aux IS NOT NULL AND a._aux != 'null' AND "
                          "json_extract(a._aux, '$.so') IS NOT NULL AND "
                          "a.created_at <= STRFTIME('%Y-%m-%d %H:%M:%f', 'NOW', ?)");
    s.bind(1, age);
    while (s.step()) stale.push_back(read_artifact(s));
  }
  std::int64_t repaired = 0;
  for (const auto& a : stale) {
    const fs::path path = storage_path(a);
    bool complete = false;
    std::error_code ec;
    if (fs::is_regular_file(path, ec) && a.size && static_cast<std::int64_t>(fs::file_size(path, ec)) == *a.size) {
      try {
        complete = hash_file(path).hash == a.hash.value_or("");
      } catch (const Error&) {
        complete = false;
      }
    }
    Tx tx(*this);
    if (complete) {
      db_->prepare("UPDATE lamindb_artifact SET _aux = NULL WHERE id = ?").bind(1, a.id).run();
      log::info("completed interrupted artifact " + a.uid);
    } else {
      fs::path file;
      delete_artifact_record(a.id, &file);
      delete_on_commit_.emplace_back(depth_ - 1, file);
      log::info("removed interrupted artifact " + a.uid);
    }
    tx.commit();
    ++repaired;
  }
  // Temporary files of interrupted copies.
  const auto now = fs::file_time_type::clock::now();
  std::error_code ec;
  for (fs::directory_iterator it(info_.root / ".lamindb", ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.rfind(kStorageTempPrefix, 0) != 0) continue;
    std::error_code e2;
    const auto mtime = fs::last_write_time(it->path(), e2);
    if (e2) continue;
    if (std::chrono::duration<double>(now - mtime).count() >= min_age_seconds) fs::remove(it->path(), e2);
  }
  return repaired;
}

// --- features -----------------------------------------------------------------------------------------------------

std::optional<Feature> SqliteRegistry::feature_by_id(std::int64_t id) {
  auto s = db_->prepare(std::string("SELECT ") + kFeatureColumns + " FROM lamindb_feature f WHERE f.id = ?");
  s.bind(1, id);
  if (s.step()) return read_feature(s);
  return std::nullopt;
}

std::vector<Feature> SqliteRegistry::features_named(const std::string& name) {
  auto s = db_->prepare(std::string("SELECT ") + kFeatureColumns +
                        " FROM lamindb_feature f WHERE f.name = ? AND f.branch_id != ? ORDER BY f.id");
  s.bind(1, name).bind(2, kTrashBranch);
  std::vector<Feature> out;
  while (s.step()) out.push_back(read_feature(s));
  return out;
}

Feature SqliteRegistry::create_feature(const FeatureOptions& o) {
  if (o.name().empty()) throw ValidationError("A feature needs a name.");
  if (o.name().size() > 150) throw ValidationError("Feature names are limited to 150 characters.");
  std::optional<std::string> dtype = o.dtype();
  if (o.is_type()) {
    if (dtype) throw ValidationError("A feature type (is_type=True) has no dtype.");
    dtype = o.type_dtype_str();
  } else {
    if (!dtype) throw ValidationError("Please pass dtype for feature '" + o.name() + "'.");
    if (!is_supported_dtype(*dtype)) {
      throw ValidationError("dtype '" + *dtype + "' of feature '" + o.name() +
                            "' is not supported (bool, int, float, num, str, dict, date, datetime, list[...]).");
    }
  }
  Tx tx(*this);
  if (o.type_id()) {
    auto t = feature_by_id(*o.type_id());
    if (!t || !t->is_type) throw ValidationError("The type of feature '" + o.name() + "' must be a feature type.");
  }
  auto s = db_->prepare(std::string("SELECT ") + kFeatureColumns +
                        " FROM lamindb_feature f WHERE f.name = ? AND f.type_id IS ? AND f.is_type = ? AND "
                        "f.branch_id != ? ORDER BY f.id LIMIT 1");
  s.bind(1, o.name()).bind(2, o.type_id()).bind(3, o.is_type()).bind(4, kTrashBranch);
  if (s.step()) {
    Feature existing = read_feature(s);
    if (!o.is_type() && existing.dtype != dtype) {
      throw ValidationError("Feature " + o.name() + " already exists with dtype " + existing.dtype.value_or("None") +
                            ", you passed " + dtype.value_or("None"));
    }
    tx.commit();
    return existing;
  }
  auto ins = db_->prepare(
      "INSERT INTO lamindb_feature (is_type, uid, name, _dtype_str, unit, description, array_rank, array_size, "
      "nullable, coerce, run_id, created_by_id, type_id) VALUES (?, ?, ?, ?, ?, ?, 0, 0, ?, NULL, ?, ?, ?)");
  ins.bind(1, o.is_type())
      .bind(2, base62_uid(kFeatureUidLength))
      .bind(3, o.name())
      .bind(4, dtype)
      .bind(5, o.unit())
      .bind(6, o.description());
  if (o.is_type()) ins.bind(7, nullptr); else ins.bind(7, true);
  ins.bind(8, current_run_id(this)).bind(9, info_.user.id).bind(10, o.type_id()).run();
  const auto id = db_->last_insert_rowid();
  tx.commit();
  return *feature_by_id(id);
}

std::vector<Feature> SqliteRegistry::features() {
  auto s = db_->prepare(std::string("SELECT ") + kFeatureColumns +
                        " FROM lamindb_feature f WHERE f.branch_id = 1 ORDER BY f.name, f.id");
  std::vector<Feature> out;
  while (s.step()) out.push_back(read_feature(s));
  return out;
}

std::optional<Feature> SqliteRegistry::find_feature(const std::string& name, const Feature& type) {
  auto s = db_->prepare(std::string("SELECT ") + kFeatureColumns +
                        " FROM lamindb_feature f WHERE f.name = ? AND f.type_id = ? AND f.branch_id != ? "
                        "ORDER BY f.id LIMIT 1");
  s.bind(1, name).bind(2, type.id).bind(3, kTrashBranch);
  if (s.step()) return read_feature(s);
  return std::nullopt;
}

std::optional<Feature> SqliteRegistry::find_feature(const FeatureRef& ref) {
  if (ref.id()) return feature_by_id(*ref.id());
  std::vector<Feature> candidates;
  for (auto& f : features_named(ref.name()))
    if (!f.is_type) candidates.push_back(std::move(f));
  if (candidates.empty()) return std::nullopt;
  if (candidates.size() == 1) return candidates.front();
  std::vector<Feature> root;
  for (const auto& f : candidates)
    if (!f.type_id) root.push_back(f);
  if (root.size() == 1) return root.front();
  if (root.size() > 1) {
    throw ValidationError("Ambiguous match for feature name '" + ref.name() + "': " + std::to_string(root.size()) +
                          " features without a type have this name; pass the Feature record.");
  }
  // All typed: the one with the shallowest type chain.
  auto depth = [&](const Feature& f) {
    int d = 0;
    std::optional<std::int64_t> t = f.type_id;
    while (t && d < 64) {
      ++d;
      auto parent = feature_by_id(*t);
      t = parent ? parent->type_id : std::nullopt;
    }
    return d;
  };
  return *std::min_element(candidates.begin(), candidates.end(),
                           [&](const Feature& a, const Feature& b) { return depth(a) < depth(b); });
}

Feature SqliteRegistry::resolve_feature(const FeatureRef& ref, std::vector<std::string>* unknown) {
  auto f = find_feature(ref);
  if (!f) {
    if (unknown) {
      unknown->push_back(ref.name());
      return Feature{};
    }
    throw ValidationError("These keys could not be validated: ['" + ref.name() + "']");
  }
  return *f;
}

void SqliteRegistry::add_values_impl(HostKind kind, std::int64_t host_id, const FeatureValues& values) {
  // Validate all keys and values before writing.
  std::vector<std::string> unknown;
  std::vector<std::tuple<Feature, std::string, std::string>> rows;  // feature, json text, hash
  for (const auto& [ref, value] : values) {
    Feature f = resolve_feature(ref, &unknown);
    if (f.id == 0 || value.is_null()) continue;
    validate_feature_value(f, value);
    rows.emplace_back(f, python_json_dumps(value), json_value_hash(value));
  }
  if (!unknown.empty()) throw ValidationError("These keys could not be validated: " + python_list_repr(unknown));
  const auto run_id = current_run_id(this);
  Tx tx(*this);
  auto ins = db_->prepare(
      "INSERT OR IGNORE INTO lamindb_jsonvalue (feature_id, value, hash, run_id, created_by_id) VALUES (?, ?, ?, ?, ?)");
  auto sel = db_->prepare("SELECT id FROM lamindb_jsonvalue WHERE feature_id = ? AND hash = ?");
  auto link = kind == HostKind::artifact
                  ? db_->prepare("INSERT OR IGNORE INTO lamindb_artifactjsonvalue (artifact_id, jsonvalue_id, run_id, "
                                 "created_by_id) VALUES (?, ?, ?, ?)")
                  : db_->prepare("INSERT OR IGNORE INTO lamindb_runjsonvalue (run_id, jsonvalue_id, created_by_id) "
                                 "VALUES (?, ?, ?)");
  for (const auto& [f, text, hash] : rows) {
    ins.reset();
    ins.bind(1, f.id).bind(2, text).bind(3, hash).bind(4, run_id).bind(5, info_.user.id).run();
    sel.reset();
    sel.bind(1, f.id).bind(2, hash);
    if (!sel.step()) throw IntegrityError("value of feature '" + f.name + "' was not stored");
    const auto value_id = sel.int64(0);
    sel.reset();
    link.reset();
    if (kind == HostKind::artifact) {
      link.bind(1, host_id).bind(2, value_id).bind(3, run_id).bind(4, info_.user.id).run();
    } else {
      link.bind(1, host_id).bind(2, value_id).bind(3, info_.user.id).run();
    }
  }
  tx.commit();
}

std::map<std::string, std::int64_t> SqliteRegistry::json_value_ids(const Feature& f,
                                                                   const std::map<std::string, json>& by_hash,
                                                                   std::optional<std::int64_t> run_id) {
  std::map<std::string, std::int64_t> ids;
  if (by_hash.empty()) return ids;
  json hashes = json::array();
  for (const auto& [hash, value] : by_hash) hashes.push_back(hash);
  auto find = db_->prepare(
      "SELECT v.hash, v.id FROM json_each(?) j CROSS JOIN lamindb_jsonvalue v ON v.feature_id = ? AND v.hash = "
      "j.value");
  find.bind(1, hashes.dump()).bind(2, f.id);
  while (find.step()) ids.emplace(find.text(0), find.int64(1));
  for (const auto& [hash, value] : by_hash) {
    if (!ids.count(hash)) ids.emplace(hash, json_value_id(f, value, run_id));
  }
  return ids;
}

std::int64_t SqliteRegistry::json_value_id(const Feature& f, const json& value, std::optional<std::int64_t> run_id) {
  const std::string hash = json_value_hash(value);
  auto sel = db_->prepare("SELECT id FROM lamindb_jsonvalue WHERE feature_id = ? AND hash = ?");
  sel.bind(1, f.id).bind(2, hash);
  if (sel.step()) return sel.int64(0);
  db_->prepare("INSERT INTO lamindb_jsonvalue (feature_id, value, hash, run_id, created_by_id) VALUES (?, ?, ?, ?, ?)")
      .bind(1, f.id)
      .bind(2, python_json_dumps(value))
      .bind(3, hash)
      .bind(4, run_id)
      .bind(5, info_.user.id)
      .run();
  return db_->last_insert_rowid();
}

std::vector<std::map<std::int64_t, std::vector<json>>> SqliteRegistry::feature_values_of_artifacts(
    const std::vector<Feature>& features, const QuerySpec& spec) {
  std::vector<std::map<std::int64_t, std::vector<json>>> out(features.size());
  if (features.empty()) return out;
  std::set<std::int64_t> distinct;
  json ids = json::array();
  for (const Feature& f : features) {
    if (distinct.insert(f.id).second) ids.push_back(f.id);
  }
  std::vector<sqlite::Param> params{ids.dump()};
  const std::string where = build_where(HostKind::artifact, spec, params);
  // Driven by the selected artifacts (CROSS JOIN fixes the order): a feature like model_rank has as many values as
  // artifacts, so starting from the values would probe every (value, artifact) pair. Each artifact's links are
  // visited once for all the features.
  auto s = db_->prepare(
      "SELECT a.id, v.feature_id, v.value FROM lamindb_artifact a CROSS JOIN lamindb_artifactjsonvalue l ON "
      "l.artifact_id = a.id CROSS JOIN lamindb_jsonvalue v ON v.id = l.jsonvalue_id WHERE v.feature_id IN (SELECT "
      "value FROM json_each(?)) AND " + where + " ORDER BY a.id, v.id");
  s.bind_all(params);
  while (s.step()) {
    json value = parse_json_value(s.text(2));
    for (std::size_t i = 0; i < features.size(); ++i) {
      if (features[i].id == s.int64(1)) out[i][s.int64(0)].push_back(value);
    }
  }
  return out;
}

void SqliteRegistry::set_feature_values(const Feature& feature,
                                        const std::vector<std::pair<std::int64_t, json>>& values) {
  for (const auto& [id, value] : values) {
    if (value.is_null()) throw ValidationError("set_feature_values: a value of feature '" + feature.name + "' is null");
    validate_feature_value(feature, value);
  }
  if (values.empty()) return;
  const auto run_id = current_run_id(this);
  Tx tx(*this);
  // 1. The JsonValue id of each distinct value.
  std::map<std::string, json> by_hash;                     // hash -> value
  std::map<std::int64_t, const std::string*> target_hash;  // artifact id -> hash of its value (the last listed)
  for (const auto& [artifact_id, value] : values) {
    target_hash[artifact_id] = &by_hash.emplace(json_value_hash(value), value).first->first;
  }
  const std::map<std::string, std::int64_t> value_ids = json_value_ids(feature, by_hash, run_id);

  // 2. The target of every artifact into a temporary table (the last listed value wins).
  db_->prepare("DELETE FROM temp.lamin_set_values").run();
  {
    auto fill = db_->prepare("INSERT INTO temp.lamin_set_values (artifact_id, jsonvalue_id) VALUES (?, ?)");
    for (const auto& [artifact_id, hash] : target_hash) {
      fill.bind(1, artifact_id).bind(2, value_ids.at(*hash));
      fill.run();
      fill.reset();
    }
  }

  // 3. Links to the feature's other values are re-pointed to the target, in one statement that also moves the link
  // to the current run, as removing and adding the value would. OR REPLACE folds an artifact's several values into
  // one link. The join is driven by the listed artifacts: each unary + keeps the planner, which has no statistics,
  // off an index that would start elsewhere (from the feature's values, or every link of a boolean flag).
  std::set<std::int64_t> repointed;
  {
    auto update = db_->prepare(
        "UPDATE OR REPLACE lamindb_artifactjsonvalue AS l SET jsonvalue_id = t.jsonvalue_id, run_id = ?2 FROM "
        "temp.lamin_set_values t, lamindb_jsonvalue v WHERE l.artifact_id = +t.artifact_id AND v.id = "
        "+l.jsonvalue_id AND +v.feature_id = ?1 AND l.jsonvalue_id != t.jsonvalue_id RETURNING artifact_id");
    update.bind(1, feature.id).bind(2, run_id);
    while (update.step()) repointed.insert(update.int64(0));
  }
  // 4. Artifacts without any value of the feature get a link (skipped when every one was just re-pointed, as in a
  // re-ranking, where only changed ranks are passed).
  if (repointed.size() < target_hash.size()) {
    db_->prepare(
           "INSERT OR IGNORE INTO lamindb_artifactjsonvalue (artifact_id, jsonvalue_id, run_id, created_by_id) "
           "SELECT artifact_id, jsonvalue_id, ?, ? FROM temp.lamin_set_values")
        .bind(1, run_id)
        .bind(2, info_.user.id)
        .run();
  }
  db_->prepare("DELETE FROM temp.lamin_set_values").run();
  tx.commit();
}

// --- ranking ------------------------------------------------------------------------------------------------------
//
// rank_artifacts runs after every checkpoint save, over every checkpoint under a prefix: reading all scores and
// ranks each time would cost as much as the rest of the save. So it keeps, per query, each selected artifact's
// score and rank links (ids included, so a changed rank is one UPDATE by primary key), and learns what changed
// since its last call from SQLite's update hook: every row this connection inserts, updates or deletes in
// lamindb_artifact (by artifact id) or lamindb_artifactjsonvalue (by link id) is noted, and only those artifacts
// are read again. Anything it cannot place (a changed JsonValue row, too many changes) makes it read everything, as
// does a commit by another connection (PRAGMA data_version) or any rollback. Queries with feature or run conditions
// depend on more tables than these two and are never cached.

struct SqliteRegistry::RankCache {
  struct Link {
    std::int64_t id = 0;
    std::int64_t jsonvalue_id = 0;
    std::optional<std::int64_t> run_id;
  };
  struct Member {
    std::optional<double> score;  // the smallest number among its scores
    std::vector<Link> ranks;      // its links to values of the rank feature
    std::vector<std::int64_t> links;  // the ids of its score and rank links (its keys in link_owner)
  };
  std::string fingerprint;  // the query's SQL, parameters and features
  bool valid = false;
  std::int64_t data_version = 0;
  bool everything_changed = false;
  std::vector<std::int64_t> changed_artifacts;
  std::vector<std::int64_t> changed_links;
  std::unordered_map<std::int64_t, Member> members;         // artifact id -> score and rank links
  std::unordered_map<std::int64_t, std::int64_t> link_owner;  // score and rank link id -> artifact id
  std::unordered_map<std::int64_t, std::int64_t> rank_values;  // rank -> JsonValue id
  std::int64_t score_id = 0, rank_id = 0;

  void clear() {
    valid = false;
    everything_changed = false;
    changed_artifacts.clear();
    changed_links.clear();
    members.clear();
    link_owner.clear();
    rank_values.clear();
  }
};

namespace {

constexpr std::size_t kMaxRankCaches = 4;
constexpr std::size_t kMaxTrackedChanges = 4096;  // beyond this, reading everything again is as cheap

// rank_artifacts replaces the rank links it moves, instead of re-pointing them in place, when there are at least
// kMinGatheredRankLinks of them and they are spread over at least twice the table pages they would fill together
// (counted as blocks of kLinksPerPage consecutive link ids; a link row takes 40 to 60 of a page's 4,096 bytes).
constexpr std::size_t kMinGatheredRankLinks = 256;
constexpr std::int64_t kLinksPerPage = 64;

bool should_gather_rank_links(std::vector<std::int64_t> ids) {
  if (ids.size() < kMinGatheredRankLinks) return false;
  std::sort(ids.begin(), ids.end());
  std::size_t pages = 0;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (i == 0 || ids[i] / kLinksPerPage != ids[i - 1] / kLinksPerPage) ++pages;
  }
  const std::size_t fewest = (ids.size() + kLinksPerPage - 1) / kLinksPerPage;
  return pages >= 2 * fewest;
}

std::int64_t data_version(sqlite::Database& db) {
  auto s = db.prepare("PRAGMA data_version");
  s.step();
  return s.int64(0);
}

// A bound parameter as text that no other parameter gives (strings carry their length).
std::string param_key(const sqlite::Param& p) {
  return std::visit(
      [](const auto& v) -> std::string {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::nullptr_t>) {
          return "null";
        } else if constexpr (std::is_same_v<T, std::string>) {
          return std::to_string(v.size()) + ':' + v;
        } else {
          return std::to_string(v);
        }
      },
      p);
}

}  // namespace

void SqliteRegistry::on_row_change(void* registry, int op, const char* db, const char* table, sqlite3_int64 rowid) {
  auto* self = static_cast<SqliteRegistry*>(registry);
  if (!self->track_changes_ || self->rank_caches_.empty()) return;
  if (std::strcmp(db, "main") != 0 || std::strncmp(table, "lamindb_", 8) != 0) return;
  const bool artifact = std::strcmp(table, "lamindb_artifact") == 0;
  const bool link = std::strcmp(table, "lamindb_artifactjsonvalue") == 0;
  // A new JsonValue changes no artifact's values; an edited or deleted one may be a cached rank value.
  const bool value_row = std::strcmp(table, "lamindb_jsonvalue") == 0 && op != SQLITE_INSERT;
  if (!artifact && !link && !value_row) return;
  for (auto& cache : self->rank_caches_) {
    if (!cache->valid || cache->everything_changed) continue;
    if (value_row) {
      cache->everything_changed = true;
    } else {
      (artifact ? cache->changed_artifacts : cache->changed_links).push_back(rowid);
      if (cache->changed_artifacts.size() + cache->changed_links.size() > kMaxTrackedChanges) {
        cache->everything_changed = true;
      }
    }
  }
}

void SqliteRegistry::on_rollback(void* registry) { static_cast<SqliteRegistry*>(registry)->invalidate_rank_caches(); }

void SqliteRegistry::invalidate_rank_caches() noexcept {
  for (auto& cache : rank_caches_) cache->clear();
}

SqliteRegistry::RankCache& SqliteRegistry::rank_cache(const std::string& fingerprint) {
  for (auto it = rank_caches_.begin(); it != rank_caches_.end(); ++it) {
    if ((*it)->fingerprint == fingerprint) {
      std::rotate(rank_caches_.begin(), it, it + 1);
      return *rank_caches_.front();
    }
  }
  if (rank_caches_.size() == kMaxRankCaches) rank_caches_.pop_back();
  auto cache = std::make_unique<RankCache>();
  cache->fingerprint = fingerprint;
  rank_caches_.insert(rank_caches_.begin(), std::move(cache));
  return *rank_caches_.front();
}

// Reads the members of the cached query, all of them or those among `only`, with their score and rank links.
void SqliteRegistry::reload_rank_cache(RankCache& cache, const std::string& where,
                                       const std::vector<sqlite::Param>& params,
                                       const std::vector<std::int64_t>* only) {
  if (!only) {
    cache.members.clear();
    cache.link_owner.clear();
  } else {
    for (const std::int64_t id : *only) {
      const auto it = cache.members.find(id);
      if (it == cache.members.end()) continue;
      for (const std::int64_t link : it->second.links) cache.link_owner.erase(link);
      cache.members.erase(it);
    }
  }
  const std::string restrict = only ? " AND a.id IN (SELECT a FROM lamin_ints(?))" : "";
  sqlite::IntRows only_rows;
  if (only) {
    for (const std::int64_t id : *only) only_rows.add(id);
  }
  {
    auto s = db_->prepare("SELECT a.id FROM lamindb_artifact a WHERE " + where + restrict);
    s.bind_all(params);
    if (only) s.bind(static_cast<int>(params.size()) + 1, only_rows);
    while (s.step()) cache.members.emplace(s.int64(0), RankCache::Member{});
  }
  std::vector<sqlite::Param> link_params{cache.score_id, cache.rank_id};
  link_params.insert(link_params.end(), params.begin(), params.end());
  auto s = db_->prepare(
      "SELECT l.artifact_id, l.id, l.jsonvalue_id, l.run_id, v.feature_id, v.value FROM lamindb_artifact a CROSS JOIN "
      "lamindb_artifactjsonvalue l ON l.artifact_id = a.id CROSS JOIN lamindb_jsonvalue v ON v.id = l.jsonvalue_id "
      "WHERE v.feature_id IN (?, ?) AND " + where + restrict + " ORDER BY l.id");
  s.bind_all(link_params);
  if (only) s.bind(static_cast<int>(link_params.size()) + 1, only_rows);
  while (s.step()) {
    auto member = cache.members.find(s.int64(0));
    if (member == cache.members.end()) continue;
    const std::int64_t link_id = s.int64(1);
    cache.link_owner[link_id] = member->first;
    member->second.links.push_back(link_id);
    const std::int64_t feature_id = s.int64(4);
    if (feature_id == cache.score_id) {
      const json value = parse_json_value(s.text(5));
      if (value.is_number()) {
        auto& score = member->second.score;
        if (!score || value.get<double>() < *score) score = value.get<double>();
      }
    }
    if (feature_id == cache.rank_id) {
      member->second.ranks.push_back({link_id, s.int64(2), s.opt_int64(3)});
    }
  }
}

std::int64_t SqliteRegistry::rank_artifacts(const QuerySpec& spec, const Feature& score, const Feature& rank,
                                            bool descending) {
  if (!spec.features.empty() || !spec.run_in.empty()) return Registry::rank_artifacts(spec, score, rank, descending);
  validate_feature_value(rank, json(0));
  Tx tx(*this);
  std::vector<sqlite::Param> params;
  const std::string where = build_where(HostKind::artifact, spec, params);
  std::string fingerprint = where + '\n' + std::to_string(score.id) + '\n' + std::to_string(rank.id);
  for (const auto& p : params) fingerprint += '\n' + param_key(p);
  RankCache& cache = rank_cache(fingerprint);
  std::int64_t written = 0;
  try {
    // 1. Bring the cache up to date: everything, or only the artifacts written since the last call.
    const std::int64_t version = data_version(*db_);
    if (!cache.valid || cache.everything_changed || cache.data_version != version) {
      cache.clear();
      cache.score_id = score.id;
      cache.rank_id = rank.id;
      reload_rank_cache(cache, where, params, nullptr);
    } else if (!cache.changed_artifacts.empty() || !cache.changed_links.empty()) {
      std::set<std::int64_t> ids(cache.changed_artifacts.begin(), cache.changed_artifacts.end());
      std::vector<std::int64_t> unknown_links;
      for (const std::int64_t link : cache.changed_links) {
        const auto owner = cache.link_owner.find(link);
        if (owner != cache.link_owner.end()) {
          ids.insert(owner->second);
        } else {
          unknown_links.push_back(link);  // a new link, or one of an artifact that was not ranked
        }
      }
      if (!unknown_links.empty()) {
        sqlite::IntRows rows;
        for (const std::int64_t link : unknown_links) rows.add(link);
        auto s = db_->prepare(
            "SELECT artifact_id FROM lamindb_artifactjsonvalue WHERE id IN (SELECT a FROM lamin_ints(?))");
        s.bind(1, rows);
        while (s.step()) ids.insert(s.int64(0));
      }
      const std::vector<std::int64_t> only(ids.begin(), ids.end());
      reload_rank_cache(cache, where, params, &only);
    }
    cache.changed_artifacts.clear();
    cache.changed_links.clear();
    cache.everything_changed = false;
    cache.data_version = version;
    cache.valid = true;

    // 2. The order, and the JsonValue of every rank it needs.
    std::vector<std::pair<std::int64_t, double>> rows;
    rows.reserve(cache.members.size());
    for (const auto& [id, member] : cache.members) {
      if (member.score) rows.emplace_back(id, *member.score);
    }
    const std::vector<std::int64_t> order = rank_order(std::move(rows), descending);
    const auto run_id = current_run_id(this);
    {
      std::map<std::string, json> missing;  // hash -> rank
      for (std::size_t i = 0; i < order.size(); ++i) {
        const json r = static_cast<std::int64_t>(i);
        if (!cache.rank_values.count(r.get<std::int64_t>())) missing.emplace(json_value_hash(r), r);
      }
      for (const auto& [hash, id] : json_value_ids(rank, missing, run_id)) {
        cache.rank_values[missing.at(hash).get<std::int64_t>()] = id;
      }
    }

    // 3. Changed ranks. An artifact with one rank link has that link re-pointed (and moved to the current run, as
    // removing and adding the value would); others (no rank yet, or several) go through set_feature_values, and the
    // hook notes them for the next call.
    std::vector<std::pair<std::int64_t, json>> others;
    {
      struct Move {
        std::int64_t artifact;
        std::int64_t target;
        RankCache::Link* link;
      };
      std::vector<Move> moves;
      for (std::size_t i = 0; i < order.size(); ++i) {
        const auto r = static_cast<std::int64_t>(i);
        const std::int64_t target = cache.rank_values.at(r);
        auto& links = cache.members.at(order[i]).ranks;
        if (links.size() != 1) {
          others.emplace_back(order[i], r);
          continue;
        }
        if (links.front().jsonvalue_id != target) moves.push_back({order[i], target, &links.front()});
      }
      std::vector<std::int64_t> moved_ids;
      moved_ids.reserve(moves.size());
      for (const auto& m : moves) moved_ids.push_back(m.link->id);
      struct Resume {
        bool& flag;
        ~Resume() { flag = true; }
      } resume{track_changes_};
      track_changes_ = false;
      auto expect_changed = [&](std::int64_t changed) {
        const auto expected = static_cast<std::int64_t>(moves.size());
        if (changed != expected) {
          throw IntegrityError("rank_artifacts: " + std::to_string(expected - changed) +
                               " rank links changed underneath the registry");
        }
      };
      if (should_gather_rank_links(std::move(moved_ids))) {
        // The moving links lie thinly among other links, and every table page holding one would be rewritten.
        // Replacing them instead (which is what LaminDB's remove-and-add does) gathers them at the table's end, in
        // rank order: a later save moves the ranks after its own, which then lie together too.
        sqlite::IntRows old_ids(1), added(2);  // link id; (artifact id, new JsonValue id)
        std::unordered_map<std::int64_t, Move*> by_artifact;
        for (auto& m : moves) {
          old_ids.add(m.link->id);
          added.add(m.artifact, m.target);
          by_artifact.emplace(m.artifact, &m);
        }
        db_->prepare("DELETE FROM lamindb_artifactjsonvalue WHERE id IN (SELECT a FROM lamin_ints(?))")
            .bind(1, old_ids)
            .run();
        expect_changed(db_->changes());
        auto insert = db_->prepare(
            "INSERT INTO lamindb_artifactjsonvalue (artifact_id, jsonvalue_id, run_id, created_by_id) "
            "SELECT a, b, ?, ? FROM lamin_ints(?) RETURNING id, artifact_id");
        insert.bind(1, run_id).bind(2, info_.user.id).bind(3, added);
        while (insert.step()) {
          Move& m = *by_artifact.at(insert.int64(1));
          const std::int64_t new_id = insert.int64(0);
          auto& member_links = cache.members.at(m.artifact).links;
          std::replace(member_links.begin(), member_links.end(), m.link->id, new_id);
          cache.link_owner.erase(m.link->id);
          cache.link_owner[new_id] = m.artifact;
          *m.link = {new_id, m.target, run_id};
        }
      } else {
        // In link id order, the order of the table's pages.
        std::sort(moves.begin(), moves.end(), [](const Move& x, const Move& y) { return x.link->id < y.link->id; });
        sqlite::IntRows same_run(2), new_run(2);  // (link id, new JsonValue id)
        for (const auto& m : moves) (m.link->run_id == run_id ? same_run : new_run).add(m.link->id, m.target);
        std::int64_t changed = 0;
        if (!same_run.empty()) {
          db_->prepare(
                 "UPDATE lamindb_artifactjsonvalue AS l SET jsonvalue_id = p.b FROM lamin_ints(?) p WHERE l.id = p.a")
              .bind(1, same_run)
              .run();
          changed += db_->changes();
        }
        if (!new_run.empty()) {
          db_->prepare(
                 "UPDATE lamindb_artifactjsonvalue AS l SET jsonvalue_id = p.b, run_id = ? FROM lamin_ints(?) p "
                 "WHERE l.id = p.a")
              .bind(1, run_id)
              .bind(2, new_run)
              .run();
          changed += db_->changes();
        }
        expect_changed(changed);
        for (auto& m : moves) {
          m.link->jsonvalue_id = m.target;
          m.link->run_id = run_id;
        }
      }
      written += static_cast<std::int64_t>(moves.size());
    }
    if (!others.empty()) {
      set_feature_values(rank, others);
      written += static_cast<std::int64_t>(others.size());
    }
    tx.commit();
  } catch (...) {
    cache.clear();
    throw;
  }
  return written;
}

void SqliteRegistry::add_values(const Artifact& artifact, const FeatureValues& values) {
  add_values_impl(HostKind::artifact, artifact.id, values);
}
void SqliteRegistry::add_values(const Run& run, const FeatureValues& values) {
  add_values_impl(HostKind::run, run.id, values);
}

std::int64_t SqliteRegistry::remove_values_impl(HostKind kind, std::int64_t host_id, const FeatureRef& ref,
                                                const std::optional<json>& value) {
  const Feature f = resolve_feature(ref, nullptr);
  Tx tx(*this);
  const std::string table = kind == HostKind::artifact ? "lamindb_artifactjsonvalue" : "lamindb_runjsonvalue";
  const std::string host = kind == HostKind::artifact ? "artifact_id" : "run_id";
  std::string sql = "DELETE FROM " + table + " WHERE " + host +
                    " = ? AND jsonvalue_id IN (SELECT id FROM lamindb_jsonvalue WHERE feature_id = ?";
  if (value) sql += " AND hash = ?";
  sql += ")";
  auto s = db_->prepare(sql);
  s.bind(1, host_id).bind(2, f.id);
  if (value) s.bind(3, json_value_hash(*value));
  s.run();
  const auto n = db_->changes();
  tx.commit();
  if (n == 0) log::warn("no value of feature '" + f.name + "' to remove");
  return n;
}

std::int64_t SqliteRegistry::remove_values(const Artifact& a, const FeatureRef& f, const std::optional<json>& v) {
  return remove_values_impl(HostKind::artifact, a.id, f, v);
}
std::int64_t SqliteRegistry::remove_values(const Run& r, const FeatureRef& f, const std::optional<json>& v) {
  return remove_values_impl(HostKind::run, r.id, f, v);
}

std::vector<std::tuple<std::string, std::string, json, std::int64_t>> SqliteRegistry::values_rows(
    HostKind kind, const std::vector<std::int64_t>& ids) {
  std::vector<std::tuple<std::string, std::string, json, std::int64_t>> out;
  const std::string table = kind == HostKind::artifact ? "lamindb_artifactjsonvalue" : "lamindb_runjsonvalue";
  const std::string host = kind == HostKind::artifact ? "artifact_id" : "run_id";
  for (std::size_t start = 0; start < ids.size(); start += 500) {
    const std::size_t n = std::min<std::size_t>(500, ids.size() - start);
    std::string placeholders;
    for (std::size_t i = 0; i < n; ++i) placeholders += i ? ",?" : "?";
    auto s = db_->prepare("SELECT f.name, COALESCE(f._dtype_str, ''), v.value, l." + host + " FROM " + table +
                          " l JOIN lamindb_jsonvalue v ON v.id = l.jsonvalue_id JOIN lamindb_feature f ON "
                          "f.id = v.feature_id WHERE l." + host + " IN (" + placeholders +
                          ") ORDER BY f.name, f._dtype_str, v.id");
    for (std::size_t i = 0; i < n; ++i) s.bind(static_cast<int>(i + 1), ids[start + i]);
    while (s.step()) {
      json v = parse_json_value(s.text(2));
      out.emplace_back(s.text(0), s.text(1), std::move(v), s.int64(3));
    }
  }
  return out;
}

std::map<std::int64_t, json> SqliteRegistry::values_of(HostKind kind, const std::vector<std::int64_t>& ids) {
  std::map<std::int64_t, std::map<std::string, std::vector<json>>> grouped;
  for (auto& [name, dtype, value, host] : values_rows(kind, ids)) grouped[host][name].push_back(std::move(value));
  std::map<std::int64_t, json> out;
  for (auto& [host, by_name] : grouped) {
    json obj = json::object();
    for (auto& [name, vals] : by_name) {
      if (vals.size() == 1) {
        obj[name] = vals.front();
      } else {
        std::sort(vals.begin(), vals.end());
        obj[name] = vals;
      }
    }
    out[host] = std::move(obj);
  }
  for (auto id : ids)
    if (!out.count(id)) out[id] = json::object();
  return out;
}

json SqliteRegistry::get_values(const Artifact& artifact) { return values_of(HostKind::artifact, {artifact.id})[artifact.id]; }
json SqliteRegistry::get_values(const Run& run) { return values_of(HostKind::run, {run.id})[run.id]; }
std::map<std::int64_t, json> SqliteRegistry::values_of_artifacts(const std::vector<std::int64_t>& ids) {
  return values_of(HostKind::artifact, ids);
}
std::map<std::int64_t, json> SqliteRegistry::values_of_runs(const std::vector<std::int64_t>& ids) {
  return values_of(HostKind::run, ids);
}

std::vector<std::pair<Feature, std::vector<json>>> SqliteRegistry::feature_values(const Artifact& artifact) {
  auto s = db_->prepare(std::string("SELECT ") + kFeatureColumns +
                        ", v.value FROM lamindb_artifactjsonvalue l JOIN lamindb_jsonvalue v ON v.id = l.jsonvalue_id "
                        "JOIN lamindb_feature f ON f.id = v.feature_id WHERE l.artifact_id = ? "
                        "ORDER BY f.name, f._dtype_str, f.id, v.id");
  s.bind(1, artifact.id);
  std::vector<std::pair<Feature, std::vector<json>>> out;
  while (s.step()) {
    Feature f = read_feature(s);
    json v = parse_json_value(s.text(10));
    // Values of two features with the same name and dtype merge into one entry (LaminDB's describe).
    if (!out.empty() && out.back().first.name == f.name && out.back().first.dtype == f.dtype) {
      out.back().second.push_back(std::move(v));
    } else {
      out.emplace_back(std::move(f), std::vector<json>{std::move(v)});
    }
  }
  for (auto& [f, vals] : out) std::sort(vals.begin(), vals.end());
  return out;
}

// --- transforms and runs ------------------------------------------------------------------------------------------

Transform SqliteRegistry::get_transform_by_id(std::int64_t id) {
  auto s = db_->prepare(std::string("SELECT ") + kTransformColumns + " FROM lamindb_transform t WHERE t.id = ?");
  s.bind(1, id);
  if (!s.step()) throw NotFoundError("Transform matching query does not exist (id=" + std::to_string(id) + ").");
  return read_transform(s);
}

Transform SqliteRegistry::create_transform(const TransformOptions& o) {
  if (o.key().empty()) throw ValidationError("A transform needs a key.");
  if (o.key().size() > kMaxKeyLength) throw ValidationError("Transform keys are limited to 1024 characters.");
  static const std::set<std::string> kKinds = {"pipeline", "notebook", "script", "function"};
  if (!kKinds.count(o.kind())) {
    throw ValidationError("transform kind must be one of pipeline, notebook, script, function; got '" + o.kind() + "'");
  }
  std::optional<std::string> hash = o.hash();
  if (!hash && o.source_code()) hash = hash_string(*o.source_code());
  Tx tx(*this);
  {
    auto s = db_->prepare(std::string("SELECT ") + kTransformColumns +
                          " FROM lamindb_transform t WHERE t.key = ? AND t.hash IS ? AND t.branch_id != ? "
                          "ORDER BY t.id DESC LIMIT 1");
    s.bind(1, o.key()).bind(2, hash).bind(3, kTrashBranch);
    if (s.step()) {
      Transform t = read_transform(s);
      tx.commit();
      return t;
    }
  }
  std::string uid;
  {
    auto s = db_->prepare(
        "SELECT uid FROM lamindb_transform WHERE key = ? AND branch_id != ? ORDER BY is_latest DESC, created_at DESC, "
        "id DESC LIMIT 1");
    s.bind(1, o.key()).bind(2, kTrashBranch);
    if (s.step()) {
      const std::string stem = s.text(0).substr(0, 12);
      const std::string max = max_suffix(*db_, "lamindb_transform", stem, kTransformUidLength);
      uid = stem + increment_version_suffix(max.empty() ? "0000" : max);
      db_->prepare("UPDATE lamindb_transform SET is_latest = 0 WHERE uid >= ? AND uid <= ? AND is_latest = 1")
          .bind(1, stem + "0000")
          .bind(2, stem + "zzzz")
          .run();
    } else {
      uid = base62_uid(12) + "0000";
    }
  }
  db_->prepare(
         "INSERT INTO lamindb_transform (version_tag, is_latest, uid, key, description, kind, source_code, hash, "
         "reference, reference_type, created_by_id, run_id) VALUES (?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)")
      .bind(1, o.version_tag())
      .bind(2, uid)
      .bind(3, o.key())
      .bind(4, o.description())
      .bind(5, o.kind())
      .bind(6, o.source_code())
      .bind(7, hash)
      .bind(8, o.reference())
      .bind(9, o.reference_type())
      .bind(10, info_.user.id)
      .run();
  const auto id = db_->last_insert_rowid();
  tx.commit();
  return get_transform_by_id(id);
}

Run SqliteRegistry::get_run_by_id(std::int64_t id) {
  auto s = db_->prepare(std::string("SELECT ") + kRunColumns + " FROM lamindb_run r WHERE r.id = ?");
  s.bind(1, id);
  if (!s.step()) throw NotFoundError("Run matching query does not exist (id=" + std::to_string(id) + ").");
  return read_run(s);
}

std::optional<Run> SqliteRegistry::find_run(const std::string& uid) {
  auto s = db_->prepare(std::string("SELECT ") + kRunColumns + " FROM lamindb_run r WHERE r.uid = ?");
  s.bind(1, uid);
  if (s.step()) return read_run(s);
  return std::nullopt;
}

Run SqliteRegistry::create_run(const Transform& transform, const RunOptions& o) {
  std::optional<std::string> params;
  if (!o.params().is_null()) params = python_json_dumps(o.params());
  std::optional<std::string> cli = o.cli_args();
  if (cli && cli->size() > 1024) cli = cli->substr(0, 1024);
  if (o.name() && o.name()->size() > 150) throw ValidationError("Run names are limited to 150 characters.");
  if (o.uid() && (o.uid()->size() != kRunUidLength || !is_base62(*o.uid()))) {
    throw ValidationError("A run uid has " + std::to_string(kRunUidLength) + " base62 characters, got '" + *o.uid() + "'");
  }
  Tx tx(*this);
  if (o.uid()) {
    if (auto existing = find_run(*o.uid())) {
      if (existing->transform_id != transform.id) {
        throw IntegrityError("A run with uid '" + *o.uid() + "' exists for another transform.");
      }
      tx.commit();
      return *existing;
    }
  }
  db_->prepare(
         "INSERT INTO lamindb_run (uid, name, description, entrypoint, params, reference, reference_type, cli_args, "
         "_status_code, transform_id, created_by_id, initiated_by_run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
      .bind(1, o.uid() ? *o.uid() : base62_uid(kRunUidLength))
      .bind(2, o.name())
      .bind(3, o.description())
      .bind(4, o.entrypoint())
      .bind(5, params)
      .bind(6, o.reference())
      .bind(7, o.reference_type())
      .bind(8, cli)
      .bind(9, static_cast<int>(o.status()))
      .bind(10, transform.id)
      .bind(11, info_.user.id)
      .bind(12, o.initiated_by_run_id())
      .run();
  const auto id = db_->last_insert_rowid();
  tx.commit();
  return get_run_by_id(id);
}

Run SqliteRegistry::finish_run(const Run& run, RunStatus status) {
  Tx tx(*this);
  db_->prepare(std::string("UPDATE lamindb_run SET finished_at = ") + kNowSql + ", updated_at = " + kNowSql +
               ", _status_code = ? WHERE id = ?")
      .bind(1, static_cast<int>(status))
      .bind(2, run.id)
      .run();
  if (db_->changes() == 0) throw NotFoundError("Run " + run.uid + " does not exist.");
  tx.commit();
  return get_run_by_id(run.id);
}

// --- queries ------------------------------------------------------------------------------------------------------

namespace {

const char* column_of(bool artifact, Field f) {
  switch (f) {
    case Field::id: return "id";
    case Field::uid: return "uid";
    case Field::description: return "description";
    case Field::created_at: return "created_at";
    case Field::updated_at: return "updated_at";
    default: break;
  }
  if (artifact) {
    switch (f) {
      case Field::key: return "key";
      case Field::suffix: return "suffix";
      case Field::kind: return "kind";
      case Field::size: return "size";
      case Field::hash: return "hash";
      case Field::is_latest: return "is_latest";
      case Field::run_id: return "run_id";
      default: break;
    }
    throw ValidationError("this field is not a field of Artifact");
  }
  switch (f) {
    case Field::name: return "name";
    case Field::started_at: return "started_at";
    case Field::finished_at: return "finished_at";
    case Field::status_code: return "_status_code";
    case Field::transform_id: return "transform_id";
    default: break;
  }
  throw ValidationError("this field is not a field of Run");
}

std::size_t utf8_length(const std::string& s) {
  std::size_t n = 0;
  for (unsigned char c : s)
    if ((c & 0xC0) != 0x80) ++n;
  return n;
}

}  // namespace

std::string SqliteRegistry::feature_condition_sql(HostKind kind, const FeatureCondition& c,
                                                  std::vector<sqlite::Param>& params, bool correlated) {
  Feature f;
  if (c.feature.id()) {
    auto found = feature_by_id(*c.feature.id());
    if (!found) throw ValidationError("Feature id " + std::to_string(*c.feature.id()) + " does not exist.");
    f = *found;
  } else {
    std::vector<Feature> named;
    for (auto& x : features_named(c.feature.name()))
      if (!x.is_type) named.push_back(std::move(x));
    if (named.empty()) {
      throw ValidationError("You can query either by available fields or by features; no feature is named '" +
                            c.feature.name() + "'.");
    }
    if (named.size() > 1) {
      throw ValidationError("MultipleObjectsReturned: " + std::to_string(named.size()) + " features are named '" +
                            c.feature.name() + "'; filter with the Feature record instead.");
    }
    f = named.front();
  }
  const std::string dtype = f.dtype.value_or("");
  const std::string link = kind == HostKind::artifact ? "lamindb_artifactjsonvalue" : "lamindb_runjsonvalue";
  const std::string host = kind == HostKind::artifact ? "artifact_id" : "run_id";
  const std::string outer = kind == HostKind::artifact ? "a.id" : "r.id";
  // The driving condition is an IN list; further ones are checked per candidate row (EXISTS), which keeps a query
  // with one selective condition fast even when another matches half of all values.
  std::string sub = correlated ? "SELECT 1 FROM " + link + " l JOIN lamindb_jsonvalue v ON v.id = l.jsonvalue_id WHERE l." +
                                     host + " = " + outer + " AND v.feature_id = ?"
                               : "SELECT l." + host + " FROM " + link +
                                     " l JOIN lamindb_jsonvalue v ON v.id = l.jsonvalue_id WHERE v.feature_id = ?";
  params.emplace_back(f.id);
  auto wrap = [&](bool negate) {
    if (correlated) return std::string(negate ? "NOT EXISTS (" : "EXISTS (") + sub + ")";
    return outer + (negate ? " NOT IN (" : " IN (") + sub + ")";
  };
  switch (c.op) {
    case CompareOp::is_null: return wrap(true);
    case CompareOp::not_null: return wrap(false);
    default: break;
  }
  const bool numeric = is_numeric_dtype(dtype);
  if (numeric && !c.value.is_number()) {
    throw ValidationError("Cannot compare feature '" + f.name + "' (" + dtype + ") with " + c.value.dump());
  }
  if (c.value.is_null()) throw ValidationError("Compare with null using is_null()/not_null().");
  static const std::map<CompareOp, const char*> kOps = {
      {CompareOp::eq, "="}, {CompareOp::ne, "="}, {CompareOp::lt, "<"},
      {CompareOp::le, "<="}, {CompareOp::gt, ">"}, {CompareOp::ge, ">="}};
  const char* op = kOps.at(c.op);
  if (numeric) {
    // Matches the expression index lamin_cpp_jsonvalue_feature_id_real_value.
    sub += std::string(" AND CAST(v.value AS REAL) ") + op + " ?";
    params.emplace_back(c.value.get<double>());
  } else if (c.op == CompareOp::eq || c.op == CompareOp::ne) {
    sub += " AND v.hash = ?";
    params.emplace_back(json_value_hash(c.value));
  } else if (dtype == "str" || dtype == "date" || dtype == "datetime") {
    if (!c.value.is_string()) throw ValidationError("Cannot order-compare feature '" + f.name + "' with a non-string");
    sub += std::string(" AND json_extract(v.value, '$') ") + op + " ?";
    params.emplace_back(c.value.get<std::string>());
  } else {
    throw ValidationError("Feature '" + f.name + "' (" + dtype + ") supports only == and !=.");
  }
  return wrap(c.op == CompareOp::ne);
}

std::string SqliteRegistry::build_where(HostKind kind, const QuerySpec& spec, std::vector<sqlite::Param>& params) {
  const bool artifact = kind == HostKind::artifact;
  const std::string alias = artifact ? "a." : "r.";
  std::vector<std::string> parts;
  if (!spec.all_branches) parts.push_back(alias + "branch_id = 1");
  if (artifact && !spec.include_incomplete) {
    parts.push_back("(a._aux IS NULL OR a._aux = 'null' OR json_extract(a._aux, '$.so') IS NULL)");
  }
  for (const auto& fc : spec.fields) {
    const std::string col = alias + column_of(artifact, fc.field);
    switch (fc.lookup) {
      case Lookup::exact:
        if (fc.value.is_null()) {
          parts.push_back(col + " IS NULL");
        } else {
          parts.push_back(col + " = ?");
          params.push_back(sqlite::param_of(fc.value));
        }
        break;
      case Lookup::startswith: {
        const std::string p = fc.value.get<std::string>();
        parts.push_back("(" + col + " >= ? AND " + col + " < ?)");
        params.emplace_back(p);
        params.emplace_back(p + "\xff");
        break;
      }
      case Lookup::endswith: {
        const std::string p = fc.value.get<std::string>();
        parts.push_back("substr(" + col + ", -?) = ?");
        params.emplace_back(static_cast<std::int64_t>(std::max<std::size_t>(1, utf8_length(p))));
        params.emplace_back(p);
        if (p.empty()) parts.back() = col + " IS NOT NULL";
        if (p.empty()) params.resize(params.size() - 2);
        break;
      }
      case Lookup::contains:
        parts.push_back("instr(" + col + ", ?) > 0");
        params.push_back(sqlite::param_of(fc.value));
        break;
      case Lookup::lt: parts.push_back(col + " < ?"); params.push_back(sqlite::param_of(fc.value)); break;
      case Lookup::le: parts.push_back(col + " <= ?"); params.push_back(sqlite::param_of(fc.value)); break;
      case Lookup::gt: parts.push_back(col + " > ?"); params.push_back(sqlite::param_of(fc.value)); break;
      case Lookup::ge: parts.push_back(col + " >= ?"); params.push_back(sqlite::param_of(fc.value)); break;
      case Lookup::is_null: parts.push_back(col + " IS NULL"); break;
      case Lookup::not_null: parts.push_back(col + " IS NOT NULL"); break;
    }
  }
  // Equality conditions (hash lookups) are usually the most selective: they drive, the rest are checked per row.
  std::vector<const FeatureCondition*> conditions;
  for (const auto& c : spec.features) conditions.push_back(&c);
  std::stable_sort(conditions.begin(), conditions.end(), [](const FeatureCondition* a, const FeatureCondition* b) {
    return (a->op == CompareOp::eq) > (b->op == CompareOp::eq);
  });
  bool driving = true;
  for (const auto* c : conditions) {
    const bool positive = c->op != CompareOp::ne && c->op != CompareOp::is_null;
    parts.push_back(feature_condition_sql(kind, *c, params, !(driving && positive)));
    if (positive) driving = false;
  }
  for (const auto& runs : spec.run_in) {
    if (!artifact) throw ValidationError("run_in() applies to artifact queries");
    std::vector<sqlite::Param> sub_params;
    const std::string sub_where = build_where(HostKind::run, *runs, sub_params);
    parts.push_back("a.run_id IN (SELECT r.id FROM lamindb_run r WHERE " + sub_where + ")");
    params.insert(params.end(), sub_params.begin(), sub_params.end());
  }
  if (parts.empty()) return "1";
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) out += (i ? " AND " : "") + parts[i];
  return out;
}

namespace {

std::string order_sql(bool artifact, const QuerySpec& spec) {
  const std::string alias = artifact ? "a." : "r.";
  std::string out = " ORDER BY ";
  if (spec.order.empty()) return out + alias + "id";
  for (std::size_t i = 0; i < spec.order.size(); ++i) {
    out += (i ? ", " : "") + alias + column_of(artifact, spec.order[i].first) +
           (spec.order[i].second == Order::descending ? " DESC" : " ASC");
  }
  return out + ", " + alias + "id" + (spec.order.back().second == Order::descending ? " DESC" : " ASC");
}

}  // namespace

sqlite::Statement SqliteRegistry::query_statement(HostKind kind, const QuerySpec& spec, bool count) {
  const bool artifact = kind == HostKind::artifact;
  std::vector<sqlite::Param> params;
  std::string sql = std::string("SELECT ") + (count ? "count(*)" : artifact ? kArtifactColumns : kRunColumns) +
                    (artifact ? " FROM lamindb_artifact a WHERE " : " FROM lamindb_run r WHERE ") +
                    build_where(kind, spec, params);
  if (!count) {
    sql += order_sql(artifact, spec);
    if (spec.limit) {
      sql += " LIMIT ?";
      params.emplace_back(*spec.limit);
    }
  }
  auto s = db_->prepare(sql);
  s.bind_all(params);
  return s;
}

std::vector<Artifact> SqliteRegistry::select_artifacts(const QuerySpec& spec) {
  auto s = query_statement(HostKind::artifact, spec, false);
  std::vector<Artifact> out;
  while (s.step()) out.push_back(read_artifact(s));
  return out;
}

std::vector<Run> SqliteRegistry::select_runs(const QuerySpec& spec) {
  auto s = query_statement(HostKind::run, spec, false);
  std::vector<Run> out;
  while (s.step()) out.push_back(read_run(s));
  return out;
}

std::int64_t SqliteRegistry::count_artifacts(const QuerySpec& spec) {
  auto s = query_statement(HostKind::artifact, spec, true);
  s.step();
  return s.int64(0);
}

std::int64_t SqliteRegistry::count_runs(const QuerySpec& spec) {
  auto s = query_statement(HostKind::run, spec, true);
  s.step();
  return s.int64(0);
}

}  // namespace lamin::detail
