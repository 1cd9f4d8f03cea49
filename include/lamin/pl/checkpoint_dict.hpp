#pragma once
// The in-memory form of a Lightning checkpoint: a string-keyed dict of IValues, pickled as a plain Python dict.

#include <ATen/core/Dict.h>
#include <ATen/core/ivalue.h>

#include <nlohmann/json.hpp>
#include <string>

namespace lamin::pl {

/// Lightning's checkpoint dict (`epoch`, `global_step`, `state_dict`, `optimizer_states`, `callbacks`, ...): a dict
/// with string keys; use make_checkpoint_dict() for an empty one.
using CheckpointDict = c10::impl::GenericDict;

/// An empty checkpoint dict (string keys, any values).
inline CheckpointDict make_checkpoint_dict() {
  return c10::impl::GenericDict(c10::StringType::get(), c10::AnyType::get());
}

/// JSON → IValue: objects become string-keyed dicts, arrays lists, integers ints, other numbers floats,
/// null None. Used for hyperparameters and callback states.
c10::IValue json_to_ivalue(const nlohmann::json& value);

/// IValue → JSON: the inverse of json_to_ivalue; 0-d tensors become numbers (ints for integral dtypes).
/// Throws lamin::IntegrityError for values JSON cannot hold (non-scalar tensors, objects).
nlohmann::json ivalue_to_json(const c10::IValue& value);

}  // namespace lamin::pl
