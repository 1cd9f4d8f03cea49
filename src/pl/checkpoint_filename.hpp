#pragma once
// Lightning's checkpoint-name templating: a subset of Python's `str.format` over metric values (the format
// mini-language itself is core/python.hpp's python_format). No LibTorch.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lamin/pl/metrics.hpp"

namespace lamin::pl::detail {

/// The `{name` groups of a template, as Lightning's `re.findall(r"(\{.*?)[:\}]", filename)` finds them.
std::vector<std::string> template_groups(std::string_view filename);

/// Lightning's `_format_checkpoint_name` without prefix: the groups sorted longest first, `{name` replaced by
/// `name<equals>{0[name]` (or `{0[name]` without auto insertion), missing names looked up as int 0, then Python's
/// `str.format(metrics)`. Throws lamin::ConfigurationError with Python's message for malformed templates.
std::string format_metric_template(std::string_view filename, const MetricMap& metrics, bool auto_insert_metric_name,
                                   std::string_view equals_char);

}  // namespace lamin::pl::detail
