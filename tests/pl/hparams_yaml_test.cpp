// hparams.yaml writer: PyYAML's `yaml.dump` output for the values Lightning writes (expected texts were produced
// with PyYAML 6.0.3), and the oracle's hparams.yaml files.

#include <gtest/gtest.h>

#include <fstream>
#include <limits>
#include <sstream>

#include <nlohmann/json.hpp>

#include "pl/hparams_yaml.hpp"

namespace {

using lamin::pl::detail::python_repr_str;
using lamin::pl::detail::python_str;
using lamin::pl::detail::yaml_dump;
using nlohmann::json;

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
  EXPECT_EQ(python_repr_str("val_loss"), "'val_loss'");
  EXPECT_EQ(python_repr_str("it's"), "\"it's\"");
  EXPECT_EQ(python_repr_str("a'b\"c"), "'a\\'b\"c'");
  EXPECT_EQ(python_repr_str("tab\there\n"), "'tab\\there\\n'");
  EXPECT_EQ(python_repr_str("caf\xc3\xa9"), "'caf\xc3\xa9'");
}

TEST(PythonText, StrOfJsonValues) {
  EXPECT_EQ(python_str(json(nullptr)), "None");
  EXPECT_EQ(python_str(json("text")), "text");
  EXPECT_EQ(python_str(json::parse(R"([1, 2.5, "a", true, null, [0.1]])")), "[1, 2.5, 'a', True, None, [0.1]]");
  EXPECT_EQ(python_str(json::parse(R"({"k": 1e-05})")), "{'k': 1e-05}");
}

}  // namespace
