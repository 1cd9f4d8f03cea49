// SqliteRegistry: artifacts and their stored files, run inputs, recovery; transforms and runs.
#include "sqlite_registry.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <set>

#include "core/file_io.hpp"
#include "file_store.hpp"
#include "lamin/db/hash.hpp"
#include "lamin/db/key.hpp"
#include "lamin/db/track.hpp"
#include "lamin/db/uid.hpp"
#include "lamin/db/value.hpp"
#include "record_fields.hpp"
#include "lamin/error.hpp"
#include "lamin/log.hpp"
#include "sql_dialect.hpp"
#include "sqlite_rows.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace lamin::detail {

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

namespace {

/// Validates the file and the options of create_artifact before anything is written; returns the file's suffix.
std::string validate_new_artifact(const fs::path& file, const ArtifactOptions& options) {
  std::error_code ec;
  const auto status = fs::status(file, ec);
  if (ec || !fs::exists(status)) throw NotFoundError("No such file: '" + file.string() + "'");
  if (!fs::is_regular_file(status)) {
    throw ValidationError("'" + file.string() + "' is not a regular file (folders are not supported yet)");
  }
  std::string suffix = canonical_suffix(file);
  if (options.key()) {
    validate_key(*options.key());
    validate_key_suffix(*options.key(), suffix);
  }
  if (options.kind() && options.kind()->size() > 20) throw ValidationError("kind is limited to 20 characters");
  if (options.version_tag() && options.version_tag()->size() > 30) {
    throw ValidationError("version_tag is limited to 30 characters");
  }
  return suffix;
}

}  // namespace

Artifact SqliteRegistry::create_artifact(const fs::path& file, const ArtifactOptions& options) {
  // 1. Validate everything before writing anything.
  const std::string suffix = validate_new_artifact(file, options);
  const auto run_id = output_run_id(options);
  if (!run_id && options.run_mode() == ArtifactOptions::RunMode::current) {
    log::debug("no run is tracked, the artifact has no run");
  }

  // 2. Hash outside any lock (bounded cost: at most 100 MiB are read).
  const FileHash h = hash_file(file);
  if (!options.skip_hash_lookup() && h.size > 0) {
    if (auto existing = artifact_with_hash(h.hash)) {
      log::info("returning existing artifact with same hash: " + existing->uid);
      return *existing;
    }
  }

  const bool own_transaction = !in_transaction();
  std::int64_t id = 0;
  {
    Tx tx(*this);
    std::string uid;
    if (options.key()) {
      std::optional<Artifact> same;
      uid = new_version_uid(*options.key(), h.hash, &same);
      if (same) {
        tx.commit();
        return *same;
      }
    }
    if (uid.empty()) uid = base62_uid(16) + "0000";
    id = insert_artifact(uid, options, suffix, h, run_id);
    const Artifact created = get_artifact_by_id(id);
    if (own_transaction) tx.commit();
    step_hook("inserted");

    // 3. Store the file: the record says "storage ongoing" until the file is complete.
    store_artifact_file(file, created, options, h.size, own_transaction);
    step_hook("stored");

    if (own_transaction) {
      Tx done(*this);
      db_->prepare("UPDATE lamindb_artifact SET _aux = NULL WHERE id = ?").bind(1, id).run();
      done.commit();
    } else {
      db_->prepare("UPDATE lamindb_artifact SET _aux = NULL WHERE id = ?").bind(1, id).run();
      tx.commit();
    }
  }
  step_hook("completed");
  return get_artifact_by_id(id);
}

std::optional<Artifact> SqliteRegistry::artifact_with_hash(const std::string& hash) {
  auto s = db_->prepare(std::string("SELECT ") + kArtifactColumns +
                        " FROM lamindb_artifact a WHERE a.hash = ? AND a.branch_id != ? ORDER BY a.id LIMIT 1");
  s.bind(1, hash).bind(2, kTrashBranch);
  if (s.step()) return read_artifact(s);
  return std::nullopt;
}

std::string SqliteRegistry::new_version_uid(const std::string& key, const std::string& hash,
                                            std::optional<Artifact>* same) {
  // Versioning by key: a new version of the latest artifact with this key.
  auto s = db_->prepare(
      "SELECT id, uid, is_latest, hash, branch_id FROM lamindb_artifact WHERE key = ? AND storage_id = ? AND "
      "branch_id != ? ORDER BY created_at DESC, id DESC");
  s.bind(1, key).bind(2, info_.storage.id).bind(3, kTrashBranch);
  std::optional<std::pair<std::int64_t, std::string>> head;
  bool any = false;
  while (s.step()) {
    any = true;
    if (s.opt_text(3) == hash) {
      *same = get_artifact_by_id(s.int64(0));
      log::info("an artifact with key '" + key + "' and the same content exists: " + (*same)->uid);
      return "";
    }
    if (s.int64(2) != 0 && (!head || s.int64(4) == kMainBranch)) head = {s.int64(0), s.text(1)};
  }
  if (any && !head) {
    throw IntegrityError("Cannot create a new artifact version for key '" + key +
                         "': none of its versions is marked is_latest.");
  }
  if (!head) return "";
  const std::string stem = head->second.substr(0, 16);
  const std::string max = max_suffix(*db_, "lamindb_artifact", stem, kArtifactUidLength);
  db_->prepare("UPDATE lamindb_artifact SET is_latest = 0 WHERE uid >= ? AND uid <= ? AND is_latest = 1")
      .bind(1, stem + "0000")
      .bind(2, stem + "zzzz")
      .run();
  return stem + increment_version_suffix(max.empty() ? "0000" : max);
}

namespace {

void bind_field(sqlite::Statement& s, int i, const json& v) {
  if (v.is_null()) s.bind(i, nullptr);
  else s.bind(i, python_json_dumps(v));
}
template <typename T>
void bind_field(sqlite::Statement& s, int i, const T& v) {
  s.bind(i, v);
}

}  // namespace

std::int64_t SqliteRegistry::insert_artifact(const std::string& uid, const ArtifactOptions& options,
                                             const std::string& suffix, const FileHash& h,
                                             std::optional<std::int64_t> run_id) {
  Artifact row;  // is_latest, branch and space as the struct's defaults; "storage ongoing" until stored
  row.uid = uid;
  row.key = options.key();
  row.description = options.description();
  row.suffix = suffix;
  row.kind = options.kind();
  row.size = static_cast<std::int64_t>(h.size);
  row.hash = h.hash;
  row.hash_type = h.hash_type;
  row.version_tag = options.version_tag();
  row.key_is_virtual = true;
  row.overwrite_versions = false;
  row.run_id = run_id;
  row.storage_id = info_.storage.id;
  row.created_by_id = info_.user.id;
  row.aux = {{"so", 1}};
  std::string columns = "created_on_id", values = "1";
  for_each_artifact_field(row, [&](const char* column, const auto&, bool inserted) {
    if (!inserted) return;
    columns += std::string(", ") + column;
    values += ", ?";
  });
  auto ins = db_->prepare("INSERT INTO lamindb_artifact (" + columns + ") VALUES (" + values + ")");
  int i = 0;
  for_each_artifact_field(row, [&](const char*, const auto& member, bool inserted) {
    if (inserted) bind_field(ins, ++i, member);
  });
  ins.run();
  return db_->last_insert_rowid();
}

void SqliteRegistry::store_artifact_file(const fs::path& file, const Artifact& created, const ArtifactOptions& options,
                                         std::uint64_t size, bool own_transaction) {
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
    store_file(file, dest, options.storage_mode(), size);
  } catch (...) {
    if (own_transaction) {
      try {
        Tx undo(*this);
        delete_artifact_record(created.id, nullptr);
        undo.commit();
      } catch (const std::exception& e) {
        log::error(std::string("could not remove the record of a failed upload: ") + e.what());
      }
    }
    throw;
  }
  if (!own_transaction) stored_in_tx_.emplace_back(depth_ - 1, dest);
}

Artifact SqliteRegistry::get_artifact_by_id(std::int64_t id) {
  return record_by_id(*db_, kArtifactColumns + " FROM lamindb_artifact a", "a", id, "Artifact", read_artifact);
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
  return read_all(s, read_run);
}

std::vector<Artifact> SqliteRegistry::run_inputs(const Run& run) {
  auto s = db_->prepare(std::string("SELECT ") + kArtifactColumns +
                        " FROM lamindb_artifact a JOIN lamindb_artifact_input_of_runs i ON i.artifact_id = a.id "
                        "WHERE i.run_id = ? ORDER BY a.id");
  s.bind(1, run.id);
  return read_all(s, read_artifact);
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


Transform SqliteRegistry::get_transform_by_id(std::int64_t id) {
  return record_by_id(*db_, kTransformColumns + " FROM lamindb_transform t", "t", id, "Transform", read_transform);
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
  return record_by_id(*db_, kRunColumns + " FROM lamindb_run r", "r", id, "Run", read_run);
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
  db_->prepare(std::string("UPDATE lamindb_run SET finished_at = ") + sql::kNow + ", updated_at = " + sql::kNow +
               ", _status_code = ? WHERE id = ?")
      .bind(1, static_cast<int>(status))
      .bind(2, run.id)
      .run();
  if (db_->changes() == 0) throw NotFoundError("Run " + run.uid + " does not exist.");
  tx.commit();
  return get_run_by_id(run.id);
}

}  // namespace lamin::detail
