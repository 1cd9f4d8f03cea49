#pragma once
// The in-memory form of a Lightning checkpoint: a string-keyed dict of IValues, pickled as a plain Python dict.

#include <ATen/core/Dict.h>
#include <ATen/core/ivalue.h>

#include <nlohmann/json.hpp>
#include <string>

namespace lamin::pl {

/// Lightning's checkpoint dict (`epoch`, `global_step`, `state_dict`, `optimizer_states`, `callbacks`, ...).
using CheckpointDict = c10::Dict<std::string, c10::IValue>;

/// JSON → IValue: objects become string-keyed dicts, arrays lists, integers ints, other numbers floats,
/// null None. Used for hyperparameters and callback states.
c10::IValue json_to_ivalue(const nlohmann::json& value);

/// IValue → JSON: the inverse of json_to_ivalue; 0-d tensors become numbers (ints for integral dtypes).
/// Throws lamin::IntegrityError for values JSON cannot hold (non-scalar tensors, objects).
nlohmann::json ivalue_to_json(const c10::IValue& value);

}  // namespace lamin::pl
