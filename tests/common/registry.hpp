#pragma once
// Registry fixtures for tests: a fresh SQLite instance per test, LaminDB's own database unpacked, and a
// backend-neutral picture of an instance to compare two backends by. No LibTorch.

#include <filesystem>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/files.hpp"
#include "lamin/db/instance.hpp"
#include "lamin/db/registry.hpp"

namespace lamin::test {

/// A fresh SQLite instance at `dir / "inst"` for each test; a run still tracked at the end is finished.
class InstanceTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;
  /// Writes `content` to `dir/src/<name>` (a file to register); returns its path.
  fs::path file(const std::string& name, const std::string& content) const;

  TempDir dir;
  Instance instance;
};

/// Gunzips the database LaminDB's own `lamin init` made (the shared fixtures folder) into `<dir>/.lamindb/lamin.db`;
/// returns the database's path. A test failure if it cannot.
fs::path unpack_fixture(const fs::path& dir);

/// A backend-neutral picture of an instance: what must be equal between the server and the SQLite backend after
/// the same operations (ids and uids differ; their structure must not).
nlohmann::json dump(Registry& r);

}  // namespace lamin::test
