#pragma once
// LaminHub's generic registry endpoints over the lamin-cpp SQLite instance, for the tables a client may write
// directly (feature values and their links):
//
//   PUT  /instances/{id}/modules/core/{model}/upsert?conflict_columns=a&conflict_columns=b   body: [record, ...]
//   POST /instances/{id}/modules/core/{model}?limit=&offset=     body: {select, filter, order_by}
//   POST /instances/{id}/modules/core/{model}/batch-delete       body: {records: [{id}, ...]}  -> {deleted_count}
//
// Models: `jsonvalue`, `artifactjsonvalue`, `runjsonvalue` (table `lamindb_<model>`); queries also on `artifact`,
// `run`, `transform`, `feature` and `artifact_input_of_runs`, which are written through their own routes (405 for
// upsert and batch-delete there: an artifact needs its file, a run its lifecycle). Field names are checked
// against the table's real columns (PRAGMA table_info, read once) and every value is bound as a parameter: SQL text
// is assembled only from those checked names and fixed fragments. JSON columns (`value`, `_aux`) hold the value as
// Python's `json.dumps` writes it, as the SQLite backend does, and are answered as JSON.
//
// Filter language (LaminHub's): `{"field": {"op": value, ...}, ...}` (several fields or operators: all must hold),
// `{"and": [filter, ...]}`, `{"or": [filter, ...]}`; operators eq, neq, lt, lte, gt, gte, in, contains,
// startswith, is_null. Anything else is answered 422 with a JSON error.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "db/sqlite.hpp"
#include "http_error.hpp"

namespace lamin::serve {

class Tables {
 public:
  /// `user_id` fills `created_by_id` where a record leaves it out.
  Tables(sqlite::Database& db, std::int64_t user_id) : db_(db), user_id_(user_id) {}

  /// The models served by the generic endpoints (a regex alternation for routes).
  static const char* model_pattern() { return "jsonvalue|artifactjsonvalue|runjsonvalue"; }
  /// The read-only models whose query shares its path with a lamin-serve route (told apart by the body).
  static const char* query_only_pattern() { return "artifact|run|feature"; }
  /// True for the models the generic endpoints may write.
  static bool writable(const std::string& model);
  /// True when a POST body to `/modules/core/{model}` is LaminHub's generic query (not lamin-serve's own).
  static bool is_generic_query(const nlohmann::json& body) {
    return body.is_object() && !body.contains("lamin_query") &&
           (body.contains("filter") || body.contains("select") || body.contains("order_by"));
  }

  /// Inserts each record, or on a conflict on `conflict_columns` (which must be the columns of a unique
  /// constraint) updates the columns the record gives. Returns the full rows. REQUIRES: an open transaction.
  nlohmann::json upsert(const std::string& model, const std::vector<std::string>& conflict_columns,
                        const nlohmann::json& records);
  /// The rows matching `body` (`select`, `filter`, `order_by`), ordered by `id` unless `order_by` says otherwise.
  nlohmann::json query(const std::string& model, const nlohmann::json& body, std::int64_t limit, std::int64_t offset);
  /// Deletes the rows `{records: [{id}]}` names; answers `{deleted_count}` (ids that do not exist count 0).
  nlohmann::json batch_delete(const std::string& model, const nlohmann::json& body);

  static constexpr std::size_t kMaxRecords = 1000;
  static constexpr std::int64_t kMaxLimit = 1000;

 private:
  enum class Type { integer, boolean, real, text, json };
  struct Column {
    std::string name;
    Type type = Type::text;
    bool not_null = false;
    std::size_t max_length = 0;  // varchar(n); 0: unbounded
  };
  struct Table {
    std::string name;
    std::vector<Column> columns;
    std::map<std::string, std::size_t> index;            // column name -> position
    std::vector<std::vector<std::string>> unique_sets;  // sorted column sets of the full unique indexes
    const Column& column(const std::string& field, const char* where) const;
  };

  struct Record {  // one record of an upsert body, checked: its columns and their values
    std::vector<const Column*> columns;
    std::vector<sqlite::Param> values;
  };

  const Table& table(const std::string& model);
  /// The conflict columns of an upsert, checked to be the columns of one unique constraint of `t`.
  static std::vector<std::string> conflict_key(const Table& t, const std::vector<std::string>& conflict_columns);
  /// Checks every record of an upsert body (before any is written).
  std::vector<Record> upsert_records(const Table& t, const std::vector<std::string>& key,
                                     const nlohmann::json& records) const;
  static void require_writable(const std::string& model);
  sqlite::Param param(const Column& c, const nlohmann::json& v, const char* what) const;
  nlohmann::json read_row(sqlite::Statement& s, const Table& t, const std::vector<const Column*>& cols) const;
  std::string where(const Table& t, const nlohmann::json& filter, std::vector<sqlite::Param>& params, int depth) const;
  std::string field_condition(const Table& t, const std::string& field, const nlohmann::json& ops,
                              std::vector<sqlite::Param>& params) const;

  sqlite::Database& db_;
  std::int64_t user_id_;
  std::map<std::string, Table> tables_;
};

}  // namespace lamin::serve
