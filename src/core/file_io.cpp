#include "file_io.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

#include "lamin/error.hpp"

namespace fs = std::filesystem;

namespace lamin::detail {
namespace {

std::string errno_text(int err) { return std::strerror(err); }

[[noreturn]] void fail(const std::string& what, const fs::path& path, int err) {
  std::string msg = what + " '" + path.string() + "': " + errno_text(err);
  if (err == ENOSPC) msg += " (the disk is full)";
  throw StorageError(msg);
}

std::string random_suffix() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  static const char* alphabet = "0123456789abcdefghijklmnopqrstuvwxyz";
  std::string s;
  for (int i = 0; i < 8; ++i) s.push_back(alphabet[rng() % 36]);
  return s;
}

}  // namespace

void FileWriter::write(const void* data, std::size_t size) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::write(fd_, p, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("cannot write", path_, errno);
    }
    p += n;
    size -= static_cast<std::size_t>(n);
    written_ += static_cast<std::uint64_t>(n);
  }
}

void fsync_directory(const fs::path& dir) {
  const fs::path d = dir.empty() ? fs::path(".") : dir;
  const int fd = ::open(d.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) fail("cannot open folder", d, errno);
  if (::fsync(fd) != 0 && errno != EINVAL) {
    const int err = errno;
    ::close(fd);
    fail("cannot sync folder", d, err);
  }
  ::close(fd);
}

void atomic_write(const fs::path& path, const std::function<void(FileWriter&)>& fill, bool durable) {
  const fs::path parent = path.has_parent_path() ? path.parent_path() : fs::path(".");
  std::error_code ec;
  fs::create_directories(parent, ec);
  if (ec) throw StorageError("cannot create folder '" + parent.string() + "': " + ec.message());

  const fs::path tmp = parent / ("." + path.filename().string() + ".tmp-" + random_suffix());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) fail("cannot create a file in", parent, errno);
  try {
    FileWriter writer(fd, tmp);
    fill(writer);
    if (durable && ::fsync(fd) != 0) fail("cannot sync", tmp, errno);
    if (::close(fd) != 0) {
      const int err = errno;
      ::unlink(tmp.c_str());
      fail("cannot close", tmp, err);
    }
  } catch (...) {
    ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    fail("cannot replace", path, err);
  }
  if (durable) fsync_directory(parent);
}

void atomic_write(const fs::path& path, std::string_view content, bool durable) {
  atomic_write(path, [&](FileWriter& w) { w.write(content); }, durable);
}

std::string read_file(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw NotFoundError("file not found: '" + path.string() + "'");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw StorageError("cannot open '" + path.string() + "' for reading");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void ensure_writable_directory(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw StorageError("cannot create folder '" + dir.string() + "': " + ec.message());
  if (!fs::is_directory(dir, ec)) throw StorageError("not a folder: '" + dir.string() + "'");
  if (::access(dir.c_str(), W_OK | X_OK) != 0) fail("cannot write to folder", dir, errno);
}

}  // namespace lamin::detail
