#pragma once
// Python's behaviour where LaminDB and Lightning write it into files, hashes, file names and messages: the text
// forms of values (repr, str, the format mini-language, json.dumps floats), `os.path`, `datetime.timedelta` and
// PyYAML's `yaml.dump`. One implementation of each, tested in tests/core/python_test.cpp. No LibTorch.

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace lamin::detail {

// ---- repr and str ---------------------------------------------------------------------------------------------------

/// Python's `repr(float)` / `str(float)` of a double: the shortest text that round-trips, fixed notation for
/// exponents in [-4, 16), otherwise scientific with at least two exponent digits (`1e-05`, `1.5e+300`);
/// `nan`, `inf`, `-inf`; integral values keep `.0` (`5.0`).
std::string python_repr(double value);
/// Same as python_repr of the double value of a float32 (float32 0.3 → `0.30000001192092896`).
inline std::string python_repr_f32(float value) { return python_repr(static_cast<double>(value)); }
/// Python's `str(int)`.
inline std::string python_repr(std::int64_t value) { return std::to_string(value); }
/// JSON text of a double as Python's `json.dumps` writes it (`NaN`, `Infinity`, `-Infinity` for non-finite values).
std::string python_json_float(double value);
/// Python's `repr(str)` of UTF-8 text: single quotes unless the text contains `'` and no `"`; backslash escapes
/// for the quote, backslashes and control characters (C0, DEL and C1); other characters as they are.
std::string python_str_repr(std::string_view text);
/// Python's `repr(list_of_str)`: `['a', 'b']`.
std::string python_list_repr(const std::vector<std::string>& items);
/// Python's `str(x)` of the value a JSON document loads as (`None`, `True`, `1.5`, `[1, 'a']`, `{'k': 2}`); a
/// string is itself.
std::string python_str(const nlohmann::json& value);

// ---- the format mini-language ---------------------------------------------------------------------------------------

/// A Python number: an int (integral) or a float.
struct PythonNumber {
  double value = 0.0;
  bool integral = false;
};
/// Python's `format(value, spec)`. Supports fill/align, sign, `z`, `#`, `0`, width, `,`/`_` grouping, precision and
/// the types `d n b o x X c e E f F g G %` and the empty type (repr for floats). Throws lamin::ConfigurationError
/// with Python's ValueError message for specs Python rejects (e.g. `d` on a float).
std::string python_format(const PythonNumber& value, std::string_view spec);

// ---- os.path --------------------------------------------------------------------------------------------------------

/// `os.path.expanduser`: `~` and `~/...` from $HOME (else the password database), `~name/...` from name's entry;
/// an unknown user leaves the path as it is.
std::string python_expanduser(const std::string& path);
/// `os.path.expandvars`: `$name` and `${name}` of defined variables (name in [A-Za-z0-9_]); others stay.
std::string python_expandvars(const std::string& path);
/// `os.path.join(a, b)`: `b` if it is absolute, `a + b` if `a` is empty or ends with '/', else `a/b`.
std::string python_path_join(const std::string& a, const std::string& b);
/// `os.path.basename`: the text after the last '/'.
std::string python_basename(const std::string& path);
/// `os.path.normpath`: "." and ".." folded lexically, no trailing '/' (`""` is `"."`).
std::string python_normpath(const std::string& path);
/// `os.path.abspath`: absolute and lexically normalised ("." and ".." folded), no trailing '/'.
std::string python_abspath(const std::string& path);
/// `os.path.realpath` (non-strict): absolute, symlinks of the existing prefix resolved, the rest normalised.
std::string python_realpath(const std::string& path);

// ---- datetime.timedelta ---------------------------------------------------------------------------------------------

/// `repr(datetime.timedelta(seconds=s))`, e.g. `datetime.timedelta(seconds=60)`, `datetime.timedelta(0)`.
std::string python_timedelta_repr(std::chrono::duration<double> d);
/// `str(datetime.timedelta(seconds=s))`, e.g. `0:01:00`, `1 day, 6:00:00`, `0:00:00.500000`.
std::string python_timedelta_str(std::chrono::duration<double> d);

// ---- PyYAML ---------------------------------------------------------------------------------------------------------

/// PyYAML's `yaml.dump(value)` with the default Dumper, as Lightning writes hparams.yaml and best_k_models.yaml:
/// mappings with sorted keys, block style, width 80, ASCII only; empty collections in flow style (`{}`, `[]`);
/// floats as `1.0e-05`, `.inf`, `.nan`; strings that would read back as another type (`'1'`, `'true'`, `''`)
/// quoted. The result ends with a newline.
std::string yaml_dump(const nlohmann::json& value);
/// A float as PyYAML writes it (`0.5`, `.inf`, `-.inf`, `.nan`, `1.0e-05`).
std::string yaml_float(double value);

}  // namespace lamin::detail
