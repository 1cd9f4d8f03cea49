#include "file_io.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
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

  // The writer's pid in the name lets remove_stale_temporaries() tell a dead writer's leftover from a live write.
  const fs::path tmp = parent / ("." + path.filename().string() + ".tmp-" + std::to_string(::getpid()) + "-" +
                                 random_suffix());
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

std::size_t remove_stale_temporaries(const fs::path& dir, double min_age_s) {
  std::size_t removed = 0;
  std::error_code ec;
  const auto now = fs::file_time_type::clock::now();
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    // .<name>.tmp-<pid>-<random>
    const auto tag = name.rfind(".tmp-");
    if (name.size() < 2 || name[0] != '.' || tag == std::string::npos || tag == 0) continue;
    const auto dash = name.find('-', tag + 5);
    if (dash == std::string::npos || dash == tag + 5) continue;
    const std::string pid_text = name.substr(tag + 5, dash - tag - 5);
    if (pid_text.find_first_not_of("0123456789") != std::string::npos || pid_text.size() > 9) continue;
    const auto pid = static_cast<pid_t>(std::stol(pid_text));
    if (pid <= 0 || pid == ::getpid()) continue;
    if (::kill(pid, 0) == 0 || errno != ESRCH) continue;  // alive (or not ours to probe): leave it
    std::error_code fe;
    if (!it->is_regular_file(fe)) continue;
    const auto written = it->last_write_time(fe);
    if (fe || std::chrono::duration<double>(now - written).count() < min_age_s) continue;
    if (fs::remove(it->path(), fe)) ++removed;
  }
  return removed;
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
