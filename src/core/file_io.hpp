#pragma once
// All of lamin-cpp's durable file writes go through here: one seam, so tests can prove crash safety.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

namespace lamin::detail {

/// A sequential writer over a file descriptor. Throws lamin::StorageError naming the path on any failure
/// (including a full disk).
class FileWriter {
 public:
  FileWriter(int fd, std::filesystem::path path) : fd_(fd), path_(std::move(path)) {}
  void write(const void* data, std::size_t size);
  void write(std::string_view text) { write(text.data(), text.size()); }
  std::uint64_t bytes_written() const { return written_; }
  const std::filesystem::path& path() const { return path_; }

 private:
  int fd_;
  std::filesystem::path path_;
  std::uint64_t written_ = 0;
};

/// Writes `path` atomically and durably: the content goes to a temporary file in the same folder, which is
/// fsynced, renamed over `path`, and then the folder is fsynced. Parent folders are created. A crash at any point
/// leaves either the old file or the new one. On failure the temporary file is removed and lamin::StorageError is
/// thrown; the old file is untouched. `durable=false` skips the fsyncs (for files that are cheap to lose).
void atomic_write(const std::filesystem::path& path, const std::function<void(FileWriter&)>& fill,
                  bool durable = true);
void atomic_write(const std::filesystem::path& path, std::string_view content, bool durable = true);

/// Removes what atomic_write left in `dir` when its process died mid-write (SIGKILL, OOM killer): temporary files
/// `.<name>.tmp-<pid>-<random>` whose process no longer exists on this host and that were last written more than
/// `min_age_s` ago (a writer on another host sharing the folder keeps its file fresh while it writes). Completed
/// files are never touched. Returns how many were removed; errors are ignored.
std::size_t remove_stale_temporaries(const std::filesystem::path& dir, double min_age_s = 60);

/// fsync of a folder, so that a rename or a new entry in it survives a crash.
void fsync_directory(const std::filesystem::path& dir);

/// Reads a whole file; throws lamin::NotFoundError or lamin::StorageError.
std::string read_file(const std::filesystem::path& path);

/// Checks that `dir` exists (creating it if needed) and that a file can be created in it; throws
/// lamin::StorageError naming the folder otherwise.
void ensure_writable_directory(const std::filesystem::path& dir);

}  // namespace lamin::detail
