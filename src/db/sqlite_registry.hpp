#pragma once
// The embedded SQLite backend: a LaminDB instance at `<root>/.lamindb/lamin.db`.

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "lamin/db/hash.hpp"
#include "lamin/db/registry.hpp"
#include "sqlite.hpp"

namespace lamin::detail {

struct RankCache;
class RankCaches;

class SqliteRegistry : public Registry {
 public:
  /// Opens an existing instance (create=false) or creates one.
  ~SqliteRegistry() override;
  static std::shared_ptr<SqliteRegistry> open(const std::filesystem::path& root, bool create,
                                              const std::string& storage_uid = "",
                                              const std::string& instance_uid = "");

  const InstanceInfo& info() const override { return info_; }

  void begin() override;
  void commit() override;
  void rollback() noexcept override;
  bool in_transaction() const override { return depth_ > 0; }

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
  using Registry::feature_values_of_artifacts;
  std::vector<std::map<std::int64_t, std::vector<nlohmann::json>>> feature_values_of_artifacts(
      const std::vector<Feature>& features, const QuerySpec& spec) override;
  void set_feature_values(const Feature& feature,
                          const std::vector<std::pair<std::int64_t, nlohmann::json>>& values) override;
  std::int64_t rank_artifacts(const QuerySpec& spec, const Feature& score, const Feature& rank,
                              bool descending) override;

  /// Test seam: called between the steps of create_artifact ("inserted", "stored") so that a test can kill the
  /// process or fail at a precise point.
  static void set_step_hook(void (*hook)(const char* step));

  /// The connection, for callers that add their own tables to the same transactions (lamin-serve's idempotency
  /// records, the outbox's queue). Statements must be prepared; the registry's begin()/commit() frame them.
  sqlite::Database& database() { return *db_; }

 private:
  SqliteRegistry() = default;
  enum class HostKind { artifact, run };
  /// One logical operation: joins an open transaction or runs in its own (BEGIN IMMEDIATE).
  struct Tx {
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

  /// Creates the tables of a new instance and seeds its user, space, branches and storage (in one transaction).
  void create_schema(const std::filesystem::path& root, const std::string& storage_uid,
                     const std::string& instance_uid);
  void load_info(const std::filesystem::path& root);
  Feature resolve_feature(const FeatureRef& ref, std::vector<std::string>* unknown);
  std::vector<Feature> features_named(const std::string& name);
  std::optional<Feature> feature_by_id(std::int64_t id);
  void add_values_impl(HostKind kind, std::int64_t host_id, const FeatureValues& values);
  /// The id of the JsonValue row for (feature, value), inserted if absent (inside the caller's transaction).
  std::int64_t json_value_id(const Feature& feature, const nlohmann::json& value, std::optional<std::int64_t> run_id);
  /// The ids of many values of one feature (hash -> value in, hash -> id out): existing ones in one lookup, missing
  /// ones inserted.
  std::map<std::string, std::int64_t> json_value_ids(const Feature& feature,
                                                     const std::map<std::string, nlohmann::json>& by_hash,
                                                     std::optional<std::int64_t> run_id);
  std::int64_t remove_values_impl(HostKind kind, std::int64_t host_id, const FeatureRef& feature,
                                  const std::optional<nlohmann::json>& value);
  std::vector<std::tuple<std::string, std::string, nlohmann::json, std::int64_t>> values_rows(
      HostKind kind, const std::vector<std::int64_t>& ids);
  std::map<std::int64_t, nlohmann::json> values_of(HostKind kind, const std::vector<std::int64_t>& ids);
  void delete_artifact_record(std::int64_t id, std::filesystem::path* file);
  std::optional<std::int64_t> output_run_id(const ArtifactOptions& options);
  // create_artifact's steps (sqlite_artifacts.cpp).
  std::optional<Artifact> artifact_with_hash(const std::string& hash);
  /// The uid of a new version of the latest artifact with `key` (its older versions lose is_latest); empty when
  /// there is none. Sets `same` instead when a version has this content already.
  std::string new_version_uid(const std::string& key, const std::string& hash, std::optional<Artifact>* same);
  std::int64_t insert_artifact(const std::string& uid, const ArtifactOptions& options, const std::string& suffix,
                               const FileHash& hash, std::optional<std::int64_t> run_id);
  /// Stores the file of the new record `created`; on failure outside a caller's transaction, removes the record.
  void store_artifact_file(const std::filesystem::path& file, const Artifact& created, const ArtifactOptions& options,
                           std::uint64_t size, bool own_transaction);
  std::string build_where(HostKind kind, const QuerySpec& spec, std::vector<sqlite::Param>& params);
  /// The bound statement selecting (or counting) the artifacts or runs `spec` describes.
  sqlite::Statement query_statement(HostKind kind, const QuerySpec& spec, bool count);
  std::string feature_condition_sql(HostKind kind, const FeatureCondition& c, std::vector<sqlite::Param>& params,
                                    bool correlated);

  // rank_artifacts' steps (sqlite_rank.cpp): the JsonValue ids of ranks 0..count-1 into the cache, then the writes.
  void add_rank_values(RankCache& cache, const Feature& rank, std::size_t count, std::optional<std::int64_t> run_id);
  std::int64_t write_ranks(RankCache& cache, const Feature& rank, const std::vector<std::int64_t>& order,
                           std::optional<std::int64_t> run_id);

  InstanceInfo info_;
  std::unique_ptr<sqlite::Database> db_;
  int depth_ = 0;
  std::vector<std::pair<int, std::filesystem::path>> stored_in_tx_;   // removed if the transaction rolls back
  std::vector<std::pair<int, std::filesystem::path>> delete_on_commit_;  // removed once the deletion commits
  std::map<std::string, std::uint64_t> delete_inodes_;                   // inode of each file to delete
  std::unique_ptr<RankCaches> rank_caches_;  // after db_: destroyed (its hooks removed) before the connection closes
};

}  // namespace lamin::detail
