#include "lamin/db/query.hpp"

#include <algorithm>

#include "lamin/db/registry.hpp"
#include "lamin/db/value.hpp"
#include "lamin/error.hpp"

namespace lamin {

using nlohmann::json;

FeatureCondition parse_feature_condition(const std::string& text) {
  static const std::pair<const char*, CompareOp> kOps[] = {{"<=", CompareOp::le}, {">=", CompareOp::ge},
                                                           {"!=", CompareOp::ne}, {"==", CompareOp::eq},
                                                           {"<", CompareOp::lt},  {">", CompareOp::gt},
                                                           {"=", CompareOp::eq}};
  std::size_t best = std::string::npos;
  std::size_t len = 0;
  CompareOp op = CompareOp::eq;
  for (const auto& [sym, o] : kOps) {
    const auto pos = text.find(sym);
    if (pos == std::string::npos) continue;
    if (pos < best || (pos == best && std::char_traits<char>::length(sym) > len)) {
      best = pos;
      len = std::char_traits<char>::length(sym);
      op = o;
    }
  }
  if (best == std::string::npos || best == 0) {
    throw ValidationError("Invalid filter '" + text + "': expected NAME<op>VALUE with one of = != < <= > >=");
  }
  std::string name = text.substr(0, best);
  std::string value_text = text.substr(best + len);
  auto trim = [](std::string s) {
    s.erase(0, s.find_first_not_of(" \t"));
    s.erase(s.find_last_not_of(" \t") + 1);
    return s;
  };
  name = trim(name);
  value_text = trim(value_text);
  if (value_text == "null" || value_text == "None") {
    if (op == CompareOp::eq) return {FeatureRef(name), CompareOp::is_null, nullptr};
    if (op == CompareOp::ne) return {FeatureRef(name), CompareOp::not_null, nullptr};
  }
  json value = json::parse(value_text, nullptr, false);
  if (value.is_discarded() || value.is_null()) value = value_text;
  if (value_text == "True") value = true;
  if (value_text == "False") value = false;
  return {FeatureRef(name), op, std::move(value)};
}

namespace {

std::string cell_text(const json& v) {
  if (v.is_null()) return "";
  if (v.is_string()) return v.get<std::string>();
  return python_str(v);
}

}  // namespace

std::string Table::to_string() const {
  std::vector<std::size_t> width(columns.size());
  for (std::size_t c = 0; c < columns.size(); ++c) width[c] = columns[c].size();
  std::vector<std::vector<std::string>> cells;
  for (const auto& row : rows) {
    std::vector<std::string> r;
    for (std::size_t c = 0; c < columns.size(); ++c) {
      r.push_back(c < row.size() ? cell_text(row[c]) : "");
      width[c] = std::max(width[c], r.back().size());
    }
    cells.push_back(std::move(r));
  }
  auto line = [&](const std::vector<std::string>& r) {
    std::string out;
    for (std::size_t c = 0; c < r.size(); ++c) {
      out += r[c];
      if (c + 1 < r.size()) out += std::string(width[c] - r[c].size() + 2, ' ');
    }
    out.erase(out.find_last_not_of(' ') + 1);
    return out + "\n";
  };
  std::string out = line(columns);
  for (const auto& r : cells) out += line(r);
  return out;
}

json Table::to_json() const {
  json out = json::array();
  for (const auto& row : rows) {
    json obj = json::object();
    for (std::size_t c = 0; c < columns.size() && c < row.size(); ++c) obj[columns[c]] = row[c];
    out.push_back(std::move(obj));
  }
  return out;
}

// --- ArtifactQuery --------------------------------------------------------------------------------------------------

ArtifactQuery::ArtifactQuery(std::shared_ptr<Registry> registry)
    : registry_(std::move(registry)), spec_(std::make_shared<QuerySpec>()) {}

ArtifactQuery ArtifactQuery::with(const std::function<void(QuerySpec&)>& change) const {
  auto spec = std::make_shared<QuerySpec>(*spec_);
  change(*spec);
  return ArtifactQuery(registry_, std::move(spec));
}

ArtifactQuery ArtifactQuery::filter(Field field, Lookup lookup, json value) const {
  if ((lookup == Lookup::startswith || lookup == Lookup::endswith || lookup == Lookup::contains) && !value.is_string()) {
    throw ValidationError("startswith/endswith/contains need a string");
  }
  return with([&](QuerySpec& s) { s.fields.push_back({field, lookup, std::move(value)}); });
}
ArtifactQuery ArtifactQuery::run_in(const RunQuery& runs) const {
  return with([&](QuerySpec& s) { s.run_in.push_back(runs.shared_spec()); });
}
ArtifactQuery ArtifactQuery::where(FeatureCondition c) const {
  return with([&](QuerySpec& s) { s.features.push_back(std::move(c)); });
}
ArtifactQuery ArtifactQuery::order_by(Field field, Order order) const {
  return with([&](QuerySpec& s) { s.order.emplace_back(field, order); });
}
ArtifactQuery ArtifactQuery::limit(std::int64_t n) const {
  return with([&](QuerySpec& s) { s.limit = n; });
}
ArtifactQuery ArtifactQuery::all_branches(bool v) const {
  return with([&](QuerySpec& s) { s.all_branches = v; });
}
ArtifactQuery ArtifactQuery::include_incomplete(bool v) const {
  return with([&](QuerySpec& s) { s.include_incomplete = v; });
}

std::vector<Artifact> ArtifactQuery::all() const { return registry_->select_artifacts(*spec_); }

std::optional<Artifact> ArtifactQuery::first() const {
  auto r = limit(1).all();
  if (r.empty()) return std::nullopt;
  return r.front();
}

namespace {
std::vector<std::pair<Field, Order>> reversed(std::vector<std::pair<Field, Order>> order) {
  if (order.empty()) order.emplace_back(Field::id, Order::ascending);
  for (auto& o : order) o.second = o.second == Order::ascending ? Order::descending : Order::ascending;
  return order;
}
}  // namespace

std::optional<Artifact> ArtifactQuery::last() const {
  auto q = with([](QuerySpec& s) {
    s.order = reversed(s.order);
    s.limit = 1;
  });
  auto r = q.all();
  if (r.empty()) return std::nullopt;
  return r.front();
}

std::optional<Artifact> ArtifactQuery::one_or_none() const {
  auto r = limit(2).all();
  if (r.size() > 1) {
    throw IntegrityError("MultipleResultsFound: more than one artifact matches the query (" +
                         std::to_string(count()) + " artifacts).");
  }
  if (r.empty()) return std::nullopt;
  return r.front();
}

Artifact ArtifactQuery::one() const {
  auto r = one_or_none();
  if (!r) throw NotFoundError("Artifact matching query does not exist.");
  return *r;
}

std::int64_t ArtifactQuery::count() const { return registry_->count_artifacts(*spec_); }

Table ArtifactQuery::table(const std::vector<std::string>& feature_columns) const {
  Table t;
  t.columns = {"uid", "key", "kind", "size", "is_latest", "created_at"};
  for (const auto& f : feature_columns) t.columns.push_back(f);
  const auto artifacts = all();
  std::map<std::int64_t, json> values;
  if (!feature_columns.empty()) {
    std::vector<std::int64_t> ids;
    for (const auto& a : artifacts) ids.push_back(a.id);
    values = registry_->values_of_artifacts(ids);
  }
  for (const auto& a : artifacts) {
    std::vector<json> row = {a.uid, a.key ? json(*a.key) : json(), a.kind ? json(*a.kind) : json(),
                             a.size ? json(*a.size) : json(), a.is_latest, a.created_at.substr(0, 19)};
    for (const auto& f : feature_columns) {
      const auto& v = values[a.id];
      row.push_back(v.contains(f) ? v[f] : json());
    }
    t.rows.push_back(std::move(row));
  }
  return t;
}

// --- RunQuery -------------------------------------------------------------------------------------------------------

RunQuery::RunQuery(std::shared_ptr<Registry> registry)
    : registry_(std::move(registry)), spec_(std::make_shared<QuerySpec>()) {}

RunQuery RunQuery::with(const std::function<void(QuerySpec&)>& change) const {
  auto spec = std::make_shared<QuerySpec>(*spec_);
  change(*spec);
  return RunQuery(registry_, std::move(spec));
}

RunQuery RunQuery::filter(Field field, Lookup lookup, json value) const {
  return with([&](QuerySpec& s) { s.fields.push_back({field, lookup, std::move(value)}); });
}
RunQuery RunQuery::where(FeatureCondition c) const {
  return with([&](QuerySpec& s) { s.features.push_back(std::move(c)); });
}
RunQuery RunQuery::order_by(Field field, Order order) const {
  return with([&](QuerySpec& s) { s.order.emplace_back(field, order); });
}
RunQuery RunQuery::limit(std::int64_t n) const {
  return with([&](QuerySpec& s) { s.limit = n; });
}
std::vector<Run> RunQuery::all() const { return registry_->select_runs(*spec_); }
std::optional<Run> RunQuery::first() const {
  auto r = limit(1).all();
  if (r.empty()) return std::nullopt;
  return r.front();
}
std::optional<Run> RunQuery::last() const {
  auto r = with([](QuerySpec& s) {
             s.order = reversed(s.order);
             s.limit = 1;
           }).all();
  if (r.empty()) return std::nullopt;
  return r.front();
}
Run RunQuery::one() const {
  auto r = limit(2).all();
  if (r.empty()) throw NotFoundError("Run matching query does not exist.");
  if (r.size() > 1) throw IntegrityError("MultipleResultsFound: more than one run matches the query.");
  return r.front();
}
std::int64_t RunQuery::count() const { return registry_->count_runs(*spec_); }

Table RunQuery::table(const std::vector<std::string>& feature_columns) const {
  Table t;
  t.columns = {"uid", "name", "transform", "status", "started_at", "finished_at"};
  for (const auto& f : feature_columns) t.columns.push_back(f);
  const auto runs = all();
  std::map<std::int64_t, json> values;
  if (!feature_columns.empty()) {
    std::vector<std::int64_t> ids;
    for (const auto& r : runs) ids.push_back(r.id);
    values = registry_->values_of_runs(ids);
  }
  std::map<std::int64_t, std::string> transform_keys;
  for (const auto& r : runs) {
    if (!transform_keys.count(r.transform_id)) transform_keys[r.transform_id] = registry_->get_transform_by_id(r.transform_id).key;
    std::vector<json> row = {r.uid, r.name ? json(*r.name) : json(), transform_keys[r.transform_id],
                             to_string(r.status()), r.started_at.substr(0, 19),
                             r.finished_at ? json(r.finished_at->substr(0, 19)) : json()};
    for (const auto& f : feature_columns) {
      const auto& v = values[r.id];
      row.push_back(v.contains(f) ? v[f] : json());
    }
    t.rows.push_back(std::move(row));
  }
  return t;
}

}  // namespace lamin
