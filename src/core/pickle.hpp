#pragma once
// A reader for Python's pickle format (protocols 0 to 5) that executes nothing: it turns a pickle into a tree of
// PickleValue and accepts only the globals that `torch.load(weights_only=True)` accepts (torch 1.13 and 2.x).
// Calls of those globals (REDUCE, NEWOBJ, BUILD) are kept as records for the layer above to interpret, except the
// few that only build plain data (`collections.OrderedDict`, `builtins.set`, `_codecs.encode`, ...), which come back
// as that data. No LibTorch. See torch_file.hpp for the files `torch.save` writes.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "lamin/error.hpp"

namespace lamin::detail {

class PickleValue;
/// Values are shared: every memo reference (GET) to one object yields the same pointer, so two tensor records
/// that view one storage hold the same storage value.
using PickleValuePtr = std::shared_ptr<PickleValue>;

/// What a PickleValue holds. Python's type in parentheses.
enum class PickleKind {
  kNone,          // None
  kBool,          // bool
  kInt,           // int that fits in int64
  kBigInt,        // int that does not: little-endian two's-complement bytes, as pickle's LONG1 stores them
  kFloat,         // float
  kString,        // str, as UTF-8
  kBytes,         // bytes
  kByteArray,     // bytearray
  kList,          // list
  kTuple,         // tuple
  kDict,          // dict, collections.OrderedDict, collections.Counter (see dict_class()); insertion order kept
  kSet,           // set
  kFrozenSet,     // frozenset
  kGlobal,        // an allowlisted global that was named but not applied: a dtype, a storage type, a class
  kObject,        // REDUCE / NEWOBJ (and BUILD) of an allowlisted global: {module, name, args, state}
  kPersistentId,  // what BINPERSID / PERSID named, when no persistent_load was given
};

/// One node of an unpickled tree. Accessors of the wrong kind throw lamin::IntegrityError ("expected a dict, got
/// list"), so code reading a checkpoint reports a malformed file instead of crashing.
class PickleValue {
 public:
  static PickleValuePtr none();
  static PickleValuePtr boolean(bool value);
  static PickleValuePtr integer(std::int64_t value);
  /// REQUIRES: `le_bytes` is a little-endian two's-complement integer (empty is 0). The result is kInt when the
  /// value fits in int64, else kBigInt with the shortest such encoding.
  static PickleValuePtr big_integer(std::string le_bytes);
  static PickleValuePtr floating(double value);
  static PickleValuePtr string(std::string utf8);
  static PickleValuePtr bytes(std::string data, bool bytearray = false);
  static PickleValuePtr list(std::vector<PickleValuePtr> items = {});
  static PickleValuePtr tuple(std::vector<PickleValuePtr> items = {});
  /// `cls` is "" for a dict, or the qualified class name ("collections.OrderedDict").
  static PickleValuePtr dict(std::string cls = "");
  static PickleValuePtr set(bool frozen = false);
  static PickleValuePtr global(std::string module, std::string name);
  static PickleValuePtr object(std::string module, std::string name, PickleValuePtr args, bool newobj);
  static PickleValuePtr persistent_id(PickleValuePtr pid);

  PickleValue(const PickleValue&) = delete;
  PickleValue& operator=(const PickleValue&) = delete;
  /// Releases deep trees iteratively, so a maliciously deep pickle cannot overflow the stack on destruction.
  ~PickleValue();

  PickleKind kind() const { return kind_; }
  bool is(PickleKind kind) const { return kind_ == kind; }
  /// Python's type name ("NoneType", "int", "str", "dict", ...); "global", "object", "persistent_id" for the rest.
  const char* type_name() const;

  bool as_bool() const;
  /// A kInt or kBool. A kBigInt throws (it does not fit).
  std::int64_t as_int() const;
  /// Little-endian two's-complement bytes of a kInt, kBool or kBigInt (shortest form; 0 is one zero byte).
  std::string int_bytes() const;
  /// A kFloat, or a kInt / kBool converted as Python's float() does.
  double as_float() const;
  const std::string& as_string() const;
  /// The data of a kBytes or kByteArray.
  const std::string& as_bytes() const;

  /// Items of a list, tuple, set or frozenset; the keys of a dict. In order.
  const std::vector<PickleValuePtr>& items() const;
  /// Values of a dict, parallel to items().
  const std::vector<PickleValuePtr>& values() const;
  std::size_t size() const { return items().size(); }
  /// Item `i` of a list or tuple; throws if out of range.
  const PickleValuePtr& at(std::size_t i) const;
  /// The value of a dict for the str key `key`, or null.
  PickleValuePtr get(std::string_view key) const;
  /// The value of a dict for `key` (by Python equality: 1 == 1.0 == True), or null.
  PickleValuePtr find(const PickleValue& key) const;
  /// Whether a set or frozenset contains `item`.
  bool contains(const PickleValue& item) const;
  /// "" for a dict, "collections.OrderedDict" or "collections.Counter".
  const std::string& dict_class() const;

  /// Module and name of a kGlobal or kObject ("torch._utils", "_rebuild_tensor_v2").
  const std::string& module() const;
  const std::string& name() const;
  /// "module.name".
  std::string qualified_name() const;
  /// The argument tuple of a kObject.
  const PickleValuePtr& args() const;
  /// Whether a kObject came from NEWOBJ (cls.__new__(cls, *args)) rather than a call.
  bool newobj() const;
  /// BUILD's argument for a kObject or an OrderedDict (its `__dict__`, e.g. `{'_metadata': ...}`); null if none.
  const PickleValuePtr& state() const;
  /// The id of a kPersistentId.
  const PickleValuePtr& pid() const;

  // ---- building (the unpickler's operations) ----
  /// Appends to a list.
  void append(PickleValuePtr item);
  /// d[key] = value: a new key goes last, an existing one keeps its place. Throws for an unhashable key.
  void set_item(PickleValuePtr key, PickleValuePtr value);
  /// Adds to a set or frozenset (no-op if present). Throws for an unhashable item.
  void add(PickleValuePtr item);
  /// Sets the BUILD state of a kObject or a dict.
  void set_state(PickleValuePtr state);

  /// Python's hash-equality of two hashable values; throws lamin::IntegrityError for unhashable ones.
  static bool equal(const PickleValue& a, const PickleValue& b);
  static std::size_t hash(const PickleValue& value);

 private:
  explicit PickleValue(PickleKind kind) : kind_(kind) {}
  [[noreturn]] void wrong_kind(const char* expected) const;
  std::size_t find_index(const PickleValue& key) const;

  PickleKind kind_;
  bool bool_ = false;
  bool newobj_ = false;
  std::int64_t int_ = 0;
  double float_ = 0.0;
  std::string text_;  // str, bytes, big int bytes, dict class
  std::string module_;
  std::string name_;
  std::vector<PickleValuePtr> items_;
  std::vector<PickleValuePtr> values_;
  std::unordered_multimap<std::size_t, std::size_t> index_;  // dict / set: hash -> position in items_
  PickleValuePtr args_;
  PickleValuePtr state_;
};

/// Python's `repr()` of a tree of plain data (`{'a': [1, 2.5, None]}`, `b'\x00'`, `{1, 2}`, `frozenset({1})`,
/// `[[...]]` for a list that contains itself). Records render as `module.name(args)`, persistent ids as
/// `persistent_id(pid)`, and an OrderedDict as `OrderedDict({...})`.
std::string pickle_repr(const PickleValue& value);

/// Decimal text of a little-endian two's-complement integer.
std::string big_int_to_decimal(std::string_view le_bytes);

/// Whether `torch.load(weights_only=True)` accepts GLOBAL `module.name` (torch 1.13 and 2.x, plus the data
/// constructors `builtins.frozenset` and `builtins.bytes`). Python 2 module names are mapped first
/// (`__builtin__` is `builtins`), as torch does. `os`, `posix`, `nt` and `sys` are never allowed.
bool pickle_global_allowed(std::string_view module, std::string_view name);
/// Every allowed global as "module.name", sorted.
std::vector<std::string> pickle_allowed_globals();
/// The Python 3 name of a module that a protocol 0-2 pickle may name by its Python 2 name (`__builtin__` is
/// `builtins`, `copy_reg` is `copyreg`); other names as they are.
std::string pickle_python3_module(std::string_view module);

/// The input ended in the middle of a pickle. A kind of lamin::IntegrityError, so a reader of several pickles in
/// a row can ask for more bytes and retry.
class PickleTruncatedError : public lamin::IntegrityError {
 public:
  using lamin::IntegrityError::IntegrityError;
};

/// How to unpickle. A `persistent_load` maps a persistent id (a tuple for torch) to the value the pickle sees; by
/// default ids come back as kPersistentId values. `source` names the input in every error ("model.ckpt").
class UnpickleOptions {
 public:
  using PersistentLoad = std::function<PickleValuePtr(const PickleValuePtr& pid)>;
  UnpickleOptions& source(std::string name) {
    source_ = std::move(name);
    return *this;
  }
  UnpickleOptions& persistent_load(PersistentLoad load) {
    persistent_load_ = std::move(load);
    return *this;
  }
  const std::string& source() const { return source_; }
  const PersistentLoad& persistent_load() const { return persistent_load_; }

 private:
  std::string source_ = "<pickle>";
  PersistentLoad persistent_load_;
};

/// Unpickles the pickle that starts at `data[0]`; bytes after its STOP are ignored. Throws lamin::IntegrityError
/// naming the source and the offset for truncated input, unknown opcodes, stack underflow, a bad memo key, or a
/// global outside the allowlist ("Unsupported global: GLOBAL os.system ..."). Nothing is ever executed.
PickleValuePtr unpickle(std::string_view data, const UnpickleOptions& options = {});
/// Unpickles the pickle that starts at `data[offset]` and moves `offset` past its STOP (torch's legacy files hold
/// several pickles in a row). Offsets in errors count from `data[0]`.
PickleValuePtr unpickle(std::string_view data, std::size_t& offset, const UnpickleOptions& options);

}  // namespace lamin::detail
