#include "lamin/pl/checkpoint_io.hpp"

#include <caffe2/serialize/inline_container.h>
#include <torch/csrc/jit/serialization/pickler.h>
#include <torch/torch.h>

#include <filesystem>
#include <unordered_map>

#include "core/file_io.hpp"
#include "core/torch_file.hpp"
#include "lamin/error.hpp"
#include "python_checkpoint.hpp"

namespace fs = std::filesystem;

namespace lamin::pl {
namespace {

/// Copies every tensor to the CPU (detached, contiguous storage untouched for CPU tensors).
c10::IValue to_cpu(const c10::IValue& value) {
  if (value.isTensor()) {
    const at::Tensor& t = value.toTensor();
    if (!t.defined()) return value;
    at::Tensor cpu = t.device().is_cpu() ? t.detach() : t.detach().to(at::kCPU);
    return cpu;
  }
  if (value.isGenericDict()) {
    auto in = value.toGenericDict();
    c10::impl::GenericDict out(in.keyType(), in.valueType());
    for (const auto& entry : in) out.insert(entry.key(), to_cpu(entry.value()));
    return out;
  }
  if (value.isList()) {
    auto in = value.toList();
    c10::impl::GenericList out(in.elementType());
    for (const auto& item : in) out.push_back(to_cpu(item));
    return out;
  }
  if (value.isTuple()) {
    std::vector<c10::IValue> items;
    for (const auto& item : value.toTupleRef().elements()) items.push_back(to_cpu(item));
    return c10::ivalue::Tuple::create(std::move(items));
  }
  return value;
}

}  // namespace

void save_checkpoint_file(const CheckpointDict& checkpoint, const std::string& path) {
  const c10::IValue root = to_cpu(c10::IValue(checkpoint));

  // Pickle first (small), collecting the storages to write as records.
  std::vector<char> pickle;
  std::unordered_map<const void*, std::string> storage_ids;
  std::vector<at::Tensor> storages;
  torch::jit::Pickler pickler(
      [&](const char* data, size_t size) { pickle.insert(pickle.end(), data, data + size); },
      /*tensor_table=*/nullptr, /*type_renamer=*/nullptr, /*memoized_class_types=*/nullptr,
      [&](const at::Tensor& t) -> std::string {
        const void* key = t.storage().unsafeGetStorageImpl();
        auto it = storage_ids.find(key);
        if (it != storage_ids.end()) return it->second;
        std::string id = std::to_string(storage_ids.size());
        storage_ids.emplace(key, id);
        storages.push_back(t);
        return id;
      },
      /*tag_aggregates=*/false);
  pickler.protocol();
  pickler.pushIValue(root);
  pickler.stop();

  lamin::detail::atomic_write(fs::path(path), [&](lamin::detail::FileWriter& out) {
    caffe2::serialize::PyTorchStreamWriter writer([&](const void* data, size_t size) -> size_t {
      out.write(data, size);
      return size;
    });
    writer.writeRecord("data.pkl", pickle.data(), pickle.size());
    writer.writeRecord("byteorder", "little", 6);
    for (std::size_t i = 0; i < storages.size(); ++i) {
      const at::Storage& storage = storages[i].storage();
      writer.writeRecord("data/" + std::to_string(i), storage.data(), storage.nbytes());
    }
    writer.writeEndOfFile();
  });
}

CheckpointDict load_checkpoint_file(const std::string& path, const std::optional<c10::Device>& map_location) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw NotFoundError("checkpoint not found: '" + path + "'");
  if (fs::is_directory(path, ec)) throw IntegrityError("not a checkpoint file (a folder): '" + path + "'");
  const c10::IValue value = detail::ivalue_from_torch_file(lamin::detail::TorchFile::open(path), map_location);
  if (!value.isGenericDict()) throw IntegrityError("checkpoint '" + path + "' does not hold a dict");
  CheckpointDict out = make_checkpoint_dict();
  for (const auto& entry : value.toGenericDict()) {
    if (!entry.key().isString()) throw IntegrityError("checkpoint '" + path + "' has a non-string top-level key");
    out.insert(entry.key().toStringRef(), entry.value());
  }
  return out;
}

}  // namespace lamin::pl
