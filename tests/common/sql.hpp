#pragma once
// Plain SQL on a SQLite file, for tests that look at what a backend wrote (or write what another program would).
// No LibTorch; sqlite3.h stays out of this header.

#include <filesystem>
#include <string>
#include <vector>

struct sqlite3;

namespace lamin::test {

/// A connection to one database file. An error (open, prepare, exec) is a test failure, never an exception.
class Sql {
 public:
  enum class Mode { read_write, read_only };
  explicit Sql(const std::filesystem::path& db, Mode mode = Mode::read_write);
  ~Sql();
  Sql(const Sql&) = delete;
  Sql& operator=(const Sql&) = delete;

  /// Rows of text cells ("NULL" for null).
  std::vector<std::vector<std::string>> rows(const std::string& sql);
  /// The first cell of the first row ("<none>" when there is none).
  std::string one(const std::string& sql);
  /// Runs statements that return nothing.
  void exec(const std::string& sql);

 private:
  sqlite3* db_ = nullptr;
};

}  // namespace lamin::test
