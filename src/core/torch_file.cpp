// TorchFile: torch.save's zip and legacy containers around the weights-only unpickler.
#include "torch_file.hpp"

#include <algorithm>

#include "lamin/error.hpp"

namespace lamin::detail {

namespace {

struct StorageClass {
  const char* name;
  const char* dtype;
  std::size_t element_size;
};
constexpr StorageClass kStorageClasses[] = {{"DoubleStorage", "float64", 8},
                                            {"FloatStorage", "float32", 4},
                                            {"HalfStorage", "float16", 2},
                                            {"BFloat16Storage", "bfloat16", 2},
                                            {"LongStorage", "int64", 8},
                                            {"IntStorage", "int32", 4},
                                            {"ShortStorage", "int16", 2},
                                            {"CharStorage", "int8", 1},
                                            {"ByteStorage", "uint8", 1},
                                            {"BoolStorage", "bool", 1},
                                            {"ComplexFloatStorage", "complex64", 8},
                                            {"ComplexDoubleStorage", "complex128", 16},
                                            {"QInt8Storage", "qint8", 1},
                                            {"QUInt8Storage", "quint8", 1},
                                            {"QInt32Storage", "qint32", 4},
                                            {"QUInt4x2Storage", "quint4x2", 1},
                                            {"QUInt2x4Storage", "quint2x4", 1},
                                            {"UntypedStorage", "uint8", 1}};

constexpr std::int64_t kLegacyProtocolVersion = 1001;
// torch.serialization.MAGIC_NUMBER, 0x1950a86a20f9469cfc6c, as little-endian bytes.
constexpr char kLegacyMagic[] = "\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19";
constexpr std::size_t kLegacyFirstRead = 1 << 20;

// A str, or bytes holding ASCII (Python 2 pickles), as text; false for anything else.
bool text_of(const PickleValue& v, std::string& out) {
  if (v.is(PickleKind::kString) || v.is(PickleKind::kBytes)) {
    out = v.is(PickleKind::kString) ? v.as_string() : v.as_bytes();
    return true;
  }
  return false;
}

}  // namespace

bool torch_storage_dtype(std::string_view storage_class, std::string& dtype, std::size_t& element_size) {
  for (const auto& c : kStorageClasses) {
    if (storage_class == c.name) {
      dtype = c.dtype;
      element_size = c.element_size;
      return true;
    }
  }
  return false;
}

void TorchFile::fail(const std::string& what) const { throw lamin::IntegrityError(name() + ": " + what); }

TorchFile TorchFile::open(const std::filesystem::path& path) { return from_source(ByteSource::open_file(path)); }

TorchFile TorchFile::from_bytes(std::string bytes, std::string name) {
  return from_source(ByteSource::from_bytes(std::move(bytes), std::move(name)));
}

TorchFile TorchFile::from_source(std::shared_ptr<const ByteSource> source) {
  TorchFile file(std::move(source));
  const std::uint64_t size = file.source_->size();
  const std::string head = file.source_->read(0, static_cast<std::size_t>(std::min<std::uint64_t>(size, 4)));
  if (head == "PK\x03\x04" || head == "PK\x05\x06") {
    file.format_ = TorchFileFormat::kZip;
    file.load_zip();
  } else {
    if (size >= 262 && file.source_->read(257, 5) == "ustar") {
      file.fail("this is the tar format of torch.save before torch 0.4, which lamin-cpp does not read");
    }
    file.format_ = TorchFileFormat::kLegacy;
    file.load_legacy();
  }
  return file;
}

const TorchStorage& TorchFile::storage(std::string_view key) const {
  const auto it = index_.find(std::string(key));
  if (it == index_.end()) fail("no storage with key '" + std::string(key) + "'");
  return storages_[it->second];
}

const TorchStorage* TorchFile::storage_of(const PickleValue& value) const {
  if (!value.is(PickleKind::kPersistentId)) return nullptr;
  const PickleValue& pid = *value.pid();
  if (!pid.is(PickleKind::kTuple) || pid.size() < 3) return nullptr;
  std::string key;
  if (pid.at(2)->is(PickleKind::kInt)) {
    key = std::to_string(pid.at(2)->as_int());
  } else if (!text_of(*pid.at(2), key)) {
    return nullptr;
  }
  const auto it = index_.find(key);
  return it == index_.end() ? nullptr : &storages_[it->second];
}

void TorchFile::read_storage_into(const TorchStorage& storage, void* out) const {
  // In slices small enough to stay in cache between the read and the checksum.
  constexpr std::size_t kSlice = std::size_t{1} << 20;
  char* dst = static_cast<char*>(out);
  const auto n = static_cast<std::size_t>(storage.nbytes);
  std::uint32_t crc = 0;
  for (std::size_t done = 0; done < n;) {
    const std::size_t len = std::min(kSlice, n - done);
    source_->read_into(storage.offset + done, len, dst + done);
    if (storage.crc32) crc = crc32(std::string_view(dst + done, len), crc);
    done += len;
  }
  if (storage.crc32 && crc != *storage.crc32) {
    fail("CRC-32 mismatch in the data of storage '" + storage.key + "': the file is corrupt");
  }
}

std::string TorchFile::read_storage(const TorchStorage& storage) const {
  std::string bytes = source_->read(storage.offset, static_cast<std::size_t>(storage.nbytes));
  if (storage.crc32 && crc32(bytes) != *storage.crc32) {
    fail("CRC-32 mismatch in the data of storage '" + storage.key + "': the file is corrupt");
  }
  return bytes;
}

// ('storage', storage_type, key, location, numel) in zip files; legacy files add view_metadata, always None since
// torch 1.x. Every id with one key yields the same value.
PickleValuePtr TorchFile::persistent_load(const PickleValuePtr& pid, bool legacy) {
  std::string tag;
  if (!pid->is(PickleKind::kTuple) || pid->size() == 0 || !text_of(*pid->at(0), tag) || tag != "storage") {
    throw lamin::IntegrityError(
        std::string("Only persistent_load of storage is allowed, but got a ") +
        (pid->is(PickleKind::kTuple) && pid->size() ? pid->at(0)->type_name() : pid->type_name()));
  }
  const std::size_t expected = legacy ? 6 : 5;
  if (pid->size() != expected) {
    throw lamin::IntegrityError("a storage id has " + std::to_string(pid->size()) + " fields, not " +
                                std::to_string(expected));
  }
  if (legacy && !pid->at(5)->is(PickleKind::kNone)) {
    throw lamin::IntegrityError("storage views of the legacy format (before torch 1.0) are not supported");
  }
  const PickleValue& type = *pid->at(1);
  TorchStorage s;
  if (!type.is(PickleKind::kGlobal) || !torch_storage_dtype(type.name(), s.dtype, s.element_size)) {
    throw lamin::IntegrityError(std::string("a storage id names the storage type ") +
                                (type.is(PickleKind::kGlobal) ? type.qualified_name() : type.type_name()) +
                                ", which has no dtype");
  }
  s.storage_type = type.qualified_name();
  if (pid->at(2)->is(PickleKind::kInt)) {
    s.key = std::to_string(pid->at(2)->as_int());
  } else if (!text_of(*pid->at(2), s.key)) {
    throw lamin::IntegrityError("a storage key must be a str");
  }
  if (!text_of(*pid->at(3), s.location)) throw lamin::IntegrityError("a storage location must be a str");
  const std::int64_t numel = pid->at(4)->as_int();
  if (numel < 0 || static_cast<std::uint64_t>(numel) > UINT64_MAX / s.element_size) {
    throw lamin::IntegrityError("storage '" + s.key + "' has an impossible size " + std::to_string(numel));
  }
  s.numel = static_cast<std::uint64_t>(numel);
  s.nbytes = s.numel * s.element_size;
  const auto it = index_.find(s.key);
  if (it != index_.end()) {
    const TorchStorage& known = storages_[it->second];
    if (known.nbytes != s.nbytes || known.dtype != s.dtype) {
      throw lamin::IntegrityError("storage '" + s.key + "' is named twice with different types or sizes");
    }
    return known.value;
  }
  s.value = PickleValue::persistent_id(pid);
  index_.emplace(s.key, storages_.size());
  storages_.push_back(std::move(s));
  return storages_.back().value;
}

// ---- zip ----------------------------------------------------------------------------------------------------------

void TorchFile::load_zip() {
  const ZipReader zip(source_);
  for (const auto& e : zip.entries()) {
    const std::size_t slash = e.name.find('/');
    if (slash != std::string::npos && slash > 0 && e.name.compare(slash, std::string::npos, "/data.pkl") == 0) {
      folder_ = e.name.substr(0, slash);
      break;
    }
  }
  if (folder_.empty()) fail("no <folder>/data.pkl record: not a file torch.save writes");
  const std::string prefix = folder_ + "/";
  if (const ZipEntry* order = zip.find(prefix + "byteorder")) {
    const std::string value = zip.read(*order);
    if (value == "big") {
      fail(
          "it was saved on a big-endian machine (byteorder 'big'); lamin-cpp reads only little-endian files. "
          "Load it with torch.load and save it again on a little-endian machine");
    }
    if (value != "little") fail("unknown byteorder record '" + value + "'");
  }
  const ZipEntry* version = zip.find(prefix + "version");
  if (!version) version = zip.find(prefix + ".data/version");
  if (version) {
    const std::string text = zip.read(*version);
    try {
      version_ = std::stoll(text);
    } catch (const std::exception&) {
      fail("unreadable version record '" + text + "'");
    }
  }
  const std::string pickle = zip.read(*zip.find(prefix + "data.pkl"));
  UnpickleOptions options;
  options.source(name() + " (" + prefix + "data.pkl)").persistent_load([this](const PickleValuePtr& pid) {
    return persistent_load(pid, false);
  });
  data_ = unpickle(pickle, options);
  for (auto& s : storages_) {
    const ZipEntry* entry = zip.find(prefix + "data/" + s.key);
    if (!entry) fail("missing record " + prefix + "data/" + s.key + " for storage '" + s.key + "'");
    if (entry->size != s.nbytes) {
      fail("record " + entry->name + " has " + std::to_string(entry->size) + " bytes but its storage needs " +
           std::to_string(s.nbytes));
    }
    s.offset = zip.data_offset(*entry);
    s.crc32 = entry->crc32;
  }
}

// ---- legacy -------------------------------------------------------------------------------------------------------

void TorchFile::load_legacy() {
  const std::uint64_t size = source_->size();
  std::uint64_t want = std::min<std::uint64_t>(size, kLegacyFirstRead);
  std::uint64_t table_offset = 0;
  PickleValuePtr keys;
  // The pickles' total length is known only once they are read: read a prefix, and more while they run past it.
  while (true) {
    const std::string prefix = source_->read(0, static_cast<std::size_t>(want));
    if (parse_legacy_prefix(prefix, want == size, table_offset, keys)) break;
    want = std::min<std::uint64_t>(size, want * 4);
  }
  locate_legacy_storages(table_offset, *keys);
}

bool TorchFile::parse_legacy_prefix(std::string_view prefix, bool complete, std::uint64_t& table_offset,
                                    PickleValuePtr& keys) {
  storages_.clear();
  index_.clear();
  std::size_t offset = 0;
  try {
    UnpickleOptions plain;
    plain.source(name());
    PickleValuePtr magic;
    try {
      magic = unpickle(prefix, offset, plain);
    } catch (const PickleTruncatedError&) {
      throw;
    } catch (const lamin::IntegrityError& e) {
      fail(std::string("not a file torch.save writes (") + e.what() + ")");
    }
    const bool is_int = magic->is(PickleKind::kInt) || magic->is(PickleKind::kBigInt);
    if (!is_int || magic->int_bytes() != std::string(kLegacyMagic, sizeof kLegacyMagic - 1)) {
      fail("invalid magic number: not a file torch.save writes, or a corrupt one");
    }
    const PickleValuePtr protocol = unpickle(prefix, offset, plain);
    if (!protocol->is(PickleKind::kInt) || protocol->as_int() != kLegacyProtocolVersion) {
      fail("invalid protocol version: " + pickle_repr(*protocol));
    }
    version_ = kLegacyProtocolVersion;
    const PickleValuePtr sys_info = unpickle(prefix, offset, plain);
    const PickleValuePtr little = sys_info->is(PickleKind::kDict) ? sys_info->get("little_endian") : nullptr;
    if (little && little->is(PickleKind::kBool) && !little->as_bool()) {
      fail("it was saved on a big-endian machine (little_endian=False); lamin-cpp reads only little-endian files");
    }
    UnpickleOptions main;
    main.source(name()).persistent_load([this](const PickleValuePtr& pid) { return persistent_load(pid, true); });
    data_ = unpickle(prefix, offset, main);
    keys = unpickle(prefix, offset, plain);
  } catch (const PickleTruncatedError&) {
    if (complete) throw;
    return false;
  }
  table_offset = offset;
  return true;
}

void TorchFile::locate_legacy_storages(std::uint64_t table_offset, const PickleValue& keys) {
  if (!keys.is(PickleKind::kList)) fail("the list of storage keys is a " + std::string(keys.type_name()));
  std::uint64_t pos = table_offset;
  std::size_t located = 0;
  for (const auto& key_value : keys.items()) {
    std::string key;
    if (!text_of(*key_value, key)) fail("a storage key is a " + std::string(key_value->type_name()));
    const auto it = index_.find(key);
    if (it == index_.end()) fail("storage key '" + key + "' is listed but the pickle never names it");
    TorchStorage& s = storages_[it->second];
    const std::string count_bytes = source_->read(pos, 8);
    std::uint64_t count = 0;
    for (int i = 0; i < 8; ++i) count |= std::uint64_t(static_cast<unsigned char>(count_bytes[i])) << (8 * i);
    if (count != s.numel) {
      fail("storage '" + key + "' has " + std::to_string(count) + " elements in the file but " +
           std::to_string(s.numel) + " in the pickle");
    }
    s.offset = pos + 8;
    if (s.offset > source_->size() || s.nbytes > source_->size() - s.offset) {
      fail("the file is truncated: storage '" + key + "' needs bytes " + std::to_string(s.offset) + " to " +
           std::to_string(s.offset + s.nbytes) + " but the file has " + std::to_string(source_->size()));
    }
    pos = s.offset + s.nbytes;
    ++located;
  }
  if (located != storages_.size()) fail("the pickle names storages that the file does not hold");
}

}  // namespace lamin::detail
