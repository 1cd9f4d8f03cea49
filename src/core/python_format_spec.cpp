// Python's format mini-language (`format(value, spec)`) over ints and floats, as CPython implements it.
#include <cmath>
#include <cstdint>
#include <cstdio>

#include "lamin/error.hpp"
#include "python.hpp"

namespace lamin::detail {
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

const char* type_name(const PythonNumber& value) { return value.integral ? "int" : "float"; }

// Python's format-spec parser (Objects/stringlib/unicode_format.h, parse_internal_render_format_spec).
FormatSpec parse_spec(std::string_view spec, const PythonNumber& value) {
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

std::string python_format(const PythonNumber& value, std::string_view spec) {
  const FormatSpec s = parse_spec(spec, value);
  std::string sign, prefix, body;
  const bool int_type = s.type == 0 || s.type == 'd' || s.type == 'n' || s.type == 'b' || s.type == 'o' ||
                        s.type == 'x' || s.type == 'X' || s.type == 'c';
  const bool float_type = s.type == 'e' || s.type == 'E' || s.type == 'f' || s.type == 'F' || s.type == 'g' ||
                          s.type == 'G' || s.type == '%';
  if (value.integral && int_type) {
    if (s.precision >= 0) value_error("Precision not allowed in integer format specifier");
    const std::int64_t v = static_cast<std::int64_t>(value.value);
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

}  // namespace lamin::detail
