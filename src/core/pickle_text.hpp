#pragma once
// The text forms inside pickles: UTF-8 checks for str opcodes and the line-based arguments of protocol 0 (INT /
// LONG decimals, STRING's quoted literal, UNICODE's raw-unicode-escape). Private to the unpickler.

#include <string>
#include <string_view>

#include "pickle.hpp"

namespace lamin::detail {

/// UTF-8 as Python's "surrogatepass" decoder accepts it: no overlong forms, no code point above U+10FFFF, lone
/// surrogates allowed (pickle writes str that way).
bool pickle_valid_utf8(std::string_view s);

/// Decimal text with an optional sign and surrounding blanks, as a kInt or kBigInt value; null for anything else
/// or for more than Python's 4300 digits.
PickleValuePtr pickle_parse_decimal(std::string_view text);

/// STRING's argument, a quoted Python 2 str literal with backslash escapes; false if it is not quoted or has a bad
/// `\x` escape.
bool pickle_unescape_string(std::string_view text, std::string& out);

/// UNICODE's argument in raw-unicode-escape (Latin-1 bytes, `\uXXXX` and `\UXXXXXXXX` after an odd run of
/// backslashes) as UTF-8; false for a truncated or out-of-range escape.
bool pickle_raw_unicode_escape(std::string_view text, std::string& out);

}  // namespace lamin::detail
