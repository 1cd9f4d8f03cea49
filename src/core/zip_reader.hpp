#pragma once
// Random access to the bytes of a file (or a buffer), and a reader of the ZIP archives `torch.save` writes: entries
// STORED (uncompressed), ZIP64 where needed, alignment padding in the local headers' extra fields. Only stored
// entries can be read; compressed ones are refused. No zlib, no LibTorch.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace lamin::detail {

/// Bytes that can be read at any offset: an open file (read with pread, never all at once) or a buffer.
class ByteSource {
 public:
  /// Throws lamin::NotFoundError for a missing file, lamin::StorageError for one that cannot be read.
  static std::shared_ptr<const ByteSource> open_file(const std::filesystem::path& path);
  static std::shared_ptr<const ByteSource> from_bytes(std::string bytes, std::string name);

  virtual ~ByteSource() = default;
  virtual std::uint64_t size() const = 0;
  /// `n` bytes at `offset`. Throws lamin::IntegrityError naming the source if they run past the end
  /// ("truncated"), lamin::StorageError on a read failure.
  virtual std::string read(std::uint64_t offset, std::size_t n) const = 0;
  /// read(), into `n` bytes at `out` (a tensor's memory, without an intermediate copy).
  virtual void read_into(std::uint64_t offset, std::size_t n, void* out) const;
  /// The path or name given at creation, for messages.
  const std::string& name() const { return name_; }

 protected:
  explicit ByteSource(std::string name) : name_(std::move(name)) {}
  /// Throws the "truncated" IntegrityError unless [offset, offset + n) lies inside the source.
  void check_range(std::uint64_t offset, std::uint64_t n) const;

 private:
  std::string name_;
};

/// One entry of the central directory.
struct ZipEntry {
  std::string name;
  std::uint64_t local_header_offset = 0;
  std::uint64_t compressed_size = 0;
  std::uint64_t size = 0;  // uncompressed
  std::uint32_t crc32 = 0;
  std::uint16_t method = 0;  // 0: stored
  std::uint16_t flags = 0;
};

/// A ZIP archive's central directory, read once at construction. Throws lamin::IntegrityError naming the file for
/// anything that is not a complete archive (a truncated file has no end-of-central-directory record).
class ZipReader {
 public:
  explicit ZipReader(std::shared_ptr<const ByteSource> source);

  const std::vector<ZipEntry>& entries() const { return entries_; }
  /// The entry called `name`, or null.
  const ZipEntry* find(std::string_view name) const;
  /// Offset in the source of the entry's first data byte (read from its local header). Throws lamin::IntegrityError
  /// for a compressed or encrypted entry, or one whose data lies outside the file.
  std::uint64_t data_offset(const ZipEntry& entry) const;
  /// The entry's bytes, checked against its CRC-32.
  std::string read(const ZipEntry& entry) const;
  const ByteSource& source() const { return *source_; }

 private:
  [[noreturn]] void fail(const std::string& what) const;
  void read_central_directory(std::uint64_t offset, std::uint64_t size, std::uint64_t count);

  std::shared_ptr<const ByteSource> source_;
  std::vector<ZipEntry> entries_;
};

/// CRC-32 (the ZIP / zlib polynomial) of `data`, continuing from `crc`.
std::uint32_t crc32(std::string_view data, std::uint32_t crc = 0);

}  // namespace lamin::detail
