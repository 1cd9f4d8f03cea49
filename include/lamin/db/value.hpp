#pragma once
// Feature values as LaminDB stores them in `lamindb_jsonvalue`: JSON text written like Python's `json.dumps`,
// deduplicated by a hash of Python's `str()` of the value.

#include <string>

#include <nlohmann/json.hpp>

namespace lamin {

/// Python's `json.dumps(value)` (", " and ": " separators, ASCII-only, floats as Python's repr, keys in
/// insertion order of nlohmann's map, i.e. sorted). Throws lamin::ValidationError for NaN/Infinity, which
/// LaminDB's JSON column rejects.
std::string python_json_dumps(const nlohmann::json& value);

/// Python's `str(value)` for the JSON value's Python counterpart (`True`, `0.5`, `1.0`, `1e-05`, `min`,
/// `[1, 'a']`, `{'a': 1}`).
std::string python_str(const nlohmann::json& value);

/// The `lamindb_jsonvalue.hash` of a value: `hash_string(str(value))`; dicts hash their sorted `json.dumps`.
std::string json_value_hash(const nlohmann::json& value);

/// A `lamindb_jsonvalue.value` text read back as JSON, exactly as `nlohmann::json::parse` reads it (non-negative
/// integers unsigned, others signed, floats double); text that is not JSON stays a string.
nlohmann::json parse_json_value(const std::string& text);

}  // namespace lamin
