#pragma once
// lamin::Registry: the backend interface behind an instance. The embedded SQLite backend (lamin::connect,
// lamin::init) is the default; a REST backend implements the same interface.
//
// Three layers:
//   - the core: pure virtual operations every backend implements;
//   - derived operations, written once here on top of the core (get_artifact, get_values, the batch calls over
//     many artifacts); those that are virtual have a default a backend overrides only for a faster path it has;
//   - lamin::RegistryWrapper, which forwards the core to another Registry, so that a decorator (the outbox, a test
//     proxy) overrides only what it changes (LevelDB's EnvWrapper).
//
// Every method is one logical operation and runs in one transaction of its own, unless called inside a
// Transaction, in which case it joins it (and nothing it did survives a rollback).

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "lamin/db/artifact.hpp"
#include "lamin/db/feature.hpp"
#include "lamin/db/query.hpp"
#include "lamin/db/run.hpp"
#include "lamin/db/storage.hpp"
#include "lamin/db/transform.hpp"

namespace lamin {

class Registry : public std::enable_shared_from_this<Registry> {
 public:
  virtual ~Registry() = default;
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // ============================================================================================================
  // The core: what a backend implements.
  // ============================================================================================================

  virtual const InstanceInfo& info() const = 0;

  // --- transactions -------------------------------------------------------------------------------------------
  /// Starts a write transaction (nested calls nest as savepoints). Prefer lamin::Transaction.
  virtual void begin() = 0;
  virtual void commit() = 0;
  virtual void rollback() noexcept = 0;
  virtual bool in_transaction() const = 0;

  // --- artifacts ----------------------------------------------------------------------------------------------
  /// Registers a local file (LaminDB's `ln.Artifact(path, key=...).save()`): validates the key and suffix, hashes
  /// the file, picks a uid (a new version of the latest artifact with the same key, if any), and stores the file at
  /// `<root>/.lamindb/<uid><suffix>`. Without skip_hash_lookup, an artifact with the same hash is returned instead.
  /// Throws ValidationError (bad key/suffix), NotFoundError (no file), StorageError, IntegrityError.
  virtual Artifact create_artifact(const std::filesystem::path& file, const ArtifactOptions& options) = 0;
  /// By uid (full or 16-character stem: the latest version) or by key (the latest version). None if absent.
  virtual std::optional<Artifact> find_artifact(const std::string& uid_or_key) = 0;
  /// Re-reads an artifact by id; throws lamin::NotFoundError.
  virtual Artifact get_artifact_by_id(std::int64_t id) = 0;
  /// Deletes the record permanently (with its feature-value links and input links), promotes the previous version
  /// to `is_latest` if this was the latest, then deletes the stored file.
  virtual void delete_artifact(const Artifact& artifact) = 0;
  /// Where the artifact's file is stored: `<root>/.lamindb/<uid><suffix>`.
  virtual std::filesystem::path storage_path(const Artifact& artifact) const = 0;
  /// Records `artifact` as an input of `run` (`lamindb_artifact_input_of_runs`); idempotent.
  virtual void add_run_input(const Artifact& artifact, const Run& run) = 0;
  /// Runs that used the artifact as input.
  virtual std::vector<Run> input_of_runs(const Artifact& artifact) = 0;
  /// Artifacts a run used as inputs.
  virtual std::vector<Artifact> run_inputs(const Run& run) = 0;
  /// Completes or removes artifacts whose storage was interrupted (a crashed writer left `_aux.so`): a complete file
  /// clears the marker, a missing or wrong one deletes the record (promoting the previous version). Only records
  /// older than `min_age_seconds` are touched, so live writers in other processes are left alone. Also removes
  /// stale temporary files. Returns the number of records repaired.
  virtual std::int64_t recover(double min_age_seconds = 3600) = 0;

  // --- features and values ------------------------------------------------------------------------------------
  /// Creates a feature, or returns the existing one with the same name and type (LaminDB's dedupe); throws
  /// ValidationError if that one has another dtype ("Feature X already exists with dtype ...").
  virtual Feature create_feature(const FeatureOptions& options) = 0;
  /// All features of the main branch, ordered by name.
  virtual std::vector<Feature> features() = 0;
  /// Resolves a name as LaminDB does (root-level feature first; ambiguous names throw); none if absent.
  virtual std::optional<Feature> find_feature(const FeatureRef& ref) = 0;
  virtual std::optional<Feature> find_feature(const std::string& name, const Feature& type) = 0;

  /// Adds values (LaminDB's `artifact.features.add_values`): validates every key and value first, then writes all
  /// in one transaction. Values are deduplicated in `lamindb_jsonvalue`; existing links are kept.
  virtual void add_values(const Artifact& artifact, const FeatureValues& values) = 0;
  virtual void add_values(const Run& run, const FeatureValues& values) = 0;
  /// Removes the links to values of `feature` (only those JSON-equal to `value` if given). Returns how many.
  virtual std::int64_t remove_values(const Artifact& artifact, const FeatureRef& feature,
                                     const std::optional<nlohmann::json>& value = std::nullopt) = 0;
  virtual std::int64_t remove_values(const Run& run, const FeatureRef& feature,
                                     const std::optional<nlohmann::json>& value = std::nullopt) = 0;
  /// Values with their features, ordered by name: what describe() prints.
  virtual std::vector<std::pair<Feature, std::vector<nlohmann::json>>> feature_values(const Artifact& artifact) = 0;

  // --- transforms and runs ------------------------------------------------------------------------------------
  virtual Transform create_transform(const TransformOptions& options) = 0;
  virtual Transform get_transform_by_id(std::int64_t id) = 0;
  virtual Run create_run(const Transform& transform, const RunOptions& options) = 0;
  virtual Run get_run_by_id(std::int64_t id) = 0;
  /// By uid; none if absent.
  virtual std::optional<Run> find_run(const std::string& uid) = 0;
  /// Sets `finished_at` to now and the status code.
  virtual Run finish_run(const Run& run, RunStatus status = RunStatus::completed) = 0;

  // --- queries ------------------------------------------------------------------------------------------------
  virtual std::vector<Artifact> select_artifacts(const QuerySpec& spec) = 0;
  virtual std::int64_t count_artifacts(const QuerySpec& spec) = 0;
  virtual std::vector<Run> select_runs(const QuerySpec& spec) = 0;
  virtual std::int64_t count_runs(const QuerySpec& spec) = 0;
  /// Values of the given features for many artifacts at once: artifact id -> name -> value (as get_values); an id
  /// without values maps to an empty object.
  virtual std::map<std::int64_t, nlohmann::json> values_of_artifacts(const std::vector<std::int64_t>& ids) = 0;
  virtual std::map<std::int64_t, nlohmann::json> values_of_runs(const std::vector<std::int64_t>& ids) = 0;

  // ============================================================================================================
  // Derived operations, built on the core.
  // ============================================================================================================

  /// Like find_artifact; throws lamin::NotFoundError.
  Artifact get_artifact(const std::string& uid_or_key);
  /// Values by feature name (LaminDB's `get_values`): one value as a scalar, several as a sorted array. By
  /// default values_of_artifacts / values_of_runs for the one id; the REST backend asks the server, which also
  /// checks that the record exists.
  virtual nlohmann::json get_values(const Artifact& artifact);
  virtual nlohmann::json get_values(const Run& run);

  ArtifactQuery artifacts() { return ArtifactQuery(shared_from_this()); }
  RunQuery runs() { return RunQuery(shared_from_this()); }

  // --- one feature across many artifacts ---------------------------------------------------------------------
  /// The values of one feature on every artifact `spec` selects (its filters; order and limit are ignored): artifact
  /// id -> values (usually one). Artifacts without a value of `feature` are absent. One query, however many match.
  std::map<std::int64_t, std::vector<nlohmann::json>> feature_values_of_artifacts(const Feature& feature,
                                                                                  const QuerySpec& spec);
  /// The same for several features in one pass: element i holds the values of `features[i]`. By default one
  /// select_artifacts and one values_of_artifacts per feature; the SQLite backend reads all in one statement.
  virtual std::vector<std::map<std::int64_t, std::vector<nlohmann::json>>> feature_values_of_artifacts(
      const std::vector<Feature>& features, const QuerySpec& spec);
  /// Sets one feature on many artifacts (LaminDB's `set_values`, for one feature): afterwards each listed artifact
  /// (by id) has exactly the given value of `feature`; its other values of that feature are unlinked (the JsonValue
  /// rows stay). Artifacts that already have exactly that value are not touched. Validates every value first, then
  /// writes all in one transaction; the cost grows with the number of artifacts, not with statements per artifact.
  /// By default remove_values and add_values per changed artifact; the backends override it with batch writes.
  virtual void set_feature_values(const Feature& feature,
                                  const std::vector<std::pair<std::int64_t, nlohmann::json>>& values);
  /// Ranks the artifacts `spec` selects (its filters) by their value of `score` and sets their value of `rank` to 0,
  /// 1, 2, ... in that order: ascending, or descending when `descending`; ties in creation order (by id). An
  /// artifact with several scores ranks by the smallest number; one without a number is not ranked (its `rank`
  /// values stay as they are). Only ranks that change are written, as set_feature_values writes them, in one
  /// transaction. Returns how many artifacts got a new rank.
  ///
  /// This is how ll::Checkpoint keeps `model_rank` right after every save. By default feature_values_of_artifacts
  /// then set_feature_values. The SQLite backend remembers what it read and wrote for the query and, on the next
  /// call, re-reads only the artifacts that changed since (it sees every write on its connection; a commit from
  /// another connection or a rollback makes it read everything again).
  virtual std::int64_t rank_artifacts(const QuerySpec& spec, const Feature& score, const Feature& rank,
                                      bool descending);
};

/// A Registry that forwards the core to a target Registry (LevelDB's EnvWrapper): a decorator derives from it and
/// overrides only what it changes.
///
/// Derived operations are not forwarded: they run on this wrapper's core, so a decorator that intercepts a write
/// (the outbox queues it, a test counts or fails it) also sees the writes that rank_artifacts or set_feature_values
/// make. A decorator that may skip itself for one of them overrides it to call target().
class RegistryWrapper : public Registry {
 public:
  /// REQUIRES: target is not null.
  explicit RegistryWrapper(std::shared_ptr<Registry> target);

  Registry& target() const { return *target_; }
  const std::shared_ptr<Registry>& target_ptr() const { return target_; }

  const InstanceInfo& info() const override;
  void begin() override;
  void commit() override;
  void rollback() noexcept override;
  bool in_transaction() const override;

  Artifact create_artifact(const std::filesystem::path& file, const ArtifactOptions& options) override;
  std::optional<Artifact> find_artifact(const std::string& uid_or_key) override;
  Artifact get_artifact_by_id(std::int64_t id) override;
  void delete_artifact(const Artifact& artifact) override;
  std::filesystem::path storage_path(const Artifact& artifact) const override;
  void add_run_input(const Artifact& artifact, const Run& run) override;
  std::vector<Run> input_of_runs(const Artifact& artifact) override;
  std::vector<Artifact> run_inputs(const Run& run) override;
  std::int64_t recover(double min_age_seconds) override;

  Feature create_feature(const FeatureOptions& options) override;
  std::vector<Feature> features() override;
  std::optional<Feature> find_feature(const FeatureRef& ref) override;
  std::optional<Feature> find_feature(const std::string& name, const Feature& type) override;
  void add_values(const Artifact& artifact, const FeatureValues& values) override;
  void add_values(const Run& run, const FeatureValues& values) override;
  std::int64_t remove_values(const Artifact& artifact, const FeatureRef& feature,
                             const std::optional<nlohmann::json>& value) override;
  std::int64_t remove_values(const Run& run, const FeatureRef& feature,
                             const std::optional<nlohmann::json>& value) override;
  std::vector<std::pair<Feature, std::vector<nlohmann::json>>> feature_values(const Artifact& artifact) override;

  Transform create_transform(const TransformOptions& options) override;
  Transform get_transform_by_id(std::int64_t id) override;
  Run create_run(const Transform& transform, const RunOptions& options) override;
  Run get_run_by_id(std::int64_t id) override;
  std::optional<Run> find_run(const std::string& uid) override;
  Run finish_run(const Run& run, RunStatus status) override;

  std::vector<Artifact> select_artifacts(const QuerySpec& spec) override;
  std::int64_t count_artifacts(const QuerySpec& spec) override;
  std::vector<Run> select_runs(const QuerySpec& spec) override;
  std::int64_t count_runs(const QuerySpec& spec) override;
  std::map<std::int64_t, nlohmann::json> values_of_artifacts(const std::vector<std::int64_t>& ids) override;
  std::map<std::int64_t, nlohmann::json> values_of_runs(const std::vector<std::int64_t>& ids) override;

 protected:
  /// Every forwarded call except info(), in_transaction(), storage_path() and the transaction calls runs as
  /// around(name, call), `name` being the method's name ("find_artifact"): the default runs call(); a decorator
  /// overrides it to take a lock, count or fail calls in one place. REQUIRES: an override runs call() once, or throws.
  virtual void around(const char* name, const std::function<void()>& call);

  /// Runs `f` (a call on target()) inside around(name, ...) and returns its result.
  template <typename F>
  auto forward(const char* name, F&& f) -> decltype(f()) {
    using Result = decltype(f());
    if constexpr (std::is_void_v<Result>) {
      around(name, f);
    } else {
      std::optional<Result> out;
      around(name, [&] { out.emplace(f()); });
      return std::move(*out);
    }
  }

 private:
  std::shared_ptr<Registry> target_;
};

}  // namespace lamin
