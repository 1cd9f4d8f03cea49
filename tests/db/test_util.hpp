#pragma once
// Helpers for the registry's tests: temporary folders, files, the LaminDB fixture.

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "common/temp_dir.hpp"
#include "lamin/db/uid.hpp"

namespace lamin::test {

namespace fs = std::filesystem;

using TempDir = lamin_test::TempDir;

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
