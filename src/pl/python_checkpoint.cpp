// A torch.save file's value tree as IValues (see python_checkpoint.hpp).
#include "python_checkpoint.hpp"

#include <ATen/ATen.h>
#include <c10/util/complex.h>

#include <cstring>
#include <map>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "lamin/error.hpp"

namespace lamin::pl::detail {
namespace {

using lamin::detail::PickleKind;
using lamin::detail::PickleValue;
using lamin::detail::TorchFile;
using lamin::detail::TorchStorage;

/// The dtypes LibTorch can hold, by the names torch.save's storages and dtype globals use.
std::optional<at::ScalarType> scalar_type(const std::string& name) {
  static const std::map<std::string, at::ScalarType> kTypes = {
      {"float64", at::kDouble},      {"float32", at::kFloat},          {"float16", at::kHalf},
      {"bfloat16", at::kBFloat16},   {"int64", at::kLong},             {"int32", at::kInt},
      {"int16", at::kShort},         {"int8", at::kChar},              {"uint8", at::kByte},
      {"bool", at::kBool},           {"complex128", at::kComplexDouble}, {"complex64", at::kComplexFloat},
      {"float", at::kFloat},         {"double", at::kDouble},          {"half", at::kHalf},
      {"long", at::kLong},           {"int", at::kInt},                {"short", at::kShort},
      {"cfloat", at::kComplexFloat}, {"cdouble", at::kComplexDouble}};
  auto it = kTypes.find(name);
  if (it == kTypes.end()) return std::nullopt;
  return it->second;
}

class Converter {
 public:
  Converter(const TorchFile& file, const std::optional<c10::Device>& device)
      : file_(file), device_(device.value_or(c10::Device(c10::kCPU))) {}

  /// Containers and objects met twice (memo references) convert once and stay shared, as in Python; one that
  /// contains itself, or nesting deeper than kMaxDepth, is an error.
  c10::IValue convert(const PickleValue& v, const std::string& where) {
    if (!is_container(v)) return convert_value(v, where);
    if (auto it = converted_.find(&v); it != converted_.end()) return it->second;
    if (!active_.insert(&v).second) fail(where, "a value that contains itself");
    if (active_.size() > kMaxDepth) {
      throw IntegrityError("cannot load checkpoint '" + file_.name() + "': its values are nested more than " +
                           std::to_string(kMaxDepth) + " levels deep");
    }
    c10::IValue out = convert_value(v, where);
    active_.erase(&v);
    converted_.emplace(&v, out);
    return out;
  }

 private:
  static constexpr std::size_t kMaxDepth = 1000;  // Python's default recursion limit

  static bool is_container(const PickleValue& v) {
    switch (v.kind()) {
      case PickleKind::kList:
      case PickleKind::kSet:
      case PickleKind::kFrozenSet:
      case PickleKind::kTuple:
      case PickleKind::kDict:
      case PickleKind::kObject: return true;
      default: return false;
    }
  }

  c10::IValue convert_value(const PickleValue& v, const std::string& where) {
    switch (v.kind()) {
      case PickleKind::kNone: return c10::IValue();
      case PickleKind::kBool: return c10::IValue(v.as_bool());
      case PickleKind::kInt: return c10::IValue(v.as_int());
      case PickleKind::kBigInt: return c10::IValue(lamin::detail::pickle_repr(v));
      case PickleKind::kFloat: return c10::IValue(v.as_float());
      case PickleKind::kString: return c10::IValue(v.as_string());
      case PickleKind::kBytes:
      case PickleKind::kByteArray: return c10::IValue(v.as_bytes());
      case PickleKind::kList:
      case PickleKind::kSet:
      case PickleKind::kFrozenSet: return list(v, where);
      case PickleKind::kTuple: return tuple(v, where);
      case PickleKind::kDict: return dict(v, where);
      case PickleKind::kGlobal: return global(v, where);
      case PickleKind::kObject: return object(v, where);
      case PickleKind::kPersistentId: fail(where, "a storage outside a tensor");
    }
    fail(where, "an unknown value");
  }

  [[noreturn]] void fail(const std::string& where, const std::string& what) const {
    throw IntegrityError("cannot load checkpoint '" + file_.name() + "': " + (where.empty() ? "its root" : where) +
                         " holds " + what + ", which lamin-cpp cannot turn into a LibTorch value");
  }

  static std::string item(const std::string& where, std::size_t i) { return where + "[" + std::to_string(i) + "]"; }

  c10::IValue list(const PickleValue& v, const std::string& where) {
    c10::impl::GenericList out(c10::AnyType::get());
    out.reserve(v.size());
    for (std::size_t i = 0; i < v.size(); ++i) out.push_back(convert(*v.items()[i], item(where, i)));
    return out;
  }

  c10::IValue tuple(const PickleValue& v, const std::string& where) {
    std::vector<c10::IValue> items;
    items.reserve(v.size());
    for (std::size_t i = 0; i < v.size(); ++i) items.push_back(convert(*v.items()[i], item(where, i)));
    return c10::ivalue::Tuple::create(std::move(items));
  }

  /// Keys LibTorch can hash keep their type; others (tuples, None, ...) become their Python repr.
  c10::IValue dict_key(const PickleValue& key, const std::string& where) {
    switch (key.kind()) {
      case PickleKind::kString:
      case PickleKind::kInt:
      case PickleKind::kBool:
      case PickleKind::kFloat: return convert(key, where);
      default: return c10::IValue(lamin::detail::pickle_repr(key));
    }
  }

  c10::IValue dict(const PickleValue& v, const std::string& where) {
    bool strings = true, ints = true;
    for (const auto& k : v.items()) {
      strings = strings && k->is(PickleKind::kString);
      ints = ints && k->is(PickleKind::kInt);
    }
    const c10::TypePtr key_type = v.size() == 0 || strings ? c10::TypePtr(c10::StringType::get())
                                  : ints                   ? c10::TypePtr(c10::IntType::get())
                                                           : c10::TypePtr(c10::AnyType::get());
    c10::impl::GenericDict out(key_type, c10::AnyType::get());
    out.reserve(v.size());
    for (std::size_t i = 0; i < v.size(); ++i) {
      const PickleValue& key = *v.items()[i];
      const std::string name = key.is(PickleKind::kString) ? key.as_string() : lamin::detail::pickle_repr(key);
      c10::IValue k = dict_key(key, where);
      out.insert_or_assign(std::move(k), convert(*v.values()[i], where.empty() ? name : where + "." + name));
    }
    return out;
  }

  c10::IValue global(const PickleValue& v, const std::string& where) {
    if (v.module() == "torch") {
      if (auto t = scalar_type(v.name())) return c10::IValue(*t);
    }
    fail(where, "`" + v.qualified_name() + "`");
  }

  c10::IValue object(const PickleValue& v, const std::string& where) {
    const std::string q = v.qualified_name();
    const PickleValue& args = *v.args();
    if (q == "torch._utils._rebuild_tensor_v2" || q == "torch._utils._rebuild_tensor") return tensor(args, where);
    if (q == "torch._utils._rebuild_parameter" || q == "torch._utils._rebuild_parameter_with_state") {
      if (args.size() < 2) fail(where, "a malformed `" + q + "`");
      at::Tensor data = convert(*args.at(0), where).toTensor();
      if (args.at(1)->as_bool() && data.is_floating_point()) data.set_requires_grad(true);
      return data;
    }
    if (q == "torch.device") {
      std::string text = args.at(0)->as_string();
      if (args.size() > 1 && !args.at(1)->is(PickleKind::kNone)) text += ":" + std::to_string(args.at(1)->as_int());
      return c10::IValue(c10::Device(text));
    }
    if (q == "torch.Size") return args.size() == 0 ? tuple(args, where) : tuple(*args.at(0), where);
    if (q == "builtins.complex") {
      const double re = args.size() > 0 ? args.at(0)->as_float() : 0.0;
      const double im = args.size() > 1 ? args.at(1)->as_float() : 0.0;
      return c10::IValue(c10::complex<double>(re, im));
    }
    fail(where, "`" + q + "`");
  }

  static std::vector<std::int64_t> ints(const PickleValue& tuple) {
    std::vector<std::int64_t> out;
    for (const auto& x : tuple.items()) out.push_back(x->as_int());
    return out;
  }

  /// _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata]).
  at::Tensor tensor(const PickleValue& args, const std::string& where) {
    if (args.size() < 4) fail(where, "a malformed tensor record");
    const TorchStorage* storage = file_.storage_of(*args.at(0));
    if (!storage) fail(where, "a tensor without a storage");
    const std::int64_t offset = args.at(1)->as_int();
    const std::vector<std::int64_t> size = ints(*args.at(2)), stride = ints(*args.at(3));
    if (!view_fits(storage->numel, offset, size, stride)) {
      fail(where, "a view outside its storage (" + std::to_string(storage->numel) + " elements; offset " +
                      std::to_string(offset) + ", sizes and strides as saved)");
    }
    at::Tensor base = storage_tensor(*storage, where);
    at::Tensor t = base.as_strided(size, stride, offset);
    if (args.size() > 4 && args.at(4)->as_bool() && t.is_floating_point()) t.set_requires_grad(true);
    return t;
  }

  /// Whether a view with non-negative `offset`, `size` and `stride` stays inside `numel` elements.
  static bool view_fits(std::uint64_t numel, std::int64_t offset, const std::vector<std::int64_t>& size,
                        const std::vector<std::int64_t>& stride) {
    if (offset < 0 || size.size() != stride.size()) return false;
    unsigned __int128 last = static_cast<std::uint64_t>(offset);  // the last element the view reaches
    bool empty = false;
    for (std::size_t i = 0; i < size.size(); ++i) {
      if (size[i] < 0 || stride[i] < 0) return false;
      empty = empty || size[i] == 0;
      last += static_cast<unsigned __int128>(size[i] == 0 ? 0 : size[i] - 1) * static_cast<std::uint64_t>(stride[i]);
    }
    return empty ? static_cast<std::uint64_t>(offset) <= numel : last < numel;
  }

  /// One tensor per storage, so views of a storage share it (on the target device too).
  at::Tensor storage_tensor(const TorchStorage& storage, const std::string& where) {
    auto it = storages_.find(&storage);
    if (it != storages_.end()) return it->second;
    const auto type = scalar_type(storage.dtype);
    if (!type) fail(where, "a tensor of dtype " + storage.dtype);
    const auto element = static_cast<std::uint64_t>(c10::elementSize(*type));
    if (storage.nbytes != storage.numel * element) {
      throw IntegrityError("cannot load checkpoint '" + file_.name() + "': storage " + storage.key + " holds " +
                           std::to_string(storage.nbytes) + " bytes, not the " + std::to_string(storage.numel * element) +
                           " its " + std::to_string(storage.numel) + " elements need");
    }
    // TorchFile located the bytes, so the file holds them: the allocation below is never larger than the file.
    at::Tensor cpu = at::empty({static_cast<std::int64_t>(storage.numel)}, at::TensorOptions().dtype(*type));
    if (storage.nbytes > 0) file_.read_storage_into(storage, cpu.data_ptr());
    at::Tensor placed = device_.is_cpu() ? cpu : cpu.to(device_);
    storages_.emplace(&storage, placed);
    return placed;
  }

  const TorchFile& file_;
  c10::Device device_;
  std::unordered_map<const TorchStorage*, at::Tensor> storages_;
  std::unordered_map<const PickleValue*, c10::IValue> converted_;
  std::unordered_set<const PickleValue*> active_;  // the containers being converted, root first
};

}  // namespace

c10::IValue ivalue_from_torch_file(const TorchFile& file, const std::optional<c10::Device>& map_location) {
  Converter c(file, map_location);
  try {
    return c.convert(*file.data(), "");
  } catch (const c10::Error& e) {  // what LibTorch refuses (a device this build lacks, a malformed record)
    throw IntegrityError("cannot load checkpoint '" + file.name() + "': " + e.what_without_backtrace());
  }
}

}  // namespace lamin::pl::detail
