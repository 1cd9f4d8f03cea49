#include "lamin/db/value.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <system_error>

#include "core/python.hpp"
#include "lamin/db/hash.hpp"
#include "lamin/error.hpp"

namespace lamin {
namespace {

using json = nlohmann::json;

// Decodes one UTF-8 code point at s[i]; advances i. Invalid bytes decode as U+FFFD.
std::uint32_t next_code_point(const std::string& s, std::size_t& i) {
  const auto c = static_cast<unsigned char>(s[i]);
  int len = 1;
  std::uint32_t cp = c;
  if (c >= 0xF0 && c < 0xF8) { len = 4; cp = c & 0x07; }
  else if (c >= 0xE0) { len = 3; cp = c & 0x0F; }
  else if (c >= 0xC0) { len = 2; cp = c & 0x1F; }
  else if (c >= 0x80) { ++i; return 0xFFFD; }
  if (i + static_cast<std::size_t>(len) > s.size()) { ++i; return 0xFFFD; }
  for (int k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + static_cast<std::size_t>(k)]) & 0x3F);
  i += static_cast<std::size_t>(len);
  return cp;
}

void append_u_escape(std::string& out, std::uint32_t unit) {
  char buf[8];
  std::snprintf(buf, sizeof(buf), "\\u%04x", unit);
  out += buf;
}

// Python's json.dumps of a str with ensure_ascii=True.
std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        default:
          if (c < 0x20 || c == 0x7f) {
            if (c == 0x7f) out += static_cast<char>(c);
            else append_u_escape(out, c);
          } else {
            out += static_cast<char>(c);
          }
      }
      continue;
    }
    const std::uint32_t cp = next_code_point(s, i);
    if (cp >= 0x10000) {
      const std::uint32_t v = cp - 0x10000;
      append_u_escape(out, 0xD800 + (v >> 10));
      append_u_escape(out, 0xDC00 + (v & 0x3FF));
    } else {
      append_u_escape(out, cp);
    }
  }
  return out + "\"";
}


}  // namespace

std::string python_json_dumps(const json& value) {
  switch (value.type()) {
    case json::value_t::null: return "null";
    case json::value_t::boolean: return value.get<bool>() ? "true" : "false";
    case json::value_t::number_integer: return std::to_string(value.get<std::int64_t>());
    case json::value_t::number_unsigned: return std::to_string(value.get<std::uint64_t>());
    case json::value_t::number_float: {
      const double d = value.get<double>();
      if (!std::isfinite(d)) {
        throw ValidationError("Out of range float values are not JSON compliant: " + detail::python_repr(d));
      }
      return detail::python_json_float(d);
    }
    case json::value_t::string: return json_string(value.get<std::string>());
    case json::value_t::array: {
      std::string out = "[";
      bool first = true;
      for (const auto& e : value) {
        out += (first ? "" : ", ") + python_json_dumps(e);
        first = false;
      }
      return out + "]";
    }
    case json::value_t::object: {
      std::string out = "{";
      bool first = true;
      for (const auto& [k, e] : value.items()) {
        out += (first ? "" : ", ") + json_string(k) + ": " + python_json_dumps(e);
        first = false;
      }
      return out + "}";
    }
    default: throw ValidationError("unsupported JSON value");
  }
}

std::string python_str(const json& value) { return detail::python_str(value); }

std::string json_value_hash(const json& value) {
  if (value.is_object()) return hash_string(python_json_dumps(value));  // nlohmann objects are key-sorted
  return hash_string(python_str(value));
}

namespace {

// Whether `text` is exactly a JSON number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
bool is_json_number(const std::string& text, bool& integral) {
  std::size_t i = 0;
  const std::size_t n = text.size();
  auto digits = [&] {
    const std::size_t from = i;
    while (i < n && text[i] >= '0' && text[i] <= '9') ++i;
    return i > from;
  };
  if (i < n && text[i] == '-') ++i;
  if (i < n && text[i] == '0') {
    ++i;
  } else if (!digits()) {
    return false;
  }
  integral = true;
  if (i < n && text[i] == '.') {
    ++i;
    integral = false;
    if (!digits()) return false;
  }
  if (i < n && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    integral = false;
    if (i < n && (text[i] == '+' || text[i] == '-')) ++i;
    if (!digits()) return false;
  }
  return i == n;
}

}  // namespace

// Numbers and booleans, nearly all of a feature like score or model_rank, are read without the JSON parser.
json parse_json_value(const std::string& text) {
  if (text == "true") return true;
  if (text == "false") return false;
  bool integral = false;
  if (text.size() < 32 && is_json_number(text, integral)) {
    const char* first = text.data();
    const char* last = first + text.size();
    if (integral && text[0] == '-') {
      std::int64_t v = 0;
      if (const auto r = std::from_chars(first, last, v); r.ec == std::errc() && r.ptr == last) return v;
    } else if (integral) {
      std::uint64_t v = 0;
      if (const auto r = std::from_chars(first, last, v); r.ec == std::errc() && r.ptr == last) return v;
    } else {
      double v = 0;
      const auto r = std::from_chars(first, last, v);
      if (r.ec == std::errc() && r.ptr == last && std::isfinite(v)) return v;
    }
  }
  json v = json::parse(text, nullptr, false);
  if (v.is_discarded()) return text;
  return v;
}

}  // namespace lamin
