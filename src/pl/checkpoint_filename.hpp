#pragma once
// Python text forms ModelCheckpoint needs: Lightning's checkpoint-name templating (a subset of Python's
// `str.format` and format mini-language over metric values), Python reprs for messages and state keys, and the
// PyYAML scalars of `to_yaml`. No LibTorch.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lamin/pl/metrics.hpp"

namespace lamin::pl::detail {

/// Python's `format(value, spec)` for a metric value: an int for integral scalars, else the float (the double of
/// the float32). Supports fill/align, sign, `z`, `#`, `0`, width, `,`/`_` grouping, precision and the types
/// `d n b o x X c e E f F g G %` and the empty type (repr for floats). Throws lamin::ConfigurationError with
/// Python's ValueError message for specs Python rejects (e.g. `d` on a float).
std::string python_format(const Scalar& value, std::string_view spec);

/// The `{name` groups of a template, as Lightning's `re.findall(r"(\{.*?)[:\}]", filename)` finds them.
std::vector<std::string> template_groups(std::string_view filename);

/// Lightning's `_format_checkpoint_name` without prefix: the groups sorted longest first, `{name` replaced by
/// `name<equals>{0[name]` (or `{0[name]` without auto insertion), missing names looked up as int 0, then Python's
/// `str.format(metrics)`. Throws lamin::ConfigurationError with Python's message for malformed templates.
std::string format_metric_template(std::string_view filename, const MetricMap& metrics, bool auto_insert_metric_name,
                                   std::string_view equals_char);

/// Python's `repr(str)` (single quotes unless the text has a single quote and no double quote).
std::string python_str_repr(std::string_view text);

/// Python's `repr(datetime.timedelta(seconds=s))`, e.g. `datetime.timedelta(seconds=60)`, `datetime.timedelta(0)`.
std::string python_timedelta_repr(std::chrono::duration<double> d);
/// Python's `str(datetime.timedelta(seconds=s))`, e.g. `0:01:00`, `1 day, 6:00:00`, `0:00:00.500000`.
std::string python_timedelta_str(std::chrono::duration<double> d);

/// A mapping key or string value as PyYAML's default dumper writes it (plain when safe, else single-quoted).
std::string yaml_string(std::string_view text);
/// A float as PyYAML writes it (`0.5`, `.inf`, `-.inf`, `.nan`, `1.0e-05`).
std::string yaml_float(double value);

}  // namespace lamin::pl::detail
