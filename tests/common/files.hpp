#pragma once
// Folders and files for tests: a fresh temporary folder per test, whole files read and written. No LibTorch.

#include <filesystem>
#include <string>

namespace lamin::test {

namespace fs = std::filesystem;

/// A fresh, empty folder under the system's temporary folder, named `lamin_test_<name>_XXXXXX` (its canonical
/// path), removed with everything in it when the object dies, unless keep() was called.
class TempDir {
 public:
  explicit TempDir(const std::string& name = "test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const fs::path& path() const { return path_; }
  std::string str() const { return path_.string(); }
  fs::path operator/(const std::string& rel) const { return path_ / rel; }
  /// Leaves the folder on disk when the object dies (to look at it after a run).
  void keep() { keep_ = true; }

 private:
  fs::path path_;
  bool keep_ = false;
};

/// The whole file as bytes (empty if it cannot be read).
std::string read_file(const fs::path& path);

/// Writes `content` to `path` (replacing it), creating its folders first; returns `path`.
fs::path write_file(const fs::path& path, const std::string& content);

}  // namespace lamin::test
