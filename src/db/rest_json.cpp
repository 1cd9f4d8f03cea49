#include "rest_json.hpp"

#include <array>
#include <utility>

#include "record_fields.hpp"
#include "lamin/error.hpp"

namespace lamin::rest {
using nlohmann::json;

namespace {

json opt(const std::optional<std::string>& v) { return v ? json(*v) : json(nullptr); }
json opt(const std::optional<std::int64_t>& v) { return v ? json(*v) : json(nullptr); }

constexpr std::array<std::pair<Field, const char*>, 17> kFields{{
    {Field::id, "id"}, {Field::uid, "uid"}, {Field::key, "key"}, {Field::suffix, "suffix"}, {Field::kind, "kind"},
    {Field::description, "description"}, {Field::size, "size"}, {Field::hash, "hash"},
    {Field::is_latest, "is_latest"}, {Field::run_id, "run_id"}, {Field::created_at, "created_at"},
    {Field::updated_at, "updated_at"}, {Field::name, "name"}, {Field::started_at, "started_at"},
    {Field::finished_at, "finished_at"}, {Field::status_code, "_status_code"}, {Field::transform_id, "transform_id"},
}};
constexpr std::array<std::pair<Lookup, const char*>, 10> kLookups{{
    {Lookup::exact, "eq"}, {Lookup::startswith, "startswith"}, {Lookup::endswith, "endswith"},
    {Lookup::contains, "contains"}, {Lookup::lt, "lt"}, {Lookup::le, "lte"}, {Lookup::gt, "gt"}, {Lookup::ge, "gte"},
    {Lookup::is_null, "isnull"}, {Lookup::not_null, "notnull"},
}};
constexpr std::array<std::pair<CompareOp, const char*>, 8> kOps{{
    {CompareOp::eq, "eq"}, {CompareOp::ne, "ne"}, {CompareOp::lt, "lt"}, {CompareOp::le, "lte"},
    {CompareOp::gt, "gt"}, {CompareOp::ge, "gte"}, {CompareOp::is_null, "isnull"}, {CompareOp::not_null, "notnull"},
}};

template <typename E, std::size_t N>
const char* name_of(const std::array<std::pair<E, const char*>, N>& table, E v) {
  for (const auto& [e, n] : table)
    if (e == v) return n;
  throw ValidationError("unknown enum value");
}
template <typename E, std::size_t N>
E value_of(const std::array<std::pair<E, const char*>, N>& table, const std::string& name, const char* what) {
  for (const auto& [e, n] : table)
    if (name == n) return e;
  throw ValidationError(std::string("unknown ") + what + " '" + name + "'");
}

}  // namespace

const json& member(const json& j, const char* name) {
  if (!j.is_object()) throw ValidationError("expected a JSON object");
  auto it = j.find(name);
  if (it == j.end()) throw ValidationError(std::string("missing field '") + name + "'");
  return *it;
}
std::string str(const json& j, const char* name) {
  const auto& v = member(j, name);
  if (!v.is_string()) throw ValidationError(std::string("field '") + name + "' must be a string");
  return v.get<std::string>();
}
std::int64_t int64(const json& j, const char* name) {
  const auto& v = member(j, name);
  if (!v.is_number_integer()) throw ValidationError(std::string("field '") + name + "' must be an integer");
  return v.get<std::int64_t>();
}
std::optional<std::string> opt_str(const json& j, const char* name) {
  if (!j.is_object()) throw ValidationError("expected a JSON object");
  auto it = j.find(name);
  if (it == j.end() || it->is_null()) return std::nullopt;
  if (!it->is_string()) throw ValidationError(std::string("field '") + name + "' must be a string or null");
  return it->get<std::string>();
}
std::optional<std::int64_t> opt_int64(const json& j, const char* name) {
  if (!j.is_object()) throw ValidationError("expected a JSON object");
  auto it = j.find(name);
  if (it == j.end() || it->is_null()) return std::nullopt;
  if (!it->is_number_integer()) throw ValidationError(std::string("field '") + name + "' must be an integer or null");
  return it->get<std::int64_t>();
}
bool boolean(const json& j, const char* name, bool fallback) {
  if (!j.is_object()) throw ValidationError("expected a JSON object");
  auto it = j.find(name);
  if (it == j.end() || it->is_null()) return fallback;
  if (!it->is_boolean()) throw ValidationError(std::string("field '") + name + "' must be a boolean");
  return it->get<bool>();
}

namespace {

json field_json(std::int64_t v) { return v; }
json field_json(int v) { return v; }
json field_json(const std::optional<bool>& v) { return v ? json(*v) : json(nullptr); }
json field_json(const std::string& v) { return v; }
json field_json(bool v) { return v; }
json field_json(const std::optional<std::string>& v) { return opt(v); }
json field_json(const std::optional<std::int64_t>& v) { return opt(v); }
json field_json(const json& v) { return v; }

// From JSON: required fields must be there; a missing boolean keeps the default it has.
void field_from_json(const json& j, const char* name, std::int64_t& v) { v = int64(j, name); }
void field_from_json(const json& j, const char* name, int& v) { v = static_cast<int>(int64(j, name)); }
void field_from_json(const json& j, const char* name, std::optional<bool>& v) {  // absent or null: unknown
  if (j.contains(name) && !j[name].is_null()) v = boolean(j, name, true);
}
void field_from_json(const json& j, const char* name, std::string& v) { v = str(j, name); }
void field_from_json(const json& j, const char* name, bool& v) { v = boolean(j, name, v); }
void field_from_json(const json& j, const char* name, std::optional<std::string>& v) { v = opt_str(j, name); }
void field_from_json(const json& j, const char* name, std::optional<std::int64_t>& v) { v = opt_int64(j, name); }
void field_from_json(const json& j, const char* name, json& v) { v = j.value(name, json(nullptr)); }

template <typename Record, typename Each>
json record_json(const Record& r, Each each) {
  json out = json::object();
  each(r, [&](const char* name, const auto& member, auto...) { out[name] = field_json(member); });
  return out;
}

template <typename Record, typename Each>
Record record_from_json(const json& j, Each each) {
  Record r;
  each(r, [&](const char* name, auto& member, auto...) { field_from_json(j, name, member); });
  return r;
}

constexpr auto kArtifactFields = [](auto& r, auto&& f) { detail::for_each_artifact_field(r, f); };
constexpr auto kRunFields = [](auto& r, auto&& f) { detail::for_each_run_field(r, f); };
constexpr auto kFeatureFields = [](auto& r, auto&& f) { detail::for_each_feature_field(r, f); };
constexpr auto kTransformFields = [](auto& r, auto&& f) { detail::for_each_transform_field(r, f); };

}  // namespace

json to_json(const Artifact& a) { return record_json(a, kArtifactFields); }
Artifact artifact_from_json(const json& j) { return record_from_json<Artifact>(j, kArtifactFields); }

json to_json(const Run& r) { return record_json(r, kRunFields); }
Run run_from_json(const json& j) { return record_from_json<Run>(j, kRunFields); }

json to_json(const Transform& t) { return record_json(t, kTransformFields); }
Transform transform_from_json(const json& j) { return record_from_json<Transform>(j, kTransformFields); }

json to_json(const Feature& f) { return record_json(f, kFeatureFields); }
Feature feature_from_json(const json& j) { return record_from_json<Feature>(j, kFeatureFields); }

json to_json(const InstanceInfo& info) {
  return {{"lnid", info.storage.instance_uid},
          {"storage", {{"id", info.storage.id}, {"uid", info.storage.uid}, {"root", info.storage.root},
                       {"type", info.storage.type}, {"instance_uid", info.storage.instance_uid}}},
          {"user", {{"id", info.user.id}, {"uid", info.user.uid}, {"handle", info.user.handle}}}};
}
InstanceInfo info_from_json(const json& j) {
  InstanceInfo info;
  const auto& s = member(j, "storage");
  info.storage.id = int64(s, "id");
  info.storage.uid = str(s, "uid");
  info.storage.root = str(s, "root");
  info.storage.type = str(s, "type");
  info.storage.instance_uid = str(s, "instance_uid");
  const auto& u = member(j, "user");
  info.user.id = int64(u, "id");
  info.user.uid = str(u, "uid");
  info.user.handle = str(u, "handle");
  return info;
}

json to_json(const ArtifactOptions& o, std::optional<std::int64_t> run_id) {
  return {{"key", opt(o.key())}, {"description", opt(o.description())}, {"kind", opt(o.kind())},
          {"version_tag", opt(o.version_tag())}, {"run_id", opt(run_id)},
          {"skip_hash_lookup", o.skip_hash_lookup()}};
}
ArtifactOptions artifact_options_from_json(const json& j) {
  if (!j.is_object()) throw ValidationError("kwargs must be a JSON object");
  for (const auto& [k, v] : j.items()) {
    (void)v;
    if (k != "key" && k != "description" && k != "kind" && k != "version_tag" && k != "run_id" &&
        k != "skip_hash_lookup" && k != "suffix")
      throw ValidationError("unknown field '" + k + "' in kwargs");
  }
  ArtifactOptions o;
  if (auto v = opt_str(j, "key")) o.key(*v);
  if (auto v = opt_str(j, "description")) o.description(*v);
  if (auto v = opt_str(j, "kind")) o.kind(*v);
  if (auto v = opt_str(j, "version_tag")) o.version_tag(*v);
  if (auto v = opt_int64(j, "run_id")) {
    Run r;
    r.id = *v;
    o.run(r);
  } else {
    o.no_run();
  }
  o.skip_hash_lookup(boolean(j, "skip_hash_lookup", false));
  return o;
}

json to_json(const FeatureOptions& o) {
  return {{"name", o.name()}, {"dtype", opt(o.dtype())}, {"is_type", o.is_type()}, {"type_id", opt(o.type_id())},
          {"description", opt(o.description())}, {"unit", opt(o.unit())},
          {"_dtype_str", opt(o.type_dtype_str())}};
}
FeatureOptions feature_options_from_json(const json& j) {
  FeatureOptions o;
  o.name(str(j, "name"));
  if (auto v = opt_str(j, "dtype")) o.dtype(*v);
  o.is_type(boolean(j, "is_type", false));
  if (auto v = opt_int64(j, "type_id")) {
    Feature t;
    t.id = *v;
    o.type(t);
  }
  if (auto v = opt_str(j, "description")) o.description(*v);
  if (auto v = opt_str(j, "unit")) o.unit(*v);
  if (auto v = opt_str(j, "_dtype_str")) o.type_dtype_str(*v);
  return o;
}

json to_json(const TransformOptions& o) {
  return {{"key", o.key()}, {"kind", o.kind()}, {"description", opt(o.description())},
          {"source_code", opt(o.source_code())}, {"hash", opt(o.hash())}, {"reference", opt(o.reference())},
          {"reference_type", opt(o.reference_type())}, {"version_tag", opt(o.version_tag())}};
}
TransformOptions transform_options_from_json(const json& j) {
  TransformOptions o(str(j, "key"));
  o.kind(str(j, "kind"));
  if (auto v = opt_str(j, "description")) o.description(*v);
  if (auto v = opt_str(j, "source_code")) o.source_code(*v);
  if (auto v = opt_str(j, "hash")) o.hash(*v);
  auto ref = opt_str(j, "reference");
  auto ref_type = opt_str(j, "reference_type");
  if (ref) o.reference(*ref, ref_type.value_or(""));
  if (auto v = opt_str(j, "version_tag")) o.version_tag(*v);
  return o;
}

json to_json(const RunOptions& o) {
  return {{"name", opt(o.name())}, {"description", opt(o.description())}, {"entrypoint", opt(o.entrypoint())},
          {"params", o.params()}, {"cli_args", opt(o.cli_args())}, {"reference", opt(o.reference())},
          {"reference_type", opt(o.reference_type())}, {"initiated_by_run_id", opt(o.initiated_by_run_id())},
          {"_status_code", static_cast<int>(o.status())}, {"uid", opt(o.uid())}};
}
RunOptions run_options_from_json(const json& j) {
  RunOptions o;
  if (auto v = opt_str(j, "name")) o.name(*v);
  if (auto v = opt_str(j, "description")) o.description(*v);
  if (auto v = opt_str(j, "entrypoint")) o.entrypoint(*v);
  if (j.contains("params")) o.params(j["params"]);
  if (auto v = opt_str(j, "cli_args")) o.cli_args(*v);
  auto ref = opt_str(j, "reference");
  if (ref) o.reference(*ref, opt_str(j, "reference_type").value_or(""));
  if (auto v = opt_int64(j, "initiated_by_run_id")) o.initiated_by_run_id(*v);
  if (auto v = opt_str(j, "uid")) o.uid(*v);
  if (auto v = opt_int64(j, "_status_code")) {
    if (*v < -3 || *v > 2) throw ValidationError("field '_status_code' must be between -3 and 2");
    o.status(static_cast<RunStatus>(*v));
  }
  return o;
}

json to_json(const FeatureRef& ref) { return {{"name", ref.name()}, {"id", opt(ref.id())}}; }
FeatureRef feature_ref_from_json(const json& j) {
  if (j.is_string()) return FeatureRef(j.get<std::string>());
  auto name = str(j, "name");
  if (auto id = opt_int64(j, "id")) {
    Feature f;
    f.id = *id;
    f.name = name;
    return FeatureRef(f);
  }
  return FeatureRef(name);
}
json to_json(const FeatureValues& values) {
  json out = json::array();
  for (const auto& [ref, value] : values) out.push_back({{"feature", to_json(ref)}, {"value", value}});
  return out;
}
FeatureValues feature_values_from_json(const json& j) {
  if (!j.is_array()) throw ValidationError("field 'values' must be an array");
  FeatureValues out;
  for (const auto& item : j) out.emplace_back(feature_ref_from_json(member(item, "feature")), member(item, "value"));
  return out;
}

json to_json(const QuerySpec& spec) {
  json fields = json::array(), features = json::array(), run_in = json::array(), order = json::array();
  for (const auto& c : spec.fields)
    fields.push_back({{"field", name_of(kFields, c.field)}, {"lookup", name_of(kLookups, c.lookup)}, {"value", c.value}});
  for (const auto& c : spec.features)
    features.push_back({{"feature", to_json(c.feature)}, {"op", name_of(kOps, c.op)}, {"value", c.value}});
  for (const auto& s : spec.run_in) run_in.push_back(to_json(*s));
  for (const auto& [f, o] : spec.order)
    order.push_back({{"field", name_of(kFields, f)}, {"descending", o == Order::descending}});
  json out = {{"fields", fields}, {"features", features}, {"run_in", run_in}, {"order_by", order},
              {"all_branches", spec.all_branches}, {"include_incomplete", spec.include_incomplete}};
  out["limit"] = spec.limit ? json(*spec.limit) : json(nullptr);
  return out;
}
QuerySpec query_spec_from_json(const json& j, int depth) {
  if (depth > 4) throw ValidationError("query nested too deeply");
  if (!j.is_object()) throw ValidationError("query must be a JSON object");
  QuerySpec spec;
  auto array_of = [&](const char* name) -> json {
    auto it = j.find(name);
    if (it == j.end() || it->is_null()) return json::array();
    if (!it->is_array() || it->size() > 64) throw ValidationError(std::string("field '") + name + "' must be an array of at most 64");
    return *it;
  };
  for (const auto& c : array_of("fields"))
    spec.fields.push_back({value_of(kFields, str(c, "field"), "field"), value_of(kLookups, str(c, "lookup"), "lookup"),
                           member(c, "value")});
  for (const auto& c : array_of("features"))
    spec.features.push_back({feature_ref_from_json(member(c, "feature")), value_of(kOps, str(c, "op"), "operator"),
                             member(c, "value")});
  for (const auto& s : array_of("run_in"))
    spec.run_in.push_back(std::make_shared<const QuerySpec>(query_spec_from_json(s, depth + 1)));
  for (const auto& o : array_of("order_by"))
    spec.order.emplace_back(value_of(kFields, str(o, "field"), "field"),
                            boolean(o, "descending", false) ? Order::descending : Order::ascending);
  spec.limit = opt_int64(j, "limit");
  if (spec.limit && *spec.limit < 0) throw ValidationError("field 'limit' must not be negative");
  spec.all_branches = boolean(j, "all_branches", false);
  spec.include_incomplete = boolean(j, "include_incomplete", false);
  return spec;
}

json error_body(const std::string& kind, const std::string& message) {
  return {{"error", {{"kind", kind}, {"message", message}}}};
}
int status_for_kind(const std::string& kind) {
  if (kind == "validation") return 422;
  if (kind == "not_found") return 404;
  if (kind == "integrity") return 409;
  if (kind == "configuration") return 400;
  return 500;
}
void throw_kind(const std::string& kind, const std::string& message) {
  if (kind == "validation") throw ValidationError(message);
  if (kind == "not_found") throw NotFoundError(message);
  if (kind == "integrity") throw IntegrityError(message);
  if (kind == "configuration") throw ConfigurationError(message);
  if (kind == "storage") throw StorageError(message);
  if (kind == "network") throw NetworkError(message);
  throw Error(message);  // a kind this client does not know: the root kind, as the server sent it
}

}  // namespace lamin::rest
