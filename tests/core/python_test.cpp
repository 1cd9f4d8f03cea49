// Python's behaviour that lamin-cpp reproduces (core/python.hpp), each piece tested here once: reprs, the format
// mini-language, os.path, datetime.timedelta and PyYAML's dump (expected texts produced with CPython 3.11 and
// PyYAML 6.0.3), including the oracle's hparams.yaml files.
#include <gtest/gtest.h>
#include <pwd.h>
#include <unistd.h>

#include <cmath>
#include <limits>

#include <fstream>
#include <nlohmann/json.hpp>

#include "core/python.hpp"
#include "lamin/error.hpp"

namespace {

using namespace lamin::detail;
using nlohmann::json;

PythonNumber i(std::int64_t v) { return {static_cast<double>(v), true}; }
PythonNumber d(double v) { return {v, false}; }

TEST(PythonRepr, MatchesPythonForFloat32Values) {
  EXPECT_EQ(python_repr_f32(0.3f), "0.30000001192092896");
  EXPECT_EQ(python_repr_f32(0.4f), "0.4000000059604645");
  EXPECT_EQ(python_repr_f32(0.2f), "0.20000000298023224");
  EXPECT_EQ(python_repr_f32(3.375f), "3.375");
  EXPECT_EQ(python_repr_f32(5.0f), "5.0");
}

TEST(PythonRepr, FixedAndScientificRanges) {
  EXPECT_EQ(python_repr(0.5), "0.5");
  EXPECT_EQ(python_repr(1.0), "1.0");
  EXPECT_EQ(python_repr(1e-5), "1e-05");
  EXPECT_EQ(python_repr(0.0001), "0.0001");
  EXPECT_EQ(python_repr(1e16), "1e+16");
  EXPECT_EQ(python_repr(1e15), "1000000000000000.0");
  EXPECT_EQ(python_repr(123456789012345678.0), "1.2345678901234568e+17");
  EXPECT_EQ(python_repr(1.5e300), "1.5e+300");
  EXPECT_EQ(python_repr(-2.5), "-2.5");
  EXPECT_EQ(python_repr(-0.0), "-0.0");
  EXPECT_EQ(python_repr(0.0), "0.0");
}

TEST(PythonRepr, NonFinite) {
  EXPECT_EQ(python_repr(std::nan("")), "nan");
  EXPECT_EQ(python_repr(std::numeric_limits<double>::infinity()), "inf");
  EXPECT_EQ(python_repr(-std::numeric_limits<double>::infinity()), "-inf");
  EXPECT_EQ(python_json_float(std::nan("")), "NaN");
  EXPECT_EQ(python_json_float(-std::numeric_limits<double>::infinity()), "-Infinity");
}

TEST(PythonOsPath, ExpanduserAsPosixpath) {
  const char* home = std::getenv("HOME");
  ASSERT_NE(home, nullptr);
  std::string h = home;
  while (h.size() > 1 && h.back() == '/') h.pop_back();
  EXPECT_EQ(python_expanduser("~"), h);
  EXPECT_EQ(python_expanduser("~/runs"), h + "/runs");
  EXPECT_EQ(python_expanduser("a/~/b"), "a/~/b");
  // Another user's home comes from the password database, never from $HOME.
  const passwd* root = getpwnam("root");
  ASSERT_NE(root, nullptr);
  EXPECT_EQ(python_expanduser("~root/x"), std::string(root->pw_dir) + "/x");
  EXPECT_EQ(python_expanduser("~no-such-user-lamin/x"), "~no-such-user-lamin/x");
  EXPECT_NE(python_expanduser("~bob/x"), h + "bob/x");
}

TEST(PythonOsPath, ExpandvarsJoinBasenameAbspath) {
  ::setenv("LAMIN_TEST_VAR", "v", 1);
  EXPECT_EQ(python_expandvars("$LAMIN_TEST_VAR/${LAMIN_TEST_VAR}/$LAMIN_UNSET_VAR_X/$"), "v/v/$LAMIN_UNSET_VAR_X/$");
  EXPECT_EQ(python_path_join("a", "b"), "a/b");
  EXPECT_EQ(python_path_join("a/", "b"), "a/b");
  EXPECT_EQ(python_path_join("", "b"), "b");
  EXPECT_EQ(python_path_join("a", "/b"), "/b");
  EXPECT_EQ(python_basename("/x/y.ckpt"), "y.ckpt");
  EXPECT_EQ(python_basename("y"), "y");
  EXPECT_EQ(python_abspath("/a/./b/../c/"), "/a/c");
  EXPECT_EQ(python_normpath("a/./b/.."), "a");
  EXPECT_EQ(python_normpath("/r/x/"), "/r/x");
  EXPECT_EQ(python_normpath(""), ".");
  EXPECT_EQ(python_realpath("/"), "/");
}

TEST(PythonRepr, StrAndListReprs) {
  EXPECT_EQ(python_str_repr("val_loss"), "'val_loss'");
  EXPECT_EQ(python_str_repr("it's"), "\"it's\"");
  EXPECT_EQ(python_list_repr({"a", "it's"}), "['a', \"it's\"]");
  EXPECT_EQ(python_list_repr({}), "[]");
}

TEST(PythonFormat, SpecsAsPythonFormatsThem) {
  struct Case {
    PythonNumber value;
    const char* spec;
    const char* expected;
  };
  const double nan = std::nan("");
  const double inf = std::numeric_limits<double>::infinity();
  const Case cases[] = {
      {i(3), "02d", "03"},          {d(0.123456), ".2f", "0.12"},   {i(3), ".2f", "3.00"},
      {d(0.30000001192092896), "", "0.30000001192092896"},          {d(5.0), "", "5.0"},
      {d(nan), "", "nan"},          {d(inf), "", "inf"},            {d(0.03), ".5f", "0.03000"},
      {i(1234567), ",", "1,234,567"}, {i(-3), "05", "-0003"},       {d(0.2), ".4f", "0.2000"},
      {d(12.0), ".2", "1.2e+01"},   {d(1e-05), "", "1e-05"},        {d(1.5e300), "", "1.5e+300"},
      {d(0.5), ">8.3f", "   0.500"}, {d(0.5), "<8.3f", "0.500   "}, {d(0.5), "^9.3f", "  0.500  "},
      {i(255), "#x", "0xff"},       {i(255), "X", "FF"},            {i(5), "b", "101"},
      {d(0.1234), ".1%", "12.3%"},  {d(0.000123456), "g", "0.000123456"},
      {d(123456789.0), "g", "1.23457e+08"},                         {d(1.0), "e", "1.000000e+00"},
      {d(-0.0), "", "-0.0"},        {d(-0.0001), "z.2f", "0.00"},   {i(3), "+d", "+3"},
      {d(2.5), " .1f", " 2.5"},     {i(3), "e", "3.000000e+00"},    {d(1234.5), "_.1f", "1_234.5"},
      {d(nan), "05", "00nan"},      {d(inf), "010.2f", "0000000inf"}, {d(1.0), ".2", "1.0"},
      {d(1e20), ".3", "1e+20"},     {d(123.0), ".3", "1.23e+02"},   {d(0.0001234), ".2", "0.00012"},
      {d(0.00001234), ".2", "1.2e-05"}, {i(0), "", "0"},           {i(42), "5", "   42"},
  };
  for (const auto& c : cases) EXPECT_EQ(python_format(c.value, c.spec), c.expected) << c.spec;
  EXPECT_THROW(python_format(i(3), ".2d"), lamin::ConfigurationError);
  EXPECT_THROW(python_format(d(3), "s"), lamin::ConfigurationError);
  EXPECT_THROW(python_format(d(3), ".2fx"), lamin::ConfigurationError);
  EXPECT_THROW(python_format(d(3), "."), lamin::ConfigurationError);
}

TEST(PythonTimedelta, ReprAndStr) {
  EXPECT_EQ(python_timedelta_repr(std::chrono::seconds(60)), "datetime.timedelta(seconds=60)");
  EXPECT_EQ(python_timedelta_repr(std::chrono::seconds(0)), "datetime.timedelta(0)");
  EXPECT_EQ(python_timedelta_repr(std::chrono::duration<double>(86405.000003)),
            "datetime.timedelta(days=1, seconds=5, microseconds=3)");
  EXPECT_EQ(python_timedelta_repr(std::chrono::milliseconds(500)), "datetime.timedelta(microseconds=500000)");
  EXPECT_EQ(python_timedelta_str(std::chrono::seconds(60)), "0:01:00");
  EXPECT_EQ(python_timedelta_str(std::chrono::seconds(0)), "0:00:00");
  EXPECT_EQ(python_timedelta_str(std::chrono::duration<double>(86405.000003)), "1 day, 0:00:05.000003");
  EXPECT_EQ(python_timedelta_str(std::chrono::hours(30)), "1 day, 6:00:00");
  EXPECT_EQ(python_timedelta_str(std::chrono::milliseconds(500)), "0:00:00.500000");
}

TEST(PyYaml, Scalars) {
  EXPECT_EQ(yaml_float(0.5), "0.5");
  EXPECT_EQ(yaml_float(1e-05), "1.0e-05");
  EXPECT_EQ(yaml_float(std::numeric_limits<double>::infinity()), ".inf");
  // best_k_models.yaml: path keys stay plain, keys that would read back as another type are quoted.
  EXPECT_EQ(yaml_dump({{"/tmp/x/epoch=0-step=4.ckpt", 0.5}}), "/tmp/x/epoch=0-step=4.ckpt: 0.5\n");
  EXPECT_EQ(yaml_dump({{"true", 1}}), "'true': 1\n");
  EXPECT_EQ(yaml_dump({{"a: b", 1}}), "'a: b': 1\n");
}

json oracle_expected() {
  std::ifstream in(std::string(LAMIN_SHARED_DIR) + "/oracle/lightning_expected.json");
  EXPECT_TRUE(in.good()) << "oracle file missing";
  return json::parse(in);
}

const json& oracle_run(const json& expected, const std::string& name) {
  for (const auto& c : expected["cases"])
    if (c["name"] == name) return c["runs"][0];
  throw std::runtime_error("no oracle case " + name);
}

TEST(HparamsYaml, OracleCsvHparamsFile) {
  // Oracle case csv_logger_versions calls save_hyperparameters(lr=0.05, width=2).
  const json expected = oracle_expected();
  const std::string text =
      oracle_run(expected, "csv_logger_versions")["logger_files"]["logs/lightning_logs/version_4/hparams.yaml"];
  EXPECT_EQ(yaml_dump(json{{"width", 2}, {"lr", 0.05}}), text);
}

TEST(HparamsYaml, OracleEmptyHparamsFile) {
  const json expected = oracle_expected();
  const std::string text =
      oracle_run(expected, "tb_logger_default_layout")["logger_files"]["lightning_logs/version_0/hparams.yaml"];
  EXPECT_EQ(yaml_dump(json::object()), text);
}

TEST(HparamsYaml, StringsThatWouldReadBackAsOtherTypesAreQuoted) {
  const json v = json::parse(
      R"({"s1": "1", "s2": "true", "s3": "", "s4": "yes", "s5": "null", "s6": "plain text", "s7": "1.5",
          "s8": "a: b", "s9": "- x", "s10": "#c"})");
  EXPECT_EQ(yaml_dump(v),
            "s1: '1'\ns10: '#c'\ns2: 'true'\ns3: ''\ns4: 'yes'\ns5: 'null'\ns6: plain text\ns7: '1.5'\n"
            "s8: 'a: b'\ns9: '- x'\n");
}

TEST(HparamsYaml, FloatsAsPythonRepr) {
  const json v = json::parse(R"({"f1": 1e-05, "f2": 3.0, "f3": 1e16, "f4": 0.30000001192092896, "f5": -2.5})");
  EXPECT_EQ(yaml_dump(v), "f1: 1.0e-05\nf2: 3.0\nf3: 1.0e+16\nf4: 0.30000001192092896\nf5: -2.5\n");
  json special;
  special["a"] = std::numeric_limits<double>::infinity();
  special["b"] = -std::numeric_limits<double>::infinity();
  special["c"] = std::numeric_limits<double>::quiet_NaN();
  EXPECT_EQ(yaml_dump(special), "a: .inf\nb: -.inf\nc: .nan\n");
}

TEST(HparamsYaml, BoolsNullAndInts) {
  EXPECT_EQ(yaml_dump(json::parse(R"({"b": true, "n": null, "i": -7})")), "b: true\ni: -7\nn: null\n");
}

TEST(HparamsYaml, NestedBlockStyleWithIndentlessSequences) {
  const json v = json::parse(
      R"({"model": {"width": 2, "act": "relu", "layers": [1, 2, 3], "opt": {}}, "empty": [],
          "tags": [{"a": 1, "b": "x"}, [1, [2]]]})");
  EXPECT_EQ(yaml_dump(v),
            "empty: []\nmodel:\n  act: relu\n  layers:\n  - 1\n  - 2\n  - 3\n  opt: {}\n  width: 2\ntags:\n"
            "- a: 1\n  b: x\n- - 1\n  - - 2\n");
}

TEST(HparamsYaml, LongPlainScalarsFoldAtEightyColumns) {
  std::string words;
  for (int i = 0; i < 20; ++i) words += "word ";
  EXPECT_EQ(yaml_dump(json{{"long", words + "end"}}),
            "long: word word word word word word word word word word word word word word word word\n"
            "  word word word word end\n");
}

TEST(HparamsYaml, SpecialCharactersUseQuotedStyles) {
  const json v = json::parse(R"({"uni": "caf\u00e9", "tab": "a\tb", "multi": "line1\nline2", "quote": "it's"})");
  EXPECT_EQ(yaml_dump(v), "multi: 'line1\n\n  line2'\nquote: it's\ntab: \"a\\tb\"\nuni: \"caf\\xE9\"\n");
  EXPECT_EQ(yaml_dump(json::parse(R"({"key with: colon": 1, "1": "one"})")), "'1': one\n'key with: colon': 1\n");
}

TEST(PythonText, ReprOfStrings) {
  EXPECT_EQ(python_str_repr("val_loss"), "'val_loss'");
  EXPECT_EQ(python_str_repr("it's"), "\"it's\"");
  EXPECT_EQ(python_str_repr("a'b\"c"), "'a\\'b\"c'");
  EXPECT_EQ(python_str_repr("tab\there\n"), "'tab\\there\\n'");
  EXPECT_EQ(python_str_repr("caf\xc3\xa9"), "'caf\xc3\xa9'");
}

TEST(PythonText, StrOfJsonValues) {
  EXPECT_EQ(python_str(json(nullptr)), "None");
  EXPECT_EQ(python_str(json("text")), "text");
  EXPECT_EQ(python_str(json::parse(R"([1, 2.5, "a", true, null, [0.1]])")), "[1, 2.5, 'a', True, None, [0.1]]");
  EXPECT_EQ(python_str(json::parse(R"({"k": 1e-05})")), "{'k': 1e-05}");
}

}  // namespace
