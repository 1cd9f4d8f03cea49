// SqliteRegistry: features, and the feature values of artifacts and runs.
#include "core/python.hpp"
#include "sqlite_registry.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include "lamin/db/track.hpp"
#include "lamin/db/uid.hpp"
#include "lamin/db/value.hpp"
#include "lamin/error.hpp"
#include "lamin/log.hpp"
#include "sql_dialect.hpp"
#include "sqlite_rows.hpp"

using nlohmann::json;

namespace lamin::detail {

// --- features -----------------------------------------------------------------------------------------------------

std::optional<Feature> SqliteRegistry::feature_by_id(std::int64_t id) {
  auto s = db_->prepare(std::string("SELECT ") + kFeatureColumns + " FROM lamindb_feature f WHERE f.id = ?");
  s.bind(1, id);
  if (s.step()) return read_feature(s);
  return std::nullopt;
}

std::vector<Feature> SqliteRegistry::features_named(const std::string& name) {
  auto s = db_->prepare(std::string("SELECT ") + kFeatureColumns +
                        " FROM lamindb_feature f WHERE f.name = ? AND f.branch_id != ? ORDER BY f.id");
  s.bind(1, name).bind(2, kTrashBranch);
  return read_all(s, read_feature);
}

Feature SqliteRegistry::create_feature(const FeatureOptions& o) {
  if (o.name().empty()) throw ValidationError("A feature needs a name.");
  if (o.name().size() > 150) throw ValidationError("Feature names are limited to 150 characters.");
  std::optional<std::string> dtype = o.dtype();
  if (o.is_type()) {
    if (dtype) throw ValidationError("A feature type (is_type=True) has no dtype.");
    dtype = o.type_dtype_str();
  } else {
    if (!dtype) throw ValidationError("Please pass dtype for feature '" + o.name() + "'.");
    if (!is_supported_dtype(*dtype)) {
      throw ValidationError("dtype '" + *dtype + "' of feature '" + o.name() +
                            "' is not supported (bool, int, float, num, str, dict, date, datetime, list[...]).");
    }
  }
  Tx tx(*this);
  if (o.type_id()) {
    auto t = feature_by_id(*o.type_id());
    if (!t || !t->is_type) throw ValidationError("The type of feature '" + o.name() + "' must be a feature type.");
  }
  auto s = db_->prepare(std::string("SELECT ") + kFeatureColumns +
                        " FROM lamindb_feature f WHERE f.name = ? AND f.type_id IS ? AND f.is_type = ? AND "
                        "f.branch_id != ? ORDER BY f.id LIMIT 1");
  s.bind(1, o.name()).bind(2, o.type_id()).bind(3, o.is_type()).bind(4, kTrashBranch);
  if (s.step()) {
    Feature existing = read_feature(s);
    if (!o.is_type() && existing.dtype != dtype) {
      throw ValidationError("Feature " + o.name() + " already exists with dtype " + existing.dtype.value_or("None") +
                            ", you passed " + dtype.value_or("None"));
    }
    tx.commit();
    return existing;
  }
  auto ins = db_->prepare(
      "INSERT INTO lamindb_feature (is_type, uid, name, _dtype_str, unit, description, array_rank, array_size, "
      "nullable, coerce, run_id, created_by_id, type_id) VALUES (?, ?, ?, ?, ?, ?, 0, 0, ?, NULL, ?, ?, ?)");
  ins.bind(1, o.is_type())
      .bind(2, base62_uid(kFeatureUidLength))
      .bind(3, o.name())
      .bind(4, dtype)
      .bind(5, o.unit())
      .bind(6, o.description());
  if (o.is_type()) ins.bind(7, nullptr); else ins.bind(7, true);
  ins.bind(8, current_run_id(this)).bind(9, info_.user.id).bind(10, o.type_id()).run();
  const auto id = db_->last_insert_rowid();
  tx.commit();
  return *feature_by_id(id);
}

std::vector<Feature> SqliteRegistry::features() {
  auto s = db_->prepare(std::string("SELECT ") + kFeatureColumns +
                        " FROM lamindb_feature f WHERE f.branch_id = 1 ORDER BY f.name, f.id");
  return read_all(s, read_feature);
}

std::optional<Feature> SqliteRegistry::find_feature(const std::string& name, const Feature& type) {
  auto s = db_->prepare(std::string("SELECT ") + kFeatureColumns +
                        " FROM lamindb_feature f WHERE f.name = ? AND f.type_id = ? AND f.branch_id != ? "
                        "ORDER BY f.id LIMIT 1");
  s.bind(1, name).bind(2, type.id).bind(3, kTrashBranch);
  if (s.step()) return read_feature(s);
  return std::nullopt;
}

std::optional<Feature> SqliteRegistry::find_feature(const FeatureRef& ref) {
  if (ref.id()) return feature_by_id(*ref.id());
  std::vector<Feature> candidates;
  for (auto& f : features_named(ref.name()))
    if (!f.is_type) candidates.push_back(std::move(f));
  if (candidates.empty()) return std::nullopt;
  if (candidates.size() == 1) return candidates.front();
  std::vector<Feature> root;
  for (const auto& f : candidates)
    if (!f.type_id) root.push_back(f);
  if (root.size() == 1) return root.front();
  if (root.size() > 1) {
    throw ValidationError("Ambiguous match for feature name '" + ref.name() + "': " + std::to_string(root.size()) +
                          " features without a type have this name; pass the Feature record.");
  }
  // All typed: the one with the shallowest type chain.
  auto depth = [&](const Feature& f) {
    int d = 0;
    std::optional<std::int64_t> t = f.type_id;
    while (t && d < 64) {
      ++d;
      auto parent = feature_by_id(*t);
      t = parent ? parent->type_id : std::nullopt;
    }
    return d;
  };
  return *std::min_element(candidates.begin(), candidates.end(),
                           [&](const Feature& a, const Feature& b) { return depth(a) < depth(b); });
}

Feature SqliteRegistry::resolve_feature(const FeatureRef& ref, std::vector<std::string>* unknown) {
  auto f = find_feature(ref);
  if (!f) {
    if (unknown) {
      unknown->push_back(ref.name());
      return Feature{};
    }
    throw ValidationError("These keys could not be validated: ['" + ref.name() + "']");
  }
  return *f;
}

void SqliteRegistry::add_values_impl(HostKind kind, std::int64_t host_id, const FeatureValues& values) {
  // Validate all keys and values before writing.
  std::vector<std::string> unknown;
  std::vector<std::tuple<Feature, std::string, std::string>> rows;  // feature, json text, hash
  for (const auto& [ref, value] : values) {
    Feature f = resolve_feature(ref, &unknown);
    if (f.id == 0 || value.is_null()) continue;
    validate_feature_value(f, value);
    rows.emplace_back(f, python_json_dumps(value), json_value_hash(value));
  }
  if (!unknown.empty()) throw ValidationError("These keys could not be validated: " + detail::python_list_repr(unknown));
  const auto run_id = current_run_id(this);
  Tx tx(*this);
  auto ins = db_->prepare(
      "INSERT OR IGNORE INTO lamindb_jsonvalue (feature_id, value, hash, run_id, created_by_id) VALUES (?, ?, ?, ?, ?)");
  auto sel = db_->prepare("SELECT id FROM lamindb_jsonvalue WHERE feature_id = ? AND hash = ?");
  auto link = kind == HostKind::artifact
                  ? db_->prepare("INSERT OR IGNORE INTO lamindb_artifactjsonvalue (artifact_id, jsonvalue_id, run_id, "
                                 "created_by_id) VALUES (?, ?, ?, ?)")
                  : db_->prepare("INSERT OR IGNORE INTO lamindb_runjsonvalue (run_id, jsonvalue_id, created_by_id) "
                                 "VALUES (?, ?, ?)");
  for (const auto& [f, text, hash] : rows) {
    ins.reset();
    ins.bind(1, f.id).bind(2, text).bind(3, hash).bind(4, run_id).bind(5, info_.user.id).run();
    sel.reset();
    sel.bind(1, f.id).bind(2, hash);
    if (!sel.step()) throw IntegrityError("value of feature '" + f.name + "' was not stored");
    const auto value_id = sel.int64(0);
    sel.reset();
    link.reset();
    if (kind == HostKind::artifact) {
      link.bind(1, host_id).bind(2, value_id).bind(3, run_id).bind(4, info_.user.id).run();
    } else {
      link.bind(1, host_id).bind(2, value_id).bind(3, info_.user.id).run();
    }
  }
  tx.commit();
}

std::map<std::string, std::int64_t> SqliteRegistry::json_value_ids(const Feature& f,
                                                                   const std::map<std::string, json>& by_hash,
                                                                   std::optional<std::int64_t> run_id) {
  std::map<std::string, std::int64_t> ids;
  if (by_hash.empty()) return ids;
  json hashes = json::array();
  for (const auto& [hash, value] : by_hash) hashes.push_back(hash);
  auto find = db_->prepare(
      std::string("SELECT v.hash, v.id FROM ") + sql::kJsonArray +
      " j CROSS JOIN lamindb_jsonvalue v ON v.feature_id = ? AND v.hash = j.value");
  find.bind(1, hashes.dump()).bind(2, f.id);
  while (find.step()) ids.emplace(find.text(0), find.int64(1));
  for (const auto& [hash, value] : by_hash) {
    if (!ids.count(hash)) ids.emplace(hash, json_value_id(f, value, run_id));
  }
  return ids;
}

std::int64_t SqliteRegistry::json_value_id(const Feature& f, const json& value, std::optional<std::int64_t> run_id) {
  const std::string hash = json_value_hash(value);
  auto sel = db_->prepare("SELECT id FROM lamindb_jsonvalue WHERE feature_id = ? AND hash = ?");
  sel.bind(1, f.id).bind(2, hash);
  if (sel.step()) return sel.int64(0);
  db_->prepare("INSERT INTO lamindb_jsonvalue (feature_id, value, hash, run_id, created_by_id) VALUES (?, ?, ?, ?, ?)")
      .bind(1, f.id)
      .bind(2, python_json_dumps(value))
      .bind(3, hash)
      .bind(4, run_id)
      .bind(5, info_.user.id)
      .run();
  return db_->last_insert_rowid();
}


std::vector<std::map<std::int64_t, std::vector<json>>> SqliteRegistry::feature_values_of_artifacts(
    const std::vector<Feature>& features, const QuerySpec& spec) {
  std::vector<std::map<std::int64_t, std::vector<json>>> out(features.size());
  if (features.empty()) return out;
  std::set<std::int64_t> distinct;
  json ids = json::array();
  for (const Feature& f : features) {
    if (distinct.insert(f.id).second) ids.push_back(f.id);
  }
  std::vector<sqlite::Param> params{ids.dump()};
  const std::string where = build_where(HostKind::artifact, spec, params);
  // Driven by the selected artifacts (CROSS JOIN fixes the order): a feature like model_rank has as many values as
  // artifacts, so starting from the values would probe every (value, artifact) pair. Each artifact's links are
  // visited once for all the features.
  auto s = db_->prepare(
      "SELECT a.id, v.feature_id, v.value FROM lamindb_artifact a CROSS JOIN lamindb_artifactjsonvalue l ON "
      "l.artifact_id = a.id CROSS JOIN lamindb_jsonvalue v ON v.id = l.jsonvalue_id WHERE v.feature_id IN " +
      std::string(sql::kJsonArrayIn) + " AND " + where + " ORDER BY a.id, v.id");
  s.bind_all(params);
  while (s.step()) {
    json value = parse_json_value(s.text(2));
    for (std::size_t i = 0; i < features.size(); ++i) {
      if (features[i].id == s.int64(1)) out[i][s.int64(0)].push_back(value);
    }
  }
  return out;
}

void SqliteRegistry::set_feature_values(const Feature& feature,
                                        const std::vector<std::pair<std::int64_t, json>>& values) {
  for (const auto& [id, value] : values) {
    if (value.is_null()) throw ValidationError("set_feature_values: a value of feature '" + feature.name + "' is null");
    validate_feature_value(feature, value);
  }
  if (values.empty()) return;
  const auto run_id = current_run_id(this);
  Tx tx(*this);
  // 1. The JsonValue id of each distinct value.
  std::map<std::string, json> by_hash;                     // hash -> value
  std::map<std::int64_t, const std::string*> target_hash;  // artifact id -> hash of its value (the last listed)
  for (const auto& [artifact_id, value] : values) {
    target_hash[artifact_id] = &by_hash.emplace(json_value_hash(value), value).first->first;
  }
  const std::map<std::string, std::int64_t> value_ids = json_value_ids(feature, by_hash, run_id);

  // 2. The target of every artifact into a temporary table (the last listed value wins).
  db_->prepare("DELETE FROM temp.lamin_set_values").run();
  {
    auto fill = db_->prepare("INSERT INTO temp.lamin_set_values (artifact_id, jsonvalue_id) VALUES (?, ?)");
    for (const auto& [artifact_id, hash] : target_hash) {
      fill.bind(1, artifact_id).bind(2, value_ids.at(*hash));
      fill.run();
      fill.reset();
    }
  }

  // 3. Links to the feature's other values are re-pointed to the target, in one statement that also moves the link
  // to the current run, as removing and adding the value would. OR REPLACE folds an artifact's several values into
  // one link. The join is driven by the listed artifacts: each unary + keeps the planner, which has no statistics,
  // off an index that would start elsewhere (from the feature's values, or every link of a boolean flag).
  std::set<std::int64_t> repointed;
  {
    auto update = db_->prepare(
        "UPDATE OR REPLACE lamindb_artifactjsonvalue AS l SET jsonvalue_id = t.jsonvalue_id, run_id = ?2 FROM "
        "temp.lamin_set_values t, lamindb_jsonvalue v WHERE l.artifact_id = +t.artifact_id AND v.id = "
        "+l.jsonvalue_id AND +v.feature_id = ?1 AND l.jsonvalue_id != t.jsonvalue_id RETURNING artifact_id");
    update.bind(1, feature.id).bind(2, run_id);
    while (update.step()) repointed.insert(update.int64(0));
  }
  // 4. Artifacts without any value of the feature get a link (skipped when every one was just re-pointed, as in a
  // re-ranking, where only changed ranks are passed).
  if (repointed.size() < target_hash.size()) {
    db_->prepare(
           "INSERT OR IGNORE INTO lamindb_artifactjsonvalue (artifact_id, jsonvalue_id, run_id, created_by_id) "
           "SELECT artifact_id, jsonvalue_id, ?, ? FROM temp.lamin_set_values")
        .bind(1, run_id)
        .bind(2, info_.user.id)
        .run();
  }
  db_->prepare("DELETE FROM temp.lamin_set_values").run();
  tx.commit();
}

void SqliteRegistry::add_values(const Artifact& artifact, const FeatureValues& values) {
  add_values_impl(HostKind::artifact, artifact.id, values);
}
void SqliteRegistry::add_values(const Run& run, const FeatureValues& values) {
  add_values_impl(HostKind::run, run.id, values);
}

std::int64_t SqliteRegistry::remove_values_impl(HostKind kind, std::int64_t host_id, const FeatureRef& ref,
                                                const std::optional<json>& value) {
  const Feature f = resolve_feature(ref, nullptr);
  Tx tx(*this);
  const std::string table = kind == HostKind::artifact ? "lamindb_artifactjsonvalue" : "lamindb_runjsonvalue";
  const std::string host = kind == HostKind::artifact ? "artifact_id" : "run_id";
  std::string sql = "DELETE FROM " + table + " WHERE " + host +
                    " = ? AND jsonvalue_id IN (SELECT id FROM lamindb_jsonvalue WHERE feature_id = ?";
  if (value) sql += " AND hash = ?";
  sql += ")";
  auto s = db_->prepare(sql);
  s.bind(1, host_id).bind(2, f.id);
  if (value) s.bind(3, json_value_hash(*value));
  s.run();
  const auto n = db_->changes();
  tx.commit();
  if (n == 0) log::warn("no value of feature '" + f.name + "' to remove");
  return n;
}

std::int64_t SqliteRegistry::remove_values(const Artifact& a, const FeatureRef& f, const std::optional<json>& v) {
  return remove_values_impl(HostKind::artifact, a.id, f, v);
}
std::int64_t SqliteRegistry::remove_values(const Run& r, const FeatureRef& f, const std::optional<json>& v) {
  return remove_values_impl(HostKind::run, r.id, f, v);
}

std::vector<std::tuple<std::string, std::string, json, std::int64_t>> SqliteRegistry::values_rows(
    HostKind kind, const std::vector<std::int64_t>& ids) {
  std::vector<std::tuple<std::string, std::string, json, std::int64_t>> out;
  const std::string table = kind == HostKind::artifact ? "lamindb_artifactjsonvalue" : "lamindb_runjsonvalue";
  const std::string host = kind == HostKind::artifact ? "artifact_id" : "run_id";
  for (std::size_t start = 0; start < ids.size(); start += 500) {
    const std::size_t n = std::min<std::size_t>(500, ids.size() - start);
    std::string placeholders;
    for (std::size_t i = 0; i < n; ++i) placeholders += i ? ",?" : "?";
    auto s = db_->prepare("SELECT f.name, COALESCE(f._dtype_str, ''), v.value, l." + host + " FROM " + table +
                          " l JOIN lamindb_jsonvalue v ON v.id = l.jsonvalue_id JOIN lamindb_feature f ON "
                          "f.id = v.feature_id WHERE l." + host + " IN (" + placeholders +
                          ") ORDER BY f.name, f._dtype_str, v.id");
    for (std::size_t i = 0; i < n; ++i) s.bind(static_cast<int>(i + 1), ids[start + i]);
    while (s.step()) {
      json v = parse_json_value(s.text(2));
      out.emplace_back(s.text(0), s.text(1), std::move(v), s.int64(3));
    }
  }
  return out;
}

std::map<std::int64_t, json> SqliteRegistry::values_of(HostKind kind, const std::vector<std::int64_t>& ids) {
  std::map<std::int64_t, std::map<std::string, std::vector<json>>> grouped;
  for (auto& [name, dtype, value, host] : values_rows(kind, ids)) grouped[host][name].push_back(std::move(value));
  std::map<std::int64_t, json> out;
  for (auto& [host, by_name] : grouped) {
    json obj = json::object();
    for (auto& [name, vals] : by_name) {
      if (vals.size() == 1) {
        obj[name] = vals.front();
      } else {
        std::sort(vals.begin(), vals.end());
        obj[name] = vals;
      }
    }
    out[host] = std::move(obj);
  }
  for (auto id : ids)
    if (!out.count(id)) out[id] = json::object();
  return out;
}

std::map<std::int64_t, json> SqliteRegistry::values_of_artifacts(const std::vector<std::int64_t>& ids) {
  return values_of(HostKind::artifact, ids);
}
std::map<std::int64_t, json> SqliteRegistry::values_of_runs(const std::vector<std::int64_t>& ids) {
  return values_of(HostKind::run, ids);
}

std::vector<std::pair<Feature, std::vector<json>>> SqliteRegistry::feature_values(const Artifact& artifact) {
  auto s = db_->prepare(std::string("SELECT ") + kFeatureColumns +
                        ", v.value FROM lamindb_artifactjsonvalue l JOIN lamindb_jsonvalue v ON v.id = l.jsonvalue_id "
                        "JOIN lamindb_feature f ON f.id = v.feature_id WHERE l.artifact_id = ? "
                        "ORDER BY f.name, f._dtype_str, f.id, v.id");
  s.bind(1, artifact.id);
  std::vector<std::pair<Feature, std::vector<json>>> out;
  while (s.step()) {
    Feature f = read_feature(s);
    json v = parse_json_value(s.text(10));
    // Values of two features with the same name and dtype merge into one entry (LaminDB's describe).
    if (!out.empty() && out.back().first.name == f.name && out.back().first.dtype == f.dtype) {
      out.back().second.push_back(std::move(v));
    } else {
      out.emplace_back(std::move(f), std::vector<json>{std::move(v)});
    }
  }
  for (auto& [f, vals] : out) std::sort(vals.begin(), vals.end());
  return out;
}

}  // namespace lamin::detail
