#include <cmath>
#include <limits>

#include <gtest/gtest.h>

#include "lamin/db/feature.hpp"
#include "lamin/db/hash.hpp"
#include "lamin/db/key.hpp"
#include "lamin/db/value.hpp"
#include "lamin/error.hpp"

namespace lamin {
namespace {

using nlohmann::json;

TEST(Key, AcceptsLaminKeys) {
  EXPECT_NO_THROW(validate_key("lightning_checkpoints/run/checkpoints/epoch=0-step=10.ckpt"));
  EXPECT_NO_THROW(validate_key("/abs/dirpath/model.ckpt"));  // absolute dirpaths give keys with a leading slash
  EXPECT_NO_THROW(validate_key("config.yaml"));
  EXPECT_NO_THROW(validate_key("a/.hidden/b.pt"));
}

TEST(Key, RejectsBadKeys) {
  EXPECT_THROW(validate_key(""), ValidationError);
  EXPECT_THROW(validate_key("../escape.ckpt"), ValidationError);
  EXPECT_THROW(validate_key("a/../b.ckpt"), ValidationError);
  EXPECT_THROW(validate_key("./ckpts/a.ckpt"), ValidationError);
  EXPECT_THROW(validate_key("a/./b.ckpt"), ValidationError);
  EXPECT_THROW(validate_key("a/.."), ValidationError);
  EXPECT_THROW(validate_key("a\\b.ckpt"), ValidationError);
  EXPECT_THROW(validate_key("x/.lamindb/abc.ckpt"), ValidationError);
  EXPECT_THROW(validate_key(std::string("a\0b", 3)), ValidationError);
  EXPECT_THROW(validate_key(std::string(1025, 'a')), ValidationError);
  EXPECT_NO_THROW(validate_key(std::string(1024, 'a')));
}

TEST(Key, CanonicalSuffix) {
  EXPECT_EQ(canonical_suffix("model.ckpt"), ".ckpt");
  EXPECT_EQ(canonical_suffix("a.b.ckpt"), ".ckpt");
  EXPECT_EQ(canonical_suffix("MODEL.CKPT"), ".ckpt");
  EXPECT_EQ(canonical_suffix("epoch=0-step=10.ckpt"), ".ckpt");
  EXPECT_EQ(canonical_suffix("data.tar.gz"), ".tar.gz");
  EXPECT_EQ(canonical_suffix("hparams.yaml"), ".yaml");
  EXPECT_EQ(canonical_suffix("weird.xyz123"), "");
  EXPECT_EQ(canonical_suffix("noext"), "");
  EXPECT_NO_THROW(validate_key_suffix("a/model.ckpt", ".ckpt"));
  EXPECT_THROW(validate_key_suffix("a/model.pt", ".ckpt"), ValidationError);
  EXPECT_THROW(validate_key_suffix("a/model", ".ckpt"), ValidationError);
}

TEST(JsonValue, PrecomputedHashesFromSpec) {
  EXPECT_EQ(json_value_hash(true), "-CfPRi9ihI3zfF4elKTadA");
  EXPECT_EQ(json_value_hash(false), "-DILJtMKtDPFpUVG0h9BTA");
  EXPECT_EQ(json_value_hash(0), "z80ghJXVZe9m59_5-Ydk2g");
  EXPECT_EQ(json_value_hash(1), "xMpCOKC5I4INzFCab3WEmw");
  EXPECT_EQ(json_value_hash(2), "yB5yjZ1ML2NvBn-JzBSGLA");
  EXPECT_EQ(json_value_hash(5), "5No7f7vOI0XXdysGdKMY1Q");
  EXPECT_EQ(json_value_hash(100), "-JkTnfXhBZOWQxQV53DG3Q");
  EXPECT_EQ(json_value_hash(-1), "a7YeO3vOCTHaV00Z0dgsiA");
  EXPECT_EQ(json_value_hash(0.5), "0xDLNn2ZP7b7WEsZii_XLA");
  EXPECT_EQ(json_value_hash("min"), "2L15zBMZINXeQm-RTRdAWg");
  EXPECT_EQ(json_value_hash("max"), "L_5OdzJdmnFS9whup6pRFA");
  EXPECT_EQ(json_value_hash("train_loss"), "r7uzCBIDnCbqxyv9iaU3LQ");
  EXPECT_EQ(json_value_hash("32-true"), "E15E5VRJVlqH7lTgryCvuw");
}

TEST(JsonValue, PythonStrOfFloats) {
  EXPECT_EQ(python_str(1.0), "1.0");
  EXPECT_EQ(python_str(1e-05), "1e-05");
  EXPECT_EQ(python_str(0.1), "0.1");
  EXPECT_EQ(python_str(1e16), "1e+16");
  EXPECT_EQ(python_str(true), "True");
  EXPECT_EQ(python_str(json::array({1, "a"})), "[1, 'a']");
  EXPECT_EQ(python_str(json{{"b", 1}, {"a", "x"}}), "{'a': 'x', 'b': 1}");
  // 1 and 1.0 are different values in LaminDB's dedupe.
  EXPECT_NE(json_value_hash(1), json_value_hash(1.0));
}

TEST(JsonValue, PythonJsonDumps) {
  EXPECT_EQ(python_json_dumps(true), "true");
  EXPECT_EQ(python_json_dumps(0.5), "0.5");
  EXPECT_EQ(python_json_dumps(1.0), "1.0");
  EXPECT_EQ(python_json_dumps("min"), "\"min\"");
  EXPECT_EQ(python_json_dumps("caf\xC3\xA9"), "\"caf\\u00e9\"");
  EXPECT_EQ(python_json_dumps(json{{"a", json::array({1, 2})}, {"b", nullptr}}), "{\"a\": [1, 2], \"b\": null}");
  EXPECT_THROW(python_json_dumps(std::numeric_limits<double>::infinity()), ValidationError);
  EXPECT_THROW(python_json_dumps(std::nan("")), ValidationError);
  // Dicts hash their sorted json.dumps.
  EXPECT_EQ(json_value_hash(json{{"a", 1}}), hash_string("{\"a\": 1}"));
}

TEST(JsonValue, StoredTextReadsBackAsTheJsonParserReadsIt) {
  // The direct paths for numbers and booleans give the same value and number type as nlohmann's parser; everything
  // else (and text that is not JSON) takes the parser's path.
  for (const std::string text :
       {"0", "5", "-5", "1042", "18446744073709551615", "18446744073709551616", "-9223372036854775808",
        "-9223372036854775809", "0.5", "-0.0", "1.0", "0.6123456789012345", "1e-05", "1E+300", "2.5e10", "1e400",
        "true", "false", "null", "\"min\"", "[1, 2]", "{\"a\": 1}", "01", "1.", ".5", "-", "+1", "1e", "0x10",
        "nan", "5 ", ""}) {
    SCOPED_TRACE(text);
    json expected = json::parse(text, nullptr, false);
    if (expected.is_discarded()) expected = text;
    const json got = parse_json_value(text);
    EXPECT_EQ(got.type(), expected.type());
    EXPECT_EQ(got, expected);
  }
  EXPECT_TRUE(parse_json_value("7").is_number_unsigned());
  EXPECT_EQ(parse_json_value(python_json_dumps(0.1 + 0.2)).get<double>(), 0.1 + 0.2);  // round trip, bit for bit
}

TEST(FeatureDtype, StrictValidation) {
  Feature f;
  f.name = "score";
  f.dtype = "float";
  EXPECT_NO_THROW(validate_feature_value(f, 0.5));
  try {
    validate_feature_value(f, 1);
    FAIL() << "int accepted for a float feature";
  } catch (const ValidationError& e) {
    EXPECT_STREQ(e.what(), "Expected dtype for 'score' is 'float', got 'int'");
  }
  f.dtype = "int";
  EXPECT_NO_THROW(validate_feature_value(f, 3));
  EXPECT_THROW(validate_feature_value(f, true), ValidationError);
  EXPECT_THROW(validate_feature_value(f, 3.0), ValidationError);
  f.dtype = "bool";
  EXPECT_NO_THROW(validate_feature_value(f, false));
  EXPECT_THROW(validate_feature_value(f, 0), ValidationError);
  f.dtype = "num";
  EXPECT_NO_THROW(validate_feature_value(f, 3));
  EXPECT_NO_THROW(validate_feature_value(f, 3.5));
  EXPECT_THROW(validate_feature_value(f, "3"), ValidationError);
  f.dtype = "str";
  EXPECT_NO_THROW(validate_feature_value(f, "min"));
  EXPECT_THROW(validate_feature_value(f, 1), ValidationError);
  f.dtype = "list[int]";
  EXPECT_NO_THROW(validate_feature_value(f, json::array({1, 2})));
  EXPECT_THROW(validate_feature_value(f, json::array({1, 2.5})), ValidationError);
  f.dtype = "datetime";
  EXPECT_NO_THROW(validate_feature_value(f, "2026-08-22T10:00:00"));
  EXPECT_THROW(validate_feature_value(f, "yesterday"), ValidationError);
  f.dtype = "cat[ULabel]";
  EXPECT_THROW(validate_feature_value(f, "x"), ValidationError);
}

}  // namespace
}  // namespace lamin
