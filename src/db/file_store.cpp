#include "file_store.hpp"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "core/file_io.hpp"
#include "lamin/db/uid.hpp"
#include "lamin/error.hpp"

namespace fs = std::filesystem;

namespace lamin::detail {
namespace {

[[noreturn]] void fail(const std::string& what, const fs::path& p, int err) {
  std::string msg = what + " '" + p.string() + "': " + std::strerror(err);
  if (err == ENOSPC) msg += " (the disk is full)";
  throw StorageError(msg);
}

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

void copy_bytes(int in, int out, const fs::path& src, const fs::path& tmp) {
  // copy_file_range first (in-kernel, may share extents), then a plain read/write loop.
  off_t in_off = 0;
  bool fallback = false;
  while (true) {
    const ssize_t n = ::copy_file_range(in, &in_off, out, nullptr, 1 << 30, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EXDEV || errno == ENOSYS || errno == EINVAL || errno == EOPNOTSUPP) {
        fallback = true;
        break;
      }
      fail("cannot copy into", tmp, errno);
    }
    if (n == 0) break;
  }
  if (!fallback) return;
  if (::ftruncate(out, 0) != 0 || ::lseek(out, 0, SEEK_SET) != 0) fail("cannot rewind", tmp, errno);
  constexpr std::size_t kBuffer = 4 << 20;
  std::unique_ptr<char[]> buf(new char[kBuffer]);
  off_t off = 0;
  while (true) {
    const ssize_t n = ::pread(in, buf.get(), kBuffer, off);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("cannot read", src, errno);
    }
    if (n == 0) break;
    FileWriter w(out, tmp);
    w.write(buf.get(), static_cast<std::size_t>(n));
    off += n;
  }
}

}  // namespace

StoredBy store_file(const fs::path& source, const fs::path& dest, StorageMode mode, std::uint64_t expected_size) {
  const fs::path dir = dest.parent_path();
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw StorageError("cannot create folder '" + dir.string() + "': " + ec.message());

  if (mode == StorageMode::link) {
    if (::link(source.c_str(), dest.c_str()) == 0) {
      struct stat st {};
      if (::stat(dest.c_str(), &st) != 0 || static_cast<std::uint64_t>(st.st_size) != expected_size) {
        ::unlink(dest.c_str());
        throw StorageError("file '" + source.string() + "' changed while it was registered");
      }
      fsync_directory(dir);
      return StoredBy::hard_link;
    }
    if (errno == EEXIST) fail("cannot store file at", dest, EEXIST);
    // EXDEV (other filesystem), EPERM (filesystem without hard links), ...: fall back to a copy.
  }

  Fd in{::open(source.c_str(), O_RDONLY | O_CLOEXEC)};
  if (in.fd < 0) fail("cannot open", source, errno);
  const fs::path tmp = dir / (std::string(kStorageTempPrefix) + dest.filename().string() + "-" + base62_uid(8));
  Fd out{::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644)};
  if (out.fd < 0) fail("cannot create a file in", dir, errno);
  StoredBy how = StoredBy::copy;
  try {
#ifdef FICLONE
    if (::ioctl(out.fd, FICLONE, in.fd) == 0) how = StoredBy::reflink;
#endif
    if (how == StoredBy::copy) copy_bytes(in.fd, out.fd, source, tmp);
    struct stat st {};
    if (::fstat(out.fd, &st) != 0) fail("cannot stat", tmp, errno);
    if (static_cast<std::uint64_t>(st.st_size) != expected_size) {
      throw StorageError("file '" + source.string() + "' changed while it was registered");
    }
    if (::fsync(out.fd) != 0) fail("cannot sync", tmp, errno);
    const int fd = out.fd;
    out.fd = -1;
    if (::close(fd) != 0) fail("cannot close", tmp, errno);
    // link() instead of rename(): never replaces an existing file.
    if (::link(tmp.c_str(), dest.c_str()) != 0) fail("cannot store file at", dest, errno);
    ::unlink(tmp.c_str());
    fsync_directory(dir);
  } catch (...) {
    ::unlink(tmp.c_str());
    throw;
  }
  return how;
}

}  // namespace lamin::detail
