#pragma once
// What the SQLite registry's units share: the column lists and row readers of each record type, and a few helpers.
// Private to src/db.

#include <cstdint>
#include <string>
#include <vector>

#include "lamin/db/artifact.hpp"
#include "lamin/db/feature.hpp"
#include "lamin/db/run.hpp"
#include "lamin/db/transform.hpp"
#include "lamin/error.hpp"
#include "sqlite.hpp"
#include "sqlite_registry.hpp"

namespace lamin::detail {

inline constexpr std::int64_t kMainBranch = 1;
inline constexpr std::int64_t kTrashBranch = -1;

/// Calls the test seam set by SqliteRegistry::set_step_hook, if any.
void step_hook(const char* name);

/// `SELECT <kXColumns> FROM lamindb_x x` reads a record with read_x (aliases a, r, f, t).
extern const std::string kArtifactColumns;
extern const std::string kRunColumns;
extern const std::string kFeatureColumns;
extern const std::string kTransformColumns;
Artifact read_artifact(const sqlite::Statement& s);
Run read_run(const sqlite::Statement& s);
Feature read_feature(const sqlite::Statement& s);
Transform read_transform(const sqlite::Statement& s);

/// Every row `s` gives, read with `read`.
template <typename Record>
std::vector<Record> read_all(sqlite::Statement& s, Record (*read)(const sqlite::Statement&)) {
  std::vector<Record> out;
  while (s.step()) out.push_back(read(s));
  return out;
}

/// The record with this id: `SELECT <from> WHERE <alias>.id = ?`, `from` being "<columns> FROM <table> <alias>".
/// Throws NotFoundError as LaminDB words it ("Run matching query does not exist (id=3).").
template <typename Record>
Record record_by_id(sqlite::Database& db, const std::string& from, const char* alias, std::int64_t id,
                    const char* model, Record (*read)(const sqlite::Statement&)) {
  auto s = db.prepare("SELECT " + from + " WHERE " + alias + ".id = ?");
  s.bind(1, id);
  if (!s.step()) {
    throw NotFoundError(std::string(model) + " matching query does not exist (id=" + std::to_string(id) + ").");
  }
  return read(s);
}

bool is_base62(const std::string& s);
/// Highest version suffix among uids of one family (by base62 value, never by collation).
std::string max_suffix(sqlite::Database& db, const char* table, const std::string& stem, std::size_t uid_len);
inline bool is_numeric_dtype(const std::string& d) { return d == "int" || d == "float" || d == "num"; }

}  // namespace lamin::detail
