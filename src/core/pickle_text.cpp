// Text forms inside pickles (see pickle_text.hpp).
#include "pickle_text.hpp"

#include "utf8.hpp"

namespace lamin::detail {

namespace {

constexpr std::size_t kMaxIntDigits = 4300;  // Python's limit for int("...") (sys.int_info.default_max_str_digits)

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

char simple_escape(char e) {
  switch (e) {
    case '\\':
      return '\\';
    case '\'':
      return '\'';
    case '"':
      return '"';
    case 'a':
      return '\a';
    case 'b':
      return '\b';
    case 'f':
      return '\f';
    case 'n':
      return '\n';
    case 'r':
      return '\r';
    case 't':
      return '\t';
    case 'v':
      return '\v';
    default:
      return 0;
  }
}

}  // namespace

// UTF-8 as Python's "surrogatepass" decoder accepts it: no overlong forms, no code point above U+10FFFF, but lone
// surrogates (ED A0-BF xx) are allowed, since pickle writes str that way.
bool pickle_valid_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    const int len = c < 0x80                   ? 1
                    : (c >= 0xC2 && c <= 0xDF) ? 2
                    : (c >> 4) == 0xE          ? 3
                    : (c >= 0xF0 && c <= 0xF4) ? 4
                                               : 0;
    if (len == 0 || i + len > s.size()) return false;
    for (int k = 1; k < len; ++k)
      if ((static_cast<unsigned char>(s[i + k]) >> 6) != 0x2) return false;
    const auto c1 = static_cast<unsigned char>(s[i + 1 < s.size() ? i + 1 : i]);
    if (len == 3 && c == 0xE0 && c1 < 0xA0) return false;  // overlong
    if (len == 4 && ((c == 0xF0 && c1 < 0x90) || (c == 0xF4 && c1 >= 0x90))) return false;
    i += len;
  }
  return true;
}

// Decimal text (optional sign, surrounding blanks) as a value: kInt when it fits, else kBigInt. Empty on bad text.
PickleValuePtr pickle_parse_decimal(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r')) text.remove_suffix(1);
  bool negative = false;
  if (!text.empty() && (text.front() == '-' || text.front() == '+')) {
    negative = text.front() == '-';
    text.remove_prefix(1);
  }
  if (text.empty() || text.size() > kMaxIntDigits) return nullptr;
  std::vector<std::uint32_t> limbs{0};  // magnitude, base 2^32, least significant first
  for (const char ch : text) {
    if (ch < '0' || ch > '9') return nullptr;
    std::uint64_t carry = static_cast<std::uint64_t>(ch - '0');
    for (auto& limb : limbs) {
      const std::uint64_t cur = std::uint64_t(limb) * 10 + carry;
      limb = static_cast<std::uint32_t>(cur);
      carry = cur >> 32;
    }
    if (carry) limbs.push_back(static_cast<std::uint32_t>(carry));
  }
  std::string bytes;
  for (const auto limb : limbs)
    for (int k = 0; k < 4; ++k) bytes.push_back(static_cast<char>((limb >> (8 * k)) & 0xff));
  bytes.push_back('\0');  // room for the sign bit
  if (negative) {         // two's complement: ~x + 1
    bool carry = true;
    for (auto& b : bytes) {
      auto u = static_cast<unsigned char>(~static_cast<unsigned char>(b));
      if (carry) carry = ++u == 0;
      b = static_cast<char>(u);
    }
  }
  return PickleValue::big_integer(std::move(bytes));
}

// Python 2 str literal ('S'): a quoted repr with backslash escapes.
bool pickle_unescape_string(std::string_view text, std::string& out) {
  if (text.size() < 2 || (text.front() != '\'' && text.front() != '"') || text.back() != text.front()) return false;
  text = text.substr(1, text.size() - 2);
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\\' || i + 1 == text.size()) {
      out.push_back(text[i]);
      continue;
    }
    const char e = text[++i];
    if (const char c = simple_escape(e)) {
      out.push_back(c);
    } else if (e == '\n') {  // an escaped newline joins lines
    } else if (e >= '0' && e <= '7') {
      int v = e - '0';
      for (int k = 0; k < 2 && i + 1 < text.size() && text[i + 1] >= '0' && text[i + 1] <= '7'; ++k)
        v = v * 8 + (text[++i] - '0');
      out.push_back(static_cast<char>(v & 0xff));
    } else if (e == 'x') {
      if (i + 2 >= text.size() || hex_digit(text[i + 1]) < 0 || hex_digit(text[i + 2]) < 0) return false;
      out.push_back(static_cast<char>(hex_digit(text[i + 1]) * 16 + hex_digit(text[i + 2])));
      i += 2;
    } else {
      out.push_back('\\');
      out.push_back(e);
    }
  }
  return true;
}

// raw-unicode-escape ('V'): Latin-1 bytes, except \uXXXX and \UXXXXXXXX after an odd run of backslashes.
bool pickle_raw_unicode_escape(std::string_view text, std::string& out) {
  for (std::size_t i = 0; i < text.size();) {
    std::size_t run = 0;
    while (i + run < text.size() && text[i + run] == '\\') ++run;
    const std::size_t after = i + run;
    const bool escape = run % 2 == 1 && after < text.size() && (text[after] == 'u' || text[after] == 'U');
    if (run > 0) {
      out.append(escape ? run - 1 : run, '\\');
      i = after;
      if (!escape) continue;
      const std::size_t digits = text[after] == 'u' ? 4 : 8;
      if (after + digits >= text.size()) return false;
      char32_t cp = 0;
      for (std::size_t k = 1; k <= digits; ++k) {
        const int d = hex_digit(text[after + k]);
        if (d < 0) return false;
        cp = (cp << 4) | static_cast<char32_t>(d);
      }
      if (cp > 0x10FFFF) return false;
      append_utf8(out, cp);
      i = after + digits + 1;
      continue;
    }
    append_utf8(out, static_cast<unsigned char>(text[i++]));
  }
  return true;
}

}  // namespace lamin::detail
