#pragma once
// hparams.yaml as Lightning writes it (`yaml.dump(dict)` of PyYAML's default Dumper: sorted keys, block style,
// plain scalars where YAML allows them, width 80, ASCII only), plus the Python text forms the loggers need.
// Private to lamin::pl.

#include <string>

#include <nlohmann/json.hpp>

namespace lamin::pl::detail {

/// PyYAML's `yaml.dump(value)` of a JSON value. Objects are mappings with sorted keys, arrays sequences; empty ones
/// are written in flow style (`{}`, `[]`); floats as Python's repr (`1.0e-05`, `.inf`, `.nan`); strings that would
/// read back as another type (`'1'`, `'true'`, `''`) are quoted. The result ends with a newline.
std::string yaml_dump(const nlohmann::json& value);

/// Python's `repr(str)`: single quotes unless the text contains `'` and no `"`; backslash escapes for quotes,
/// backslashes and control characters.
std::string python_repr_str(const std::string& text);

/// Python's `str(x)` of the value a JSON document loads as (`None`, `True`, `1.5`, `[1, 'a']`, `{'k': 2}`).
std::string python_str(const nlohmann::json& value);

}  // namespace lamin::pl::detail
