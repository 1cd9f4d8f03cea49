#pragma once
// A small RAII layer over SQLite's C API: connections, prepared statements, bound parameters. Private to the
// registry. Every statement with data is prepared and bound; SQL text is only ever assembled from fixed fragments.

#include <sqlite3.h>

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

namespace lamin::sqlite {

/// A bound parameter.
using Param = std::variant<std::nullptr_t, std::int64_t, double, std::string>;

/// Converts a JSON scalar to a parameter (bool -> 0/1); throws for arrays/objects.
Param param_of(const nlohmann::json& value);

class Statement;

/// Rows of one or two integers handed to SQL as they are, without formatting them into text or parsing them back:
/// bound to a statement, the table-valued function `lamin_ints(?)` yields them as columns `a` and `b` (`b` is NULL
/// for one-column rows). SQL text cannot forge such a value: SQLite passes it only through bind(), by type tag.
/// The rows must outlive the statement's use.
class IntRows {
 public:
  explicit IntRows(int width = 1) : width_(width) {}
  void add(std::int64_t a) { values_.push_back(a); }
  void add(std::int64_t a, std::int64_t b) {
    values_.push_back(a);
    values_.push_back(b);
  }
  int width() const { return width_; }
  std::size_t size() const { return values_.size() / static_cast<std::size_t>(width_); }
  bool empty() const { return values_.empty(); }
  std::int64_t at(std::size_t row, int col) const { return values_[row * static_cast<std::size_t>(width_) + col]; }

 private:
  int width_;
  std::vector<std::int64_t> values_;
};

class Database {
 public:
  /// Opens (or creates, if `create`) a database file, with extended result codes, a busy timeout and the
  /// `lamin_ints` table-valued function.
  Database(const std::string& path, bool create);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  sqlite3* handle() const { return db_; }
  const std::string& path() const { return path_; }
  /// Runs SQL without parameters (DDL, BEGIN, PRAGMA queries).
  void exec(const std::string& sql);
  /// Changes a connection setting (`PRAGMA name=value`). REQUIRES: no open transaction. SQLite refuses some
  /// settings inside one (`synchronous`) and silently ignores others (`foreign_keys`), so this refuses them all,
  /// naming the setting, instead of failing far from the cause.
  void set_pragma(const std::string& name, const std::string& value);
  /// True while a transaction (BEGIN or SAVEPOINT) is open on this connection.
  bool in_transaction() const { return sqlite3_get_autocommit(db_) == 0; }
  /// A prepared statement for `sql`. Compiled statements are kept per connection and reused: preparing the same
  /// text again (the registry's statements are fixed texts) costs a map lookup instead of SQLite's parser.
  Statement prepare(const std::string& sql);
  std::int64_t last_insert_rowid() const { return sqlite3_last_insert_rowid(db_); }
  std::int64_t changes() const { return sqlite3_changes(db_); }

 private:
  friend class Statement;
  sqlite3_stmt* acquire(const std::string& sql);
  void release(const std::string& sql, sqlite3_stmt* stmt) noexcept;

  sqlite3* db_ = nullptr;
  std::string path_;
  std::mutex idle_mutex_;  // the idle map only: a connection itself is used by one thread at a time
  std::unordered_map<std::string, std::vector<sqlite3_stmt*>> idle_;
  std::size_t idle_count_ = 0;
};

class Statement {
 public:
  Statement(Database& db, const std::string& sql);
  ~Statement();
  Statement(Statement&& other) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  Statement& operator=(Statement&& other) noexcept;

  Statement& bind(int index, const Param& value);
  Statement& bind_all(const std::vector<Param>& values);
  Statement& bind(int index, std::nullptr_t) { return bind(index, Param(nullptr)); }
  Statement& bind(int index, std::int64_t v) { return bind(index, Param(v)); }
  Statement& bind(int index, int v) { return bind(index, Param(static_cast<std::int64_t>(v))); }
  Statement& bind(int index, bool v) { return bind(index, Param(static_cast<std::int64_t>(v ? 1 : 0))); }
  Statement& bind(int index, double v) { return bind(index, Param(v)); }
  Statement& bind(int index, const std::string& v) { return bind(index, Param(v)); }
  Statement& bind(int index, const char* v) { return bind(index, Param(std::string(v))); }
  Statement& bind(int index, const std::optional<std::string>& v);
  Statement& bind(int index, const std::optional<std::int64_t>& v);
  /// Binds rows for `lamin_ints(?)`; `rows` must stay alive until the statement is reset.
  Statement& bind(int index, const IntRows& rows);

  /// Steps once: true while a row is available.
  bool step();
  /// Steps to completion (for writes).
  void run();
  void reset();

  bool is_null(int col) const;
  std::int64_t int64(int col) const;
  double real(int col) const;
  std::string text(int col) const;
  std::optional<std::string> opt_text(int col) const;
  std::optional<std::int64_t> opt_int64(int col) const;
  int column_count() const;
  std::string column_name(int col) const;

 private:
  Database* db_;
  sqlite3_stmt* stmt_ = nullptr;
  std::string sql_;  // the cache key under which the statement goes back to its connection
};

/// Translates an SQLite result code into lamin's error kinds (constraint -> IntegrityError, busy/full/io ->
/// StorageError, otherwise Error), with the database's message.
[[noreturn]] void throw_error(sqlite3* db, int rc, const std::string& context);

}  // namespace lamin::sqlite
