#include "checkpoint_filename.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <map>

#include "core/python_format.hpp"
#include "lamin/error.hpp"

namespace lamin::pl::detail {
namespace {

[[noreturn]] void value_error(const std::string& message) { throw ConfigurationError(message); }

struct FormatSpec {
  char fill = ' ';
  char align = 0;  // 0: the type's default
  char sign = '-';
  bool z = false;
  bool alternate = false;
  std::int64_t width = -1;
  char grouping = 0;
  std::int64_t precision = -1;
  char type = 0;
};

bool is_align(char c) { return c == '<' || c == '>' || c == '=' || c == '^'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

const char* type_name(const Scalar& value) { return value.integral ? "int" : "float"; }

// Python's format-spec parser (Objects/stringlib/unicode_format.h, parse_internal_render_format_spec).
FormatSpec parse_spec(std::string_view spec, const Scalar& value) {
  FormatSpec s;
  std::size_t pos = 0;
  const std::size_t n = spec.size();
  bool fill_given = false, align_given = false;
  if (n >= 2 && is_align(spec[1])) {
    s.fill = spec[0];
    s.align = spec[1];
    fill_given = align_given = true;
    pos = 2;
  } else if (n >= 1 && is_align(spec[0])) {
    s.align = spec[0];
    align_given = true;
    pos = 1;
  }
  if (pos < n && (spec[pos] == '+' || spec[pos] == '-' || spec[pos] == ' ')) s.sign = spec[pos++];
  if (pos < n && spec[pos] == 'z') {
    s.z = true;
    ++pos;
  }
  if (pos < n && spec[pos] == '#') {
    s.alternate = true;
    ++pos;
  }
  if (!fill_given && pos < n && spec[pos] == '0') {
    s.fill = '0';
    if (!align_given) s.align = '=';
    ++pos;
  }
  if (pos < n && is_digit(spec[pos])) {
    s.width = 0;
    while (pos < n && is_digit(spec[pos])) s.width = s.width * 10 + (spec[pos++] - '0');
  }
  if (pos < n && (spec[pos] == ',' || spec[pos] == '_')) s.grouping = spec[pos++];
  if (pos < n && spec[pos] == '.') {
    ++pos;
    if (pos >= n || !is_digit(spec[pos])) value_error("Format specifier missing precision");
    s.precision = 0;
    while (pos < n && is_digit(spec[pos])) s.precision = s.precision * 10 + (spec[pos++] - '0');
  }
  if (n - pos > 1) {
    value_error("Invalid format specifier '" + std::string(spec) + "' for object of type '" + type_name(value) + "'");
  }
  if (pos < n) s.type = spec[pos];
  return s;
}

// Inserts `sep` every `every` digits from the right into the leading run of digits of `body`.
std::string group_digits(const std::string& body, char sep, int every) {
  std::size_t end = 0;
  while (end < body.size() && is_digit(body[end])) ++end;
  std::string digits = body.substr(0, end);
  std::string grouped;
  const int len = static_cast<int>(digits.size());
  for (int i = 0; i < len; ++i) {
    if (i > 0 && (len - i) % every == 0) grouped += sep;
    grouped += digits[static_cast<std::size_t>(i)];
  }
  return grouped + body.substr(end);
}

std::string printf_double(const char* format, int precision, double value) {
  char buffer[512];
  int written = std::snprintf(buffer, sizeof buffer, format, precision, value);
  if (written >= 0 && static_cast<std::size_t>(written) < sizeof buffer) return std::string(buffer, written);
  std::string big(static_cast<std::size_t>(written) + 1, '\0');
  std::snprintf(big.data(), big.size(), format, precision, value);
  big.resize(static_cast<std::size_t>(written));
  return big;
}

std::string upper(std::string text) {
  for (auto& c : text)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return text;
}

// Removes trailing zeros of the fraction of a fixed or scientific number (and a trailing '.').
std::string strip_fraction_zeros(const std::string& text) {
  const auto e = text.find_first_of("eE");
  std::string mantissa = e == std::string::npos ? text : text.substr(0, e);
  const std::string exponent = e == std::string::npos ? "" : text.substr(e);
  if (mantissa.find('.') != std::string::npos) {
    while (!mantissa.empty() && mantissa.back() == '0') mantissa.pop_back();
    if (!mantissa.empty() && mantissa.back() == '.') mantissa.pop_back();
  }
  return mantissa + exponent;
}

// Python's float formatting of a non-negative finite or non-finite `x` for one presentation type.
std::string format_float_body(double x, const FormatSpec& s) {
  const char type = s.type;
  const bool upper_case = type == 'E' || type == 'F' || type == 'G';
  if (std::isnan(x) || std::isinf(x)) {
    std::string text = std::isnan(x) ? "nan" : "inf";
    if (upper_case) text = upper(text);
    if (type == '%') text += '%';
    return text;
  }
  switch (type) {
    case 0: {
      if (s.precision < 0) return lamin::detail::python_repr(x);
      // Like 'g', but scientific from exponent precision-1 on and at least one fractional digit in fixed form.
      const int p = s.precision == 0 ? 1 : static_cast<int>(s.precision);
      const std::string sci = printf_double("%.*e", p - 1, x);
      const int exponent = std::stoi(sci.substr(sci.find('e') + 1));
      if (exponent < -4 || exponent >= p - 1) return s.alternate ? sci : strip_fraction_zeros(sci);
      std::string fixed = printf_double("%.*f", p - 1 - exponent, x);
      if (!s.alternate) fixed = strip_fraction_zeros(fixed);
      if (fixed.find('.') == std::string::npos) fixed += ".0";
      return fixed;
    }
    case 'f':
    case 'F':
      return printf_double(s.alternate ? "%#.*f" : "%.*f", s.precision < 0 ? 6 : static_cast<int>(s.precision), x);
    case 'e':
    case 'E':
      return printf_double(type == 'e' ? (s.alternate ? "%#.*e" : "%.*e") : (s.alternate ? "%#.*E" : "%.*E"),
                           s.precision < 0 ? 6 : static_cast<int>(s.precision), x);
    case 'g':
    case 'G':
    case 'n': {
      const int p = s.precision < 0 ? 6 : (s.precision == 0 ? 1 : static_cast<int>(s.precision));
      return printf_double(type == 'G' ? (s.alternate ? "%#.*G" : "%.*G") : (s.alternate ? "%#.*g" : "%.*g"), p, x);
    }
    case '%':
      return printf_double(s.alternate ? "%#.*f" : "%.*f", s.precision < 0 ? 6 : static_cast<int>(s.precision),
                           x * 100.0) +
             "%";
    default:
      break;
  }
  value_error(std::string("Unknown format code '") + type + "' for object of type 'float'");
}

std::string to_base(std::uint64_t v, int base, bool upper_digits) {
  if (v == 0) return "0";
  const char* digits = upper_digits ? "0123456789ABCDEF" : "0123456789abcdef";
  std::string out;
  while (v > 0) {
    out += digits[v % static_cast<std::uint64_t>(base)];
    v /= static_cast<std::uint64_t>(base);
  }
  std::reverse(out.begin(), out.end());
  return out;
}

}  // namespace

std::string python_format(const Scalar& value, std::string_view spec) {
  const FormatSpec s = parse_spec(spec, value);
  std::string sign, prefix, body;
  const bool int_type = s.type == 0 || s.type == 'd' || s.type == 'n' || s.type == 'b' || s.type == 'o' ||
                        s.type == 'x' || s.type == 'X' || s.type == 'c';
  const bool float_type = s.type == 'e' || s.type == 'E' || s.type == 'f' || s.type == 'F' || s.type == 'g' ||
                          s.type == 'G' || s.type == '%';
  if (value.integral && int_type) {
    if (s.precision >= 0) value_error("Precision not allowed in integer format specifier");
    const std::int64_t v = value.as_int();
    const bool negative = v < 0;
    const std::uint64_t magnitude =
        negative ? static_cast<std::uint64_t>(-(v + 1)) + 1u : static_cast<std::uint64_t>(v);
    int group_every = 3;
    switch (s.type) {
      case 'b':
        body = to_base(magnitude, 2, false), prefix = s.alternate ? "0b" : "", group_every = 4;
        break;
      case 'o':
        body = to_base(magnitude, 8, false), prefix = s.alternate ? "0o" : "", group_every = 4;
        break;
      case 'x':
        body = to_base(magnitude, 16, false), prefix = s.alternate ? "0x" : "", group_every = 4;
        break;
      case 'X':
        body = to_base(magnitude, 16, true), prefix = s.alternate ? "0X" : "", group_every = 4;
        break;
      case 'c':
        if (v < 0 || v > 0x7f) value_error("%c arg not in range(0x110000)");
        body = std::string(1, static_cast<char>(v));
        break;
      default:
        body = to_base(magnitude, 10, false);
    }
    if (s.grouping) body = group_digits(body, s.grouping, group_every);
    if (s.type != 'c') sign = negative ? "-" : (s.sign == '+' ? "+" : (s.sign == ' ' ? " " : ""));
  } else if (float_type || (s.type == 0 && !value.integral) || (s.type == 'n' && !value.integral)) {
    double x = value.value;
    bool negative = !std::isnan(x) && std::signbit(x);
    if (negative) x = -x;
    body = format_float_body(x, s);
    if (negative && s.z) {
      // 'z': a negative number that rounds to zero prints without its sign.
      bool all_zero = true;
      for (char c : body)
        if (c >= '1' && c <= '9') all_zero = false;
      if (all_zero) negative = false;
    }
    if (s.grouping && std::isfinite(x)) body = group_digits(body, s.grouping, 3);
    sign = negative ? "-" : (s.sign == '+' ? "+" : (s.sign == ' ' ? " " : ""));
  } else {
    value_error(std::string("Unknown format code '") + s.type + "' for object of type '" + type_name(value) + "'");
  }

  const std::string content = sign + prefix + body;
  if (s.width <= static_cast<std::int64_t>(content.size())) return content;
  const std::size_t pad = static_cast<std::size_t>(s.width) - content.size();
  const char align = s.align ? s.align : '>';
  switch (align) {
    case '<':
      return content + std::string(pad, s.fill);
    case '^':
      return std::string(pad / 2, s.fill) + content + std::string(pad - pad / 2, s.fill);
    case '=':
      return sign + prefix + std::string(pad, s.fill) + body;
    default:
      return std::string(pad, s.fill) + content;
  }
}

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
    // A replacement field: up to the matching '}', with '[...]' protecting braces in the field name.
    std::size_t j = i + 1;
    int depth = 1, bracket = 0;
    bool in_spec = false;
    std::size_t name_end = std::string::npos;
    for (; j < n; ++j) {
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
        } else if (d == '}') {
          if (--depth == 0) break;
        }
      }
    }
    if (j >= n) value_error("expected '}' before end of string");
    const std::size_t start = i + 1;
    const std::string field = f.substr(start, j - start);
    i = j + 1;
    const std::size_t split = name_end == std::string::npos ? field.size() : name_end - start;
    const std::string field_name = field.substr(0, split);
    std::string rest = field.substr(split);
    std::string spec;
    if (!rest.empty() && rest[0] == '!') {
      if (rest.size() < 2) value_error("end of string while looking for conversion specifier");
      value_error(std::string("conversion !") + rest[1] + " is not supported in checkpoint names");
    }
    if (!rest.empty() && rest[0] == ':') spec = rest.substr(1);
    if (spec.find('{') != std::string::npos || spec.find('}') != std::string::npos) {
      value_error("nested replacement fields in format specs are not supported in checkpoint names");
    }
    // field_name: "0[key]"
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
    const Scalar* value = numeric_key ? nullptr : metrics.find(key);
    if (value == nullptr && !numeric_key) {
      auto it = defaults.find(key);
      if (it != defaults.end()) value = &it->second;
    }
    if (value == nullptr) value_error("KeyError: " + (numeric_key ? key : python_str_repr(key)));
    out += python_format(*value, spec);
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

std::string python_str_repr(std::string_view text) {
  const bool has_single = text.find('\'') != std::string_view::npos;
  const bool has_double = text.find('"') != std::string_view::npos;
  const char quote = has_single && !has_double ? '"' : '\'';
  std::string out(1, quote);
  for (unsigned char c : text) {
    if (c == static_cast<unsigned char>(quote) || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      char buffer[8];
      std::snprintf(buffer, sizeof buffer, "\\x%02x", c);
      out += buffer;
    } else {
      out += static_cast<char>(c);  // UTF-8 bytes of printable characters pass through, as Python prints them
    }
  }
  out += quote;
  return out;
}

namespace {

struct TimedeltaParts {
  std::int64_t days = 0, seconds = 0, microseconds = 0;
};

// datetime.timedelta(seconds=s): rounded to the microsecond (half to even), normalised to 0 <= seconds < 86400
// and 0 <= microseconds < 1e6.
TimedeltaParts timedelta_parts(std::chrono::duration<double> d) {
  const double us = std::nearbyint(d.count() * 1e6);
  auto total = static_cast<std::int64_t>(us);
  const std::int64_t per_day = 86400LL * 1000000LL;
  std::int64_t days = total / per_day;
  std::int64_t rest = total % per_day;
  if (rest < 0) {
    rest += per_day;
    days -= 1;
  }
  return TimedeltaParts{days, rest / 1000000, rest % 1000000};
}

}  // namespace

std::string python_timedelta_repr(std::chrono::duration<double> d) {
  const TimedeltaParts p = timedelta_parts(d);
  std::vector<std::string> fields;
  if (p.days != 0) fields.push_back("days=" + std::to_string(p.days));
  if (p.seconds != 0) fields.push_back("seconds=" + std::to_string(p.seconds));
  if (p.microseconds != 0) fields.push_back("microseconds=" + std::to_string(p.microseconds));
  if (fields.empty()) return "datetime.timedelta(0)";
  std::string out = "datetime.timedelta(";
  for (std::size_t i = 0; i < fields.size(); ++i) out += (i ? ", " : "") + fields[i];
  return out + ")";
}

std::string python_timedelta_str(std::chrono::duration<double> d) {
  const TimedeltaParts p = timedelta_parts(d);
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%lld:%02lld:%02lld", static_cast<long long>(p.seconds / 3600),
                static_cast<long long>((p.seconds / 60) % 60), static_cast<long long>(p.seconds % 60));
  std::string out = buffer;
  if (p.microseconds != 0) {
    std::snprintf(buffer, sizeof buffer, ".%06lld", static_cast<long long>(p.microseconds));
    out += buffer;
  }
  if (p.days != 0) {
    out = std::to_string(p.days) + (p.days == 1 || p.days == -1 ? " day, " : " days, ") + out;
  }
  return out;
}

namespace {

// Strings PyYAML's resolver would read back as something other than a string.
bool yaml_implicit_non_string(std::string_view t) {
  static const char* const kWords[] = {"yes", "Yes", "YES", "no",    "No",    "NO",   "true", "True", "TRUE",
                                       "false", "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF",
                                       "null", "Null", "NULL", "~", "=", "<<"};
  for (const char* w : kWords)
    if (t == w) return true;
  if (t.empty()) return true;
  // Numbers (ints, floats, .inf/.nan, sexagesimal) and timestamps start with a digit, a sign or a dot.
  const char c = t[0];
  if (is_digit(c) || c == '+' || c == '-' || c == '.') {
    bool numeric_like = true;
    for (char ch : t)
      if (!(is_digit(ch) || ch == '.' || ch == '+' || ch == '-' || ch == '_' || ch == ':' || ch == 'e' ||
            ch == 'E' || ch == 'x' || ch == 'o' || ch == 'b' || ch == 'a' || ch == 'f' || ch == 'i' ||
            ch == 'n' || ch == 'N' || ch == 'I' || ch == 'F' || ch == 'A' || ch == 'T' || ch == 'Z' || ch == ' '))
        numeric_like = false;
    if (numeric_like) return true;
  }
  return false;
}

}  // namespace

std::string yaml_string(std::string_view text) {
  bool plain = !yaml_implicit_non_string(text);
  if (plain) {
    const char first = text.front();
    if (std::string_view("-?:,[]{}#&*!|>'\"%@`").find(first) != std::string_view::npos) plain = false;
    if (text.front() == ' ' || text.back() == ' ') plain = false;
    if (text.find(": ") != std::string_view::npos || text.find(" #") != std::string_view::npos) plain = false;
    if (text.back() == ':') plain = false;
    for (unsigned char c : text)
      if (c < 0x20 || c >= 0x7f) plain = false;
  }
  if (plain) return std::string(text);
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') out += "''";
    else out += c;
  }
  return out + "'";
}

std::string yaml_float(double value) {
  if (std::isnan(value)) return ".nan";
  if (std::isinf(value)) return value > 0 ? ".inf" : "-.inf";
  std::string text = lamin::detail::python_repr(value);
  for (auto& c : text)
    if (c == 'E') c = 'e';
  if (text.find('.') == std::string::npos && text.find('e') != std::string::npos) {
    text.replace(text.find('e'), 1, ".0e");
  }
  return text;
}

}  // namespace lamin::pl::detail
