#include "common/sql.hpp"

#include <sqlite3.h>

#include <utility>

#include <gtest/gtest.h>

namespace lamin::test {

Sql::Sql(const std::filesystem::path& db, Mode mode) {
  const int flags = mode == Mode::read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
  if (sqlite3_open_v2(db.c_str(), &db_, flags, nullptr) != SQLITE_OK) {
    ADD_FAILURE() << "cannot open " << db << ": " << sqlite3_errmsg(db_);
  }
}

Sql::~Sql() { sqlite3_close(db_); }

std::vector<std::vector<std::string>> Sql::rows(const std::string& sql) {
  sqlite3_stmt* s = nullptr;
  std::vector<std::vector<std::string>> out;
  if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &s, nullptr) != SQLITE_OK) {
    ADD_FAILURE() << sqlite3_errmsg(db_) << " in " << sql;
    return out;
  }
  while (sqlite3_step(s) == SQLITE_ROW) {
    std::vector<std::string> row;
    for (int i = 0; i < sqlite3_column_count(s); ++i) {
      const auto* t = sqlite3_column_text(s, i);
      row.push_back(t ? reinterpret_cast<const char*>(t) : "NULL");
    }
    out.push_back(std::move(row));
  }
  sqlite3_finalize(s);
  return out;
}

std::string Sql::one(const std::string& sql) {
  const auto r = rows(sql);
  return r.empty() || r[0].empty() ? "<none>" : r[0][0];
}

void Sql::exec(const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    ADD_FAILURE() << (err ? err : "?") << " in " << sql;
    sqlite3_free(err);
  }
}

}  // namespace lamin::test
