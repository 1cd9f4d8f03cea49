// SqliteRegistry: queries (QuerySpec to SQL) over artifacts and runs.
#include "sqlite_registry.hpp"

#include <algorithm>

#include "lamin/db/value.hpp"
#include "lamin/error.hpp"
#include "sql_dialect.hpp"
#include "sqlite_rows.hpp"

using nlohmann::json;

namespace lamin::detail {

namespace {

const char* column_of(bool artifact, Field f) {
  switch (f) {
    case Field::id: return "id";
    case Field::uid: return "uid";
    case Field::description: return "description";
    case Field::created_at: return "created_at";
    case Field::updated_at: return "updated_at";
    default: break;
  }
  if (artifact) {
    switch (f) {
      case Field::key: return "key";
      case Field::suffix: return "suffix";
      case Field::kind: return "kind";
      case Field::size: return "size";
      case Field::hash: return "hash";
      case Field::is_latest: return "is_latest";
      case Field::run_id: return "run_id";
      default: break;
    }
    throw ValidationError("this field is not a field of Artifact");
  }
  switch (f) {
    case Field::name: return "name";
    case Field::started_at: return "started_at";
    case Field::finished_at: return "finished_at";
    case Field::status_code: return "_status_code";
    case Field::transform_id: return "transform_id";
    default: break;
  }
  throw ValidationError("this field is not a field of Run");
}

std::size_t utf8_length(const std::string& s) {
  std::size_t n = 0;
  for (unsigned char c : s)
    if ((c & 0xC0) != 0x80) ++n;
  return n;
}

}  // namespace

std::string SqliteRegistry::feature_condition_sql(HostKind kind, const FeatureCondition& c,
                                                  std::vector<sqlite::Param>& params, bool correlated) {
  Feature f;
  if (c.feature.id()) {
    auto found = feature_by_id(*c.feature.id());
    if (!found) throw ValidationError("Feature id " + std::to_string(*c.feature.id()) + " does not exist.");
    f = *found;
  } else {
    std::vector<Feature> named;
    for (auto& x : features_named(c.feature.name()))
      if (!x.is_type) named.push_back(std::move(x));
    if (named.empty()) {
      throw ValidationError("You can query either by available fields or by features; no feature is named '" +
                            c.feature.name() + "'.");
    }
    if (named.size() > 1) {
      throw ValidationError("MultipleObjectsReturned: " + std::to_string(named.size()) + " features are named '" +
                            c.feature.name() + "'; filter with the Feature record instead.");
    }
    f = named.front();
  }
  const std::string dtype = f.dtype.value_or("");
  const std::string link = kind == HostKind::artifact ? "lamindb_artifactjsonvalue" : "lamindb_runjsonvalue";
  const std::string host = kind == HostKind::artifact ? "artifact_id" : "run_id";
  const std::string outer = kind == HostKind::artifact ? "a.id" : "r.id";
  // The driving condition is an IN list; further ones are checked per candidate row (EXISTS), which keeps a query
  // with one selective condition fast even when another matches half of all values.
  std::string sub = correlated ? "SELECT 1 FROM " + link + " l JOIN lamindb_jsonvalue v ON v.id = l.jsonvalue_id WHERE l." +
                                     host + " = " + outer + " AND v.feature_id = ?"
                               : "SELECT l." + host + " FROM " + link +
                                     " l JOIN lamindb_jsonvalue v ON v.id = l.jsonvalue_id WHERE v.feature_id = ?";
  params.emplace_back(f.id);
  auto wrap = [&](bool negate) {
    if (correlated) return std::string(negate ? "NOT EXISTS (" : "EXISTS (") + sub + ")";
    return outer + (negate ? " NOT IN (" : " IN (") + sub + ")";
  };
  switch (c.op) {
    case CompareOp::is_null: return wrap(true);
    case CompareOp::not_null: return wrap(false);
    default: break;
  }
  const bool numeric = is_numeric_dtype(dtype);
  if (numeric && !c.value.is_number()) {
    throw ValidationError("Cannot compare feature '" + f.name + "' (" + dtype + ") with " + c.value.dump());
  }
  if (c.value.is_null()) throw ValidationError("Compare with null using is_null()/not_null().");
  static const std::map<CompareOp, const char*> kOps = {
      {CompareOp::eq, "="}, {CompareOp::ne, "="}, {CompareOp::lt, "<"},
      {CompareOp::le, "<="}, {CompareOp::gt, ">"}, {CompareOp::ge, ">="}};
  const char* op = kOps.at(c.op);
  if (numeric) {
    // Matches the expression index lamin_cpp_jsonvalue_feature_id_real_value.
    sub += std::string(" AND CAST(v.value AS REAL) ") + op + " ?";
    params.emplace_back(c.value.get<double>());
  } else if (c.op == CompareOp::eq || c.op == CompareOp::ne) {
    sub += " AND v.hash = ?";
    params.emplace_back(json_value_hash(c.value));
  } else if (dtype == "str" || dtype == "date" || dtype == "datetime") {
    if (!c.value.is_string()) throw ValidationError("Cannot order-compare feature '" + f.name + "' with a non-string");
    sub += " AND " + sql::json_at("v.value", "$") + " " + op + " ?";
    params.emplace_back(c.value.get<std::string>());
  } else {
    throw ValidationError("Feature '" + f.name + "' (" + dtype + ") supports only == and !=.");
  }
  return wrap(c.op == CompareOp::ne);
}

std::string SqliteRegistry::build_where(HostKind kind, const QuerySpec& spec, std::vector<sqlite::Param>& params) {
  const bool artifact = kind == HostKind::artifact;
  const std::string alias = artifact ? "a." : "r.";
  std::vector<std::string> parts;
  if (!spec.all_branches) parts.push_back(alias + "branch_id = 1");
  if (artifact && !spec.include_incomplete) {
    parts.push_back("(a._aux IS NULL OR a._aux = 'null' OR " + sql::json_at("a._aux", "$.so") + " IS NULL)");
  }
  for (const auto& fc : spec.fields) {
    const std::string col = alias + column_of(artifact, fc.field);
    switch (fc.lookup) {
      case Lookup::exact:
        if (fc.value.is_null()) {
          parts.push_back(col + " IS NULL");
        } else {
          parts.push_back(col + " = ?");
          params.push_back(sqlite::param_of(fc.value));
        }
        break;
      case Lookup::startswith: {
        const std::string p = fc.value.get<std::string>();
        parts.push_back("(" + col + " >= ? AND " + col + " < ?)");
        params.emplace_back(p);
        params.emplace_back(p + "\xff");
        break;
      }
      case Lookup::endswith: {
        const std::string p = fc.value.get<std::string>();
        parts.push_back("substr(" + col + ", -?) = ?");
        params.emplace_back(static_cast<std::int64_t>(std::max<std::size_t>(1, utf8_length(p))));
        params.emplace_back(p);
        if (p.empty()) parts.back() = col + " IS NOT NULL";
        if (p.empty()) params.resize(params.size() - 2);
        break;
      }
      case Lookup::contains:
        parts.push_back("instr(" + col + ", ?) > 0");
        params.push_back(sqlite::param_of(fc.value));
        break;
      case Lookup::lt: parts.push_back(col + " < ?"); params.push_back(sqlite::param_of(fc.value)); break;
      case Lookup::le: parts.push_back(col + " <= ?"); params.push_back(sqlite::param_of(fc.value)); break;
      case Lookup::gt: parts.push_back(col + " > ?"); params.push_back(sqlite::param_of(fc.value)); break;
      case Lookup::ge: parts.push_back(col + " >= ?"); params.push_back(sqlite::param_of(fc.value)); break;
      case Lookup::is_null: parts.push_back(col + " IS NULL"); break;
      case Lookup::not_null: parts.push_back(col + " IS NOT NULL"); break;
    }
  }
  // Equality conditions (hash lookups) are usually the most selective: they drive, the rest are checked per row.
  std::vector<const FeatureCondition*> conditions;
  for (const auto& c : spec.features) conditions.push_back(&c);
  std::stable_sort(conditions.begin(), conditions.end(), [](const FeatureCondition* a, const FeatureCondition* b) {
    return (a->op == CompareOp::eq) > (b->op == CompareOp::eq);
  });
  bool driving = true;
  for (const auto* c : conditions) {
    const bool positive = c->op != CompareOp::ne && c->op != CompareOp::is_null;
    parts.push_back(feature_condition_sql(kind, *c, params, !(driving && positive)));
    if (positive) driving = false;
  }
  for (const auto& runs : spec.run_in) {
    if (!artifact) throw ValidationError("run_in() applies to artifact queries");
    std::vector<sqlite::Param> sub_params;
    const std::string sub_where = build_where(HostKind::run, *runs, sub_params);
    parts.push_back("a.run_id IN (SELECT r.id FROM lamindb_run r WHERE " + sub_where + ")");
    params.insert(params.end(), sub_params.begin(), sub_params.end());
  }
  if (parts.empty()) return "1";
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) out += (i ? " AND " : "") + parts[i];
  return out;
}

namespace {

std::string order_sql(bool artifact, const QuerySpec& spec) {
  const std::string alias = artifact ? "a." : "r.";
  std::string out = " ORDER BY ";
  if (spec.order.empty()) return out + alias + "id";
  for (std::size_t i = 0; i < spec.order.size(); ++i) {
    out += (i ? ", " : "") + alias + column_of(artifact, spec.order[i].first) +
           (spec.order[i].second == Order::descending ? " DESC" : " ASC");
  }
  return out + ", " + alias + "id" + (spec.order.back().second == Order::descending ? " DESC" : " ASC");
}

}  // namespace

sqlite::Statement SqliteRegistry::query_statement(HostKind kind, const QuerySpec& spec, bool count) {
  const bool artifact = kind == HostKind::artifact;
  std::vector<sqlite::Param> params;
  std::string sql = std::string("SELECT ") + (count ? "count(*)" : artifact ? kArtifactColumns : kRunColumns) +
                    (artifact ? " FROM lamindb_artifact a WHERE " : " FROM lamindb_run r WHERE ") +
                    build_where(kind, spec, params);
  if (!count) {
    sql += order_sql(artifact, spec);
    if (spec.limit) {
      sql += " LIMIT ?";
      params.emplace_back(*spec.limit);
    }
  }
  auto s = db_->prepare(sql);
  s.bind_all(params);
  return s;
}

std::vector<Artifact> SqliteRegistry::select_artifacts(const QuerySpec& spec) {
  auto s = query_statement(HostKind::artifact, spec, false);
  return read_all(s, read_artifact);
}

std::vector<Run> SqliteRegistry::select_runs(const QuerySpec& spec) {
  auto s = query_statement(HostKind::run, spec, false);
  return read_all(s, read_run);
}

std::int64_t SqliteRegistry::count_artifacts(const QuerySpec& spec) {
  auto s = query_statement(HostKind::artifact, spec, true);
  s.step();
  return s.int64(0);
}

std::int64_t SqliteRegistry::count_runs(const QuerySpec& spec) {
  auto s = query_statement(HostKind::run, spec, true);
  s.step();
  return s.int64(0);
}

}  // namespace lamin::detail
