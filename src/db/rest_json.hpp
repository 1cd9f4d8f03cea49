#pragma once
// The JSON forms of records, options and queries shared by the REST client (RestRegistry), the outbox and
// lamin-serve. Field names are LaminDB's column names. Private to lamin-cpp.

#include <exception>
#include <string>

#include <nlohmann/json.hpp>

#include "lamin/db/registry.hpp"

namespace lamin::rest {

nlohmann::json to_json(const Artifact& a);
nlohmann::json to_json(const Run& r);
nlohmann::json to_json(const Transform& t);
nlohmann::json to_json(const Feature& f);
nlohmann::json to_json(const InstanceInfo& info);

Artifact artifact_from_json(const nlohmann::json& j);
Run run_from_json(const nlohmann::json& j);
Transform transform_from_json(const nlohmann::json& j);
Feature feature_from_json(const nlohmann::json& j);
InstanceInfo info_from_json(const nlohmann::json& j);

/// Options. Artifact options carry the run as `run_id` (null: no run) and no storage mode (the server decides).
nlohmann::json to_json(const ArtifactOptions& o, std::optional<std::int64_t> run_id);
ArtifactOptions artifact_options_from_json(const nlohmann::json& j);
nlohmann::json to_json(const FeatureOptions& o);
FeatureOptions feature_options_from_json(const nlohmann::json& j);
nlohmann::json to_json(const TransformOptions& o);
TransformOptions transform_options_from_json(const nlohmann::json& j);
nlohmann::json to_json(const RunOptions& o);
RunOptions run_options_from_json(const nlohmann::json& j);

nlohmann::json to_json(const FeatureRef& ref);
FeatureRef feature_ref_from_json(const nlohmann::json& j);
nlohmann::json to_json(const FeatureValues& values);
FeatureValues feature_values_from_json(const nlohmann::json& j);

nlohmann::json to_json(const QuerySpec& spec);
QuerySpec query_spec_from_json(const nlohmann::json& j, int depth = 0);

/// `{"error": {"kind": "validation", "message": "..."}}` and the HTTP status for a lamin error kind.
nlohmann::json error_body(const std::string& kind, const std::string& message);
int status_for_kind(const std::string& kind);
/// Rethrows the lamin::Error of `kind` with `message`.
[[noreturn]] void throw_kind(const std::string& kind, const std::string& message);

/// Strict accessors: throw lamin::ValidationError naming the field when it is missing or has another type.
const nlohmann::json& member(const nlohmann::json& j, const char* name);
std::string str(const nlohmann::json& j, const char* name);
std::int64_t int64(const nlohmann::json& j, const char* name);
std::optional<std::string> opt_str(const nlohmann::json& j, const char* name);
std::optional<std::int64_t> opt_int64(const nlohmann::json& j, const char* name);
bool boolean(const nlohmann::json& j, const char* name, bool fallback);

}  // namespace lamin::rest
