// The weights-only unpickler, checked against what Python pickles: /usr/bin/python3 (or $LAMIN_TEST_PYTHON) writes
// plain data at test time; tests that need it skip cleanly without it; the hand-written pickles always run. The
// torch.save containers are tested in torch_file_test.cpp.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <random>

#include <nlohmann/json.hpp>

#include "common/files.hpp"
#include "core/pickle.hpp"
#include "core/pickle_fixtures.hpp"
#include "core/torch_file.hpp"
#include "core/zip_reader.hpp"
#include "lamin/error.hpp"

using namespace lamin::detail;
using namespace pickle_fixtures;
using namespace std::string_literals;
using lamin::test::TempDir;

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
