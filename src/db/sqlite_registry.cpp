// SqliteRegistry: opening an instance (schema checks, creation and seeding) and transactions.
#include "sqlite_registry.hpp"

#include <sys/stat.h>

#include <cstdlib>
#include <tuple>

#include "core/file_io.hpp"
#include "file_store.hpp"
#include "lamin/db/uid.hpp"
#include "lamin/error.hpp"
#include "lamin/log.hpp"
#include "rank_cache.hpp"
#include "schema.hpp"
#include "sql_dialect.hpp"
#include "sqlite_rows.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace lamin::detail {

namespace {

/// Refuses databases from a newer schema (lamin-cpp's or LaminDB's migrations), before anything touches them.
void check_schema_version(sqlite::Database& db, const fs::path& db_path) {
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

/// The connection's settings: durable WAL, foreign keys, a large cache, and set_feature_values' scratch table.
void configure_connection(sqlite::Database& db) {
  db.set_pragma("journal_mode", "WAL");
  db.set_pragma("synchronous", "FULL");
  db.set_pragma("foreign_keys", "ON");
  db.set_pragma("cache_size", "-65536");     // 64 MiB page cache
  db.set_pragma("mmap_size", "1073741824");  // read through mmap: feature queries touch many small rows
  db.set_pragma("temp_store", "MEMORY");
  // Scratch space of set_feature_values (per connection, never on disk with the instance).
  db.exec("CREATE TEMP TABLE IF NOT EXISTS lamin_set_values (artifact_id INTEGER PRIMARY KEY, jsonvalue_id INTEGER NOT NULL)");
}

/// Every LaminDB table must be there.
void check_tables(sqlite::Database& db, const fs::path& db_path) {
  for (const auto& name : db_schema::table_names()) {
    auto s = db.prepare("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?");
    s.bind(1, name).step();
    if (s.int64(0) == 0) {
      throw IntegrityError("'" + db_path.string() + "' is not a LaminDB database: table " + name + " is missing");
    }
  }
}

bool has_artifact_table(sqlite::Database& db) {
  auto s = db.prepare("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'lamindb_artifact'");
  s.step();
  return s.int64(0) > 0;
}

}  // namespace

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
  reg->rank_caches_ = std::make_unique<RankCaches>(db);

  check_schema_version(db, db_path);
  configure_connection(db);
  if (create && !has_artifact_table(db)) {
    reg->create_schema(root, storage_uid, instance_uid);
  } else {
    check_tables(db, db_path);
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

void SqliteRegistry::create_schema(const fs::path& root, const std::string& storage_uid,
                                   const std::string& instance_uid) {
  auto& db = *db_;
  Tx tx(*this);
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
  atomic_write(root / ".lamindb" / "storage_uid.txt", suid);
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
  rank_caches_.reset();
}

// --- transactions -------------------------------------------------------------------------------------------------

void SqliteRegistry::begin() {
  if (depth_ == 0) {
    db_->exec(sql::kBegin);
  } else {
    db_->exec(sql::savepoint(depth_));
  }
  ++depth_;
}

void SqliteRegistry::commit() {
  if (depth_ == 0) throw IntegrityError("commit() without an open transaction");
  if (depth_ == 1) {
    try {
      db_->exec(sql::kCommit);
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
  db_->exec(sql::release(depth_));
}

void SqliteRegistry::rollback() noexcept {
  if (depth_ == 0) return;
  --depth_;
  try {
    if (depth_ == 0) {
      db_->exec(sql::kRollback);
    } else {
      db_->exec(sql::rollback_to(depth_));
      db_->exec(sql::release(depth_));
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
  if (rank_caches_) rank_caches_->invalidate();
  undo(stored_in_tx_, true);
  undo(delete_on_commit_, false);
  if (depth_ == 0) delete_inodes_.clear();
}

}  // namespace lamin::detail
