#include "core/python.hpp"
#include "rest_registry.hpp"

#include <algorithm>
#include <set>

#include "lamin/db/value.hpp"
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
    if (answer.size() != 1) throw NetworkError("expected one record in the server's answer");
    return answer[0];
  }
  if (answer.is_object()) return answer;
  throw NetworkError("unexpected answer from the server");
}
json record_or_null(const json& answer) {
  if (!answer.is_object() || !answer.contains("record")) throw NetworkError("unexpected answer from the server");
  return answer["record"];
}
}  // namespace

RestRegistry::RestRegistry(const std::string& url, const RestOptions& options) : http_(url, options) {
  const json settings = http_.call("GET", "/instances/settings", nullptr);
  try {
    info_ = info_from_json(settings);
  } catch (const ValidationError& e) {
    throw NetworkError("" + url + " did not answer with instance settings: " + e.what());
  }
  info_.root = info_.storage.root;
  prefix_ = "/instances/" + info_.storage.instance_uid;
}

void RestRegistry::commit() {
  if (depth_ == 0) throw IntegrityError("commit() without begin()");
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
    throw NetworkError("unexpected answer to an artifact upload");
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
  json body = {{"lamin_query", json::object()}};  // lamin-serve's own listing (ordered by name), not the generic query
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

std::vector<RestRegistry::Resolved> RestRegistry::resolve_features(const std::vector<FeatureRef>& refs) {
  std::vector<Resolved> out;
  for (std::size_t start = 0; start < refs.size(); start += kMaxRecords) {
    json body = {{"refs", json::array()}};
    for (std::size_t i = start; i < std::min(refs.size(), start + kMaxRecords); ++i)
      body["refs"].push_back(to_json(refs[i]));
    const json answer = http_.call("POST", p("/modules/core/feature/find"), &body);
    if (!answer.is_object() || !answer.contains("results") || answer["results"].size() != body["refs"].size())
      throw NetworkError("unexpected answer from the server");
    for (const auto& r : answer["results"]) {
      Resolved item;
      if (r.contains("error")) {
        item.error_kind = r["error"].value("kind", "error");
        item.error = r["error"].value("message", "");
      } else if (!r.at("record").is_null()) {
        item.feature = feature_from_json(r["record"]);
      }
      out.push_back(std::move(item));
    }
  }
  return out;
}

json RestRegistry::query_all(const std::string& model, const json& body) {
  json out = json::array();
  for (std::int64_t offset = 0;; offset += kMaxRecords) {
    const json page = http_.call("POST", p("/modules/core/" + model + "?limit=" + std::to_string(kMaxRecords) +
                                           "&offset=" + std::to_string(offset)), &body);
    if (!page.is_array()) throw NetworkError("unexpected answer from the server");
    for (const auto& row : page) out.push_back(row);
    if (page.size() < kMaxRecords) return out;
  }
}

std::map<std::pair<std::int64_t, std::string>, std::int64_t> RestRegistry::json_value_ids(const json& records) {
  std::map<std::pair<std::int64_t, std::string>, std::int64_t> ids;
  auto chunks = [](const json& all, auto&& each) {
    for (std::size_t start = 0; start < all.size(); start += kMaxRecords) {
      each(json(all.begin() + static_cast<std::ptrdiff_t>(start),
                all.begin() + static_cast<std::ptrdiff_t>(std::min(all.size(), start + kMaxRecords))));
    }
  };
  json create = records;
  if (const auto run_id = detail::current_run_id(this)) {
    // An upsert would move existing rows to this run too: rows that exist are looked up first, and only the others
    // are written, with the run. (A row another client creates in between is moved to this run; nothing else.)
    std::set<std::string> hashes;
    for (const auto& r : records) hashes.insert(r.at("hash").get<std::string>());
    chunks(json(hashes), [&](const json& chunk) {
      for (const auto& row : query_all("jsonvalue", {{"select", {"id", "feature_id", "hash"}},
                                                     {"filter", {{"hash", {{"in", chunk}}}}}})) {
        if (row.at("feature_id").is_null()) continue;
        ids[{row.at("feature_id").get<std::int64_t>(), row.at("hash").get<std::string>()}] =
            row.at("id").get<std::int64_t>();
      }
    });
    create = json::array();
    for (const auto& r : records) {
      if (ids.count({r.at("feature_id").get<std::int64_t>(), r.at("hash").get<std::string>()})) continue;
      create.push_back(r);
      create.back()["run_id"] = *run_id;
    }
  }
  chunks(create, [&](const json& chunk) {
    const json stored = http_.call(
        "PUT", p("/modules/core/jsonvalue/upsert?conflict_columns=feature_id&conflict_columns=hash"), &chunk);
    if (!stored.is_array() || stored.size() != chunk.size())
      throw NetworkError("unexpected answer from the server");
    for (const auto& row : stored) {
      ids[{row.at("feature_id").get<std::int64_t>(), row.at("hash").get<std::string>()}] =
          row.at("id").get<std::int64_t>();
    }
  });
  return ids;
}

void RestRegistry::add_values_by_id(const std::string& host, std::int64_t id, const FeatureValues& values) {
  key();  // upserts are idempotent by themselves: a replay finds its rows and changes nothing
  // Resolve and validate every key and value before writing, as the SQLite backend does (same errors, same order).
  std::vector<FeatureRef> refs;
  for (const auto& item : values) refs.push_back(item.first);
  const auto features = resolve_features(refs);
  std::vector<std::string> unknown;
  json rows = json::array();  // lamindb_jsonvalue records: the JSON text and hash computed here
  for (std::size_t i = 0; i < values.size(); ++i) {
    const json& value = values[i].second;
    if (features[i].error) throw_kind(features[i].error_kind, *features[i].error);
    const auto& feature = features[i].feature;
    if (!feature) {
      unknown.push_back(refs[i].name());
      continue;
    }
    if (value.is_null()) continue;
    validate_feature_value(*feature, value);
    rows.push_back({{"feature_id", feature->id}, {"value", json::parse(python_json_dumps(value))},
                    {"hash", json_value_hash(value)}});
  }
  if (!unknown.empty()) throw ValidationError("These keys could not be validated: " + detail::python_list_repr(unknown));
  if (rows.empty()) return;
  const auto run_id = detail::current_run_id(this);
  const auto value_ids = json_value_ids(rows);
  json links = json::array();
  std::set<std::int64_t> linked;
  for (const auto& row : rows) {
    const std::int64_t value_id =
        value_ids.at({row.at("feature_id").get<std::int64_t>(), row.at("hash").get<std::string>()});
    if (!linked.insert(value_id).second) continue;
    json link = {{host + "_id", id}, {"jsonvalue_id", value_id}};
    if (host == "artifact" && run_id) link["run_id"] = *run_id;
    links.push_back(std::move(link));
  }
  for (std::size_t start = 0; start < links.size(); start += kMaxRecords) {
    json chunk(links.begin() + static_cast<std::ptrdiff_t>(start),
               links.begin() + static_cast<std::ptrdiff_t>(std::min(links.size(), start + kMaxRecords)));
    http_.call("PUT", p("/modules/core/" + host + "jsonvalue/upsert?conflict_columns=" + host +
                        "_id&conflict_columns=jsonvalue_id"), &chunk);
  }
}
void RestRegistry::add_values(const Artifact& artifact, const FeatureValues& values) {
  add_values_by_id("artifact", artifact.id, values);
}
void RestRegistry::add_values(const Run& run, const FeatureValues& values) { add_values_by_id("run", run.id, values); }

std::int64_t RestRegistry::remove_values_by_id(const std::string& host, std::int64_t id, const FeatureRef& feature,
                                               const std::optional<json>& value) {
  const bool replay = !next_key_.empty();  // the outbox's key: a replay must reach the server's record of it
  std::string k = key();
  const auto resolved = resolve_features({feature});
  if (resolved[0].error) throw_kind(resolved[0].error_kind, *resolved[0].error);
  if (!resolved[0].feature) throw ValidationError("These keys could not be validated: ['" + feature.name() + "']");
  const Feature& f = *resolved[0].feature;
  // The host's links, then those of its values that belong to the feature (and have the value's hash); the links
  // go, the shared JsonValue rows stay, as in LaminDB.
  const json links = query_all(host + "jsonvalue", {{"select", {"id", "jsonvalue_id"}},
                                                    {"filter", {{host + "_id", {{"eq", id}}}}}});
  std::set<std::int64_t> matching;
  for (std::size_t start = 0; start < links.size(); start += kMaxRecords) {
    json ids = json::array();
    for (std::size_t i = start; i < std::min(links.size(), start + kMaxRecords); ++i)
      ids.push_back(links[i].at("jsonvalue_id"));
    json filter = {{"and", {{{"id", {{"in", ids}}}}, {{"feature_id", {{"eq", f.id}}}}}}};
    if (value) filter["and"].push_back({{"hash", {{"eq", json_value_hash(*value)}}}});
    for (const auto& row : query_all("jsonvalue", {{"select", {"id"}}, {"filter", filter}}))
      matching.insert(row.at("id").get<std::int64_t>());
  }
  json doomed = json::array();
  for (const auto& link : links)
    if (matching.count(link.at("jsonvalue_id").get<std::int64_t>())) doomed.push_back({{"id", link.at("id")}});
  std::int64_t n = 0;
  for (std::size_t start = 0; start < doomed.size() || (start == 0 && replay); start += kMaxRecords) {
    const auto end = std::min(doomed.size(), start + kMaxRecords);
    json body = {{"records", json(doomed.begin() + static_cast<std::ptrdiff_t>(start),
                                  doomed.begin() + static_cast<std::ptrdiff_t>(end))}};
    // the key makes a replayed delete answer with the count it removed the first time
    n += http_.call("POST", p("/modules/core/" + host + "jsonvalue/batch-delete"), &body, k)
             .at("deleted_count").get<std::int64_t>();
    k.clear();
  }
  if (n == 0) log::warn("no value of feature '" + f.name + "' to remove");
  return n;
}
std::int64_t RestRegistry::remove_values(const Artifact& artifact, const FeatureRef& feature,
                                         const std::optional<json>& value) {
  return remove_values_by_id("artifact", artifact.id, feature, value);
}
std::int64_t RestRegistry::remove_values(const Run& run, const FeatureRef& feature, const std::optional<json>& value) {
  return remove_values_by_id("run", run.id, feature, value);
}
std::map<std::int64_t, std::int64_t> RestRegistry::target_value_ids(
    const Feature& feature, const std::vector<std::pair<std::int64_t, json>>& values) {
  std::map<std::string, json> distinct;  // hash -> record
  std::vector<std::string> hashes;
  for (const auto& [id, value] : values) {
    hashes.push_back(json_value_hash(value));
    distinct.emplace(hashes.back(), json{{"feature_id", feature.id}, {"value", json::parse(python_json_dumps(value))},
                                         {"hash", hashes.back()}});
  }
  json records = json::array();
  for (const auto& [hash, record] : distinct) records.push_back(record);
  const auto value_ids = json_value_ids(records);
  std::map<std::int64_t, std::int64_t> target;  // artifact id -> jsonvalue id
  for (std::size_t i = 0; i < values.size(); ++i) target[values[i].first] = value_ids.at({feature.id, hashes[i]});
  return target;
}

json RestRegistry::artifact_links(const std::map<std::int64_t, std::int64_t>& target) {
  json links = json::array();
  std::vector<std::int64_t> ids;
  for (const auto& [artifact_id, value] : target) ids.push_back(artifact_id);
  for (std::size_t start = 0; start < ids.size(); start += kMaxRecords) {
    const json chunk = std::vector<std::int64_t>(
        ids.begin() + static_cast<std::ptrdiff_t>(start),
        ids.begin() + static_cast<std::ptrdiff_t>(std::min(ids.size(), start + kMaxRecords)));
    for (auto& row : query_all("artifactjsonvalue", {{"select", {"id", "artifact_id", "jsonvalue_id"}},
                                                     {"filter", {{"artifact_id", {{"in", chunk}}}}}})) {
      links.push_back(std::move(row));
    }
  }
  return links;
}

std::set<std::int64_t> RestRegistry::values_of_feature(const json& links, std::int64_t feature_id) {
  std::set<std::int64_t> of_feature;
  std::set<std::int64_t> linked;
  for (const auto& l : links) linked.insert(l.at("jsonvalue_id").get<std::int64_t>());
  const std::vector<std::int64_t> linked_ids(linked.begin(), linked.end());
  for (std::size_t start = 0; start < linked_ids.size(); start += kMaxRecords) {
    const json chunk = std::vector<std::int64_t>(
        linked_ids.begin() + static_cast<std::ptrdiff_t>(start),
        linked_ids.begin() + static_cast<std::ptrdiff_t>(std::min(linked_ids.size(), start + kMaxRecords)));
    json filter = {{"and", {{{"id", {{"in", chunk}}}}, {{"feature_id", {{"eq", feature_id}}}}}}};
    for (const auto& row : query_all("jsonvalue", {{"select", {"id"}}, {"filter", filter}}))
      of_feature.insert(row.at("id").get<std::int64_t>());
  }
  return of_feature;
}

void RestRegistry::set_feature_values(const Feature& feature, const std::vector<std::pair<std::int64_t, json>>& values) {
  for (const auto& [id, value] : values) {
    if (value.is_null()) throw ValidationError("set_feature_values: a value of feature '" + feature.name + "' is null");
    validate_feature_value(feature, value);
  }
  if (values.empty()) return;
  const bool replay = !next_key_.empty();
  std::string k = key();
  // 1. The value rows (upserts: a replay finds them), by hash.
  const auto target = target_value_ids(feature, values);
  // 2. The artifacts' current links, and which of them point at values of this feature.
  const json links = artifact_links(target);
  const std::set<std::int64_t> of_feature = values_of_feature(links, feature.id);
  // 3. Outdated links go, missing ones come (both idempotent: a replay deletes nothing and finds its links).
  json doomed = json::array();
  std::set<std::int64_t> has_target;
  for (const auto& l : links) {
    const auto artifact_id = l.at("artifact_id").get<std::int64_t>();
    const auto value = l.at("jsonvalue_id").get<std::int64_t>();
    if (!of_feature.count(value)) continue;
    if (value == target.at(artifact_id)) {
      has_target.insert(artifact_id);
    } else {
      doomed.push_back({{"id", l.at("id")}});
    }
  }
  for (std::size_t start = 0; start < doomed.size() || (start == 0 && replay); start += kMaxRecords) {
    json body = {{"records", json(doomed.begin() + static_cast<std::ptrdiff_t>(start),
                                  doomed.begin() + static_cast<std::ptrdiff_t>(std::min(doomed.size(), start + kMaxRecords)))}};
    http_.call("POST", p("/modules/core/artifactjsonvalue/batch-delete"), &body, k);
    k.clear();
  }
  const auto run_id = detail::current_run_id(this);
  json missing = json::array();
  for (const auto& [artifact_id, value] : target) {
    if (has_target.count(artifact_id)) continue;
    json link = {{"artifact_id", artifact_id}, {"jsonvalue_id", value}};
    if (run_id) link["run_id"] = *run_id;
    missing.push_back(std::move(link));
  }
  for (std::size_t start = 0; start < missing.size(); start += kMaxRecords) {
    json chunk(missing.begin() + static_cast<std::ptrdiff_t>(start),
               missing.begin() + static_cast<std::ptrdiff_t>(std::min(missing.size(), start + kMaxRecords)));
    http_.call("PUT", p("/modules/core/artifactjsonvalue/upsert?conflict_columns=artifact_id&conflict_columns=jsonvalue_id"),
               &chunk);
  }
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
