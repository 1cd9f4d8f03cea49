// PyYAML's `yaml.dump` as Lightning uses it: a port of the parts of PyYAML's emitter that `yaml.dump(dict)`
// exercises, so hparams.yaml files are byte-equal to Lightning's. The structure (analysis, style choice, writers,
// indentation state) follows PyYAML's Emitter so that edge cases (quoting, folding at 80 columns, indentless
// sequences under keys) come out the same.

#include <cmath>
#include <cstdio>
#include <optional>
#include <regex>
#include <vector>

#include "python.hpp"
#include "utf8.hpp"

namespace lamin::detail {
namespace {

constexpr char32_t kEnd = 0xFFFFFFFF;  // past the end of a scalar (Python's None)

bool is_break(char32_t ch) { return ch == U'\n' || ch == 0x85 || ch == 0x2028 || ch == 0x2029; }
bool is_space_or_break_or_nul(char32_t ch) {
  return ch == 0 || ch == U' ' || ch == U'\t' || ch == U'\r' || is_break(ch);
}
bool contains(const char32_t* set, char32_t ch) {
  for (; *set; ++set)
    if (*set == ch) return true;
  return false;
}

// ---- PyYAML's implicit resolvers: does this plain text read back as something other than a string? -------------

bool resolves_to_non_string(const std::string& value) {
  static const std::regex kBool(
      "^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$");
  static const std::regex kFloat(
      "^(?:[-+]?(?:[0-9][0-9_]*)\\.[0-9_]*(?:[eE][-+][0-9]+)?"
      "|\\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?"
      "|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\\.[0-9_]*"
      "|[-+]?\\.(?:inf|Inf|INF)"
      "|\\.(?:nan|NaN|NAN))$");
  static const std::regex kInt(
      "^(?:[-+]?0b[0-1_]+"
      "|[-+]?0[0-7_]+"
      "|[-+]?(?:0|[1-9][0-9_]*)"
      "|[-+]?0x[0-9a-fA-F_]+"
      "|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$");
  static const std::regex kNull("^(?:~|null|Null|NULL|)$");
  static const std::regex kTimestamp(
      "^(?:[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]"
      "|[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?"
      "(?:[Tt]|[ \\t]+)[0-9][0-9]?"
      ":[0-9][0-9]:[0-9][0-9](?:\\.[0-9]*)?"
      "(?:[ \\t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)$");
  if (value.empty()) return true;  // the null resolver matches ''
  // Python's `$` also matches before a final newline; such texts are never plain anyway (they have a line break).
  const char first = value[0];
  auto in = [first](const char* chars) {
    for (; *chars; ++chars)
      if (*chars == first) return true;
    return false;
  };
  if (in("yYnNtTfFoO") && std::regex_match(value, kBool)) return true;
  if (in("-+0123456789.") && std::regex_match(value, kFloat)) return true;
  if (in("-+0123456789") && std::regex_match(value, kInt)) return true;
  if (first == '<' && value == "<<") return true;
  if (in("~nN") && std::regex_match(value, kNull)) return true;
  if (in("0123456789") && std::regex_match(value, kTimestamp)) return true;
  if (first == '=' && value == "=") return true;
  return false;
}

// ---- the representer: JSON → (text, implicit-plain flag) ---------------------------------------------------------

struct ScalarNode {
  std::u32string text;
  bool plain_implicit;  // PyYAML's implicit[0]: reading the plain text back gives the same type
};

ScalarNode represent_scalar(const nlohmann::json& v) {
  switch (v.type()) {
    case nlohmann::json::value_t::null:
      return {U"null", true};
    case nlohmann::json::value_t::boolean:
      return {v.get<bool>() ? U"true" : U"false", true};
    case nlohmann::json::value_t::number_integer:
      return {decode_utf8(std::to_string(v.get<std::int64_t>())), true};
    case nlohmann::json::value_t::number_unsigned:
      return {decode_utf8(std::to_string(v.get<std::uint64_t>())), true};
    case nlohmann::json::value_t::number_float:
      return {decode_utf8(yaml_float(v.get<double>())), true};
    case nlohmann::json::value_t::string: {
      const auto& s = v.get_ref<const std::string&>();
      return {decode_utf8(s), !resolves_to_non_string(s)};
    }
    default:  // binary / discarded: written as their JSON text
      return {decode_utf8(v.dump()), false};
  }
}

// ---- the emitter ---------------------------------------------------------------------------------------------------

struct Analysis {
  bool empty = false;
  bool multiline = false;
  bool allow_flow_plain = true;
  bool allow_block_plain = true;
  bool allow_single_quoted = true;
  bool allow_double_quoted = true;
};

Analysis analyze_scalar(const std::u32string& s) {
  Analysis a;
  if (s.empty()) {
    a.empty = true;
    a.allow_flow_plain = false;
    return a;
  }
  bool block_indicators = false, flow_indicators = false, line_breaks = false, special_characters = false;
  bool leading_space = false, leading_break = false, trailing_space = false, trailing_break = false;
  bool break_space = false, space_break = false;
  if (s.compare(0, 3, U"---") == 0 || s.compare(0, 3, U"...") == 0) block_indicators = flow_indicators = true;
  bool preceded_by_whitespace = true;
  bool followed_by_whitespace = s.size() == 1 || is_space_or_break_or_nul(s[1]);
  bool previous_space = false, previous_break = false;
  for (std::size_t index = 0; index < s.size();) {
    const char32_t ch = s[index];
    if (index == 0) {
      if (contains(U"#,[]{}&*!|>'\"%@`", ch)) flow_indicators = block_indicators = true;
      if (ch == U'?' || ch == U':') {
        flow_indicators = true;
        if (followed_by_whitespace) block_indicators = true;
      }
      if (ch == U'-' && followed_by_whitespace) flow_indicators = block_indicators = true;
    } else {
      if (contains(U",?[]{}", ch)) flow_indicators = true;
      if (ch == U':') {
        flow_indicators = true;
        if (followed_by_whitespace) block_indicators = true;
      }
      if (ch == U'#' && preceded_by_whitespace) flow_indicators = block_indicators = true;
    }
    if (is_break(ch)) line_breaks = true;
    if (!(ch == U'\n' || (ch >= 0x20 && ch <= 0x7E))) special_characters = true;  // allow_unicode=False
    if (ch == U' ') {
      if (index == 0) leading_space = true;
      if (index == s.size() - 1) trailing_space = true;
      if (previous_break) break_space = true;
      previous_space = true;
      previous_break = false;
    } else if (is_break(ch)) {
      if (index == 0) leading_break = true;
      if (index == s.size() - 1) trailing_break = true;
      if (previous_space) space_break = true;
      previous_space = false;
      previous_break = true;
    } else {
      previous_space = previous_break = false;
    }
    ++index;
    preceded_by_whitespace = is_space_or_break_or_nul(ch);
    followed_by_whitespace = index + 1 >= s.size() || is_space_or_break_or_nul(s[index + 1]);
  }
  if (leading_space || leading_break || trailing_space || trailing_break)
    a.allow_flow_plain = a.allow_block_plain = false;
  if (break_space) a.allow_flow_plain = a.allow_block_plain = a.allow_single_quoted = false;
  if (space_break || special_characters) a.allow_flow_plain = a.allow_block_plain = a.allow_single_quoted = false;
  if (line_breaks) a.allow_flow_plain = a.allow_block_plain = false;
  if (flow_indicators) a.allow_flow_plain = false;
  if (block_indicators) a.allow_block_plain = false;
  a.multiline = line_breaks;
  return a;
}

class Emitter {
 public:
  std::string dump(const nlohmann::json& root) {
    expect_node(root, /*root=*/true, false, false, false);
    write_indent();  // document end
    return out_;
  }

 private:
  static constexpr int kBestWidth = 80;
  static constexpr int kBestIndent = 2;

  std::string out_;
  int column_ = 0;
  bool whitespace_ = true;
  bool indention_ = true;
  std::optional<int> indent_;
  std::vector<std::optional<int>> indents_;
  int flow_level_ = 0;
  bool mapping_context_ = false;
  bool simple_key_context_ = false;

  void increase_indent(bool flow, bool indentless = false) {
    indents_.push_back(indent_);
    if (!indent_) {
      indent_ = flow ? kBestIndent : 0;
    } else if (!indentless) {
      *indent_ += kBestIndent;
    }
  }
  void pop_indent() {
    indent_ = indents_.back();
    indents_.pop_back();
  }

  void expect_node(const nlohmann::json& node, bool root, bool sequence, bool mapping, bool simple_key) {
    (void)root;
    (void)sequence;
    mapping_context_ = mapping;
    simple_key_context_ = simple_key;
    if (node.is_array()) {
      if (flow_level_ || node.empty()) {
        expect_empty_flow_collection("[", "]");
      } else {
        expect_block_sequence(node);
      }
    } else if (node.is_object()) {
      if (flow_level_ || node.empty()) {
        expect_empty_flow_collection("{", "}");
      } else {
        expect_block_mapping(node);
      }
    } else {
      increase_indent(/*flow=*/true);
      process_scalar(represent_scalar(node));
      pop_indent();
    }
  }

  // Only empty collections are written in flow style (default_flow_style=False).
  void expect_empty_flow_collection(const char* open, const char* close) {
    write_indicator(open, true, /*whitespace=*/true);
    ++flow_level_;
    increase_indent(/*flow=*/true);
    pop_indent();
    --flow_level_;
    write_indicator(close, false);
  }

  void expect_block_sequence(const nlohmann::json& node) {
    const bool indentless = mapping_context_ && !indention_;
    increase_indent(false, indentless);
    for (const auto& item : node) {
      write_indent();
      write_indicator("-", true, false, /*indention=*/true);
      expect_node(item, false, /*sequence=*/true, false, false);
    }
    pop_indent();
  }

  void expect_block_mapping(const nlohmann::json& node) {
    increase_indent(false);
    for (auto it = node.begin(); it != node.end(); ++it) {  // nlohmann's objects iterate in sorted key order
      write_indent();
      const nlohmann::json key = it.key();
      const Analysis a = analyze_scalar(decode_utf8(it.key()));
      const bool simple = decode_utf8(it.key()).size() < 128 && !a.empty && !a.multiline;
      if (simple) {
        expect_node(key, false, false, /*mapping=*/true, /*simple_key=*/true);
        write_indicator(":", false);
        expect_node(it.value(), false, false, true, false);
      } else {
        write_indicator("?", true, false, /*indention=*/true);
        expect_node(key, false, false, true, false);
        write_indent();
        write_indicator(":", true, false, /*indention=*/true);
        expect_node(it.value(), false, false, true, false);
      }
    }
    pop_indent();
  }

  char choose_scalar_style(const ScalarNode& node, const Analysis& a) const {
    if (node.plain_implicit) {
      if (!(simple_key_context_ && (a.empty || a.multiline)) &&
          ((flow_level_ && a.allow_flow_plain) || (!flow_level_ && a.allow_block_plain)))
        return '\0';
    }
    if (a.allow_single_quoted && !(simple_key_context_ && a.multiline)) return '\'';
    return '"';
  }

  void process_scalar(const ScalarNode& node) {
    const Analysis a = analyze_scalar(node.text);
    const char style = choose_scalar_style(node, a);
    const bool split = !simple_key_context_;
    if (style == '"') {
      write_double_quoted(node.text, split);
    } else if (style == '\'') {
      write_single_quoted(node.text, split);
    } else {
      write_plain(node.text, split);
    }
  }

  void write_raw(const std::u32string& data) {
    for (char32_t c : data) append_utf8(out_, c);
    column_ += static_cast<int>(data.size());
  }

  void write_indicator(const std::string& indicator, bool need_whitespace, bool whitespace = false,
                       bool indention = false) {
    const std::string data = (whitespace_ || !need_whitespace) ? indicator : " " + indicator;
    whitespace_ = whitespace;
    indention_ = indention_ && indention;
    column_ += static_cast<int>(data.size());
    out_ += data;
  }

  void write_indent() {
    const int indent = indent_.value_or(0);
    if (!indention_ || column_ > indent || (column_ == indent && !whitespace_)) write_line_break();
    if (column_ < indent) {
      whitespace_ = true;
      out_.append(static_cast<std::size_t>(indent - column_), ' ');
      column_ = indent;
    }
  }

  void write_line_break(char32_t br = U'\n') {
    whitespace_ = true;
    indention_ = true;
    column_ = 0;
    append_utf8(out_, br);
  }

  void write_plain(const std::u32string& text, bool split) {
    if (text.empty()) return;
    if (!whitespace_) {
      out_ += ' ';
      ++column_;
    }
    whitespace_ = false;
    indention_ = false;
    bool spaces = false, breaks = false;
    std::size_t start = 0, end = 0;
    while (end <= text.size()) {
      const char32_t ch = end < text.size() ? text[end] : kEnd;
      if (spaces) {
        if (ch != U' ') {
          if (start + 1 == end && column_ > kBestWidth && split) {
            write_indent();
            whitespace_ = false;
            indention_ = false;
          } else {
            write_raw(text.substr(start, end - start));
          }
          start = end;
        }
      } else if (breaks) {
        if (ch == kEnd || !is_break(ch)) {
          if (text[start] == U'\n') write_line_break();
          for (std::size_t i = start; i < end; ++i) write_line_break(text[i]);
          write_indent();
          whitespace_ = false;
          indention_ = false;
          start = end;
        }
      } else {
        if (ch == kEnd || ch == U' ' || is_break(ch)) {
          write_raw(text.substr(start, end - start));
          start = end;
        }
      }
      if (ch != kEnd) {
        spaces = ch == U' ';
        breaks = is_break(ch);
      }
      ++end;
    }
  }

  void write_single_quoted(const std::u32string& text, bool split) {
    write_indicator("'", true);
    bool spaces = false, breaks = false;
    std::size_t start = 0, end = 0;
    while (end <= text.size()) {
      const char32_t ch = end < text.size() ? text[end] : kEnd;
      if (spaces) {
        if (ch == kEnd || ch != U' ') {
          if (start + 1 == end && column_ > kBestWidth && split && start != 0 && end != text.size()) {
            write_indent();
          } else {
            write_raw(text.substr(start, end - start));
          }
          start = end;
        }
      } else if (breaks) {
        if (ch == kEnd || !is_break(ch)) {
          if (text[start] == U'\n') write_line_break();
          for (std::size_t i = start; i < end; ++i) write_line_break(text[i]);
          write_indent();
          start = end;
        }
      } else {
        if (ch == kEnd || ch == U' ' || is_break(ch) || ch == U'\'') {
          if (start < end) {
            write_raw(text.substr(start, end - start));
            start = end;
          }
        }
      }
      if (ch == U'\'') {
        out_ += "''";
        column_ += 2;
        start = end + 1;
      }
      if (ch != kEnd) {
        spaces = ch == U' ';
        breaks = is_break(ch);
      }
      ++end;
    }
    write_indicator("'", false);
  }

  static std::string escape(char32_t ch) {
    switch (ch) {
      case 0x00: return "\\0";
      case 0x07: return "\\a";
      case 0x08: return "\\b";
      case 0x09: return "\\t";
      case 0x0A: return "\\n";
      case 0x0B: return "\\v";
      case 0x0C: return "\\f";
      case 0x0D: return "\\r";
      case 0x1B: return "\\e";
      case U'"': return "\\\"";
      case U'\\': return "\\\\";
      case 0x85: return "\\N";
      case 0xA0: return "\\_";
      case 0x2028: return "\\L";
      case 0x2029: return "\\P";
      default: break;
    }
    char buf[16];
    if (ch <= 0xFF) {
      std::snprintf(buf, sizeof(buf), "\\x%02X", static_cast<unsigned>(ch));
    } else if (ch <= 0xFFFF) {
      std::snprintf(buf, sizeof(buf), "\\u%04X", static_cast<unsigned>(ch));
    } else {
      std::snprintf(buf, sizeof(buf), "\\U%08X", static_cast<unsigned>(ch));
    }
    return buf;
  }

  void write_double_quoted(const std::u32string& text, bool split) {
    write_indicator("\"", true);
    std::size_t start = 0, end = 0;
    while (end <= text.size()) {
      const char32_t ch = end < text.size() ? text[end] : kEnd;
      if (ch == kEnd || ch == U'"' || ch == U'\\' || ch == 0x85 || ch == 0x2028 || ch == 0x2029 || ch == 0xFEFF ||
          !(ch >= 0x20 && ch <= 0x7E)) {
        if (start < end) {
          write_raw(text.substr(start, end - start));
          start = end;
        }
        if (ch != kEnd) {
          const std::string data = escape(ch);
          out_ += data;
          column_ += static_cast<int>(data.size());
          start = end + 1;
        }
      }
      if (end > 0 && end + 1 < text.size() && (ch == U' ' || start >= end) &&
          column_ + (static_cast<int>(end) - static_cast<int>(start)) > kBestWidth && split) {
        // Python slices clamp: text[start:end] is empty when start > end.
        const std::u32string data = start < end ? text.substr(start, end - start) : std::u32string();
        if (start < end) start = end;
        write_raw(data);
        out_ += '\\';
        ++column_;
        write_indent();
        whitespace_ = false;
        indention_ = false;
        if (text[start] == U' ') {
          out_ += '\\';
          ++column_;
        }
      }
      ++end;
    }
    write_indicator("\"", false);
  }
};

}  // namespace

std::string yaml_dump(const nlohmann::json& value) { return Emitter().dump(value); }

std::string yaml_float(double d) {
  if (std::isnan(d)) return ".nan";
  if (std::isinf(d)) return d > 0 ? ".inf" : "-.inf";
  std::string v = python_repr(d);
  for (auto& c : v) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (v.find('.') == std::string::npos && v.find('e') != std::string::npos) v.replace(v.find('e'), 1, ".0e");
  return v;
}


}  // namespace lamin::detail
