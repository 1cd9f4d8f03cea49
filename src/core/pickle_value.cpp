// PickleValue: the unpickled tree, Python's hash-equality for dict keys and set items, and Python's repr.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <unordered_set>

#include "pickle.hpp"
#include "python.hpp"

namespace lamin::detail {

namespace {

constexpr int kMaxKeyDepth = 1000;  // tuples nested deeper than this cannot be dict keys (Python: RecursionError)
constexpr std::size_t kSaltString = 0x9e3779b97f4a7c15ULL;
constexpr std::size_t kSaltBytes = 0xc2b2ae3d27d4eb4fULL;
constexpr std::size_t kSaltBigInt = 0x165667b19e3779f9ULL;
constexpr std::size_t kSaltFrozenSet = 0x27d4eb2f165667c5ULL;

std::size_t combine(std::size_t seed, std::size_t h) { return seed ^ (h + 0x9e3779b9 + (seed << 6) + (seed >> 2)); }

// An integral double in int64's range, as that int64 (Python: hash(2.0) == hash(2) and 2.0 == 2).
bool double_as_int(double d, std::int64_t& out) {
  if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0) || std::trunc(d) != d) return false;
  out = static_cast<std::int64_t>(d);
  return true;
}

// Drops the high bytes of a little-endian two's-complement integer that only repeat the sign.
void trim_sign_bytes(std::string& le_bytes) {
  while (le_bytes.size() > 1) {
    const auto last = static_cast<unsigned char>(le_bytes.back());
    const auto prev = static_cast<unsigned char>(le_bytes[le_bytes.size() - 2]);
    if (!((last == 0x00 && !(prev & 0x80)) || (last == 0xff && (prev & 0x80)))) return;
    le_bytes.pop_back();
  }
}

bool numeric(PickleKind k) { return k == PickleKind::kBool || k == PickleKind::kInt || k == PickleKind::kFloat; }

bool unhashable(PickleKind k) {
  return k == PickleKind::kList || k == PickleKind::kDict || k == PickleKind::kSet || k == PickleKind::kByteArray;
}

void check_hashable(const PickleValue& v, int depth) {
  if (unhashable(v.kind())) throw lamin::IntegrityError(std::string("unhashable type: '") + v.type_name() + "'");
  if (depth > kMaxKeyDepth) throw lamin::IntegrityError("pickle: a dict key or set item is nested too deeply");
}

std::size_t hash_at(const PickleValue& v, int depth);
bool equal_at(const PickleValue& a, const PickleValue& b, int depth);

std::size_t hash_numeric(const PickleValue& v) {
  std::int64_t i = 0;
  if (v.is(PickleKind::kFloat)) {
    const double d = v.as_float();
    if (!double_as_int(d, i)) {
      std::uint64_t bits = 0;
      std::memcpy(&bits, &d, sizeof bits);
      return std::hash<std::uint64_t>()(bits);
    }
  } else {
    i = v.as_int();
  }
  return std::hash<std::int64_t>()(i);
}

std::size_t hash_at(const PickleValue& v, int depth) {
  check_hashable(v, depth);
  switch (v.kind()) {
    case PickleKind::kNone:
      return 0x6e6f6e65;
    case PickleKind::kBool:
    case PickleKind::kInt:
    case PickleKind::kFloat:
      return hash_numeric(v);
    case PickleKind::kBigInt:
      return std::hash<std::string>()(v.int_bytes()) ^ kSaltBigInt;
    case PickleKind::kString:
      return std::hash<std::string>()(v.as_string()) ^ kSaltString;
    case PickleKind::kBytes:
      return std::hash<std::string>()(v.as_bytes()) ^ kSaltBytes;
    case PickleKind::kTuple: {
      std::size_t h = v.size();
      for (const auto& item : v.items()) h = combine(h, hash_at(*item, depth + 1));
      return h;
    }
    case PickleKind::kFrozenSet: {
      std::size_t h = kSaltFrozenSet;  // order-independent
      for (const auto& item : v.items()) h += hash_at(*item, depth + 1) * 0x100000001b3ULL;
      return h;
    }
    case PickleKind::kGlobal:
      return std::hash<std::string>()(v.qualified_name());
    default:  // records and persistent ids hash by identity, as Python objects do
      return std::hash<const void*>()(&v);
  }
}

bool equal_numeric(const PickleValue& a, const PickleValue& b) {
  if (!a.is(PickleKind::kFloat) && !b.is(PickleKind::kFloat)) return a.as_int() == b.as_int();
  if (a.is(PickleKind::kFloat) && b.is(PickleKind::kFloat)) return a.as_float() == b.as_float();
  const PickleValue& f = a.is(PickleKind::kFloat) ? a : b;
  const PickleValue& i = a.is(PickleKind::kFloat) ? b : a;
  std::int64_t as_int = 0;
  return double_as_int(f.as_float(), as_int) && as_int == i.as_int();
}

bool equal_at(const PickleValue& a, const PickleValue& b, int depth) {
  check_hashable(a, depth);
  check_hashable(b, depth);
  if (numeric(a.kind()) && numeric(b.kind())) return equal_numeric(a, b);
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case PickleKind::kNone:
      return true;
    case PickleKind::kBigInt:
      return a.int_bytes() == b.int_bytes();
    case PickleKind::kString:
      return a.as_string() == b.as_string();
    case PickleKind::kBytes:
      return a.as_bytes() == b.as_bytes();
    case PickleKind::kTuple:
      if (a.size() != b.size()) return false;
      for (std::size_t i = 0; i < a.size(); ++i)
        if (!equal_at(*a.items()[i], *b.items()[i], depth + 1)) return false;
      return true;
    case PickleKind::kFrozenSet:
      if (a.size() != b.size()) return false;
      for (const auto& item : a.items())
        if (!b.contains(*item)) return false;
      return true;
    case PickleKind::kGlobal:
      return a.module() == b.module() && a.name() == b.name();
    default:
      return &a == &b;
  }
}

}  // namespace

// ---- construction -------------------------------------------------------------------------------------------------

PickleValuePtr PickleValue::none() { return PickleValuePtr(new PickleValue(PickleKind::kNone)); }

PickleValuePtr PickleValue::boolean(bool value) {
  PickleValuePtr v(new PickleValue(PickleKind::kBool));
  v->bool_ = value;
  v->int_ = value ? 1 : 0;
  return v;
}

PickleValuePtr PickleValue::integer(std::int64_t value) {
  PickleValuePtr v(new PickleValue(PickleKind::kInt));
  v->int_ = value;
  return v;
}

PickleValuePtr PickleValue::big_integer(std::string le_bytes) {
  trim_sign_bytes(le_bytes);
  if (le_bytes.size() <= 8) {
    std::uint64_t u = 0;
    for (std::size_t i = 0; i < le_bytes.size(); ++i)
      u |= std::uint64_t(static_cast<unsigned char>(le_bytes[i])) << (8 * i);
    if (!le_bytes.empty() && le_bytes.size() < 8 && (static_cast<unsigned char>(le_bytes.back()) & 0x80))
      u |= ~std::uint64_t(0) << (8 * le_bytes.size());  // sign-extend
    return integer(static_cast<std::int64_t>(u));
  }
  PickleValuePtr v(new PickleValue(PickleKind::kBigInt));
  v->text_ = std::move(le_bytes);
  return v;
}

PickleValuePtr PickleValue::floating(double value) {
  PickleValuePtr v(new PickleValue(PickleKind::kFloat));
  v->float_ = value;
  return v;
}

PickleValuePtr PickleValue::string(std::string utf8) {
  PickleValuePtr v(new PickleValue(PickleKind::kString));
  v->text_ = std::move(utf8);
  return v;
}

PickleValuePtr PickleValue::bytes(std::string data, bool bytearray) {
  PickleValuePtr v(new PickleValue(bytearray ? PickleKind::kByteArray : PickleKind::kBytes));
  v->text_ = std::move(data);
  return v;
}

PickleValuePtr PickleValue::list(std::vector<PickleValuePtr> items) {
  PickleValuePtr v(new PickleValue(PickleKind::kList));
  v->items_ = std::move(items);
  return v;
}

PickleValuePtr PickleValue::tuple(std::vector<PickleValuePtr> items) {
  PickleValuePtr v(new PickleValue(PickleKind::kTuple));
  v->items_ = std::move(items);
  return v;
}

PickleValuePtr PickleValue::dict(std::string cls) {
  PickleValuePtr v(new PickleValue(PickleKind::kDict));
  v->text_ = std::move(cls);
  return v;
}

PickleValuePtr PickleValue::set(bool frozen) {
  return PickleValuePtr(new PickleValue(frozen ? PickleKind::kFrozenSet : PickleKind::kSet));
}

PickleValuePtr PickleValue::global(std::string module, std::string name) {
  PickleValuePtr v(new PickleValue(PickleKind::kGlobal));
  v->module_ = std::move(module);
  v->name_ = std::move(name);
  return v;
}

PickleValuePtr PickleValue::object(std::string module, std::string name, PickleValuePtr args, bool newobj) {
  PickleValuePtr v(new PickleValue(PickleKind::kObject));
  v->module_ = std::move(module);
  v->name_ = std::move(name);
  v->args_ = args ? std::move(args) : tuple();
  v->newobj_ = newobj;
  return v;
}

PickleValuePtr PickleValue::persistent_id(PickleValuePtr pid) {
  PickleValuePtr v(new PickleValue(PickleKind::kPersistentId));
  v->args_ = std::move(pid);
  return v;
}

PickleValue::~PickleValue() {
  if (items_.empty() && values_.empty() && !args_ && !state_) return;
  std::vector<PickleValuePtr> pending;
  auto take_children = [&pending](PickleValue& v) {
    for (auto& p : v.items_) pending.push_back(std::move(p));
    for (auto& p : v.values_) pending.push_back(std::move(p));
    v.items_.clear();
    v.values_.clear();
    if (v.args_) pending.push_back(std::move(v.args_));
    if (v.state_) pending.push_back(std::move(v.state_));
  };
  take_children(*this);
  while (!pending.empty()) {
    PickleValuePtr p = std::move(pending.back());
    pending.pop_back();
    if (p && p.use_count() == 1) take_children(*p);
  }  // each p dies childless, so no destructor recurses
}

// ---- access -------------------------------------------------------------------------------------------------------

const char* PickleValue::type_name() const {
  switch (kind_) {
    case PickleKind::kNone:
      return "NoneType";
    case PickleKind::kBool:
      return "bool";
    case PickleKind::kInt:
    case PickleKind::kBigInt:
      return "int";
    case PickleKind::kFloat:
      return "float";
    case PickleKind::kString:
      return "str";
    case PickleKind::kBytes:
      return "bytes";
    case PickleKind::kByteArray:
      return "bytearray";
    case PickleKind::kList:
      return "list";
    case PickleKind::kTuple:
      return "tuple";
    case PickleKind::kDict:
      return "dict";
    case PickleKind::kSet:
      return "set";
    case PickleKind::kFrozenSet:
      return "frozenset";
    case PickleKind::kGlobal:
      return "global";
    case PickleKind::kObject:
      return "object";
    case PickleKind::kPersistentId:
      return "persistent_id";
  }
  return "?";
}

void PickleValue::wrong_kind(const char* expected) const {
  std::string got = type_name();
  if (kind_ == PickleKind::kObject || kind_ == PickleKind::kGlobal) got += " " + qualified_name();
  throw lamin::IntegrityError(std::string("pickle: expected ") + expected + ", got " + got);
}

bool PickleValue::as_bool() const {
  if (kind_ != PickleKind::kBool) wrong_kind("a bool");
  return bool_;
}

std::int64_t PickleValue::as_int() const {
  if (kind_ == PickleKind::kBigInt) {
    throw lamin::IntegrityError("pickle: the int " + big_int_to_decimal(text_) + " does not fit in 64 bits");
  }
  if (kind_ != PickleKind::kInt && kind_ != PickleKind::kBool) wrong_kind("an int");
  return int_;
}

std::string PickleValue::int_bytes() const {
  if (kind_ == PickleKind::kBigInt) return text_;
  const auto u = static_cast<std::uint64_t>(as_int());
  std::string out;
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((u >> (8 * i)) & 0xff));
  trim_sign_bytes(out);
  return out;
}

double PickleValue::as_float() const {
  if (kind_ == PickleKind::kFloat) return float_;
  if (kind_ == PickleKind::kInt || kind_ == PickleKind::kBool) return static_cast<double>(int_);
  wrong_kind("a float");
}

const std::string& PickleValue::as_string() const {
  if (kind_ != PickleKind::kString) wrong_kind("a str");
  return text_;
}

const std::string& PickleValue::as_bytes() const {
  if (kind_ != PickleKind::kBytes && kind_ != PickleKind::kByteArray) wrong_kind("bytes");
  return text_;
}

const std::vector<PickleValuePtr>& PickleValue::items() const {
  switch (kind_) {
    case PickleKind::kList:
    case PickleKind::kTuple:
    case PickleKind::kSet:
    case PickleKind::kFrozenSet:
    case PickleKind::kDict:
      return items_;
    default:
      wrong_kind("a container");
  }
}

const std::vector<PickleValuePtr>& PickleValue::values() const {
  if (kind_ != PickleKind::kDict) wrong_kind("a dict");
  return values_;
}

const PickleValuePtr& PickleValue::at(std::size_t i) const {
  if (kind_ != PickleKind::kList && kind_ != PickleKind::kTuple) wrong_kind("a list or tuple");
  if (i >= items_.size()) {
    throw lamin::IntegrityError("pickle: index " + std::to_string(i) + " out of range for a " + type_name() + " of " +
                                std::to_string(items_.size()));
  }
  return items_[i];
}

std::size_t PickleValue::find_index(const PickleValue& key) const {
  const auto range = index_.equal_range(hash(key));
  for (auto it = range.first; it != range.second; ++it)
    if (equal(*items_[it->second], key)) return it->second;
  return items_.size();
}

PickleValuePtr PickleValue::get(std::string_view key) const {
  if (kind_ != PickleKind::kDict) wrong_kind("a dict");
  const auto range = index_.equal_range(std::hash<std::string_view>()(key) ^ kSaltString);
  for (auto it = range.first; it != range.second; ++it) {
    const PickleValue& k = *items_[it->second];
    if (k.kind_ == PickleKind::kString && k.text_ == key) return values_[it->second];
  }
  return nullptr;
}

PickleValuePtr PickleValue::find(const PickleValue& key) const {
  if (kind_ != PickleKind::kDict) wrong_kind("a dict");
  const std::size_t i = find_index(key);
  return i < items_.size() ? values_[i] : nullptr;
}

bool PickleValue::contains(const PickleValue& item) const {
  if (kind_ != PickleKind::kSet && kind_ != PickleKind::kFrozenSet) wrong_kind("a set");
  return find_index(item) < items_.size();
}

const std::string& PickleValue::dict_class() const {
  if (kind_ != PickleKind::kDict) wrong_kind("a dict");
  return text_;
}

const std::string& PickleValue::module() const {
  if (kind_ != PickleKind::kGlobal && kind_ != PickleKind::kObject) wrong_kind("a global");
  return module_;
}

const std::string& PickleValue::name() const {
  if (kind_ != PickleKind::kGlobal && kind_ != PickleKind::kObject) wrong_kind("a global");
  return name_;
}

std::string PickleValue::qualified_name() const { return module() + "." + name(); }

const PickleValuePtr& PickleValue::args() const {
  if (kind_ != PickleKind::kObject) wrong_kind("an object");
  return args_;
}

bool PickleValue::newobj() const {
  if (kind_ != PickleKind::kObject) wrong_kind("an object");
  return newobj_;
}

const PickleValuePtr& PickleValue::state() const {
  if (kind_ != PickleKind::kObject && kind_ != PickleKind::kDict) wrong_kind("an object or dict");
  return state_;
}

const PickleValuePtr& PickleValue::pid() const {
  if (kind_ != PickleKind::kPersistentId) wrong_kind("a persistent id");
  return args_;
}

// ---- building -----------------------------------------------------------------------------------------------------

void PickleValue::append(PickleValuePtr item) {
  if (kind_ != PickleKind::kList) wrong_kind("a list");
  items_.push_back(std::move(item));
}

void PickleValue::set_item(PickleValuePtr key, PickleValuePtr value) {
  if (kind_ != PickleKind::kDict) wrong_kind("a dict");
  const std::size_t h = hash(*key);
  const std::size_t i = find_index(*key);
  if (i < items_.size()) {
    values_[i] = std::move(value);
    return;
  }
  index_.emplace(h, items_.size());
  items_.push_back(std::move(key));
  values_.push_back(std::move(value));
}

void PickleValue::add(PickleValuePtr item) {
  if (kind_ != PickleKind::kSet && kind_ != PickleKind::kFrozenSet) wrong_kind("a set");
  const std::size_t h = hash(*item);
  if (find_index(*item) < items_.size()) return;
  index_.emplace(h, items_.size());
  items_.push_back(std::move(item));
}

void PickleValue::set_state(PickleValuePtr state) {
  if (kind_ != PickleKind::kObject && kind_ != PickleKind::kDict) wrong_kind("an object or dict");
  state_ = std::move(state);
}

bool PickleValue::equal(const PickleValue& a, const PickleValue& b) { return equal_at(a, b, 0); }

std::size_t PickleValue::hash(const PickleValue& value) { return hash_at(value, 0); }

// ---- text ---------------------------------------------------------------------------------------------------------

std::string big_int_to_decimal(std::string_view le_bytes) {
  if (le_bytes.empty()) return "0";
  const bool negative = static_cast<unsigned char>(le_bytes.back()) & 0x80;
  // Magnitude as base-2^32 limbs, least significant first.
  std::vector<std::uint32_t> limbs((le_bytes.size() + 3) / 4, 0);
  for (std::size_t i = 0; i < le_bytes.size(); ++i) {
    auto byte = static_cast<unsigned char>(le_bytes[i]);
    if (negative) byte = static_cast<unsigned char>(~byte);
    limbs[i / 4] |= std::uint32_t(byte) << (8 * (i % 4));
  }
  if (negative) {  // two's complement: magnitude = ~x + 1
    for (auto& limb : limbs)
      if (++limb != 0) break;
  }
  std::string digits;
  while (limbs.size() > 1 || limbs[0] != 0) {
    std::uint64_t rem = 0;
    for (std::size_t i = limbs.size(); i-- > 0;) {
      const std::uint64_t cur = (rem << 32) | limbs[i];
      limbs[i] = static_cast<std::uint32_t>(cur / 1000000000u);
      rem = cur % 1000000000u;
    }
    while (limbs.size() > 1 && limbs.back() == 0) limbs.pop_back();
    const bool last = limbs.size() == 1 && limbs[0] == 0;
    for (int k = 0; k < 9 && (!last || rem != 0); ++k) {
      digits.push_back(static_cast<char>('0' + rem % 10));
      rem /= 10;
    }
  }
  if (digits.empty()) digits = "0";
  if (negative) digits.push_back('-');
  return std::string(digits.rbegin(), digits.rend());
}

namespace {

std::string bytes_repr(const std::string& data) {
  const bool has_single = data.find('\'') != std::string::npos;
  const bool has_double = data.find('"') != std::string::npos;
  const char quote = (has_single && !has_double) ? '"' : '\'';
  std::string out = "b";
  out += quote;
  for (const char ch : data) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == static_cast<unsigned char>(quote) || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c < 0x20 || c >= 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += ch;
    }
  }
  return out + quote;
}

class ReprWriter {
 public:
  void write(const PickleValue& v, int depth);
  std::string out;

 private:
  void write_items(const std::vector<PickleValuePtr>& items, int depth) {
    for (std::size_t i = 0; i < items.size(); ++i) {
      if (i) out += ", ";
      write(*items[i], depth + 1);
    }
  }
  void write_dict(const PickleValue& v, int depth);
  void write_scalar(const PickleValue& v);
  std::unordered_set<const PickleValue*> active_;  // containers being written: a repeat is a cycle
};

void ReprWriter::write_scalar(const PickleValue& v) {
  switch (v.kind()) {
    case PickleKind::kNone:
      out += "None";
      return;
    case PickleKind::kBool:
      out += v.as_bool() ? "True" : "False";
      return;
    case PickleKind::kInt:
      out += std::to_string(v.as_int());
      return;
    case PickleKind::kBigInt:
      out += v.int_bytes().size() <= 4096 ? big_int_to_decimal(v.int_bytes())
                                          : "<int of " + std::to_string(v.int_bytes().size()) + " bytes>";
      return;
    case PickleKind::kFloat:
      out += python_repr(v.as_float());
      return;
    case PickleKind::kString:
      out += python_str_repr(v.as_string());
      return;
    case PickleKind::kBytes:
      out += bytes_repr(v.as_bytes());
      return;
    case PickleKind::kByteArray:
      out += "bytearray(" + bytes_repr(v.as_bytes()) + ")";
      return;
    case PickleKind::kGlobal:
      out += v.qualified_name();
      return;
    default:
      return;
  }
}

void ReprWriter::write_dict(const PickleValue& v, int depth) {
  const std::string& cls = v.dict_class();
  const std::string short_cls = cls.substr(cls.rfind('.') + 1);
  if (!cls.empty()) {
    out += short_cls + "(";
    if (v.size() == 0) {
      out += ")";
      return;
    }
  }
  out += "{";
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i) out += ", ";
    write(*v.items()[i], depth + 1);
    out += ": ";
    write(*v.values()[i], depth + 1);
  }
  out += cls.empty() ? "}" : "})";
}

void ReprWriter::write(const PickleValue& v, int depth) {
  if (depth > kMaxKeyDepth) {
    out += "...";
    return;
  }
  const PickleKind k = v.kind();
  if (k == PickleKind::kList || k == PickleKind::kDict || k == PickleKind::kObject) {
    if (!active_.insert(&v).second) {
      out += k == PickleKind::kList ? "[...]" : k == PickleKind::kDict ? "{...}" : "...";
      return;
    }
  }
  switch (k) {
    case PickleKind::kList:
      out += "[";
      write_items(v.items(), depth);
      out += "]";
      break;
    case PickleKind::kTuple:
      out += "(";
      write_items(v.items(), depth);
      out += v.size() == 1 ? ",)" : ")";
      break;
    case PickleKind::kDict:
      write_dict(v, depth);
      break;
    case PickleKind::kSet:
    case PickleKind::kFrozenSet:
      if (v.size() == 0) {
        out += k == PickleKind::kSet ? "set()" : "frozenset()";
        break;
      }
      out += k == PickleKind::kSet ? "{" : "frozenset({";
      write_items(v.items(), depth);
      out += k == PickleKind::kSet ? "}" : "})";
      break;
    case PickleKind::kObject: {
      out += v.qualified_name() + "(";
      write_items(v.args()->items(), depth);
      out += ")";
      if (v.state()) {
        out += "[state=";
        write(*v.state(), depth + 1);
        out += "]";
      }
      break;
    }
    case PickleKind::kPersistentId:
      out += "persistent_id(";
      write(*v.pid(), depth + 1);
      out += ")";
      break;
    default:
      write_scalar(v);
      break;
  }
  active_.erase(&v);
}

}  // namespace

std::string pickle_repr(const PickleValue& value) {
  ReprWriter writer;
  writer.write(value, 0);
  return std::move(writer.out);
}

}  // namespace lamin::detail
