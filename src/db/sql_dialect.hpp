#pragma once
// The seam between the SQL registry and its engine: the SQL text that is not standard SQL, in one place, so that a
// second engine (Postgres) becomes a second dialect rather than a copy of the SQLite units. Private to src/db.
//
// What is not here yet and is SQLite's too: `INSERT OR IGNORE/REPLACE` and `UPDATE OR REPLACE` (Postgres: ON
// CONFLICT), the temporary scratch table of set_feature_values, PRAGMAs in sqlite_registry.cpp, and the rank cache,
// which learns of writes from SQLite's update and rollback hooks and of other connections' commits from
// `PRAGMA data_version` (rank_cache.cpp).

#include <cstdint>
#include <string>

namespace lamin::detail::sql {

/// The current time as LaminDB stores it (UTC, milliseconds).
inline constexpr const char* kNow = "STRFTIME('%Y-%m-%d %H:%M:%f', 'NOW')";

/// Transactions: an outer write transaction that takes the write lock at once, savepoints for nested ones.
inline constexpr const char* kBegin = "BEGIN IMMEDIATE";
inline constexpr const char* kCommit = "COMMIT";
inline constexpr const char* kRollback = "ROLLBACK";
inline std::string savepoint(int depth) { return "SAVEPOINT lamin_" + std::to_string(depth); }
inline std::string release(int depth) { return "RELEASE lamin_" + std::to_string(depth); }
inline std::string rollback_to(int depth) { return "ROLLBACK TO lamin_" + std::to_string(depth); }

/// A subquery of the integers bound as one sqlite::IntRows parameter (`x IN <kIdsIn>`), and the rows themselves as
/// a table with columns a, b, ... (`FROM <kIntRows> p`).
inline constexpr const char* kIdsIn = "(SELECT a FROM lamin_ints(?))";
inline constexpr const char* kIntRows = "lamin_ints(?)";
/// A subquery of the elements of a JSON array bound as text (`x IN <kJsonArrayIn>`), and the array as a table
/// with column `value` (`FROM <kJsonArray> j`).
inline constexpr const char* kJsonArrayIn = "(SELECT value FROM json_each(?))";
inline constexpr const char* kJsonArray = "json_each(?)";

/// The element at `path` (`$`, `$.so`) of the JSON text `expr`, as an SQL value.
inline std::string json_at(const std::string& expr, const std::string& path) {
  return "json_extract(" + expr + ", '" + path + "')";
}

}  // namespace lamin::detail::sql
