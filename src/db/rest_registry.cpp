#include "rest_registry.hpp"

#include "lamin/db/track.hpp"
#include "lamin/db/uid.hpp"
#include "lamin/error.hpp"
#include "lamin/log.hpp"
#include "rest_json.hpp"

namespace lamin::rest {
using nlohmann::json;

namespace {
const json kEmpty = json::object();

json single(const json& answer) {
  // Create endpoints answer a list of the created records (LaminHub's shape); accept a bare object too.
  if (answer.is_array()) {
    if (answer.size() != 1) throw NetworkError("lamin: expected one record in the server's answer");
    return answer[0];
  }
  if (answer.is_object()) return answer;
  throw NetworkError("lamin: unexpected answer from the server");
}
json record_or_null(const json& answer) {
  if (!answer.is_object() || !answer.contains("record")) throw NetworkError("lamin: unexpected answer from the server");
  return answer["record"];
}
}  // namespace

RestRegistry::RestRegistry(const std::string& url, const RestOptions& options) : http_(url, options) {
  const json settings = http_.call("GET", "/instances/settings", nullptr);
  try {
    info_ = info_from_json(settings);
  } catch (const ValidationError& e) {
    throw NetworkError("lamin: " + url + " did not answer with instance settings: " + e.what());
  }
  info_.root = info_.storage.root;
  prefix_ = "/instances/" + info_.storage.instance_uid;
}

void RestRegistry::commit() {
  if (depth_ == 0) throw Error("commit() without begin()");
  --depth_;
}
void RestRegistry::rollback() noexcept {
  if (depth_ == 0) return;
  --depth_;
  log::warn("rollback on a remote instance: operations already sent to the server stay applied");
}

std::string RestRegistry::key() {
  std::string k = next_key_.empty() ? base62_uid(20) : next_key_;
  next_key_.clear();
  return k;
}

// --- artifacts ------------------------------------------------------------------------------------------------
Artifact RestRegistry::upload(const std::filesystem::path& file, const json& kwargs) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(file, ec)) throw NotFoundError("No such file: '" + file.string() + "'");
  const json answer = http_.upload(p("/artifacts/upload"), file, file.filename().string(), kwargs, key());
  try {
    return artifact_from_json(answer.at("body").at("artifact"));
  } catch (const json::exception&) {
    throw NetworkError("lamin: unexpected answer to an artifact upload");
  }
}

Artifact RestRegistry::create_artifact(const std::filesystem::path& file, const ArtifactOptions& options) {
  std::optional<std::int64_t> run_id;
  switch (options.run_mode()) {
    case ArtifactOptions::RunMode::none: break;
    case ArtifactOptions::RunMode::given: run_id = options.run_id(); break;
    case ArtifactOptions::RunMode::current: run_id = detail::current_run_id(this); break;
  }
  return upload(file, to_json(options, run_id));
}

std::optional<Artifact> RestRegistry::find_artifact(const std::string& uid_or_key) {
  json body = {{"uid_or_key", uid_or_key}};
  auto r = record_or_null(http_.call("POST", p("/modules/core/artifact/get"), &body));
  if (r.is_null()) return std::nullopt;
  return artifact_from_json(r);
}

Artifact RestRegistry::get_artifact_by_id(std::int64_t id) {
  json body = {{"id", id}};
  auto r = record_or_null(http_.call("POST", p("/modules/core/artifact/get"), &body));
  if (r.is_null()) throw NotFoundError("Artifact matching query does not exist: id " + std::to_string(id));
  return artifact_from_json(r);
}

void RestRegistry::delete_artifact_by_uid(const std::string& uid) {
  http_.call("DELETE", p("/modules/core/artifact/" + uid), nullptr, key());
}
void RestRegistry::delete_artifact(const Artifact& artifact) { delete_artifact_by_uid(artifact.uid); }

std::filesystem::path RestRegistry::storage_path(const Artifact& artifact) const {
  // The file's place on the server's storage; read it with download() (lamin::download_file).
  return std::filesystem::path(info_.storage.root) / artifact.storage_key();
}

void RestRegistry::download(const Artifact& artifact, const std::filesystem::path& to) {
  http_.download(p("/artifacts/" + artifact.uid + "/file"), to);
}

void RestRegistry::add_run_input_by_id(std::int64_t artifact_id, std::int64_t run_id) {
  json body = json::array({{{"artifact_id", artifact_id}, {"run_id", run_id}}});
  http_.call("PUT", p("/modules/core/artifact_input_of_runs/upsert?conflict_columns=artifact_id&conflict_columns=run_id"),
             &body, key());
}
void RestRegistry::add_run_input(const Artifact& artifact, const Run& run) { add_run_input_by_id(artifact.id, run.id); }

std::vector<Run> RestRegistry::input_of_runs(const Artifact& artifact) {
  json body = {{"artifact_id", artifact.id}};
  std::vector<Run> out;
  for (const auto& r : http_.call("POST", p("/lineage/input_of_runs"), &body)) out.push_back(run_from_json(r));
  return out;
}
std::vector<Artifact> RestRegistry::run_inputs(const Run& run) {
  json body = {{"run_id", run.id}};
  std::vector<Artifact> out;
  for (const auto& a : http_.call("POST", p("/lineage/run_inputs"), &body)) out.push_back(artifact_from_json(a));
  return out;
}
std::int64_t RestRegistry::recover(double min_age_seconds) {
  json body = {{"min_age_seconds", min_age_seconds}};
  return http_.call("POST", p("/recover"), &body, key()).at("count").get<std::int64_t>();
}

// --- features and values ----------------------------------------------------------------------------------------
Feature RestRegistry::create_feature(const FeatureOptions& options) {
  json body = to_json(options);
  return feature_from_json(single(http_.call("PUT", p("/modules/core/feature"), &body, key())));
}
std::vector<Feature> RestRegistry::features() {
  json body = {{"filter", json::object()}};
  std::vector<Feature> out;
  for (const auto& f : http_.call("POST", p("/modules/core/feature"), &body)) out.push_back(feature_from_json(f));
  return out;
}
std::optional<Feature> RestRegistry::find_feature(const FeatureRef& ref) {
  json body = to_json(ref);
  auto r = record_or_null(http_.call("POST", p("/modules/core/feature/find"), &body));
  if (r.is_null()) return std::nullopt;
  return feature_from_json(r);
}
std::optional<Feature> RestRegistry::find_feature(const std::string& name, const Feature& type) {
  json body = {{"name", name}, {"type_id", type.id}};
  auto r = record_or_null(http_.call("POST", p("/modules/core/feature/find"), &body));
  if (r.is_null()) return std::nullopt;
  return feature_from_json(r);
}

json RestRegistry::values_call(const std::string& op, json body, bool write) {
  return http_.call("POST", p("/values/" + op), &body, write ? key() : std::string());
}
void RestRegistry::add_values_by_id(const std::string& host, std::int64_t id, const FeatureValues& values) {
  values_call("add", {{"host", host}, {"id", id}, {"values", to_json(values)}}, true);
}
void RestRegistry::add_values(const Artifact& artifact, const FeatureValues& values) {
  add_values_by_id("artifact", artifact.id, values);
}
void RestRegistry::add_values(const Run& run, const FeatureValues& values) { add_values_by_id("run", run.id, values); }
std::int64_t RestRegistry::remove_values_by_id(const std::string& host, std::int64_t id, const FeatureRef& feature,
                                               const std::optional<json>& value) {
  json body = {{"host", host}, {"id", id}, {"feature", to_json(feature)}};
  if (value) body["value"] = *value;
  return values_call("remove", body, true).at("count").get<std::int64_t>();
}
std::int64_t RestRegistry::remove_values(const Artifact& artifact, const FeatureRef& feature,
                                         const std::optional<json>& value) {
  return remove_values_by_id("artifact", artifact.id, feature, value);
}
std::int64_t RestRegistry::remove_values(const Run& run, const FeatureRef& feature, const std::optional<json>& value) {
  return remove_values_by_id("run", run.id, feature, value);
}
json RestRegistry::get_values(const Artifact& artifact) {
  return values_call("get", {{"host", "artifact"}, {"id", artifact.id}}, false).at("values");
}
json RestRegistry::get_values(const Run& run) {
  return values_call("get", {{"host", "run"}, {"id", run.id}}, false).at("values");
}
std::vector<std::pair<Feature, std::vector<json>>> RestRegistry::feature_values(const Artifact& artifact) {
  std::vector<std::pair<Feature, std::vector<json>>> out;
  for (const auto& item : values_call("describe", {{"artifact_id", artifact.id}}, false)) {
    out.emplace_back(feature_from_json(item.at("feature")), item.at("values").get<std::vector<json>>());
  }
  return out;
}
std::map<std::int64_t, json> RestRegistry::values_of(const std::string& host, const std::vector<std::int64_t>& ids) {
  std::map<std::int64_t, json> out;
  for (const auto& item : values_call("of", {{"host", host}, {"ids", ids}}, false))
    out[item.at(0).get<std::int64_t>()] = item.at(1);
  return out;
}
std::map<std::int64_t, json> RestRegistry::values_of_artifacts(const std::vector<std::int64_t>& ids) {
  return values_of("artifact", ids);
}
std::map<std::int64_t, json> RestRegistry::values_of_runs(const std::vector<std::int64_t>& ids) {
  return values_of("run", ids);
}

// --- transforms and runs ----------------------------------------------------------------------------------------
Transform RestRegistry::create_transform(const TransformOptions& options) {
  json body = to_json(options);
  return transform_from_json(single(http_.call("PUT", p("/modules/core/transform"), &body, key())));
}
Transform RestRegistry::get_transform_by_id(std::int64_t id) {
  json body = {{"id", id}};
  auto r = record_or_null(http_.call("POST", p("/modules/core/transform/get"), &body));
  if (r.is_null()) throw NotFoundError("Transform matching query does not exist: id " + std::to_string(id));
  return transform_from_json(r);
}
Run RestRegistry::create_run_by_id(std::int64_t transform_id, const RunOptions& options) {
  json body = to_json(options);
  body["transform_id"] = transform_id;
  return run_from_json(single(http_.call("PUT", p("/modules/core/run"), &body, key())));
}
Run RestRegistry::create_run(const Transform& transform, const RunOptions& options) {
  return create_run_by_id(transform.id, options);
}
Run RestRegistry::get_run_by_id(std::int64_t id) {
  json body = {{"id", id}};
  auto r = record_or_null(http_.call("POST", p("/modules/core/run/get"), &body));
  if (r.is_null()) throw NotFoundError("Run matching query does not exist: id " + std::to_string(id));
  return run_from_json(r);
}
std::optional<Run> RestRegistry::find_run(const std::string& uid) {
  json body = {{"uid", uid}};
  auto r = record_or_null(http_.call("POST", p("/modules/core/run/get"), &body));
  if (r.is_null()) return std::nullopt;
  return run_from_json(r);
}
Run RestRegistry::finish_run_by_uid(const std::string& uid, RunStatus status) {
  json body = {{"_status_code", static_cast<int>(status)}};
  return run_from_json(single(http_.call("PATCH", p("/modules/core/run/" + uid), &body, key())));
}
Run RestRegistry::finish_run(const Run& run, RunStatus status) { return finish_run_by_uid(run.uid, status); }

// --- queries ----------------------------------------------------------------------------------------------------
std::vector<Artifact> RestRegistry::select_artifacts(const QuerySpec& spec) {
  json body = {{"lamin_query", to_json(spec)}};
  std::vector<Artifact> out;
  for (const auto& a : http_.call("POST", p("/modules/core/artifact"), &body)) out.push_back(artifact_from_json(a));
  return out;
}
std::int64_t RestRegistry::count_artifacts(const QuerySpec& spec) {
  json body = {{"lamin_query", to_json(spec)}, {"count", true}};
  return http_.call("POST", p("/modules/core/artifact"), &body).at("count").get<std::int64_t>();
}
std::vector<Run> RestRegistry::select_runs(const QuerySpec& spec) {
  json body = {{"lamin_query", to_json(spec)}};
  std::vector<Run> out;
  for (const auto& r : http_.call("POST", p("/modules/core/run"), &body)) out.push_back(run_from_json(r));
  return out;
}
std::int64_t RestRegistry::count_runs(const QuerySpec& spec) {
  json body = {{"lamin_query", to_json(spec)}, {"count", true}};
  return http_.call("POST", p("/modules/core/run"), &body).at("count").get<std::int64_t>();
}

}  // namespace lamin::rest

namespace lamin {

Instance connect_rest(const std::string& url, const RestOptions& options) {
  return Instance(std::make_shared<rest::RestRegistry>(url, options));
}

void download_file(const Instance& instance, const Artifact& artifact, const std::filesystem::path& to) {
  if (auto* remote = dynamic_cast<rest::RestRegistry*>(instance.ptr().get())) {
    remote->download(artifact, to);
    return;
  }
  std::filesystem::copy_file(instance->storage_path(artifact), to, std::filesystem::copy_options::overwrite_existing);
}

}  // namespace lamin
