// The weights-only unpickler and torch.save's containers, checked against what Python writes: /usr/bin/python3
// (or $LAMIN_TEST_PYTHON) pickles plain data at test time, and its torch writes checkpoints once into the build
// tree. Tests that need Python or its torch skip cleanly without them; the hand-written pickles always run.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <random>

#include <nlohmann/json.hpp>

#include "common/files.hpp"
#include "core/pickle.hpp"
#include "core/torch_file.hpp"
#include "core/zip_reader.hpp"
#include "lamin/error.hpp"

using namespace lamin::detail;
using namespace std::string_literals;
namespace fs = std::filesystem;
using lamin::test::TempDir;
using Json = nlohmann::ordered_json;

#include "pickle_test_scripts.inc"

namespace {

// ---- Python ---------------------------------------------------------------------------------------------------------

std::string interpreter() {
  const char* python = std::getenv("LAMIN_TEST_PYTHON");
  return python ? python : "/usr/bin/python3";
}

int run_python(const std::string& script, const std::string& arg, std::string* output = nullptr) {
  TempDir tmp("pickle_py");
  std::ofstream(tmp / "script.py") << script;
  const std::string cmd = interpreter() + " " + (tmp / "script.py").string() + " '" + arg + "' 2>&1";
  FILE* pipe = ::popen(cmd.c_str(), "r");
  if (!pipe) return -1;
  std::string out;
  char buf[4096];
  while (std::fgets(buf, sizeof buf, pipe)) out += buf;
  const int status = ::pclose(pipe);
  if (output) *output = out;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Plain-data pickles and hostile files from Python's standard library, written once per test process.
const fs::path& stdlib_fixtures() {
  static TempDir dir("pickle_stdlib");
  static const bool ok = fs::exists(interpreter()) && run_python(kStdlibFixtures, dir.str()) == 0;
  static const fs::path none;
  return ok ? dir.path() : none;
}

// torch.save files from Python's torch, generated once into the build tree and shared by every test process.
const fs::path& torch_fixtures() {
  static const fs::path dir = []() -> fs::path {
    const std::string id = std::to_string(std::hash<std::string>()(std::string(kTorchFixtures) + interpreter()));
    const fs::path root = fs::path(LAMIN_BINARY_DIR) / "tests" / "core" / "pickle_fixtures";
    const fs::path done = root / id;
    if (fs::exists(done / "manifest.json")) return done;
    if (!fs::exists(interpreter())) return {};
    const fs::path tmp = root / (id + ".tmp-" + std::to_string(::getpid()));
    std::string out;
    if (run_python(kTorchFixtures, tmp.string(), &out) != 0) {
      std::fprintf(stderr, "torch fixtures not generated:\n%s\n", out.c_str());
      fs::remove_all(tmp);
      return {};
    }
    std::error_code ec;
    fs::rename(tmp, done, ec);  // another test process may have won the race; then use its copy
    if (ec) fs::remove_all(tmp);
    return done;
  }();
  return dir;
}

#define REQUIRE_PYTHON() \
  if (stdlib_fixtures().empty()) GTEST_SKIP() << interpreter() << " is not available"
#define REQUIRE_TORCH() \
  if (torch_fixtures().empty()) GTEST_SKIP() << interpreter() << " with torch is not available"

Json read_json(const fs::path& path) { return Json::parse(lamin::test::read_file(path)); }

const Json& manifest() {
  static const Json m = read_json(torch_fixtures() / "manifest.json");
  return m;
}

// ---- bytes --------------------------------------------------------------------------------------------------------

std::string from_hex(const std::string& hex) {
  std::string out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
    out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return out;
}

std::string to_hex(std::string_view bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (const char c : bytes) {
    out.push_back(digits[static_cast<unsigned char>(c) >> 4]);
    out.push_back(digits[static_cast<unsigned char>(c) & 0xf]);
  }
  return out;
}

// `n` little-endian bytes of `v`.
std::string le(std::uint64_t v, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  return out;
}

PickleValuePtr load(std::string_view data, const std::string& source = "test.pkl") {
  return unpickle(data, UnpickleOptions().source(source));
}

// The IntegrityError message unpickling `data` gives; fails the test if it succeeds or throws anything else.
std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const lamin::IntegrityError& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "not an IntegrityError: " << e.what();
    return "";
  }
  ADD_FAILURE() << "no error";
  return "";
}

std::string pickle_error(std::string_view data) {
  return error_of([&] { load(data, "bad.pkl"); });
}

#define EXPECT_CONTAINS(text, part) EXPECT_NE(std::string(text).find(part), std::string::npos) << (text)

// ---- torch records --------------------------------------------------------------------------------------------------

std::vector<std::int64_t> ints(const PickleValue& tuple) {
  std::vector<std::int64_t> out;
  for (const auto& v : tuple.items()) out.push_back(v->as_int());
  return out;
}

// Checks a _rebuild_tensor_v2 record against the manifest's description of the tensor Python saved.
void expect_tensor(const TorchFile& file, const PickleValue& record, const Json& want, const std::string& what) {
  SCOPED_TRACE(what);
  ASSERT_TRUE(record.is(PickleKind::kObject)) << pickle_repr(record);
  EXPECT_EQ(record.qualified_name(), "torch._utils._rebuild_tensor_v2");
  const PickleValue& args = *record.args();
  ASSERT_EQ(args.size(), 6u);
  const TorchStorage* storage = file.storage_of(*args.at(0));
  ASSERT_NE(storage, nullptr);
  EXPECT_EQ(storage->dtype, want["dtype"].get<std::string>());
  EXPECT_EQ(storage->location, "cpu");
  EXPECT_EQ(args.at(1)->as_int(), want["offset"].get<std::int64_t>());
  EXPECT_EQ(ints(*args.at(2)), want["shape"].get<std::vector<std::int64_t>>());
  EXPECT_EQ(ints(*args.at(3)), want["stride"].get<std::vector<std::int64_t>>());
  EXPECT_EQ(args.at(4)->as_bool(), want["requires_grad"].get<bool>());
  EXPECT_EQ(args.at(5)->dict_class(), "collections.OrderedDict");  // backward hooks
  EXPECT_EQ(to_hex(file.read_storage(*storage)), want["hex"].get<std::string>());
}

void expect_tensors(const TorchFile& file, const PickleValue& dict, const Json& want) {
  ASSERT_EQ(dict.size(), want.size());
  for (const auto& [name, description] : want.items()) {
    const PickleValuePtr record = dict.get(name);
    ASSERT_NE(record, nullptr) << name;
    expect_tensor(file, *record, description, name);
  }
}

// repr with each storage replaced by its dtype and bytes: equal for the zip and legacy forms of one object.
std::string canonical(const TorchFile& file, const PickleValue& v) {
  if (const TorchStorage* s = file.storage_of(v)) return "<" + s->dtype + ":" + to_hex(file.read_storage(*s)) + ">";
  std::string out = std::string(v.type_name()) + "(";
  switch (v.kind()) {
    case PickleKind::kList:
    case PickleKind::kTuple:
    case PickleKind::kSet:
      for (const auto& item : v.items()) out += canonical(file, *item) + ",";
      break;
    case PickleKind::kDict:
      out += v.dict_class() + ":";
      for (std::size_t i = 0; i < v.size(); ++i)
        out += canonical(file, *v.items()[i]) + "=" + canonical(file, *v.values()[i]) + ",";
      if (v.state()) out += "state=" + canonical(file, *v.state());
      break;
    case PickleKind::kObject:
      out += v.qualified_name() + canonical(file, *v.args());
      break;
    default:
      out += pickle_repr(v);
  }
  return out + ")";
}

TorchFile open_fixture(const std::string& name) { return TorchFile::open(torch_fixtures() / name); }

}  // namespace

// ==== the unpickler ==================================================================================================

TEST(Unpickler, MatchesPythonReprForEveryProtocol) {
  REQUIRE_PYTHON();
  const Json rows = read_json(stdlib_fixtures() / "reprs.json");
  ASSERT_EQ(rows.size(), 6u * 18u);
  for (const auto& row : rows) {
    SCOPED_TRACE("protocol " + std::to_string(row["protocol"].get<int>()) + ", object " +
                 std::to_string(row["index"].get<int>()));
    const PickleValuePtr v = load(from_hex(row["pickle"].get<std::string>()));
    EXPECT_EQ(pickle_repr(*v), row["repr"].get<std::string>());
  }
}

TEST(Unpickler, Protocol0TextOpcodes) {
  const auto list = load("(lp0\nI1\naI01\naL12345678901234567890123L\naF1.5\naS'a\\nb'\naVcaf\\u00e9\np1\nag1\na.");
  EXPECT_EQ(pickle_repr(*list), "[1, True, 12345678901234567890123, 1.5, 'a\\nb', 'café', 'café']");
  EXPECT_EQ(list->at(5).get(), list->at(6).get());  // PUT / GET share
  const auto dict = load("(dp0\nVk\np1\n(I1\nI2\ntp2\nsg2\nVv\ns.");
  EXPECT_EQ(pickle_repr(*dict), "{'k': (1, 2), (1, 2): 'v'}");
  EXPECT_EQ(pickle_repr(*dict->find(*PickleValue::tuple({PickleValue::integer(1), PickleValue::integer(2)}))), "'v'");
}

TEST(Unpickler, BinaryOpcodesOfProtocols4And5) {
  const std::string body = "]\x94("s + "\x8d" + le(3, 8) + "abc" + "\x8e" + le(2, 8) + "\x00\x01"s + "\x96" + le(1, 8) +
                           "z" + "\x8b" + le(2, 4) + "\x00\x01"s + "U\x02hi" + "T" + le(2, 4) + "yo" +
                           "\x8f\x94(K\x01K\x02\x90(K\x03\x91" +
                           "K\x07"
                           "20(K\x08"
                           "1N0" +
                           "r" + le(5, 4) + "j" + le(1, 4) + "j" + le(5, 4) + "G\x3f\xf8\x00\x00\x00\x00\x00\x00"s +
                           "M\xff\xffJ\xff\xff\xff\xff\x88\x89"
                           "e.";
  const auto v = load("\x80\x05\x95" + le(body.size(), 8) + body);
  EXPECT_EQ(pickle_repr(*v),
            "['abc', b'\\x00\\x01', bytearray(b'z'), 256, 'hi', 'yo', {1, 2}, frozenset({3}), 7, {1, 2}, 7, 1.5, "
            "65535, -1, True, False]");
  EXPECT_EQ(v->at(6).get(), v->at(9).get());
  EXPECT_TRUE(v->at(2)->is(PickleKind::kByteArray));
}

TEST(Unpickler, BigIntsAreKeptExactly) {
  const auto big = load("\x80\x02\x8a\x0d"s + std::string(12, '\0') + "\x10.");
  ASSERT_TRUE(big->is(PickleKind::kBigInt));
  EXPECT_EQ(big_int_to_decimal(big->int_bytes()), "1267650600228229401496703205376");  // 2**100
  EXPECT_THROW(big->as_int(), lamin::IntegrityError);
  const auto negative = load("\x80\x02\x8a\x09"s + std::string(8, '\0') + "\xc0.");
  EXPECT_EQ(pickle_repr(*negative), "-1180591620717411303424");  // -2**70
  const auto min64 = load("\x80\x02\x8a\x08"s + std::string(7, '\0') + "\x80.");
  ASSERT_TRUE(min64->is(PickleKind::kInt));  // fits: the int64 fast path
  EXPECT_EQ(min64->as_int(), INT64_MIN);
  const auto two63 = load("\x80\x02\x8a\x09"s + std::string(7, '\0') + "\x80\x00."s);
  EXPECT_TRUE(two63->is(PickleKind::kBigInt));
  EXPECT_EQ(pickle_repr(*two63), "9223372036854775808");
  EXPECT_EQ(pickle_repr(*load("L-98765432109876543210987654321L\n.")), "-98765432109876543210987654321");
  EXPECT_EQ(load("\x80\x02\x8a\x00."s)->as_int(), 0);
  EXPECT_EQ(to_hex(PickleValue::integer(-129)->int_bytes()), "7fff");
}

TEST(Unpickler, DictKeysFollowPythonEquality) {
  // {1: 'a', True: 'b', 1.0: 'c'} is {1: 'c'} in Python: equal keys keep the first key and the last value.
  const auto d = load(
      "\x80\x02}(K\x01X\x01\x00\x00\x00"
      "a\x88X\x01\x00\x00\x00"
      "bG?\xf0\x00\x00\x00\x00\x00\x00"
      "X\x01\x00\x00\x00"
      "cu."s);
  EXPECT_EQ(pickle_repr(*d), "{1: 'c'}");
  EXPECT_EQ(pickle_repr(*d->find(*PickleValue::floating(1.0))), "'c'");
  EXPECT_EQ(d->get("1"), nullptr);
  const std::string error = pickle_error("\x80\x02}]K\x01s.");
  EXPECT_CONTAINS(error, "unhashable type: 'list'");
  EXPECT_CONTAINS(error, "bad.pkl");
}

TEST(Unpickler, SharedReferencesStayShared) {
  REQUIRE_PYTHON();
  for (const auto& row : read_json(stdlib_fixtures() / "shared.json")) {
    SCOPED_TRACE("protocol " + std::to_string(row["protocol"].get<int>()));
    const auto v = load(from_hex(row["pickle"].get<std::string>()));
    EXPECT_EQ(pickle_repr(*v), row["repr"].get<std::string>());
    EXPECT_EQ(v->get("x").get(), v->get("y").get());
    EXPECT_EQ(v->get("t")->at(0).get(), v->get("x").get());
    EXPECT_EQ(v->get("t").get(), v->get("tt").get());
    v->get("x")->append(PickleValue::integer(3));  // one list, seen through every reference
    EXPECT_EQ(pickle_repr(*v->get("t")), "([1, 2, 3], 'x')");
  }
}

TEST(Unpickler, AllowedGlobalsBecomeRecordsOrData) {
  const auto v = load(
      "\x80\x02]("
      "ctorch._utils\n_rebuild_tensor_v2\n(K\x01tR"  // a record, not a call
      "ctorch\nfloat16\n"                            // a dtype: a bare global
      "c__builtin__\nset\n]K\x05"
      "a\x85R"                                                                   // protocol 2's set: data
      "c_codecs\nencode\nX\x02\x00\x00\x00\xc3\xbfX\x06\x00\x00\x00latin1\x86R"  // protocol 2's bytes: data
      "ccollections\nOrderedDict\n)R(X\x01\x00\x00\x00kK\x01u}X\x09\x00\x00\x00_metadataNsb"
      "ctorch.nn.parameter\nParameter\n)\x81"
      "e."s);
  ASSERT_EQ(v->size(), 6u);
  EXPECT_EQ(v->at(0)->qualified_name(), "torch._utils._rebuild_tensor_v2");
  EXPECT_EQ(pickle_repr(*v->at(0)->args()), "(1,)");
  EXPECT_FALSE(v->at(0)->newobj());
  EXPECT_TRUE(v->at(1)->is(PickleKind::kGlobal));
  EXPECT_EQ(v->at(1)->qualified_name(), "torch.float16");
  EXPECT_EQ(pickle_repr(*v->at(2)), "{5}");
  EXPECT_EQ(pickle_repr(*v->at(3)), "b'\\xff'");
  EXPECT_EQ(v->at(4)->dict_class(), "collections.OrderedDict");
  EXPECT_EQ(pickle_repr(*v->at(4)), "OrderedDict({'k': 1})");
  EXPECT_EQ(pickle_repr(*v->at(4)->state()), "{'_metadata': None}");
  EXPECT_TRUE(v->at(5)->newobj());
  EXPECT_EQ(v->at(5)->qualified_name(), "torch.nn.parameter.Parameter");
}

TEST(Unpickler, PersistentIdsGoThroughPersistentLoad) {
  const std::string data = "\x80\x02]((X\x07\x00\x00\x00storageK\x07tQ(X\x07\x00\x00\x00storageK\x07tQe."s;
  const auto plain = load(data);
  EXPECT_EQ(pickle_repr(*plain), "[persistent_id(('storage', 7)), persistent_id(('storage', 7))]");
  PickleValuePtr cached;
  const auto mapped = unpickle(data, UnpickleOptions().persistent_load([&](const PickleValuePtr& pid) {
    if (!cached) cached = PickleValue::string("storage " + pickle_repr(*pid->at(1)));
    return cached;
  }));
  EXPECT_EQ(pickle_repr(*mapped), "['storage 7', 'storage 7']");
  EXPECT_EQ(mapped->at(0).get(), mapped->at(1).get());
  EXPECT_EQ(pickle_repr(*load("Pkey\n.")), "persistent_id('key')");  // PERSID
}

TEST(Unpickler, ErrorsNameTheSourceAndTheOffset) {
  struct Case {
    std::string data;
    std::string message;
    int offset;
  };
  const Case cases[] = {
      {"\x80\x02\xff.", "unknown pickle opcode 0xff", 2},
      {"\x80\x02"
       "a.",
       "unpickling stack underflow", 2},
      {"\x80\x02h\x05.", "Memo value not found at index 5", 2},
      {"\x80\x02"
       "e.",
       "could not find MARK", 2},
      {"\x80\x02\x80\x06N.", "unsupported pickle protocol: 6", 2},
      {"\x80\x05\x97.", "out-of-band data", 2},
      {"\x80\x02\x82\x01.", "extension registry", 2},
      {"\x80\x02}K\x01"
       "a.",
       "Can only append to lists, but got dict", 5},
      {"\x80\x02]K\x01"
       "b.",
       "Can only build", 5},
      {"\x80\x02])R.", "can only call or instantiate an allowlisted global, but got list", 4},
      {"\x80\x02X\x02\x00\x00\x00\xff\xfe."s, "invalid UTF-8", 2},
      {"\x80\x02\x8b\xff\xff\xff\xff.", "negative byte count", 2},
      {"S'unquoted\n.", "must be quoted", 0},
      {"\x80\x02K\x01K\x02s.", "unpickling stack underflow", 6},
      {"\x80\x02](K\x01\x90.", "Can only add items to sets, but got list", 6},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(to_hex(c.data));
    const std::string error = pickle_error(c.data);
    EXPECT_CONTAINS(error, c.message);
    EXPECT_EQ(error.rfind("bad.pkl: ", 0), 0u) << error;
    EXPECT_CONTAINS(error, "at offset " + std::to_string(c.offset) + ")");
  }
}

TEST(Unpickler, EveryTruncationIsAnIntegrityError) {
  std::vector<std::string> pickles = {"(lp0\nI1\naL123L\naF1.5\naS'a'\naVb\np1\nag1\na.",
                                      "\x80\x02}(K\x01X\x01\x00\x00\x00"
                                      "a\x88X\x01\x00\x00\x00"
                                      "bu."s};
  if (!stdlib_fixtures().empty()) {
    for (const auto& row : read_json(stdlib_fixtures() / "reprs.json"))
      if (row["index"] == 1 || row["index"] == 7) pickles.push_back(from_hex(row["pickle"].get<std::string>()));
  }
  for (const auto& p : pickles) {
    for (std::size_t n = 0; n < p.size(); ++n) {
      SCOPED_TRACE(to_hex(p.substr(0, n)));
      try {
        load(p.substr(0, n), "cut.pkl");
        ADD_FAILURE() << "a truncated pickle loaded";
      } catch (const PickleTruncatedError& e) {
        EXPECT_CONTAINS(e.what(), "cut.pkl: pickle data was truncated");
      }
    }
  }
}

TEST(Unpickler, RandomCorruptionNeverCrashes) {
  const std::string body =
      "]\x94(\x8c\x01"
      "a\x94\x8f\x94(K\x01\x90\x8a\x02\xff\x7f"
      "ccollections\nOrderedDict\n)R}b\x87"
      "e."s;
  const std::vector<std::string> seeds = {"(lp0\nI1\naL123L\naF1.5\naS'a'\naVb\np1\nag1\na(dp2\ng1\n(I1\ntsa.",
                                          "\x80\x04\x95" + le(body.size(), 8) + body};
  EXPECT_EQ(pickle_repr(*load(seeds[0])), "[1, 123, 1.5, 'a', 'b', 'b', {'b': (1,)}]");
  EXPECT_EQ(pickle_repr(*load(seeds[1])), "['a', ({1}, 32767, OrderedDict())]");
  std::mt19937 rng(20240917);
  int loaded = 0;
  for (int round = 0; round < 4000; ++round) {
    std::string p = seeds[round % seeds.size()];
    for (int flips = 1 + static_cast<int>(rng() % 3); flips > 0; --flips)
      p[rng() % p.size()] = static_cast<char>(rng() % 256);
    try {
      pickle_repr(*load(p));
      ++loaded;
    } catch (const lamin::IntegrityError&) {
    }  // anything else fails the test
  }
  EXPECT_LT(loaded, 4000);
}

TEST(Unpickler, DeepNestingDoesNotOverflowTheStack) {
  const std::size_t depth = 1000000;
  const std::string nested = "\x80\x02"s + std::string(depth, ']') + std::string(depth - 1, 'a') + ".";
  {
    const auto v = load(nested);
    EXPECT_EQ(pickle_repr(*v).substr(0, 4), "[[[[");  // repr stops at a depth limit
  }                                                   // and the tree is freed without recursion
  const std::string key = "\x80\x02})"s + std::string(5000, '\x85') + "Ns.";
  EXPECT_CONTAINS(pickle_error(key), "nested too deeply");
}

TEST(Unpickler, RefusesGlobalsOutsideTheAllowlistAndRunsNothing) {
  TempDir dir("pickle_evil");
  const std::string marker = (dir / "PWNED").string();
  struct Case {
    std::string data;
    std::string global;
  };
  const Case cases[] = {
      {"cos\nsystem\n(S'touch " + marker + "'\ntR.", "GLOBAL os.system"},
      {"\x80\x04\x8c\x02os\x8c\x06system\x93X\x01\x00\x00\x00x\x85R."s, "GLOBAL os.system"},
      {"(S'touch " + marker + "'\nios\nsystem\n.", "GLOBAL os.system"},
      {"cposix\nsystem\n.", "GLOBAL posix.system"},
      {"c__builtin__\neval\n(S'1'\ntR.", "GLOBAL builtins.eval"},
      {"cbuiltins\ngetattr\n.", "GLOBAL builtins.getattr"},
      {"csubprocess\nPopen\n.", "GLOBAL subprocess.Popen"},
      {"ctorch\nload\n.", "GLOBAL torch.load"},
      {"ccopyreg\n_reconstructor\n.", "GLOBAL copyreg._reconstructor"},
  };
  for (const auto& c : cases) {
    const std::string error = error_of([&] { load(c.data, "evil.pkl"); });
    EXPECT_CONTAINS(error, "evil.pkl: Unsupported global: " + c.global + " was not an allowed global");
  }
  EXPECT_FALSE(fs::exists(marker));
}

TEST(Unpickler, DisallowedGlobalsFromPythonReduceAreRefused) {
  REQUIRE_PYTHON();
  const Json evil = read_json(stdlib_fixtures() / "evil.json");
  for (const auto& row : evil["pickles"]) {
    const std::string error = error_of([&] { load(from_hex(row.get<std::string>()), "reduce.pkl"); });
    EXPECT_CONTAINS(error, "reduce.pkl: Unsupported global: GLOBAL " + evil["system"].get<std::string>());
  }
  EXPECT_FALSE(fs::exists(stdlib_fixtures() / "PWNED"));
}

// ==== the allowlist ==================================================================================================

TEST(UnpicklerAllowlist, HasTheNamesOfTorch2) {
  for (const char* name : {"collections.OrderedDict",
                           "collections.Counter",
                           "torch._utils._rebuild_tensor_v2",
                           "torch._utils._rebuild_parameter",
                           "torch._utils._rebuild_parameter_with_state",
                           "torch._utils._rebuild_tensor_v3",
                           "torch._utils._rebuild_wrapper_subclass",
                           "torch._tensor._rebuild_from_type_v2",
                           "torch.FloatStorage",
                           "torch.BFloat16Storage",
                           "torch.cuda.HalfStorage",
                           "torch.storage.UntypedStorage",
                           "torch.storage.TypedStorage",
                           "torch.device",
                           "torch.Size",
                           "torch.float32",
                           "torch.bfloat16",
                           "torch.float8_e4m3fn",
                           "torch.uint16",
                           "torch.int4",
                           "torch.bool",
                           "torch.per_tensor_affine",
                           "torch.nn.parameter.Parameter",
                           "_codecs.encode",
                           "builtins.set",
                           "builtins.frozenset",
                           "builtins.bytearray",
                           "builtins.complex",
                           "torch.serialization._get_layout"}) {
    const std::string n = name;
    const std::size_t dot = n.rfind('.');
    EXPECT_TRUE(pickle_global_allowed(n.substr(0, dot), n.substr(dot + 1))) << n;
  }
  EXPECT_TRUE(pickle_global_allowed("__builtin__", "set"));
  for (const char* refused : {"os.system", "posix.system", "nt.system", "sys.exit", "builtins.eval", "builtins.exec",
                              "builtins.open", "torch.load", "torch.nn.Module", "collections.defaultdict"}) {
    const std::string n = refused;
    const std::size_t dot = n.rfind('.');
    EXPECT_FALSE(pickle_global_allowed(n.substr(0, dot), n.substr(dot + 1))) << n;
  }
}

TEST(UnpicklerAllowlist, CoversTorchWeightsOnlyUnpicklerOfThisPython) {
  REQUIRE_TORCH();
  const std::vector<std::string> ours = pickle_allowed_globals();
  const Json theirs = read_json(torch_fixtures() / "allowlist.json");
  EXPECT_GT(theirs.size(), 50u);
  for (const auto& name : theirs)
    EXPECT_TRUE(std::binary_search(ours.begin(), ours.end(), name.get<std::string>())) << name;
}

// ==== torch.save files ===============================================================================================

TEST(TorchUnpickle, ZipTensorsOfSeveralDtypes) {
  REQUIRE_TORCH();
  const TorchFile file = open_fixture("dtypes.pt");
  EXPECT_EQ(file.format(), TorchFileFormat::kZip);
  EXPECT_EQ(file.archive_folder(), "dtypes");
  EXPECT_EQ(file.version(), 3);
  expect_tensors(file, *file.data(), manifest()["dtypes.pt"]);
  EXPECT_EQ(file.storages().size(), 12u);
  const TorchStorage& bf16 = *file.storage_of(*file.data()->get("bf16")->args()->at(0));
  EXPECT_EQ(bf16.storage_type, "torch.BFloat16Storage");
  EXPECT_EQ(bf16.element_size, 2u);
  EXPECT_EQ(bf16.numel, 2u);
  EXPECT_EQ(bf16.offset % 64, 0u);  // torch aligns data records to 64 bytes
}

TEST(TorchUnpickle, ZeroDimTensor) {
  REQUIRE_TORCH();
  const TorchFile file = open_fixture("dtypes.pt");
  const PickleValue& scalar = *file.data()->get("scalar");
  EXPECT_EQ(scalar.args()->at(2)->size(), 0u);
  EXPECT_EQ(scalar.args()->at(3)->size(), 0u);
  EXPECT_EQ(file.storage_of(*scalar.args()->at(0))->dtype, "float64");
  EXPECT_EQ(to_hex(file.read_storage(*file.storage_of(*scalar.args()->at(0)))), "0000000000000c40");  // 3.5
}

TEST(TorchUnpickle, LegacyFormatGivesTheSameTree) {
  REQUIRE_TORCH();
  const TorchFile legacy = open_fixture("dtypes_legacy.pt");
  EXPECT_EQ(legacy.format(), TorchFileFormat::kLegacy);
  EXPECT_EQ(legacy.version(), 1001);
  EXPECT_EQ(legacy.archive_folder(), "");
  expect_tensors(legacy, *legacy.data(), manifest()["dtypes_legacy.pt"]);
  for (const char* name : {"dtypes", "views", "state_dict", "sgd", "adam"}) {
    SCOPED_TRACE(name);
    const TorchFile zip = open_fixture(name + ".pt"s);
    const TorchFile old = open_fixture(name + "_legacy.pt"s);
    EXPECT_EQ(canonical(zip, *zip.data()), canonical(old, *old.data()));
  }
}

TEST(TorchUnpickle, ViewsShareOneStorage) {
  REQUIRE_TORCH();
  for (const char* name : {"views.pt", "views_legacy.pt"}) {
    SCOPED_TRACE(name);
    const TorchFile file = open_fixture(name);
    const PickleValue& list = *file.data();
    ASSERT_EQ(list.size(), 2u);
    const PickleValue& a = *list.at(0);
    const PickleValue& b = *list.at(1);
    EXPECT_EQ(a.args()->at(0).get(), b.args()->at(0).get());  // one storage object
    ASSERT_EQ(file.storages().size(), 1u);
    EXPECT_EQ(file.storages()[0].numel, 10u);
    expect_tensor(file, a, manifest()[name]["a"], "a");
    expect_tensor(file, b, manifest()[name]["b"], "b");
    EXPECT_EQ(a.args()->at(1)->as_int(), 2);
    EXPECT_EQ(ints(*b.args()->at(3)), std::vector<std::int64_t>{2});
  }
}

TEST(TorchUnpickle, StateDictIsAnOrderedDictWithMetadata) {
  REQUIRE_TORCH();
  for (const char* name : {"state_dict.pt", "state_dict_legacy.pt"}) {
    SCOPED_TRACE(name);
    const TorchFile file = open_fixture(name);
    const PickleValue& sd = *file.data();
    EXPECT_EQ(sd.dict_class(), "collections.OrderedDict");
    std::vector<std::string> keys;
    for (const auto& k : sd.items()) keys.push_back(k->as_string());
    std::vector<std::string> want;
    for (const auto& [k, v] : manifest()[name].items()) want.push_back(k);
    EXPECT_EQ(keys, want);
    expect_tensors(file, sd, manifest()[name]);
    ASSERT_NE(sd.state(), nullptr);  // BUILD: the OrderedDict's __dict__
    const PickleValue& metadata = *sd.state()->get("_metadata");
    EXPECT_EQ(metadata.dict_class(), "collections.OrderedDict");
    ASSERT_EQ(metadata.size(), manifest()["state_dict_metadata"].size());
    for (const auto& [module, entry] : manifest()["state_dict_metadata"].items())
      EXPECT_EQ(metadata.get(module)->get("version")->as_int(), entry["version"].get<int>()) << module;
  }
}

TEST(TorchUnpickle, OptimizerStateDicts) {
  REQUIRE_TORCH();
  const TorchFile sgd = open_fixture("sgd.pt");
  const PickleValue& sgd_group = *sgd.data()->get("param_groups")->at(0);
  EXPECT_EQ(sgd_group.get("lr")->as_float(), 0.1);
  EXPECT_EQ(sgd_group.get("momentum")->as_float(), 0.9);
  EXPECT_FALSE(sgd_group.get("nesterov")->as_bool());
  EXPECT_EQ(pickle_repr(*sgd_group.get("params")), "[0, 1, 2, 3]");
  const PickleValue& sgd_state = *sgd.data()->get("state");
  ASSERT_EQ(sgd_state.size(), 4u);
  const PickleValue& buffer = *sgd_state.find(*PickleValue::integer(0))->get("momentum_buffer");
  EXPECT_EQ(ints(*buffer.args()->at(2)), (std::vector<std::int64_t>{2, 3}));  // Linear(3, 2).weight
  EXPECT_EQ(sgd.storage_of(*buffer.args()->at(0))->nbytes, 24u);

  const TorchFile adam = open_fixture("adam.pt");
  const PickleValue& group = *adam.data()->get("param_groups")->at(0);
  EXPECT_EQ(pickle_repr(*group.get("betas")), "(0.8, 0.99)");
  EXPECT_EQ(group.get("lr")->as_float(), 0.01);
  EXPECT_FALSE(group.get("amsgrad")->as_bool());
  const PickleValue& s1 = *adam.data()->get("state")->find(*PickleValue::integer(1));
  for (const char* key : {"step", "exp_avg", "exp_avg_sq"}) EXPECT_TRUE(s1.get(key)->is(PickleKind::kObject)) << key;
  EXPECT_EQ(ints(*s1.get("exp_avg")->args()->at(2)), std::vector<std::int64_t>{2});
}

TEST(TorchUnpickle, LightningStyleCheckpoint) {
  REQUIRE_TORCH();
  const TorchFile file = open_fixture("lightning.ckpt");
  const PickleValue& ckpt = *file.data();
  EXPECT_EQ(ckpt.get("epoch")->as_int(), 3);
  EXPECT_EQ(ckpt.get("global_step")->as_int(), 120);
  EXPECT_EQ(ckpt.get("pytorch-lightning_version")->as_string(), "2.6.6");
  EXPECT_EQ(ckpt.get("state_dict")->dict_class(), "collections.OrderedDict");
  EXPECT_EQ(ckpt.get("state_dict")->size(), 7u);
  EXPECT_EQ(pickle_repr(*ckpt.get("hyper_parameters")),
            "{'lr': 0.01, 'layers': [3, 2], 'name': 'mlp', 'dropout': None}");
  EXPECT_EQ(pickle_repr(*ckpt.get("lr_schedulers")), "[]");
  EXPECT_EQ(ckpt.get("loops")->get("fit_loop")->get("epoch_progress")->get("total")->get("completed")->as_int(), 3);
  const PickleValue& callback = *ckpt.get("callbacks")->get("ModelCheckpoint{'monitor': 'val_loss', 'mode': 'min'}");
  EXPECT_TRUE(std::isinf(callback.get("kth_value")->as_float()));
  const PickleValue& score = *callback.get("best_model_score");
  EXPECT_EQ(score.args()->at(2)->size(), 0u);
  EXPECT_EQ(to_hex(file.read_storage(*file.storage_of(*score.args()->at(0)))), "0000803e");  // 0.25f
  EXPECT_EQ(ckpt.get("optimizer_states")->at(0)->get("param_groups")->at(0)->get("lr")->as_float(), 0.01);
}

TEST(TorchUnpickle, PickleProtocol4Checkpoint) {
  REQUIRE_TORCH();
  const TorchFile file = open_fixture("protocol4.pt");
  expect_tensor(file, *file.data()->get("w"), manifest()["dtypes.pt"]["f32"], "w");
  EXPECT_EQ(pickle_repr(*file.data()->get("set")), "{1, 2}");
  EXPECT_EQ(pickle_repr(*file.data()->get("bytes")), "b'\\x00\\xff'");
  EXPECT_EQ(file.data()->get("sd")->dict_class(), "collections.OrderedDict");
}

TEST(TorchUnpickle, AnyArchiveFolderNameAndZip64) {
  REQUIRE_TORCH();
  for (const auto& [name, folder] : {std::pair{"renamed.pt", "my checkpoint.v2"}, std::pair{"zip64.pt", "z64"},
                                     std::pair{"little_endian.pt", "dtypes"}}) {
    SCOPED_TRACE(name);
    const TorchFile file = open_fixture(name);
    EXPECT_EQ(file.archive_folder(), folder);
    expect_tensors(file, *file.data(), manifest()["dtypes.pt"]);
  }
}

TEST(TorchUnpickle, BigEndianAndCompressedFilesAreRefused) {
  REQUIRE_TORCH();
  const std::string big = (torch_fixtures() / "big_endian.pt").string();
  const std::string error = error_of([&] { TorchFile::open(big); });
  EXPECT_CONTAINS(error, big + ": it was saved on a big-endian machine");
  const std::string deflated = (torch_fixtures() / "deflated.pt").string();
  EXPECT_CONTAINS(error_of([&] { TorchFile::open(deflated); }), "is compressed (method 8)");
  REQUIRE_PYTHON();
  const std::string legacy = (stdlib_fixtures() / "legacy_big_endian.pt").string();
  EXPECT_CONTAINS(error_of([&] { TorchFile::open(legacy); }), legacy + ": it was saved on a big-endian machine");
}

TEST(TorchUnpickle, TruncatedFilesAreIntegrityErrors) {
  REQUIRE_TORCH();
  for (const char* name : {"dtypes.pt", "dtypes_legacy.pt", "zip64.pt"}) {
    const std::string bytes = lamin::test::read_file(torch_fixtures() / name);
    for (const std::size_t keep : {std::size_t(0), std::size_t(5), std::size_t(30), std::size_t(200), bytes.size() / 2,
                                   bytes.size() - 23, bytes.size() - 1}) {
      SCOPED_TRACE(std::string(name) + " cut to " + std::to_string(keep));
      const std::string error = error_of([&] { TorchFile::from_bytes(bytes.substr(0, keep), "cut.pt"); });
      EXPECT_EQ(error.rfind("cut.pt", 0), 0u) << error;
    }
  }
}

TEST(TorchUnpickle, CorruptionIsCaughtByCrcOrAsAnIntegrityError) {
  REQUIRE_TORCH();
  const std::string bytes = lamin::test::read_file(torch_fixtures() / "dtypes.pt");
  const TorchFile clean = TorchFile::from_bytes(bytes, "clean.pt");
  std::string flipped = bytes;
  flipped[clean.storage("0").offset] ^= 0x01;
  const TorchFile corrupt = TorchFile::from_bytes(flipped, "flipped.pt");
  EXPECT_CONTAINS(error_of([&] { corrupt.read_storage(corrupt.storage("0")); }), "flipped.pt: CRC-32 mismatch");
  std::mt19937 rng(7);
  for (int round = 0; round < 300; ++round) {
    std::string p = bytes;
    p[rng() % p.size()] = static_cast<char>(rng() % 256);
    try {
      const TorchFile f = TorchFile::from_bytes(p, "fuzz.pt");
      for (const auto& s : f.storages()) f.read_storage(s);
    } catch (const lamin::IntegrityError&) {
    }  // anything else fails the test
  }
}

TEST(TorchUnpickle, CheckpointWithDisallowedGlobalIsRefusedAndNothingRuns) {
  REQUIRE_PYTHON();
  const std::string system = read_json(stdlib_fixtures() / "evil.json")["system"].get<std::string>();
  for (const char* name : {"evil_zip.pt", "evil_legacy.pt", "evil_os_system.pt"}) {
    const std::string path = (stdlib_fixtures() / name).string();
    const std::string error = error_of([&] { TorchFile::open(path); });
    EXPECT_EQ(error.rfind(path, 0), 0u) << error;
    EXPECT_CONTAINS(error,
                    "Unsupported global: GLOBAL " + (std::string(name) == "evil_os_system.pt" ? "os.system"s : system));
  }
  EXPECT_FALSE(fs::exists(stdlib_fixtures() / "PWNED"));
}

TEST(TorchUnpickle, LegacyPicklesLargerThanTheFirstRead) {
  REQUIRE_PYTHON();
  const TorchFile file = TorchFile::open(stdlib_fixtures() / "legacy_large.pt");
  EXPECT_EQ(file.data()->size(), 20000u);
  std::string value;
  for (int i = 0; i < 17; ++i) value += "019999";
  EXPECT_EQ(file.data()->get("k19999")->as_string(), value);
}

TEST(TorchUnpickle, MissingFileIsNotFound) {
  EXPECT_THROW(TorchFile::open("/nonexistent/lamin/model.pt"), lamin::NotFoundError);
  EXPECT_EQ(crc32("123456789"), 0xCBF43926u);
  EXPECT_CONTAINS(error_of([] { TorchFile::from_bytes("PK\x05\x06"s + std::string(18, '\0'), "empty.zip"); }),
                  "empty.zip: no <folder>/data.pkl record");
}
