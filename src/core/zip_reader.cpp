// ByteSource over files and buffers, and the ZIP central-directory reader (APPNOTE.TXT sections 4.3 and 4.5).
#include "zip_reader.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

#include "lamin/error.hpp"

namespace lamin::detail {

// ---- ByteSource ---------------------------------------------------------------------------------------------------

void ByteSource::check_range(std::uint64_t offset, std::uint64_t n) const {
  if (offset > size() || n > size() - offset) {
    throw lamin::IntegrityError(name_ + ": the file is truncated: bytes " + std::to_string(offset) + " to " +
                                std::to_string(offset + n) + " are needed but it has " + std::to_string(size()));
  }
}

void ByteSource::read_into(std::uint64_t offset, std::size_t n, void* out) const {
  const std::string bytes = read(offset, n);
  if (n > 0) std::memcpy(out, bytes.data(), n);
}

namespace {

class FileSource : public ByteSource {
 public:
  FileSource(int fd, std::uint64_t size, std::string name) : ByteSource(std::move(name)), fd_(fd), size_(size) {}
  ~FileSource() override { ::close(fd_); }
  std::uint64_t size() const override { return size_; }
  std::string read(std::uint64_t offset, std::size_t n) const override {
    std::string out(n, '\0');
    read_into(offset, n, out.data());
    return out;
  }
  void read_into(std::uint64_t offset, std::size_t n, void* out) const override {
    check_range(offset, n);
    char* dst = static_cast<char*>(out);
    std::size_t done = 0;
    while (done < n) {
      const ssize_t got = ::pread(fd_, dst + done, n - done, static_cast<off_t>(offset + done));
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) throw lamin::StorageError(name() + ": read failed: " + std::strerror(errno));
      if (got == 0) throw lamin::IntegrityError(name() + ": the file is truncated (it shrank while being read)");
      done += static_cast<std::size_t>(got);
    }
  }

 private:
  int fd_;
  std::uint64_t size_;
};

class BufferSource : public ByteSource {
 public:
  BufferSource(std::string bytes, std::string name) : ByteSource(std::move(name)), bytes_(std::move(bytes)) {}
  std::uint64_t size() const override { return bytes_.size(); }
  std::string read(std::uint64_t offset, std::size_t n) const override {
    check_range(offset, n);
    return bytes_.substr(static_cast<std::size_t>(offset), n);
  }

 private:
  std::string bytes_;
};

}  // namespace

std::shared_ptr<const ByteSource> ByteSource::open_file(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT) throw lamin::NotFoundError("No such file or directory: '" + path.string() + "'");
    throw lamin::StorageError("cannot open '" + path.string() + "': " + std::strerror(err));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw lamin::StorageError("cannot read '" + path.string() + "': not a regular file");
  }
  return std::make_shared<FileSource>(fd, static_cast<std::uint64_t>(st.st_size), path.string());
}

std::shared_ptr<const ByteSource> ByteSource::from_bytes(std::string bytes, std::string name) {
  return std::make_shared<BufferSource>(std::move(bytes), std::move(name));
}

// ---- CRC-32 -------------------------------------------------------------------------------------------------------

// Slicing-by-8: eight bytes per step through eight tables (several times the speed of one table a byte, which
// matters for gigabyte checkpoints).
std::uint32_t crc32(std::string_view data, std::uint32_t crc) {
  static const auto tables = [] {
    std::array<std::array<std::uint32_t, 256>, 8> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[0][i] = c;
    }
    for (std::uint32_t i = 0; i < 256; ++i) {
      for (std::size_t k = 1; k < 8; ++k) t[k][i] = (t[k - 1][i] >> 8) ^ t[0][t[k - 1][i] & 0xff];
    }
    return t;
  }();
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  std::size_t n = data.size();
  crc = ~crc;
  for (; n >= 8; p += 8, n -= 8) {
    const std::uint32_t lo = crc ^ (std::uint32_t{p[0]} | std::uint32_t{p[1]} << 8 | std::uint32_t{p[2]} << 16 |
                                    std::uint32_t{p[3]} << 24);
    crc = tables[7][lo & 0xff] ^ tables[6][(lo >> 8) & 0xff] ^ tables[5][(lo >> 16) & 0xff] ^ tables[4][lo >> 24] ^
          tables[3][p[4]] ^ tables[2][p[5]] ^ tables[1][p[6]] ^ tables[0][p[7]];
  }
  for (; n > 0; ++p, --n) crc = tables[0][(crc ^ *p) & 0xff] ^ (crc >> 8);
  return ~crc;
}

// ---- ZIP ----------------------------------------------------------------------------------------------------------

namespace {

constexpr std::uint32_t kLocalHeader = 0x04034b50;
constexpr std::uint32_t kCentralHeader = 0x02014b50;
constexpr std::uint32_t kEndOfCentralDirectory = 0x06054b50;
constexpr std::uint32_t kZip64EndOfCentralDirectory = 0x06064b50;
constexpr std::uint32_t kZip64Locator = 0x07064b50;
constexpr std::size_t kEocdSize = 22;
constexpr std::size_t kCentralHeaderSize = 46;
constexpr std::size_t kLocalHeaderSize = 30;

// Little-endian fields of a record; reading past its end means the record is cut short.
class Fields {
 public:
  Fields(std::string_view bytes, bool* ok) : bytes_(bytes), ok_(ok) {}
  std::uint64_t get(std::size_t offset, int width) const {
    if (offset + static_cast<std::size_t>(width) > bytes_.size()) {
      *ok_ = false;
      return 0;
    }
    std::uint64_t v = 0;
    for (int i = 0; i < width; ++i) v |= std::uint64_t(static_cast<unsigned char>(bytes_[offset + i])) << (8 * i);
    return v;
  }
  std::uint16_t u16(std::size_t offset) const { return static_cast<std::uint16_t>(get(offset, 2)); }
  std::uint32_t u32(std::size_t offset) const { return static_cast<std::uint32_t>(get(offset, 4)); }
  std::uint64_t u64(std::size_t offset) const { return get(offset, 8); }

 private:
  std::string_view bytes_;
  bool* ok_;
};

// Replaces the 0xFFFFFFFF fields of a central header with the values of its ZIP64 extra field (id 0x0001).
bool apply_zip64_extra(std::string_view extra, ZipEntry& e, bool offset_in_extra) {
  bool ok = true;
  const Fields f(extra, &ok);
  for (std::size_t pos = 0; pos + 4 <= extra.size();) {
    const std::uint16_t id = f.u16(pos);
    const std::uint16_t len = f.u16(pos + 2);
    if (id == 0x0001) {
      std::size_t at = pos + 4;
      if (e.size == 0xFFFFFFFFu) e.size = f.u64(at), at += 8;
      if (e.compressed_size == 0xFFFFFFFFu) e.compressed_size = f.u64(at), at += 8;
      if (offset_in_extra) e.local_header_offset = f.u64(at), at += 8;
      return ok && at <= pos + 4 + len;
    }
    pos += 4 + std::size_t(len);
  }
  return !(e.size == 0xFFFFFFFFu || e.compressed_size == 0xFFFFFFFFu || offset_in_extra);
}

}  // namespace

void ZipReader::fail(const std::string& what) const { throw lamin::IntegrityError(source_->name() + ": " + what); }

ZipReader::ZipReader(std::shared_ptr<const ByteSource> source) : source_(std::move(source)) {
  const std::uint64_t size = source_->size();
  if (size < kEocdSize) fail("not a zip archive, or a truncated one (" + std::to_string(size) + " bytes)");
  const std::uint64_t tail_size = std::min<std::uint64_t>(size, kEocdSize + 0xFFFF);
  const std::string tail = source_->read(size - tail_size, static_cast<std::size_t>(tail_size));
  bool ok = true;
  const Fields t(tail, &ok);
  std::size_t eocd = std::string::npos;
  for (std::size_t i = tail.size() - kEocdSize + 1; i-- > 0;) {
    if (t.u32(i) == kEndOfCentralDirectory && i + kEocdSize + t.u16(i + 20) <= tail.size()) {
      eocd = i;
      break;
    }
  }
  if (eocd == std::string::npos) {
    fail("no end of central directory record: not a zip archive, or a truncated one");
  }
  std::uint64_t count = t.u16(eocd + 10);
  std::uint64_t cd_size = t.u32(eocd + 12);
  std::uint64_t cd_offset = t.u32(eocd + 16);
  const std::uint64_t eocd_at = size - tail_size + eocd;
  const std::string locator = eocd_at >= 20 ? source_->read(eocd_at - 20, 20) : std::string();
  if (!locator.empty() && Fields(locator, &ok).u32(0) == kZip64Locator) {
    const std::uint64_t z64_at = Fields(locator, &ok).u64(8);
    const std::string z64 = source_->read(z64_at, 56);
    const Fields z(z64, &ok);
    if (z.u32(0) != kZip64EndOfCentralDirectory) fail("bad ZIP64 end of central directory record");
    if (z.u32(16) != 0 || z.u32(20) != 0) fail("multi-disk zip archives are not supported");
    count = z.u64(32);
    cd_size = z.u64(40);
    cd_offset = z.u64(48);
  } else if (t.u16(eocd + 4) != 0 || t.u16(eocd + 6) != 0) {
    fail("multi-disk zip archives are not supported");
  }
  read_central_directory(cd_offset, cd_size, count);
}

void ZipReader::read_central_directory(std::uint64_t offset, std::uint64_t size, std::uint64_t count) {
  if (count > size / kCentralHeaderSize) fail("the central directory is too small for its entries");
  const std::string cd = source_->read(offset, static_cast<std::size_t>(size));
  bool ok = true;
  const Fields f(cd, &ok);
  std::size_t pos = 0;
  entries_.reserve(static_cast<std::size_t>(count));
  for (std::uint64_t i = 0; i < count; ++i) {
    if (f.u32(pos) != kCentralHeader || !ok) fail("bad central directory entry " + std::to_string(i));
    ZipEntry e;
    e.flags = f.u16(pos + 8);
    e.method = f.u16(pos + 10);
    e.crc32 = f.u32(pos + 16);
    e.compressed_size = f.u32(pos + 20);
    e.size = f.u32(pos + 24);
    const std::size_t name_len = f.u16(pos + 28);
    const std::size_t extra_len = f.u16(pos + 30);
    const std::size_t comment_len = f.u16(pos + 32);
    e.local_header_offset = f.u32(pos + 42);
    const std::size_t record = kCentralHeaderSize + name_len + extra_len + comment_len;
    if (!ok || pos + record > cd.size()) fail("central directory entry " + std::to_string(i) + " is cut short");
    e.name = cd.substr(pos + kCentralHeaderSize, name_len);
    const bool offset_in_extra = e.local_header_offset == 0xFFFFFFFFu;
    if (!apply_zip64_extra(std::string_view(cd).substr(pos + kCentralHeaderSize + name_len, extra_len), e,
                           offset_in_extra)) {
      fail("entry '" + e.name + "' lacks its ZIP64 extra field");
    }
    entries_.push_back(std::move(e));
    pos += record;
  }
}

const ZipEntry* ZipReader::find(std::string_view name) const {
  for (const auto& e : entries_)
    if (e.name == name) return &e;
  return nullptr;
}

std::uint64_t ZipReader::data_offset(const ZipEntry& entry) const {
  if (entry.flags & 0x1) fail("entry '" + entry.name + "' is encrypted");
  if (entry.method != 0) {
    fail("entry '" + entry.name + "' is compressed (method " + std::to_string(entry.method) +
         "); only stored entries can be read, which is how torch.save writes them");
  }
  if (entry.compressed_size != entry.size) fail("stored entry '" + entry.name + "' has two different sizes");
  const std::string header = source_->read(entry.local_header_offset, kLocalHeaderSize);
  bool ok = true;
  const Fields f(header, &ok);
  if (f.u32(0) != kLocalHeader) fail("bad local header for entry '" + entry.name + "'");
  const std::size_t name_len = f.u16(26);
  const std::size_t extra_len = f.u16(28);
  if (source_->read(entry.local_header_offset + kLocalHeaderSize, name_len) != entry.name) {
    fail("the local header of entry '" + entry.name + "' names another file");
  }
  const std::uint64_t offset = entry.local_header_offset + kLocalHeaderSize + name_len + extra_len;
  if (offset > source_->size() || entry.size > source_->size() - offset) {
    fail("the file is truncated: entry '" + entry.name + "' needs bytes " + std::to_string(offset) + " to " +
         std::to_string(offset + entry.size) + " but the file has " + std::to_string(source_->size()));
  }
  return offset;
}

std::string ZipReader::read(const ZipEntry& entry) const {
  std::string data = source_->read(data_offset(entry), static_cast<std::size_t>(entry.size));
  if (crc32(data) != entry.crc32) fail("CRC-32 mismatch in entry '" + entry.name + "': the file is corrupt");
  return data;
}

}  // namespace lamin::detail
