// The globals a weights-only unpickle accepts: the union of what torch.load(weights_only=True) allows in torch 1.13
// and torch 2.x (torch/_weights_only_unpickler.py, _get_allowed_globals), plus builtins.frozenset and
// builtins.bytes, which only build data.
#include <algorithm>
#include <unordered_set>

#include "pickle.hpp"

namespace lamin::detail {

namespace {

// clang-format off
// str(dtype) for every dtype torch 2.x allowlists (its storage-type map, its "new" dtypes, uint1-7 and int1-7).
const char* const kDtypes[] = {
    "float64", "float32", "float16", "bfloat16", "int64", "int32", "int16", "int8", "uint8", "bool", "complex128",
    "complex64", "complex32", "qint8", "qint32", "quint8", "quint4x2", "quint2x4", "float8_e5m2", "float8_e4m3fn",
    "float8_e5m2fnuz", "float8_e4m3fnuz", "float8_e8m0fnu", "float4_e2m1fn_x2", "bits8", "bits16", "bits1x8",
    "bits2x4", "bits4x2", "uint16", "uint32", "uint64", "uint1", "uint2", "uint3", "uint4", "uint5", "uint6", "uint7",
    "int1", "int2", "int3", "int4", "int5", "int6", "int7"};

// Legacy typed storage classes (torch._storage_classes); the first 12 also exist under torch.cuda.
const char* const kStorages[] = {
    "Double", "Float", "Long", "Int", "Short", "Char", "Byte", "Half", "Bool", "BFloat16", "ComplexFloat",
    "ComplexDouble", "QUInt8", "QInt8", "QInt32", "QUInt4x2", "QUInt2x4"};
constexpr std::size_t kCudaStorages = 12;

// Tensor classes (torch._tensor_classes): dense CPU and CUDA for all ten, sparse for all but Bool.
const char* const kTensors[] = {"Double", "Float", "Long", "Int", "Short", "Char", "Byte", "Half", "BFloat16", "Bool"};
constexpr std::size_t kSparseTensors = 9;

const char* const kRebuildFunctions[] = {
    "_rebuild_parameter", "_rebuild_parameter_with_state", "_rebuild_qtensor", "_rebuild_tensor",
    "_rebuild_tensor_v2", "_rebuild_tensor_v3", "_rebuild_sparse_tensor", "_rebuild_sparse_csr_tensor",
    "_rebuild_meta_tensor_no_storage", "_rebuild_wrapper_subclass", "_rebuild_device_tensor_from_numpy",
    "_rebuild_device_tensor_from_cpu_tensor"};

const char* const kOthers[] = {
    "collections.OrderedDict", "collections.Counter", "torch.nn.parameter.Parameter",
    "torch.serialization._get_layout", "torch.Size", "torch.Tensor", "torch.device", "_codecs.encode",
    "builtins.bytearray", "builtins.set", "builtins.complex", "builtins.frozenset", "builtins.bytes",
    "torch.storage.UntypedStorage", "torch.storage.TypedStorage", "torch._tensor._rebuild_from_type_v2",
    "torch.per_tensor_affine", "torch.per_tensor_symmetric", "torch.per_channel_affine",
    "torch.per_channel_symmetric", "torch.per_channel_affine_float_qparams"};
// clang-format on

const std::unordered_set<std::string>& allowed() {
  static const std::unordered_set<std::string> names = [] {
    std::unordered_set<std::string> s(std::begin(kOthers), std::end(kOthers));
    for (const char* d : kDtypes) s.insert(std::string("torch.") + d);
    for (std::size_t i = 0; i < std::size(kStorages); ++i) {
      s.insert(std::string("torch.") + kStorages[i] + "Storage");
      if (i < kCudaStorages) s.insert(std::string("torch.cuda.") + kStorages[i] + "Storage");
    }
    for (std::size_t i = 0; i < std::size(kTensors); ++i) {
      s.insert(std::string("torch.") + kTensors[i] + "Tensor");
      s.insert(std::string("torch.cuda.") + kTensors[i] + "Tensor");
      if (i < kSparseTensors) {
        s.insert(std::string("torch.sparse.") + kTensors[i] + "Tensor");
        s.insert(std::string("torch.cuda.sparse.") + kTensors[i] + "Tensor");
      }
    }
    for (const char* f : kRebuildFunctions) s.insert(std::string("torch._utils.") + f);
    return s;
  }();
  return names;
}

}  // namespace

std::string pickle_python3_module(std::string_view module) {
  if (module == "__builtin__") return "builtins";
  if (module == "copy_reg") return "copyreg";
  return std::string(module);
}

bool pickle_global_allowed(std::string_view module, std::string_view name) {
  const std::string m = pickle_python3_module(module);
  if (m == "os" || m == "posix" || m == "nt" || m == "sys") return false;  // torch blocks these modules outright
  return allowed().count(m + "." + std::string(name)) != 0;
}

std::vector<std::string> pickle_allowed_globals() {
  std::vector<std::string> out(allowed().begin(), allowed().end());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace lamin::detail
