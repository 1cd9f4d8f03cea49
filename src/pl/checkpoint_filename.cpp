#include "checkpoint_filename.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <map>

#include "core/python.hpp"
#include "lamin/error.hpp"

namespace lamin::pl::detail {
namespace {

[[noreturn]] void value_error(const std::string& message) { throw ConfigurationError(message); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

std::vector<std::string> template_groups(std::string_view filename) {
  std::vector<std::string> groups;
  std::size_t i = 0;
  const std::size_t n = filename.size();
  while (i < n) {
    if (filename[i] != '{') {
      ++i;
      continue;
    }
    std::size_t j = i + 1;
    while (j < n && filename[j] != '\n' && filename[j] != ':' && filename[j] != '}') ++j;
    if (j < n && (filename[j] == ':' || filename[j] == '}')) {
      groups.emplace_back(filename.substr(i, j - i));
      i = j + 1;
    } else {
      ++i;
    }
  }
  return groups;
}

namespace {

void replace_all(std::string& text, const std::string& from, const std::string& to) {
  if (from.empty()) return;
  std::string out;
  std::size_t pos = 0;
  while (true) {
    const std::size_t hit = text.find(from, pos);
    if (hit == std::string::npos) break;
    out.append(text, pos, hit - pos);
    out += to;
    pos = hit + from.size();
  }
  out.append(text, pos, std::string::npos);
  text = std::move(out);
}

/// The index of the '}' closing the replacement field opened at `open` ('[...]' protects braces in the field
/// name); `name_end` is set to where a ':' or '!' ends the name (npos when none does).
std::size_t replacement_field_end(const std::string& f, std::size_t open, std::size_t& name_end) {
  int depth = 1, bracket = 0;
  bool in_spec = false;
  name_end = std::string::npos;
  for (std::size_t j = open + 1; j < f.size(); ++j) {
    const char d = f[j];
    if (!in_spec && d == '[') {
      ++bracket;
    } else if (!in_spec && d == ']') {
      if (bracket > 0) --bracket;
    } else if (bracket == 0) {
      if (!in_spec && (d == ':' || d == '!')) {
        in_spec = true;
        name_end = j;
      } else if (d == '{') {
        ++depth;
      } else if (d == '}' && --depth == 0) {
        return j;
      }
    }
  }
  value_error("expected '}' before end of string");
}

/// The metric a field name `0[key]` names, from `metrics` or else `defaults`, with Python's errors for the rest.
const Scalar& field_metric(const std::string& field_name, const MetricMap& metrics,
                           const std::map<std::string, Scalar>& defaults) {
  if (field_name.empty()) value_error("automatic field numbering is not supported in checkpoint names");
  const std::size_t bracket_pos = field_name.find_first_of("[.");
  const std::string arg = field_name.substr(0, bracket_pos);
  if (arg != "0") value_error("Replacement index " + arg + " out of range for positional args tuple");
  if (bracket_pos == std::string::npos) value_error("a checkpoint name field must name a metric");
  if (field_name[bracket_pos] == '.') {
    value_error("'dict' object has no attribute '" + field_name.substr(bracket_pos + 1) + "'");
  }
  const std::size_t close = field_name.find(']', bracket_pos);
  if (close == std::string::npos) value_error("Missing ']' in format string");
  if (close + 1 != field_name.size()) {
    const char after = field_name[close + 1];
    if (after != '.' && after != '[') value_error("Only '.' or '[' may follow ']' in format field specifier");
    value_error("indexing or attributes of a metric are not supported in checkpoint names");
  }
  const std::string key = field_name.substr(bracket_pos + 1, close - bracket_pos - 1);
  const bool numeric_key = !key.empty() && std::all_of(key.begin(), key.end(), is_digit);
  if (!numeric_key) {
    if (const Scalar* value = metrics.find(key)) return *value;
    auto it = defaults.find(key);
    if (it != defaults.end()) return it->second;
  }
  value_error("KeyError: " + (numeric_key ? key : lamin::detail::python_str_repr(key)));
}

// Python's `str.format(metrics)` where every field is `{0[name]...}`.
std::string python_str_format(const std::string& f, const MetricMap& metrics,
                              const std::map<std::string, Scalar>& defaults) {
  std::string out;
  const std::size_t n = f.size();
  std::size_t i = 0;
  while (i < n) {
    const char c = f[i];
    if (c == '}') {
      if (i + 1 < n && f[i + 1] == '}') {
        out += '}';
        i += 2;
        continue;
      }
      value_error("Single '}' encountered in format string");
    }
    if (c != '{') {
      out += c;
      ++i;
      continue;
    }
    if (i + 1 < n && f[i + 1] == '{') {
      out += '{';
      i += 2;
      continue;
    }
    std::size_t name_end = std::string::npos;
    const std::size_t j = replacement_field_end(f, i, name_end);
    const std::size_t start = i + 1;
    const std::string field = f.substr(start, j - start);
    i = j + 1;
    const std::size_t split = name_end == std::string::npos ? field.size() : name_end - start;
    const std::string rest = field.substr(split);
    std::string spec;
    if (!rest.empty() && rest[0] == '!') {
      if (rest.size() < 2) value_error("end of string while looking for conversion specifier");
      value_error(std::string("conversion !") + rest[1] + " is not supported in checkpoint names");
    }
    if (!rest.empty() && rest[0] == ':') spec = rest.substr(1);
    if (spec.find('{') != std::string::npos || spec.find('}') != std::string::npos) {
      value_error("nested replacement fields in format specs are not supported in checkpoint names");
    }
    const Scalar& value = field_metric(field.substr(0, split), metrics, defaults);
    out += lamin::detail::python_format({value.value, value.integral}, spec);
  }
  return out;
}

}  // namespace

std::string format_metric_template(std::string_view filename, const MetricMap& metrics, bool auto_insert_metric_name,
                                   std::string_view equals_char) {
  std::vector<std::string> groups = template_groups(filename);
  std::stable_sort(groups.begin(), groups.end(),
                   [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  std::string f(filename);
  std::map<std::string, Scalar> defaults;
  for (const auto& group : groups) {
    const std::string name = group.substr(1);
    if (auto_insert_metric_name) replace_all(f, group, name + std::string(equals_char) + "{" + name);
    replace_all(f, group, "{0[" + name + "]");
    if (!metrics.contains(name)) defaults.emplace(name, Scalar::integer(0));
  }
  return python_str_format(f, metrics, defaults);
}

}  // namespace lamin::pl::detail
