#pragma once
// Helpers for the registry's tests: temporary folders, files, the LaminDB fixture.

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "lamin/db/uid.hpp"

namespace lamin::test {

namespace fs = std::filesystem;

/// A fresh folder under the system temp dir, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() / ("lamin-db-test-" + std::to_string(::getpid()) + "-" + base62_uid(8));
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }
  fs::path operator/(const std::string& name) const { return path_ / name; }

 private:
  fs::path path_;
};

inline fs::path write_file(const fs::path& path, const std::string& content) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary);
  out << content;
  return path;
}

inline std::string read_all(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

/// Gunzips the real LaminDB database into `<dir>/.lamindb/lamin.db`; returns the database path.
inline fs::path unpack_fixture(const fs::path& dir) {
  const fs::path db = dir / ".lamindb" / "lamin.db";
  fs::create_directories(db.parent_path());
  const std::string cmd = std::string("gzip -dc '") + LAMIN_SHARED_DIR + "/fixtures/lamindb-seed-0189.db.gz' > '" +
                          db.string() + "'";
  if (std::system(cmd.c_str()) != 0) ADD_FAILURE() << "cannot unpack the fixture";
  return db;
}

}  // namespace lamin::test
