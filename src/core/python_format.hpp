#pragma once
// Python's text forms of numbers, which LaminDB and Lightning write into files, hashes and file names.

#include <cstdint>
#include <string>

namespace lamin::detail {

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

}  // namespace lamin::detail
