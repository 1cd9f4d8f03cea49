#pragma once
// The SQLite DDL of the LaminDB tables lamin-cpp uses, generated from column lists that follow LaminDB's Django
// models (migration 0189..0193): names, types, NULL/NOT NULL, defaults, keys, JSON checks, and Django's index names.

#include <string>
#include <vector>

namespace lamin::db_schema {

/// lamin-cpp's schema version, kept in `PRAGMA user_version`. A database with a larger one is from a newer lamin-cpp.
constexpr int kSchemaVersion = 1;
/// The newest LaminDB migration whose tables this code knows (tables used here are unchanged up to 0193).
constexpr int kMaxKnownLaminMigration = 193;

/// The tables, in creation order.
const std::vector<std::string>& table_names();

/// CREATE TABLE / CREATE INDEX statements (idempotent: IF NOT EXISTS) for all tables.
std::vector<std::string> ddl();

/// Indexes lamin-cpp adds beyond LaminDB's (for fast feature queries); created on init and on connect.
std::vector<std::string> extra_index_ddl();
/// Their names.
const std::vector<std::string>& extra_index_names();

/// Django's index name: `<table>_<cols joined by _>_<md5(table + cols)[:8]><suffix>`.
std::string django_index_name(const std::string& table, const std::vector<std::string>& columns,
                              const std::string& suffix = "");

}  // namespace lamin::db_schema
