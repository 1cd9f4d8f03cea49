#pragma once
// lamin::Artifact: a row of `lamindb_artifact`, a file registered in the instance (LaminDB's `ln.Artifact`).

#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "lamin/arg.hpp"

namespace lamin {

struct Run;

/// A registered file. Plain data; operations live on lamin::Registry (`instance->...`).
struct Artifact {
  std::int64_t id = 0;
  std::string uid;  ///< 20 characters: 16-character stem + 4-character version suffix.
  std::optional<std::string> key;
  std::optional<std::string> description;
  std::string suffix;  ///< Canonical suffix, e.g. ".ckpt".
  std::optional<std::string> kind;
  std::optional<std::string> otype;
  std::optional<std::int64_t> size;
  std::optional<std::string> hash;
  std::optional<std::string> hash_type;
  std::optional<std::string> version_tag;
  bool is_latest = true;
  bool key_is_virtual = true;
  bool overwrite_versions = false;
  std::optional<std::int64_t> run_id;
  std::int64_t storage_id = 0;
  std::int64_t branch_id = 1;
  std::int64_t space_id = 1;
  std::int64_t created_by_id = 0;
  std::string created_at;  ///< UTC, `YYYY-MM-DD HH:MM:SS.fff`.
  std::string updated_at;
  nlohmann::json aux;      ///< `_aux`; `{"so": 1}` while the file is being stored.

  /// version_tag if set, else the last 4 characters of the uid (LaminDB's describe header).
  std::string version() const;
  /// The first 16 characters of the uid, shared by all versions.
  std::string stem_uid() const { return uid.substr(0, 16); }
  /// Path of the stored file relative to the storage root: `.lamindb/<uid><suffix>`.
  std::string storage_key() const;
  /// True while the `{"so": 1}` storage-in-progress marker is set.
  bool storage_in_progress() const;
};

/// How a file's bytes get into storage.
enum class StorageMode {
  /// Reflink (copy-on-write clone) when the filesystem supports it, else a copy with fsync.
  copy,
  /// Hard link when on the same filesystem (zero copy); else as `copy`. REQUIRES: the source file is never modified
  /// in place afterwards (it is written atomically, replaced by rename, or deleted), because the stored file
  /// shares its inode. lamin::pl's checkpoint files are written that way.
  link,
};

/// Options for Registry::create_artifact (LaminDB's `Artifact(path, key=..., description=..., kind=...)`):
/// `ArtifactOptions("mnist/model.ckpt").kind("model").description("best")`.
struct ArtifactOptions {
  enum class RunMode { current, none, given };

  ArtifactOptions() = default;
  /// `ArtifactOptions("models/a.ckpt")`: the key.
  ArtifactOptions(std::string key) : key_(std::move(key)) {}  // NOLINT: reads like the Python keyword.

  LAMIN_ARG(std::optional<std::string>, key) = std::nullopt;
  LAMIN_ARG(std::optional<std::string>, description) = std::nullopt;
  LAMIN_ARG(std::optional<std::string>, kind) = std::nullopt;
  LAMIN_ARG(std::optional<std::string>, version_tag) = std::nullopt;
  /// LaminDB's `skip_hash_lookup`: always create a record, even when a file with the same hash is registered.
  LAMIN_ARG(bool, skip_hash_lookup) = false;
  LAMIN_ARG(StorageMode, storage_mode) = StorageMode::copy;

 public:
  /// Link the artifact to this run as its output (default: the current run of lamin::track, if any).
  ArtifactOptions& run(const Run& run);
  /// LaminDB's `run=False`: no output link, even while a run is tracked.
  ArtifactOptions& no_run() {
    run_mode_ = RunMode::none;
    return *this;
  }
  /// Which run the output link goes to, as run() / no_run() chose it; run_id() is the run's for RunMode::given.
  RunMode run_mode() const { return run_mode_; }
  std::int64_t run_id() const { return run_id_; }

 private:
  RunMode run_mode_ = RunMode::current;
  std::int64_t run_id_ = 0;
};

}  // namespace lamin
