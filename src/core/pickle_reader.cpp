// The unpickler: a stack machine over the opcodes of pickle protocols 0-5 (CPython's Lib/pickle.py and
// pickletools.py document them) that builds PickleValue trees and never calls anything.
#include <array>
#include <charconv>
#include <cstring>
#include <unordered_map>

#include "pickle.hpp"
#include "pickle_text.hpp"
#include "utf8.hpp"

namespace lamin::detail {

namespace {

constexpr int kHighestProtocol = 5;

// An error already located at an opcode; passes through the dispatcher unchanged.
class LocatedError : public lamin::IntegrityError {
 public:
  using lamin::IntegrityError::IntegrityError;
};

struct OpName {
  std::uint8_t op;
  const char* name;
};
// clang-format off
constexpr OpName kOpNames[] = {
    {'(', "MARK"}, {'.', "STOP"}, {'0', "POP"}, {'1', "POP_MARK"}, {'2', "DUP"}, {'F', "FLOAT"}, {'I', "INT"},
    {'J', "BININT"}, {'K', "BININT1"}, {'L', "LONG"}, {'M', "BININT2"}, {'N', "NONE"}, {'P', "PERSID"},
    {'Q', "BINPERSID"}, {'R', "REDUCE"}, {'S', "STRING"}, {'T', "BINSTRING"}, {'U', "SHORT_BINSTRING"},
    {'V', "UNICODE"}, {'X', "BINUNICODE"}, {'a', "APPEND"}, {'b', "BUILD"}, {'c', "GLOBAL"}, {'d', "DICT"},
    {'}', "EMPTY_DICT"}, {'e', "APPENDS"}, {'g', "GET"}, {'h', "BINGET"}, {'i', "INST"}, {'j', "LONG_BINGET"},
    {'l', "LIST"}, {']', "EMPTY_LIST"}, {'o', "OBJ"}, {'p', "PUT"}, {'q', "BINPUT"}, {'r', "LONG_BINPUT"},
    {'s', "SETITEM"}, {'t', "TUPLE"}, {')', "EMPTY_TUPLE"}, {'u', "SETITEMS"}, {'G', "BINFLOAT"},
    {'B', "BINBYTES"}, {'C', "SHORT_BINBYTES"}, {0x80, "PROTO"}, {0x81, "NEWOBJ"}, {0x82, "EXT1"},
    {0x83, "EXT2"}, {0x84, "EXT4"}, {0x85, "TUPLE1"}, {0x86, "TUPLE2"}, {0x87, "TUPLE3"}, {0x88, "NEWTRUE"},
    {0x89, "NEWFALSE"}, {0x8a, "LONG1"}, {0x8b, "LONG4"}, {0x8c, "SHORT_BINUNICODE"}, {0x8d, "BINUNICODE8"},
    {0x8e, "BINBYTES8"}, {0x8f, "EMPTY_SET"}, {0x90, "ADDITEMS"}, {0x91, "FROZENSET"}, {0x92, "NEWOBJ_EX"},
    {0x93, "STACK_GLOBAL"}, {0x94, "MEMOIZE"}, {0x95, "FRAME"}, {0x96, "BYTEARRAY8"}, {0x97, "NEXT_BUFFER"},
    {0x98, "READONLY_BUFFER"}};
// clang-format on

const char* op_name(std::uint8_t op) {
  for (const auto& entry : kOpNames)
    if (entry.op == op) return entry.name;
  return "?";
}

class Unpickler {
 public:
  Unpickler(std::string_view data, std::size_t pos, const UnpickleOptions& options)
      : data_(data), pos_(pos), options_(options) {}

  PickleValuePtr run();
  std::size_t position() const { return pos_; }

 private:
  using Handler = void (*)(Unpickler&);
  using Table = std::array<Handler, 256>;
  static const Table& handlers();
  static void add_scalar_ops(Table& t);
  static void add_text_ops(Table& t);
  static void add_container_ops(Table& t);
  static void add_stack_ops(Table& t);
  static void add_global_ops(Table& t);

  [[noreturn]] void fail(const std::string& what) const {
    throw LocatedError(options_.source() + ": " + what + " (pickle opcode " + op_name(op_) + " at offset " +
                       std::to_string(op_pos_) + ")");
  }

  // ---- input ----
  std::string_view take(std::uint64_t n) {
    if (n > data_.size() - pos_) {
      throw PickleTruncatedError(options_.source() + ": pickle data was truncated (" + op_name(op_) + " at offset " +
                                 std::to_string(op_pos_) + " needs " + std::to_string(n) + " bytes, " +
                                 std::to_string(data_.size() - pos_) + " remain)");
    }
    const std::string_view out = data_.substr(pos_, static_cast<std::size_t>(n));
    pos_ += static_cast<std::size_t>(n);
    return out;
  }
  std::uint64_t little_endian(int n) {
    const std::string_view b = take(static_cast<std::uint64_t>(n));
    std::uint64_t v = 0;
    for (int i = 0; i < n; ++i) v |= std::uint64_t(static_cast<unsigned char>(b[i])) << (8 * i);
    return v;
  }
  std::string_view line() {
    const std::size_t end = data_.find('\n', pos_);
    if (end == std::string_view::npos) take(data_.size() - pos_ + 1);  // throws: no newline before the end
    const std::string_view out = data_.substr(pos_, end - pos_);
    pos_ = end + 1;
    return out;
  }
  std::uint64_t line_index();
  std::string utf8(std::string_view raw) const {
    if (!pickle_valid_utf8(raw)) fail("invalid UTF-8 in a str");
    return std::string(raw);
  }

  // ---- stack ----
  std::size_t floor() const { return marks_.empty() ? 0 : marks_.back(); }
  void push(PickleValuePtr v) { stack_.push_back(std::move(v)); }
  PickleValuePtr pop() {
    if (stack_.size() <= floor()) fail("unpickling stack underflow");
    PickleValuePtr v = std::move(stack_.back());
    stack_.pop_back();
    return v;
  }
  PickleValuePtr& top() {
    if (stack_.size() <= floor()) fail("unpickling stack underflow");
    return stack_.back();
  }
  std::vector<PickleValuePtr> pop_mark() {
    if (marks_.empty()) fail("could not find MARK");
    const std::size_t mark = marks_.back();
    marks_.pop_back();
    std::vector<PickleValuePtr> items(std::make_move_iterator(stack_.begin() + static_cast<std::ptrdiff_t>(mark)),
                                      std::make_move_iterator(stack_.end()));
    stack_.resize(mark);
    return items;
  }
  PickleValuePtr& target(PickleKind kind, const char* what);

  // ---- operations ----
  void memo_put(std::uint64_t key) { memo_[key] = top(); }
  void memo_get(std::uint64_t key);
  void push_tuple(std::size_t n);
  void set_items(std::vector<PickleValuePtr> items);
  void add_items(PickleValue& set, const std::vector<PickleValuePtr>& items);
  void persistent(PickleValuePtr pid);
  void push_global(std::string_view module, std::string_view name);
  PickleValuePtr apply(const PickleValuePtr& callable, PickleValuePtr args, bool newobj);
  PickleValuePtr apply_data(const std::string& qualified, const PickleValue& args);
  std::string encode(const PickleValue& args, std::size_t first) const;
  void build();

  std::string_view data_;
  std::size_t pos_;
  std::size_t op_pos_ = 0;
  std::uint8_t op_ = 0;
  const UnpickleOptions& options_;
  std::vector<PickleValuePtr> stack_;
  std::vector<std::size_t> marks_;
  std::unordered_map<std::uint64_t, PickleValuePtr> memo_;
  PickleValuePtr result_;
};

PickleValuePtr Unpickler::run() {
  const Table& table = handlers();
  while (!result_) {
    op_pos_ = pos_;
    if (pos_ == data_.size()) {
      throw PickleTruncatedError(options_.source() + ": pickle data was truncated (no STOP before the end, at offset " +
                                 std::to_string(pos_) + ")");
    }
    op_ = static_cast<std::uint8_t>(data_[pos_++]);
    const Handler handler = table[op_];
    if (!handler) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "invalid load key, unknown pickle opcode 0x%02x", op_);
      fail(buf);
    }
    try {
      handler(*this);
    } catch (const LocatedError&) {
      throw;
    } catch (const PickleTruncatedError&) {
      throw;
    } catch (const lamin::IntegrityError& e) {  // from a value: wrong kind, unhashable key
      std::string what = e.what();
      if (what.rfind("pickle: ", 0) == 0) what.erase(0, 8);
      fail(what);
    }
  }
  return std::move(result_);
}

std::uint64_t Unpickler::line_index() {
  const std::string_view text = line();
  std::uint64_t v = 0;
  const auto res = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || res.ec != std::errc() || res.ptr != text.data() + text.size()) fail("invalid memo index");
  return v;
}

PickleValuePtr& Unpickler::target(PickleKind kind, const char* what) {
  PickleValuePtr& t = top();
  if (!t->is(kind)) fail(std::string(what) + ", but got " + t->type_name());
  return t;
}

void Unpickler::memo_get(std::uint64_t key) {
  const auto it = memo_.find(key);
  if (it == memo_.end()) fail("Memo value not found at index " + std::to_string(key));
  push(it->second);
}

void Unpickler::push_tuple(std::size_t n) {
  if (stack_.size() < floor() + n) fail("unpickling stack underflow");
  std::vector<PickleValuePtr> items(std::make_move_iterator(stack_.end() - static_cast<std::ptrdiff_t>(n)),
                                    std::make_move_iterator(stack_.end()));
  stack_.resize(stack_.size() - n);
  push(PickleValue::tuple(std::move(items)));
}

void Unpickler::set_items(std::vector<PickleValuePtr> items) {
  if (items.size() % 2) fail("odd number of items for SETITEMS");
  PickleValuePtr& dict = target(PickleKind::kDict,
                                "Can only SETITEMS for dict, collections.OrderedDict, "
                                "collections.Counter");
  for (std::size_t i = 0; i < items.size(); i += 2) dict->set_item(std::move(items[i]), std::move(items[i + 1]));
}

void Unpickler::add_items(PickleValue& set, const std::vector<PickleValuePtr>& items) {
  for (const auto& item : items) set.add(item);
}

void Unpickler::persistent(PickleValuePtr pid) {
  PickleValuePtr value;
  if (options_.persistent_load()) {
    value = options_.persistent_load()(pid);
    if (!value) fail("persistent_load returned nothing");
  } else {
    value = PickleValue::persistent_id(std::move(pid));
  }
  push(std::move(value));
}

void Unpickler::push_global(std::string_view module, std::string_view name) {
  const std::string m = pickle_python3_module(module);
  if (!pickle_global_allowed(m, name)) {
    fail("Unsupported global: GLOBAL " + m + "." + std::string(name) +
         " was not an allowed global by default; lamin-cpp loads only what torch.load(weights_only=True) allows "
         "and never runs pickled code");
  }
  push(PickleValue::global(m, std::string(name)));
}

// The text of args[first] encoded as args[first + 1] names (`_codecs.encode(str, 'latin1')`, `bytes(str, enc)`).
std::string Unpickler::encode(const PickleValue& args, std::size_t first) const {
  const std::string& text = args.at(first)->as_string();
  const std::string encoding = args.size() > first + 1 ? args.at(first + 1)->as_string() : "utf-8";
  if (encoding == "utf-8" || encoding == "utf8") return text;
  if (encoding != "latin1" && encoding != "latin-1" && encoding != "iso-8859-1") {
    fail("unsupported encoding '" + encoding + "' for bytes");
  }
  std::string out;
  for (const char32_t cp : decode_utf8(text)) {
    if (cp > 0xFF) fail("'latin-1' codec can't encode a character in the pickled bytes");
    out.push_back(static_cast<char>(cp));
  }
  return out;
}

// The allowlisted globals that only build data come back as that data; null for the others.
PickleValuePtr Unpickler::apply_data(const std::string& qualified, const PickleValue& args) {
  const std::size_t n = args.size();
  if (qualified == "collections.OrderedDict" || qualified == "collections.Counter") {
    PickleValuePtr dict = PickleValue::dict(qualified);
    if (n == 1 && args.at(0)->is(PickleKind::kDict)) {
      for (std::size_t i = 0; i < args.at(0)->size(); ++i)
        dict->set_item(args.at(0)->items()[i], args.at(0)->values()[i]);
    } else if (n == 1) {
      for (const auto& pair : args.at(0)->items()) {
        if ((!pair->is(PickleKind::kTuple) && !pair->is(PickleKind::kList)) || pair->size() != 2)
          fail(qualified + " needs (key, value) pairs");
        dict->set_item(pair->items()[0], pair->items()[1]);
      }
    } else if (n != 0) {
      fail(qualified + " takes at most 1 argument");
    }
    return dict;
  }
  if (qualified == "builtins.set" || qualified == "builtins.frozenset") {
    PickleValuePtr set = PickleValue::set(qualified == "builtins.frozenset");
    if (n > 1) fail(qualified + " takes at most 1 argument");
    if (n == 1) add_items(*set, args.at(0)->items());
    return set;
  }
  const bool bytearray = qualified == "builtins.bytearray";
  if (qualified == "_codecs.encode") return PickleValue::bytes(encode(args, 0));
  if (qualified == "builtins.bytes" || bytearray) {
    if (n == 0) return PickleValue::bytes("", bytearray);
    if (args.at(0)->is(PickleKind::kString)) return PickleValue::bytes(encode(args, 0), bytearray);
    return PickleValue::bytes(args.at(0)->as_bytes(), bytearray);
  }
  return nullptr;
}

PickleValuePtr Unpickler::apply(const PickleValuePtr& callable, PickleValuePtr args, bool newobj) {
  if (!callable->is(PickleKind::kGlobal)) {
    fail(std::string("can only call or instantiate an allowlisted global, but got ") + callable->type_name());
  }
  if (!args->is(PickleKind::kTuple)) fail(std::string("arguments must be a tuple, but got ") + args->type_name());
  if (PickleValuePtr data = apply_data(callable->qualified_name(), *args)) return data;
  return PickleValue::object(callable->module(), callable->name(), std::move(args), newobj);
}

void Unpickler::build() {
  PickleValuePtr state = pop();
  PickleValuePtr& inst = top();
  const bool dict_with_state = inst->is(PickleKind::kDict) && !inst->dict_class().empty();
  if (!inst->is(PickleKind::kObject) && !dict_with_state) {
    fail(std::string("Can only build Tensor, Parameter, OrderedDict or allowlisted objects, but got ") +
         inst->type_name());
  }
  inst->set_state(std::move(state));
}

// ---- the opcode table -------------------------------------------------------------------------------------------

void Unpickler::add_scalar_ops(Table& t) {
  t['N'] = [](Unpickler& u) { u.push(PickleValue::none()); };
  t[0x88] = [](Unpickler& u) { u.push(PickleValue::boolean(true)); };
  t[0x89] = [](Unpickler& u) { u.push(PickleValue::boolean(false)); };
  t['J'] = [](Unpickler& u) { u.push(PickleValue::integer(static_cast<std::int32_t>(u.little_endian(4)))); };
  t['K'] = [](Unpickler& u) { u.push(PickleValue::integer(static_cast<std::int64_t>(u.little_endian(1)))); };
  t['M'] = [](Unpickler& u) { u.push(PickleValue::integer(static_cast<std::int64_t>(u.little_endian(2)))); };
  t[0x8a] = [](Unpickler& u) { u.push(PickleValue::big_integer(std::string(u.take(u.little_endian(1))))); };
  t[0x8b] = [](Unpickler& u) {
    const auto n = static_cast<std::int32_t>(u.little_endian(4));
    if (n < 0) u.fail("LONG pickle has negative byte count");
    u.push(PickleValue::big_integer(std::string(u.take(static_cast<std::uint64_t>(n)))));
  };
  auto text_int = [](Unpickler& u) {  // INT and LONG: decimal text; INT's "00" / "01" are protocol 0's bools
    std::string_view text = u.line();
    if (u.op_ == 'I' && (text == "00" || text == "01")) return u.push(PickleValue::boolean(text == "01"));
    if (u.op_ == 'L' && !text.empty() && text.back() == 'L') text.remove_suffix(1);
    PickleValuePtr v = pickle_parse_decimal(text);
    if (!v) u.fail("invalid literal for int()");
    u.push(std::move(v));
  };
  t['I'] = text_int;
  t['L'] = text_int;
  t['G'] = [](Unpickler& u) {
    const std::string_view b = u.take(8);
    std::uint64_t bits = 0;
    for (int i = 0; i < 8; ++i) bits = (bits << 8) | static_cast<unsigned char>(b[i]);  // big-endian
    double d = 0;
    std::memcpy(&d, &bits, sizeof d);
    u.push(PickleValue::floating(d));
  };
  t['F'] = [](Unpickler& u) {
    std::string_view text = u.line();
    while (!text.empty() && (text.back() == ' ' || text.back() == '\r')) text.remove_suffix(1);
    if (!text.empty() && text.front() == '+') text.remove_prefix(1);
    double d = 0;
    const auto res = std::from_chars(text.data(), text.data() + text.size(), d);
    if (text.empty() || res.ec != std::errc() || res.ptr != text.data() + text.size())
      u.fail("could not convert string to float");
    u.push(PickleValue::floating(d));
  };
}

void Unpickler::add_text_ops(Table& t) {
  t['X'] = [](Unpickler& u) { u.push(PickleValue::string(u.utf8(u.take(u.little_endian(4))))); };
  t[0x8c] = [](Unpickler& u) { u.push(PickleValue::string(u.utf8(u.take(u.little_endian(1))))); };
  t[0x8d] = [](Unpickler& u) { u.push(PickleValue::string(u.utf8(u.take(u.little_endian(8))))); };
  t['U'] = [](Unpickler& u) { u.push(PickleValue::string(u.utf8(u.take(u.little_endian(1))))); };
  t['T'] = [](Unpickler& u) {
    const auto n = static_cast<std::int32_t>(u.little_endian(4));
    if (n < 0) u.fail("BINSTRING pickle has negative byte count");
    u.push(PickleValue::string(u.utf8(u.take(static_cast<std::uint64_t>(n)))));
  };
  t['B'] = [](Unpickler& u) { u.push(PickleValue::bytes(std::string(u.take(u.little_endian(4))))); };
  t['C'] = [](Unpickler& u) { u.push(PickleValue::bytes(std::string(u.take(u.little_endian(1))))); };
  t[0x8e] = [](Unpickler& u) { u.push(PickleValue::bytes(std::string(u.take(u.little_endian(8))))); };
  t[0x96] = [](Unpickler& u) { u.push(PickleValue::bytes(std::string(u.take(u.little_endian(8))), true)); };
  t['S'] = [](Unpickler& u) {
    std::string raw;
    if (!pickle_unescape_string(u.line(), raw)) u.fail("the STRING opcode argument must be quoted");
    u.push(PickleValue::string(u.utf8(raw)));
  };
  t['V'] = [](Unpickler& u) {
    std::string out;
    if (!pickle_raw_unicode_escape(u.line(), out)) u.fail("truncated \\uXXXX escape in UNICODE");
    u.push(PickleValue::string(std::move(out)));
  };
}

void Unpickler::add_container_ops(Table& t) {
  t[']'] = [](Unpickler& u) { u.push(PickleValue::list()); };
  t['l'] = [](Unpickler& u) { u.push(PickleValue::list(u.pop_mark())); };
  t['a'] = [](Unpickler& u) {
    PickleValuePtr item = u.pop();
    u.target(PickleKind::kList, "Can only append to lists")->append(std::move(item));
  };
  t['e'] = [](Unpickler& u) {
    std::vector<PickleValuePtr> items = u.pop_mark();
    PickleValuePtr& list = u.target(PickleKind::kList, "Can only extend lists");
    for (auto& item : items) list->append(std::move(item));
  };
  t[')'] = [](Unpickler& u) { u.push(PickleValue::tuple()); };
  t['t'] = [](Unpickler& u) { u.push(PickleValue::tuple(u.pop_mark())); };
  t[0x85] = [](Unpickler& u) { u.push_tuple(1); };
  t[0x86] = [](Unpickler& u) { u.push_tuple(2); };
  t[0x87] = [](Unpickler& u) { u.push_tuple(3); };
  t['}'] = [](Unpickler& u) { u.push(PickleValue::dict()); };
  t['d'] = [](Unpickler& u) {
    std::vector<PickleValuePtr> items = u.pop_mark();
    u.push(PickleValue::dict());
    u.set_items(std::move(items));
  };
  t['s'] = [](Unpickler& u) {
    PickleValuePtr value = u.pop();
    PickleValuePtr key = u.pop();
    u.target(PickleKind::kDict, "Can only SETITEM for dict, collections.OrderedDict, collections.Counter")
        ->set_item(std::move(key), std::move(value));
  };
  t['u'] = [](Unpickler& u) { u.set_items(u.pop_mark()); };
  t[0x8f] = [](Unpickler& u) { u.push(PickleValue::set()); };
  t[0x90] = [](Unpickler& u) {
    std::vector<PickleValuePtr> items = u.pop_mark();
    u.add_items(*u.target(PickleKind::kSet, "Can only add items to sets"), items);
  };
  t[0x91] = [](Unpickler& u) {
    std::vector<PickleValuePtr> items = u.pop_mark();
    PickleValuePtr set = PickleValue::set(true);
    u.add_items(*set, items);
    u.push(std::move(set));
  };
}

void Unpickler::add_stack_ops(Table& t) {
  t['('] = [](Unpickler& u) { u.marks_.push_back(u.stack_.size()); };
  t['.'] = [](Unpickler& u) { u.result_ = u.pop(); };
  t['0'] = [](Unpickler& u) {  // POP: with nothing above the last MARK, it drops the MARK (as Python does)
    if (u.stack_.size() > u.floor()) {
      u.stack_.pop_back();
    } else if (!u.marks_.empty()) {
      u.marks_.pop_back();
    } else {
      u.fail("unpickling stack underflow");
    }
  };
  t['1'] = [](Unpickler& u) { u.pop_mark(); };
  t['2'] = [](Unpickler& u) { u.push(u.top()); };
  t[0x80] = [](Unpickler& u) {
    const auto proto = u.little_endian(1);
    if (proto > kHighestProtocol) u.fail("unsupported pickle protocol: " + std::to_string(proto));
  };
  t[0x95] = [](Unpickler& u) {  // FRAME: only a length hint; the frame must fit in what is left
    const std::uint64_t n = u.little_endian(8);
    const std::size_t here = u.pos_;
    u.take(n);
    u.pos_ = here;
  };
  t['p'] = [](Unpickler& u) { u.memo_put(u.line_index()); };
  t['q'] = [](Unpickler& u) { u.memo_put(u.little_endian(1)); };
  t['r'] = [](Unpickler& u) { u.memo_put(u.little_endian(4)); };
  t[0x94] = [](Unpickler& u) { u.memo_put(u.memo_.size()); };
  t['g'] = [](Unpickler& u) { u.memo_get(u.line_index()); };
  t['h'] = [](Unpickler& u) { u.memo_get(u.little_endian(1)); };
  t['j'] = [](Unpickler& u) { u.memo_get(u.little_endian(4)); };
  t['P'] = [](Unpickler& u) {
    const std::string_view text = u.line();
    for (const char c : text)
      if (static_cast<unsigned char>(c) >= 0x80) u.fail("persistent IDs in protocol 0 must be ASCII strings");
    u.persistent(PickleValue::string(std::string(text)));
  };
  t['Q'] = [](Unpickler& u) { u.persistent(u.pop()); };
  t[0x97] = [](Unpickler& u) {
    u.fail("pickle stream refers to out-of-band data but no *buffers* argument was given");
  };
  t[0x98] = [](Unpickler& u) { u.top(); };  // READONLY_BUFFER: a no-op on the value
}

void Unpickler::add_global_ops(Table& t) {
  t['c'] = [](Unpickler& u) {
    const std::string module = u.utf8(u.line());
    const std::string name = u.utf8(u.line());
    u.push_global(module, name);
  };
  t[0x93] = [](Unpickler& u) {
    PickleValuePtr name = u.pop();
    PickleValuePtr module = u.pop();
    if (!name->is(PickleKind::kString) || !module->is(PickleKind::kString)) u.fail("STACK_GLOBAL requires str");
    u.push_global(module->as_string(), name->as_string());
  };
  t['R'] = [](Unpickler& u) {
    PickleValuePtr args = u.pop();
    PickleValuePtr& callable = u.top();
    callable = u.apply(callable, std::move(args), false);
  };
  t[0x81] = [](Unpickler& u) {
    PickleValuePtr args = u.pop();
    PickleValuePtr cls = u.pop();
    u.push(u.apply(cls, std::move(args), true));
  };
  t[0x92] = [](Unpickler& u) {
    PickleValuePtr kwargs = u.pop();
    PickleValuePtr args = u.pop();
    PickleValuePtr cls = u.pop();
    if (!kwargs->is(PickleKind::kDict) || kwargs->size() != 0) u.fail("NEWOBJ_EX with keyword arguments");
    u.push(u.apply(cls, std::move(args), true));
  };
  t['i'] = [](Unpickler& u) {
    const std::string module = u.utf8(u.line());
    const std::string name = u.utf8(u.line());
    std::vector<PickleValuePtr> args = u.pop_mark();
    u.push_global(module, name);
    PickleValuePtr cls = u.pop();
    u.push(u.apply(cls, PickleValue::tuple(std::move(args)), false));
  };
  t['o'] = [](Unpickler& u) {
    std::vector<PickleValuePtr> items = u.pop_mark();
    if (items.empty()) u.fail("OBJ needs a class");
    PickleValuePtr cls = std::move(items.front());
    items.erase(items.begin());
    u.push(u.apply(cls, PickleValue::tuple(std::move(items)), false));
  };
  t['b'] = [](Unpickler& u) { u.build(); };
  auto ext = [](Unpickler& u) { u.fail("the copyreg extension registry (EXT1, EXT2, EXT4) is not supported"); };
  t[0x82] = ext;
  t[0x83] = ext;
  t[0x84] = ext;
}

const Unpickler::Table& Unpickler::handlers() {
  static const Table table = [] {
    Table t{};
    add_scalar_ops(t);
    add_text_ops(t);
    add_container_ops(t);
    add_stack_ops(t);
    add_global_ops(t);
    return t;
  }();
  return table;
}

}  // namespace

PickleValuePtr unpickle(std::string_view data, std::size_t& offset, const UnpickleOptions& options) {
  if (offset > data.size()) throw lamin::IntegrityError(options.source() + ": pickle offset past the end");
  Unpickler unpickler(data, offset, options);
  PickleValuePtr value = unpickler.run();
  offset = unpickler.position();
  return value;
}

PickleValuePtr unpickle(std::string_view data, const UnpickleOptions& options) {
  std::size_t offset = 0;
  return unpickle(data, offset, options);
}

}  // namespace lamin::detail
