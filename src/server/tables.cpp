#include "tables.hpp"

#include <algorithm>
#include <cctype>
#include <limits>
#include <set>

#include "lamin/db/value.hpp"

namespace lamin::serve {
namespace {

using nlohmann::json;

constexpr int kMaxFilterDepth = 16;
constexpr std::size_t kMaxInValues = 1000;
constexpr std::size_t kMaxParams = 10000;

[[noreturn]] void invalid(const std::string& message) { throw HttpError(422, "validation", message); }

std::string quote(const std::string& name) { return "\"" + name + "\""; }

std::string printable(const std::string& s) {
  std::string out;
  for (char ch : s.substr(0, 64)) out += (ch >= 32 && ch < 127) ? ch : '?';
  return out;
}

std::size_t utf8_length(const std::string& s) {
  std::size_t n = 0;
  for (unsigned char ch : s)
    if ((ch & 0xC0) != 0x80) ++n;
  return n;
}

std::string lower(std::string s) {
  for (auto& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return s;
}

}  // namespace

const Tables::Column& Tables::Table::column(const std::string& field, const char* where) const {
  auto it = index.find(field);
  if (it == index.end()) invalid(std::string("unknown field '") + printable(field) + "' in " + where + " of " + name);
  return columns[it->second];
}

const Tables::Table& Tables::table(const std::string& model) {
  if (auto it = tables_.find(model); it != tables_.end()) return it->second;
  static const std::set<std::string> served = {"jsonvalue", "artifactjsonvalue", "runjsonvalue", "artifact", "run",
                                               "transform", "feature", "artifact_input_of_runs"};
  if (!served.count(model)) throw HttpError(404, "not_found", "no model '" + printable(model) + "' in module core");
  Table t;
  t.name = "lamindb_" + model;
  std::string ddl;
  {
    auto s = db_.prepare("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?");
    s.bind(1, t.name);
    if (!s.step()) throw HttpError(500, "error", "table " + t.name + " is missing");
    ddl = s.text(0);
  }
  // Table names come from the fixed list above; PRAGMA arguments cannot be bound.
  auto info = db_.prepare("PRAGMA table_info(" + quote(t.name) + ")");
  while (info.step()) {
    Column c;
    c.name = info.text(1);
    const std::string type = lower(info.text(2));
    c.not_null = info.int64(3) != 0;
    if (type == "integer" || type == "bigint" || type == "smallint") {
      c.type = Type::integer;
    } else if (type == "bool") {
      c.type = Type::boolean;
    } else if (type == "real" || type == "double" || type == "float") {
      c.type = Type::real;
    } else {
      c.type = Type::text;
      if (type.rfind("varchar(", 0) == 0) c.max_length = std::stoul(type.substr(8));
    }
    if (ddl.find("JSON_VALID(" + quote(c.name) + ")") != std::string::npos) c.type = Type::json;
    t.index[c.name] = t.columns.size();
    t.columns.push_back(c);
  }
  std::vector<std::string> unique_indexes;
  auto list = db_.prepare("PRAGMA index_list(" + quote(t.name) + ")");
  while (list.step())
    if (list.int64(2) != 0 && list.int64(4) == 0) unique_indexes.push_back(list.text(1));
  for (const auto& idx : unique_indexes) {
    std::vector<std::string> cols;
    bool plain = true;
    auto ii = db_.prepare("PRAGMA index_info(" + quote(idx) + ")");
    while (ii.step()) {
      if (ii.is_null(2)) plain = false;  // an expression
      else cols.push_back(ii.text(2));
    }
    if (!plain || cols.empty()) continue;
    std::sort(cols.begin(), cols.end());
    t.unique_sets.push_back(cols);
  }
  return tables_.emplace(model, std::move(t)).first->second;
}

sqlite::Param Tables::param(const Column& c, const json& v, const char* what) const {
  if (v.is_null()) return nullptr;
  const char* expected = "a value";
  switch (c.type) {
    case Type::integer:
      if (v.is_number_unsigned() && v.get<std::uint64_t>() > std::uint64_t(std::numeric_limits<std::int64_t>::max()))
        invalid("field '" + c.name + "' " + what + " must be a 64-bit integer");
      if (v.is_number_integer()) return v.get<std::int64_t>();
      expected = "an integer";
      break;
    case Type::boolean:
      if (v.is_boolean()) return std::int64_t(v.get<bool>() ? 1 : 0);
      expected = "a boolean";
      break;
    case Type::real:
      if (v.is_number()) return v.get<double>();
      expected = "a number";
      break;
    case Type::text:
      if (v.is_string()) {
        const auto& s = v.get_ref<const std::string&>();
        if (c.max_length && utf8_length(s) > c.max_length)
          invalid("field '" + c.name + "' " + what + " has more than " + std::to_string(c.max_length) + " characters");
        return s;
      }
      expected = "a string";
      break;
    case Type::json:
      return python_json_dumps(v);
  }
  invalid("field '" + c.name + "' " + what + " must be " + expected);
}

json Tables::read_row(sqlite::Statement& s, const Table&, const std::vector<const Column*>& cols) const {
  json row = json::object();
  for (std::size_t i = 0; i < cols.size(); ++i) {
    const Column& c = *cols[i];
    const int k = static_cast<int>(i);
    if (s.is_null(k)) {
      row[c.name] = nullptr;
      continue;
    }
    switch (c.type) {
      case Type::integer: row[c.name] = s.int64(k); break;
      case Type::boolean: row[c.name] = s.int64(k) != 0; break;
      case Type::real: row[c.name] = s.real(k); break;
      case Type::text: row[c.name] = s.text(k); break;
      case Type::json: {
        const std::string text = s.text(k);
        row[c.name] = json::parse(text, nullptr, false);
        if (row[c.name].is_discarded()) row[c.name] = text;
        break;
      }
    }
  }
  return row;
}

std::string Tables::field_condition(const Table& t, const std::string& field, const json& ops,
                                    std::vector<sqlite::Param>& params) const {
  const Column& c = t.column(field, "the filter");
  if (!ops.is_object() || ops.empty())
    invalid("the filter on '" + c.name + "' must be an object of operators, e.g. {\"eq\": value}");
  const std::string col = quote(c.name);
  std::vector<std::string> terms;
  for (const auto& [op, v] : ops.items()) {
    if (params.size() > kMaxParams) invalid("the filter is too large");
    if (op == "eq" || op == "neq") {
      if (v.is_null()) {
        terms.push_back(col + (op == "eq" ? " IS NULL" : " IS NOT NULL"));
      } else {
        params.push_back(param(c, v, "in the filter"));
        terms.push_back(col + (op == "eq" ? " = ?" : " IS NOT ?"));
      }
    } else if (op == "lt" || op == "lte" || op == "gt" || op == "gte") {
      if (c.type == Type::json || c.type == Type::boolean)
        invalid("operator '" + op + "' does not apply to field '" + c.name + "'");
      if (v.is_null()) invalid("operator '" + op + "' on '" + c.name + "' needs a value");
      params.push_back(param(c, v, "in the filter"));
      const char* sql = op == "lt" ? " < ?" : op == "lte" ? " <= ?" : op == "gt" ? " > ?" : " >= ?";
      terms.push_back(col + sql);
    } else if (op == "in") {
      if (!v.is_array()) invalid("operator 'in' on '" + c.name + "' needs a list");
      if (v.size() > kMaxInValues) invalid("operator 'in' takes at most " + std::to_string(kMaxInValues) + " values");
      if (v.empty()) {
        terms.push_back("0");
        continue;
      }
      std::string list;
      for (const auto& e : v) {
        if (e.is_null()) invalid("operator 'in' on '" + c.name + "' takes no null (use is_null)");
        params.push_back(param(c, e, "in the filter"));
        list += list.empty() ? "?" : ", ?";
      }
      terms.push_back(col + " IN (" + list + ")");
    } else if (op == "contains" || op == "startswith") {
      if (c.type != Type::text) invalid("operator '" + op + "' applies only to text fields, not '" + c.name + "'");
      if (!v.is_string()) invalid("operator '" + op + "' on '" + c.name + "' needs a string");
      params.push_back(v.get<std::string>());
      terms.push_back("instr(" + col + ", ?)" + (op == "contains" ? " > 0" : " = 1"));
    } else if (op == "is_null") {
      if (!v.is_boolean()) invalid("operator 'is_null' on '" + c.name + "' needs true or false");
      terms.push_back(col + (v.get<bool>() ? " IS NULL" : " IS NOT NULL"));
    } else {
      invalid("unknown operator '" + printable(op) + "' on '" + c.name +
              "' (eq, neq, lt, lte, gt, gte, in, contains, startswith, is_null)");
    }
  }
  std::string out;
  for (const auto& term : terms) out += (out.empty() ? "(" : " AND ") + term;
  return out + ")";
}

std::string Tables::where(const Table& t, const json& filter, std::vector<sqlite::Param>& params, int depth) const {
  if (depth > kMaxFilterDepth) invalid("the filter is nested too deeply");
  if (!filter.is_object()) invalid("a filter must be an object");
  std::vector<std::string> terms;
  for (const auto& [key, v] : filter.items()) {
    if (key == "and" || key == "or") {
      if (!v.is_array()) invalid("'" + key + "' takes a list of filters");
      if (v.empty()) {
        terms.push_back(key == "and" ? "1" : "0");
        continue;
      }
      std::string joined;
      const char* glue = key == "and" ? " AND " : " OR ";
      for (const auto& sub : v) joined += (joined.empty() ? "(" : glue) + where(t, sub, params, depth + 1);
      terms.push_back(joined + ")");
    } else {
      terms.push_back(field_condition(t, key, v, params));
    }
  }
  if (terms.empty()) return "1";
  std::string out;
  for (const auto& term : terms) out += (out.empty() ? "(" : " AND ") + term;
  return out + ")";
}

json Tables::query(const std::string& model, const json& body, std::int64_t limit, std::int64_t offset) {
  const Table& t = table(model);
  if (!body.is_object()) invalid("the query body must be an object");
  for (const auto& [k, v] : body.items()) {
    if (k != "select" && k != "filter" && k != "order_by") invalid("unknown field '" + printable(k) + "' in the query");
  }
  std::vector<const Column*> cols;
  if (body.contains("select") && !body["select"].is_null()) {
    const json& sel = body["select"];
    if (!sel.is_array() || sel.empty()) invalid("'select' must be a non-empty list of field names");
    for (const auto& f : sel) {
      if (!f.is_string()) invalid("'select' must be a list of field names");
      cols.push_back(&t.column(f.get<std::string>(), "'select'"));
    }
  } else {
    for (const auto& c : t.columns) cols.push_back(&c);
  }
  std::vector<sqlite::Param> params;
  std::string where_sql = "1";
  if (body.contains("filter") && !body["filter"].is_null()) where_sql = where(t, body["filter"], params, 0);
  std::string order;
  if (body.contains("order_by") && !body["order_by"].is_null()) {
    const json& ob = body["order_by"];
    if (!ob.is_array()) invalid("'order_by' must be a list of {field, descending}");
    for (const auto& o : ob) {
      if (!o.is_object() || !o.contains("field") || !o["field"].is_string())
        invalid("'order_by' must be a list of {field, descending}");
      for (const auto& [k, v] : o.items())
        if (k != "field" && k != "descending") invalid("unknown field '" + printable(k) + "' in 'order_by'");
      bool desc = false;
      if (o.contains("descending")) {
        if (!o["descending"].is_boolean()) invalid("'descending' must be true or false");
        desc = o["descending"].get<bool>();
      }
      order += (order.empty() ? "" : ", ") + quote(t.column(o["field"].get<std::string>(), "'order_by'").name) +
               (desc ? " DESC" : " ASC");
    }
  }
  if (t.index.count("id")) order += std::string(order.empty() ? "" : ", ") + "\"id\" ASC";
  std::string sql = "SELECT ";
  for (std::size_t i = 0; i < cols.size(); ++i) sql += (i ? ", " : "") + quote(cols[i]->name);
  sql += " FROM " + quote(t.name) + " WHERE " + where_sql;
  if (!order.empty()) sql += " ORDER BY " + order;
  sql += " LIMIT ? OFFSET ?";
  params.emplace_back(limit);
  params.emplace_back(offset);
  auto s = db_.prepare(sql);
  s.bind_all(params);
  json out = json::array();
  while (s.step()) out.push_back(read_row(s, t, cols));
  return out;
}

bool Tables::writable(const std::string& model) {
  return model == "jsonvalue" || model == "artifactjsonvalue" || model == "runjsonvalue";
}

void Tables::require_writable(const std::string& model) {
  if (!writable(model)) {
    throw HttpError(405, "read_only",
                    "model '" + printable(model) + "' is read-only through the generic endpoints; use its own route");
  }
}

std::vector<std::string> Tables::conflict_key(const Table& t, const std::vector<std::string>& conflict_columns) {
  if (conflict_columns.empty()) throw HttpError(400, "validation", "query parameter 'conflict_columns' is required");
  std::vector<std::string> key;
  for (const auto& c : conflict_columns) key.push_back(t.column(c, "conflict_columns").name);
  std::vector<std::string> sorted = key;
  std::sort(sorted.begin(), sorted.end());
  if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end()) invalid("conflict_columns repeat a column");
  if (std::find(t.unique_sets.begin(), t.unique_sets.end(), sorted) == t.unique_sets.end()) {
    std::string names;
    for (const auto& c : key) names += (names.empty() ? "" : ", ") + c;
    invalid("conflict_columns (" + names + ") do not match a unique constraint of " + t.name);
  }
  return key;
}

std::vector<Tables::Record> Tables::upsert_records(const Table& t, const std::vector<std::string>& key,
                                                   const json& records) const {
  if (!records.is_array()) invalid("the upsert body must be a list of records");
  if (records.size() > kMaxRecords) invalid("at most " + std::to_string(kMaxRecords) + " records per call");
  std::vector<Record> rows;
  for (const auto& r : records) {
    if (!r.is_object() || r.empty()) invalid("each record must be a non-empty object");
    std::vector<const Column*> cols;
    std::vector<sqlite::Param> values;
    for (const auto& [k, v] : r.items()) {
      const Column& c = t.column(k, "a record");
      if (c.name == "id") invalid("field 'id' is assigned by the server");
      if (v.is_null() && c.not_null) invalid("field '" + c.name + "' may not be null");
      cols.push_back(&c);
      values.push_back(param(c, v, "of a record"));
    }
    for (const auto& c : key)
      if (!r.contains(c)) invalid("each record needs the conflict column '" + c + "'");
    rows.push_back({std::move(cols), std::move(values)});
  }
  return rows;
}

json Tables::upsert(const std::string& model, const std::vector<std::string>& conflict_columns, const json& records) {
  require_writable(model);
  const Table& t = table(model);
  const std::vector<std::string> key = conflict_key(t, conflict_columns);
  // validate every record before writing any
  std::vector<Record> rows = upsert_records(t, key, records);
  const std::vector<std::pair<std::string, std::int64_t>> defaults = {
      {"created_by_id", user_id_}, {"branch_id", 1}, {"space_id", 1}, {"created_on_id", 1}};
  std::vector<const Column*> all;
  for (const auto& c : t.columns) all.push_back(&c);
  std::string select_sql = "SELECT ";
  for (std::size_t i = 0; i < all.size(); ++i) select_sql += (i ? ", " : "") + quote(all[i]->name);
  select_sql += " FROM " + quote(t.name) + " WHERE ";
  json out = json::array();
  for (auto& [cols, values] : rows) {
    std::string names, marks, update;
    for (const Column* c : cols) {
      names += (names.empty() ? "" : ", ") + quote(c->name);
      marks += marks.empty() ? "?" : ", ?";
      if (std::find(key.begin(), key.end(), c->name) == key.end())
        update += (update.empty() ? "" : ", ") + quote(c->name) + " = excluded." + quote(c->name);
    }
    std::vector<sqlite::Param> insert_values = values;
    for (const auto& [name, value] : defaults) {
      if (!t.index.count(name)) continue;
      if (std::any_of(cols.begin(), cols.end(), [&](const Column* c) { return c->name == name; })) continue;
      names += ", " + quote(name);
      marks += ", ?";
      insert_values.emplace_back(value);
    }
    std::string target;
    for (const auto& c : key) target += (target.empty() ? "" : ", ") + quote(c);
    std::string sql = "INSERT INTO " + quote(t.name) + " (" + names + ") VALUES (" + marks + ") ON CONFLICT (" +
                      target + ") DO " + (update.empty() ? "NOTHING" : "UPDATE SET " + update);
    auto ins = db_.prepare(sql);
    ins.bind_all(insert_values);
    ins.run();
    // the row: by its conflict columns (NULLs never conflict, so a NULL there means the row was just inserted)
    std::vector<sqlite::Param> key_values;
    bool has_null = false;
    for (const auto& c : key) {
      for (std::size_t i = 0; i < cols.size(); ++i) {
        if (cols[i]->name != c) continue;
        has_null = has_null || std::holds_alternative<std::nullptr_t>(values[i]);
        key_values.push_back(values[i]);
      }
    }
    std::string cond;
    if (has_null) {
      cond = "rowid = ?";
      key_values = {sqlite::Param(db_.last_insert_rowid())};
    } else {
      for (const auto& c : key) cond += (cond.empty() ? "" : " AND ") + quote(c) + " = ?";
    }
    auto sel = db_.prepare(select_sql + cond);
    sel.bind_all(key_values);
    if (!sel.step()) throw HttpError(500, "error", "the upserted row of " + t.name + " was not found");
    out.push_back(read_row(sel, t, all));
  }
  return out;
}

json Tables::batch_delete(const std::string& model, const json& body) {
  require_writable(model);
  const Table& t = table(model);
  if (!body.is_object() || !body.contains("records") || body.size() != 1)
    invalid("the batch-delete body must be {\"records\": [{\"id\": ...}, ...]}");
  const json& records = body["records"];
  if (!records.is_array()) invalid("'records' must be a list of {\"id\": ...}");
  if (records.size() > kMaxRecords) invalid("at most " + std::to_string(kMaxRecords) + " records per call");
  std::vector<std::int64_t> ids;
  for (const auto& r : records) {
    if (!r.is_object() || r.size() != 1 || !r.contains("id") || !r["id"].is_number_integer())
      invalid("each record to delete must be {\"id\": <integer>}");
    ids.push_back(r["id"].get<std::int64_t>());
  }
  auto del = db_.prepare("DELETE FROM " + quote(t.name) + " WHERE \"id\" = ?");
  std::int64_t n = 0;
  for (auto id : ids) {
    del.reset();
    del.bind(1, id);
    del.run();
    n += db_.changes();
  }
  return {{"deleted_count", n}};
}

}  // namespace lamin::serve
