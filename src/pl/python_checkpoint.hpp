#pragma once
// What Python's torch.save wrote, as LibTorch values: the value tree of a TorchFile (src/core/torch_file.hpp, read
// with the allowlist of torch.load(weights_only=True)) converted to IValues. Private to lamin::pl.
//
//   None, bool, int, float, str    -> the same IValue; ints beyond int64 -> their decimal text
//   bytes, bytearray               -> a string holding the bytes
//   list, set, frozenset           -> a list (sets in pickled order); tuple, torch.Size -> a tuple
//   dict, OrderedDict, Counter     -> a dict in insertion order (an OrderedDict's `_metadata` is not kept); keys
//                                     other than str, int, bool and float become their Python repr
//   _rebuild_tensor(_v2), _rebuild_parameter(_with_state) -> a tensor; views of one storage share it
//   torch.device -> a Device, torch.float32 & co -> a ScalarType, complex -> a complex double
// Anything else the allowlist lets through (quantized and sparse tensors, tensor subclasses) is an IntegrityError
// naming the global, the place in the tree and the file.

#include <ATen/core/ivalue.h>
#include <c10/core/Device.h>

#include <optional>

#include "core/torch_file.hpp"

namespace lamin::pl::detail {

/// The file's main pickle as an IValue. Tensors are placed on `map_location`, else on the CPU.
c10::IValue ivalue_from_torch_file(const lamin::detail::TorchFile& file,
                                   const std::optional<c10::Device>& map_location = std::nullopt);

}  // namespace lamin::pl::detail
