#pragma once
// RestRegistry: lamin::Registry over the REST API of `lamin-serve`. Private to lamin-cpp (the public entry points
// are lamin::connect(url) / lamin::connect_rest in lamin/db/rest.hpp).
//
// Consistency: every call is one transaction on the server. begin()/commit() only group calls on this side
// (in_transaction() reports them); a rollback cannot undo calls the server has already applied.

#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "lamin/db/registry.hpp"
#include "lamin/db/rest.hpp"
#include "rest_http.hpp"

namespace lamin::rest {

class RestRegistry : public Registry {
 public:
  RestRegistry(const std::string& url, const RestOptions& options);

  const InstanceInfo& info() const override { return info_; }
  void begin() override { ++depth_; }
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
  nlohmann::json get_values(const Artifact& artifact) override;
  nlohmann::json get_values(const Run& run) override;
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
  /// With the generic endpoints: the values upserted once, the artifacts' links of the feature read in one query,
  /// the outdated ones batch-deleted, the missing ones upserted. A handful of calls, whatever the number of artifacts.
  void set_feature_values(const Feature& feature,
                          const std::vector<std::pair<std::int64_t, nlohmann::json>>& values) override;
  std::map<std::int64_t, nlohmann::json> values_of_runs(const std::vector<std::int64_t>& ids) override;

  /// Downloads the artifact's file to `to`.
  void download(const Artifact& artifact, const std::filesystem::path& to);

  /// The idempotency key of the next write (the outbox replays queued operations with their stored keys); a
  /// fresh random key is used when none is set.
  void set_next_key(std::string key) { next_key_ = std::move(key); }
  /// Artifact upload with explicit options JSON (`run_id` already resolved), for the outbox.
  Artifact upload(const std::filesystem::path& file, const nlohmann::json& kwargs);
  /// Adds values by host kind ("artifact"/"run") and id, for the outbox: the JsonValue rows (JSON text and hash
  /// computed here, as the SQLite backend computes them) are upserted on (feature_id, hash), then the link rows on
  /// (host_id, jsonvalue_id), so a replay changes nothing. Removing deletes the matching link rows in one
  /// batch-delete under the idempotency key, so a replay answers the count of the first; JsonValue rows stay.
  void add_values_by_id(const std::string& host, std::int64_t id, const FeatureValues& values);
  std::int64_t remove_values_by_id(const std::string& host, std::int64_t id, const FeatureRef& feature,
                                   const std::optional<nlohmann::json>& value);
  Run finish_run_by_uid(const std::string& uid, RunStatus status);
  void add_run_input_by_id(std::int64_t artifact_id, std::int64_t run_id);
  void delete_artifact_by_uid(const std::string& uid);
  Run create_run_by_id(std::int64_t transform_id, const RunOptions& options);
  HttpClient& http() { return http_; }

 private:
  std::string key();
  std::string p(const std::string& rest) const { return prefix_ + rest; }
  nlohmann::json values_call(const std::string& op, nlohmann::json body, bool write);
  /// A feature reference resolved on the server: the feature, none (unknown), or the error it gets alone
  /// (an ambiguous name), to be thrown where the SQLite backend would throw it.
  struct Resolved {
    std::optional<Feature> feature;
    std::optional<std::string> error;
    std::string error_kind;
  };
  std::vector<Resolved> resolve_features(const std::vector<FeatureRef>& refs);
  /// All rows of a generic query on `model` (LaminHub's `POST .../modules/core/{model}`), page by page.
  nlohmann::json query_all(const std::string& model, const nlohmann::json& body);
  /// The ids of the JsonValue rows of `records` (`feature_id`, `value`, `hash`), by (feature id, hash), creating
  /// those that do not exist yet; created rows belong to the current run, as in the SQLite backend.
  std::map<std::pair<std::int64_t, std::string>, std::int64_t> json_value_ids(const nlohmann::json& records);
  // set_feature_values' steps: the JsonValue id each artifact's value gets (the rows upserted by hash), the
  // artifacts' current `artifactjsonvalue` links, and which of the linked JsonValue ids belong to the feature.
  std::map<std::int64_t, std::int64_t> target_value_ids(
      const Feature& feature, const std::vector<std::pair<std::int64_t, nlohmann::json>>& values);
  nlohmann::json artifact_links(const std::map<std::int64_t, std::int64_t>& target);
  std::set<std::int64_t> values_of_feature(const nlohmann::json& links, std::int64_t feature_id);

  static constexpr std::size_t kMaxRecords = 1000;  // rows per generic call (lamin-serve's limit)
  std::map<std::int64_t, nlohmann::json> values_of(const std::string& host, const std::vector<std::int64_t>& ids);

  HttpClient http_;
  InstanceInfo info_;
  std::string prefix_;
  std::string next_key_;
  int depth_ = 0;
};

}  // namespace lamin::rest
