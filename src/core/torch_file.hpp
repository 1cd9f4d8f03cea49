#pragma once
// The files Python's `torch.save` writes, read without LibTorch and without running any pickled code:
//  - the zip archive of torch >= 1.6: `<folder>/data.pkl`, `<folder>/data/<key>` (one per storage),
//    `<folder>/version`, and since torch 2.1 `<folder>/byteorder`; any folder name;
//  - the legacy format (`_use_new_zipfile_serialization=False`): pickles of the magic number, the protocol version
//    and sys_info, the main pickle, the list of storage keys, then for each key an int64 element count and the raw
//    bytes.
// The main pickle comes back as a PickleValue tree (pickle.hpp) with the allowlist of torch.load(weights_only=True).
// Each storage it names by persistent id `('storage', storage_type, key, location, numel)` is one TorchStorage:
// its dtype, its location and where its bytes lie in the file; every reference to a key is the same value.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "pickle.hpp"
#include "zip_reader.hpp"

namespace lamin::detail {

enum class TorchFileFormat { kZip, kLegacy };

/// One storage of a torch.save file.
struct TorchStorage {
  std::string key;           // "0", "1", ... in zip files; an id in legacy ones
  std::string storage_type;  // the global the id names: "torch.FloatStorage", "torch.storage.UntypedStorage"
  std::string dtype;         // "float32", "int64", "bfloat16", ...; "uint8" for an untyped storage
  std::size_t element_size = 1;
  std::string location;                // "cpu", "cuda:0", ... as saved
  std::uint64_t numel = 0;             // elements of `dtype`
  std::uint64_t offset = 0;            // first data byte, in the file
  std::uint64_t nbytes = 0;            // numel * element_size
  std::optional<std::uint32_t> crc32;  // zip files: the entry's CRC-32, checked by TorchFile::read_storage
  PickleValuePtr value;  // the kPersistentId value the tree holds for this storage, shared by every reference
};

/// dtype name and element size of a storage class ("FloatStorage" -> float32, 4); false for unknown names.
bool torch_storage_dtype(std::string_view storage_class, std::string& dtype, std::size_t& element_size);

/// A file written by torch.save, opened and checked: its main pickle is read, its storages located (their bytes
/// are read only on request). Every failure is a lamin::IntegrityError naming the file: a truncated file, a
/// compressed entry, a file saved on a big-endian machine, a global outside the allowlist, a missing record.
class TorchFile {
 public:
  /// Throws lamin::NotFoundError for a missing file, lamin::StorageError for an unreadable one.
  static TorchFile open(const std::filesystem::path& path);
  static TorchFile from_bytes(std::string bytes, std::string name = "<memory>");
  static TorchFile from_source(std::shared_ptr<const ByteSource> source);

  TorchFileFormat format() const { return format_; }
  /// The path or name the file was opened with.
  const std::string& name() const { return source_->name(); }
  /// The main pickle's value tree.
  const PickleValuePtr& data() const { return data_; }
  /// Zip files: the folder that holds data.pkl ("archive", or the saved file's stem). Legacy files: "".
  const std::string& archive_folder() const { return folder_; }
  /// Zip files: the number in `<folder>/version` (0 if absent). Legacy files: the protocol version, 1001.
  std::int64_t version() const { return version_; }
  /// Every storage the pickle names, in order of first reference.
  const std::vector<TorchStorage>& storages() const { return storages_; }
  /// The storage with `key`; throws lamin::IntegrityError if the pickle names none.
  const TorchStorage& storage(std::string_view key) const;
  /// The storage a kPersistentId value of data() stands for, or null if `value` is not one.
  const TorchStorage* storage_of(const PickleValue& value) const;
  /// The storage's raw bytes (little-endian elements). Zip files: checked against the entry's CRC-32.
  std::string read_storage(const TorchStorage& storage) const;
  /// read_storage() into `storage.nbytes` bytes at `out`.
  void read_storage_into(const TorchStorage& storage, void* out) const;

 private:
  explicit TorchFile(std::shared_ptr<const ByteSource> source) : source_(std::move(source)) {}
  void load_zip();
  void load_legacy();
  bool parse_legacy_prefix(std::string_view prefix, bool complete, std::uint64_t& table_offset, PickleValuePtr& keys);
  void locate_legacy_storages(std::uint64_t table_offset, const PickleValue& keys);
  PickleValuePtr persistent_load(const PickleValuePtr& pid, bool legacy);
  [[noreturn]] void fail(const std::string& what) const;

  std::shared_ptr<const ByteSource> source_;
  TorchFileFormat format_ = TorchFileFormat::kZip;
  PickleValuePtr data_;
  std::string folder_;
  std::int64_t version_ = 0;
  std::vector<TorchStorage> storages_;
  std::unordered_map<std::string, std::size_t> index_;
};

}  // namespace lamin::detail
