#include "lamin/db/hash.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <vector>

#include "lamin/error.hpp"

namespace lamin {
namespace {

// MD5, looked up once: EVP_md5() makes every initialisation look the implementation up again (OpenSSL 3).
const EVP_MD* md5() {
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
  static EVP_MD* fetched = EVP_MD_fetch(nullptr, "MD5", nullptr);
  if (fetched) return fetched;
#endif
  return EVP_md5();
}

struct MdCtx {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  explicit MdCtx(const EVP_MD* md) { EVP_DigestInit_ex(ctx, md, nullptr); }
  ~MdCtx() { EVP_MD_CTX_free(ctx); }
  MdCtx(const MdCtx&) = delete;
  MdCtx& operator=(const MdCtx&) = delete;
  void update(const void* p, std::size_t n) { EVP_DigestUpdate(ctx, p, n); }
  std::vector<unsigned char> finish() {
    std::vector<unsigned char> d(EVP_MAX_MD_SIZE);
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx, d.data(), &len);
    d.resize(len);
    return d;
  }
};

struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

[[noreturn]] void io_fail(const std::string& what, const std::filesystem::path& path, int err) {
  if (err == ENOENT) throw NotFoundError("No such file: '" + path.string() + "'");
  throw StorageError(what + " '" + path.string() + "': " + std::strerror(err));
}

// Feeds bytes [offset, offset + length) of the file into `ctx`.
void digest_range(int fd, const std::filesystem::path& path, std::uint64_t offset, std::uint64_t length, MdCtx& ctx) {
  constexpr std::size_t kBuffer = 4 << 20;
  static thread_local std::unique_ptr<char[]> buffer(new char[kBuffer]);
  while (length > 0) {
    const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(length, kBuffer));
    const ssize_t n = ::pread(fd, buffer.get(), want, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      io_fail("cannot read", path, errno);
    }
    if (n == 0) throw StorageError("file '" + path.string() + "' changed size while it was hashed");
    ctx.update(buffer.get(), static_cast<std::size_t>(n));
    offset += static_cast<std::uint64_t>(n);
    length -= static_cast<std::uint64_t>(n);
  }
}

}  // namespace

std::string b64_hash(const unsigned char* digest, std::size_t size) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < size; i += 3) {
    const unsigned v = (digest[i] << 16) | (digest[i + 1] << 8) | digest[i + 2];
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (size - i == 1) {
    const unsigned v = digest[i] << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
  } else if (size - i == 2) {
    const unsigned v = (digest[i] << 16) | (digest[i + 1] << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
  }
  return out.substr(0, 22);
}

std::string hash_string(std::string_view text) {
  // Feature values are hashed one by one, thousands per re-ranking: one context per thread, reinitialised.
  thread_local const std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!ctx || EVP_DigestInit_ex(ctx.get(), md5(), nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), text.data(), text.size()) != 1 || EVP_DigestFinal_ex(ctx.get(), digest, &len) != 1) {
    throw ConfigurationError("MD5 is not available from OpenSSL");
  }
  return b64_hash(digest, len);
}

FileHash hash_file(const std::filesystem::path& path, std::uint64_t chunk_size) {
  if (chunk_size == 0) throw ValidationError("hash_file: chunk_size must be positive");
  Fd f{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (f.fd < 0) io_fail("cannot open", path, errno);
  struct stat st {};
  if (::fstat(f.fd, &st) != 0) io_fail("cannot stat", path, errno);
  if (!S_ISREG(st.st_mode)) throw ValidationError("'" + path.string() + "' is not a regular file");
  const auto size = static_cast<std::uint64_t>(st.st_size);
#ifdef POSIX_FADV_SEQUENTIAL
  ::posix_fadvise(f.fd, 0, 0, POSIX_FADV_SEQUENTIAL);
#endif
  FileHash result;
  result.size = size;
  if (size <= chunk_size) {
    MdCtx whole(md5());
    digest_range(f.fd, path, 0, size, whole);
    const auto d = whole.finish();
    result.hash = b64_hash(d.data(), d.size());
    result.hash_type = "md5";
  } else {
    MdCtx first(EVP_sha1());
    digest_range(f.fd, path, 0, chunk_size, first);
    MdCtx last(EVP_sha1());
    digest_range(f.fd, path, size - chunk_size, chunk_size, last);
    const auto a = first.finish();
    const auto b = last.finish();
    MdCtx outer(EVP_sha1());
    outer.update(a.data(), a.size());
    outer.update(b.data(), b.size());
    const auto d = outer.finish();
    result.hash = b64_hash(d.data(), d.size());
    result.hash_type = "sha1-fl";
  }
  return result;
}

}  // namespace lamin
