// LaminHub's generic registry endpoints on lamin-serve (upsert, query with the filter language, batch-delete) and
// feature values written through them by the REST client: the same rows as the SQLite backend, idempotent retries.
#include <map>

#include <gtest/gtest.h>

#include "common/files.hpp"
#include "common/http.hpp"
#include "common/registry.hpp"
#include "common/serve.hpp"
#include "common/sql.hpp"
#include "db/rest_registry.hpp"
#include "lamin/db.hpp"

namespace lamin::test {
namespace {

using nlohmann::json;

/// A server with a token, a client, and raw calls with the token.
struct Served {
  TempDir tmp;
  ServeProcess server{tmp / "served", token_file(tmp)};
  Instance remote;
  std::string base;
  httplib::Headers auth = {{"Authorization", std::string("Bearer ") + kToken}};

  Served() {
    server.start();
    remote = connect_rest(server.url(), rest_options());
    base = "/instances/" + remote->info().storage.instance_uid + "/modules/core/";
  }
  httplib::Result put(const std::string& path, const json& body) {
    return httplib::Client("127.0.0.1", server.port()).Put((base + path).c_str(), auth, body.dump(), "application/json");
  }
  httplib::Result post(const std::string& path, const json& body) {
    return httplib::Client("127.0.0.1", server.port()).Post((base + path).c_str(), auth, body.dump(), "application/json");
  }
  /// The answer's JSON when the status is `status`, else a test failure and null.
  static json expect(const httplib::Result& r, int status) {
    EXPECT_TRUE(r);
    if (!r) return nullptr;
    EXPECT_EQ(r->status, status) << r->body;
    json j = json::parse(r->body, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << r->body;
    if (status >= 400) {
      EXPECT_TRUE(j.is_object() && j.contains("error")) << r->body;
    }
    return j;
  }
};

/// Rows of an SQL query on an instance's SQLite file, each column as text ("NULL" for null).
std::vector<std::vector<std::string>> sql_rows(const fs::path& instance, const std::string& sql) {
  return Sql(instance / ".lamindb" / "lamin.db", Sql::Mode::read_only).rows(sql);
}

std::int64_t count_rows(const fs::path& instance, const std::string& table) {
  return std::stoll(sql_rows(instance, "SELECT count(*) FROM " + table)[0][0]);
}

const std::string kUpsertValues = "jsonvalue/upsert?conflict_columns=feature_id&conflict_columns=hash";

TEST(Tables, UpsertInsertsOnceAndAnswersFullRows) {
  Served s;
  const auto f = s.remote->create_feature(FeatureOptions("val_loss", "float"));
  const json records = {{{"feature_id", f.id}, {"value", 0.5}, {"hash", "0xDLNn2ZP7b7WEsZii_XLA"}},
                        {{"feature_id", f.id}, {"value", 0.25}, {"hash", "h-quarter"}}};
  const json first = Served::expect(s.put(kUpsertValues, records), 200);
  ASSERT_EQ(first.size(), 2u);
  EXPECT_TRUE(first[0]["id"].is_number_integer());
  EXPECT_EQ(first[0]["value"], 0.5);
  EXPECT_EQ(first[0]["feature_id"], f.id);
  EXPECT_EQ(first[0]["created_by_id"], s.remote->info().user.id);  // defaults filled by the server
  EXPECT_EQ(first[0]["branch_id"], 1);
  EXPECT_EQ(first[0]["space_id"], 1);
  EXPECT_EQ(first[0]["created_on_id"], 1);
  EXPECT_EQ(first[0]["is_locked"], false);
  EXPECT_TRUE(first[0]["created_at"].is_string());
  // the same records again: the same rows, nothing new
  EXPECT_EQ(Served::expect(s.put(kUpsertValues, records), 200), first);
  EXPECT_EQ(count_rows(s.tmp / "served", "lamindb_jsonvalue"), 2);
  // a conflict updates the columns the record gives
  json changed = records;
  changed[1]["value"] = "quarter";
  const json updated = Served::expect(s.put(kUpsertValues, json::array({changed[1]})), 200);
  EXPECT_EQ(updated[0]["id"], first[1]["id"]);
  EXPECT_EQ(updated[0]["value"], "quarter");
  EXPECT_EQ(sql_rows(s.tmp / "served", "SELECT value FROM lamindb_jsonvalue WHERE hash = 'h-quarter'")[0][0], "\"quarter\"");
  // comma-separated conflict columns are the same
  EXPECT_EQ(Served::expect(s.put("jsonvalue/upsert?conflict_columns=hash,feature_id", records), 200), first);
  // link rows: every column is in the conflict key
  const auto a = s.remote->create_artifact(write_file(s.tmp / "a.ckpt", "a"), ArtifactOptions("a.ckpt"));
  const json link = {{{"artifact_id", a.id}, {"jsonvalue_id", first[0]["id"]}}};
  const std::string link_path = "artifactjsonvalue/upsert?conflict_columns=artifact_id&conflict_columns=jsonvalue_id";
  const json l1 = Served::expect(s.put(link_path, link), 200);
  EXPECT_EQ(Served::expect(s.put(link_path, link), 200), l1);
  EXPECT_EQ(count_rows(s.tmp / "served", "lamindb_artifactjsonvalue"), 1);
  EXPECT_EQ(s.remote->get_values(a)["val_loss"], 0.5);
}

TEST(Tables, UpsertRejectsBadConflictColumnsAndRecords) {
  Served s;
  const auto f = s.remote->create_feature(FeatureOptions("epoch", "int"));
  const json ok = {{{"feature_id", f.id}, {"value", 1}, {"hash", "xMpCOKC5I4INzFCab3WEmw"}}};
  Served::expect(s.put("jsonvalue/upsert", ok), 400);                                // conflict columns missing
  Served::expect(s.put("jsonvalue/upsert?conflict_columns=feature_id", ok), 422);    // no unique constraint
  Served::expect(s.put("jsonvalue/upsert?conflict_columns=hash&conflict_columns=value", ok), 422);
  Served::expect(s.put("jsonvalue/upsert?conflict_columns=feature_id&conflict_columns=nope", ok), 422);
  Served::expect(s.put("jsonvalue/upsert?conflict_columns=hash&conflict_columns=hash", ok), 422);
  Served::expect(s.put(kUpsertValues, ok[0]), 422);                                  // not a list
  Served::expect(s.put(kUpsertValues, json::array({1})), 422);
  Served::expect(s.put(kUpsertValues, {{{"feature_id", f.id}, {"value", 1}}}), 422);  // conflict column absent
  Served::expect(s.put(kUpsertValues, {{{"feature_id", "1"}, {"value", 1}, {"hash", "h"}}}), 422);  // wrong type
  Served::expect(s.put(kUpsertValues, {{{"feature_id", f.id}, {"value", 1}, {"hash", 5}}}), 422);
  Served::expect(s.put(kUpsertValues, {{{"feature_id", f.id}, {"value", 1}, {"hash", std::string(23, 'h')}}}), 422);
  Served::expect(s.put(kUpsertValues, {{{"id", 7}, {"feature_id", f.id}, {"value", 1}, {"hash", "h"}}}), 422);
  Served::expect(s.put(kUpsertValues, {{{"feature_id", f.id}, {"value", nullptr}, {"hash", "h"}}}), 422);
  Served::expect(s.put(kUpsertValues, {{{"feature_id", f.id}, {"value", 1}, {"hash", "h"}, {"colour", "red"}}}), 422);
  // a field name that tries to be SQL is an unknown field, and nothing happens
  const json evil = {{{"feature_id", f.id}, {"hash", "h"}, {"value\") VALUES (1); DROP TABLE lamindb_jsonvalue; --", 1}}};
  Served::expect(s.put(kUpsertValues, evil), 422);
  Served::expect(s.put("jsonvalue/upsert?conflict_columns=feature_id&conflict_columns=hash%22%29%3B%20DROP%20TABLE%20lamindb_jsonvalue%3B--",
                       ok), 422);
  Served::expect(s.put("feature_link/upsert?conflict_columns=id", ok), 404);  // not a served model
  // a missing row it refers to is an integrity error; nothing of the call stays
  Served::expect(s.put(kUpsertValues, {ok[0], {{"feature_id", 999}, {"value", 2}, {"hash", "yB5yjZ1ML2NvBn-JzBSGLA"}}}), 409);
  EXPECT_EQ(count_rows(s.tmp / "served", "lamindb_jsonvalue"), 0);
  Served::expect(s.put(kUpsertValues, ok), 200);
  EXPECT_EQ(count_rows(s.tmp / "served", "lamindb_jsonvalue"), 1);
  EXPECT_EQ(httplib::Client("127.0.0.1", s.server.port()).Get("/health")->status, 200);
}

TEST(Tables, QueryFilterLanguage) {
  Served s;
  const auto f = s.remote->create_feature(FeatureOptions("lr", "float"));
  const auto g = s.remote->create_feature(FeatureOptions("optimizer", "str"));
  json records = json::array();
  records.push_back({{"feature_id", f.id}, {"value", 0.1}, {"hash", "alpha-1"}});
  records.push_back({{"feature_id", f.id}, {"value", 0.01}, {"hash", "alpha-2"}});
  records.push_back({{"feature_id", g.id}, {"value", "adam"}, {"hash", "beta-1"}});
  records.push_back({{"feature_id", g.id}, {"value", "sgd"}, {"hash", "gamma-1"}, {"is_locked", true}});
  const json rows = Served::expect(s.put(kUpsertValues, records), 200);
  std::vector<std::int64_t> ids;
  for (const auto& r : rows) ids.push_back(r["id"].get<std::int64_t>());
  auto hashes = [&](const json& body, const std::string& params = "") {
    std::vector<std::string> out;
    for (const auto& r : Served::expect(s.post("jsonvalue" + params, body), 200)) out.push_back(r.at("hash"));
    return out;
  };
  using V = std::vector<std::string>;
  auto filter = [](json f) { return json{{"filter", std::move(f)}}; };
  EXPECT_EQ(hashes(json::object()), (V{"alpha-1", "alpha-2", "beta-1", "gamma-1"}));
  EXPECT_EQ(hashes(filter({{"feature_id", {{"eq", f.id}}}})), (V{"alpha-1", "alpha-2"}));
  EXPECT_EQ(hashes(filter({{"feature_id", {{"neq", f.id}}}})), (V{"beta-1", "gamma-1"}));
  EXPECT_EQ(hashes(filter({{"id", {{"lt", ids[1]}}}})), (V{"alpha-1"}));
  EXPECT_EQ(hashes(filter({{"id", {{"lte", ids[1]}}}})), (V{"alpha-1", "alpha-2"}));
  EXPECT_EQ(hashes(filter({{"id", {{"gt", ids[2]}}}})), (V{"gamma-1"}));
  EXPECT_EQ(hashes(filter({{"id", {{"gte", ids[2]}}}})), (V{"beta-1", "gamma-1"}));
  EXPECT_EQ(hashes(filter({{"id", {{"gte", ids[1]}, {"lt", ids[3]}}}})), (V{"alpha-2", "beta-1"}));
  EXPECT_EQ(hashes(filter({{"id", {{"in", {ids[0], ids[3], 99999}}}}})), (V{"alpha-1", "gamma-1"}));
  EXPECT_EQ(hashes(filter({{"id", {{"in", json::array()}}}})), V{});
  EXPECT_EQ(hashes(filter({{"hash", {{"contains", "-1"}}}})), (V{"alpha-1", "beta-1", "gamma-1"}));
  EXPECT_EQ(hashes(filter({{"hash", {{"contains", "A"}}}})), V{});  // case-sensitive
  EXPECT_EQ(hashes(filter({{"hash", {{"startswith", "alpha"}}}})), (V{"alpha-1", "alpha-2"}));
  EXPECT_EQ(hashes(filter({{"hash", {{"startswith", "lpha"}}}})), V{});
  EXPECT_EQ(hashes(filter({{"run_id", {{"is_null", true}}}})).size(), 4u);
  EXPECT_EQ(hashes(filter({{"run_id", {{"is_null", false}}}})), V{});
  EXPECT_EQ(hashes(filter({{"is_locked", {{"eq", true}}}})), (V{"gamma-1"}));
  EXPECT_EQ(hashes(filter({{"value", {{"eq", "adam"}}}})), (V{"beta-1"}));  // JSON fields compare as JSON
  EXPECT_EQ(hashes(filter({{"value", {{"eq", 0.01}}}})), (V{"alpha-2"}));
  EXPECT_EQ(hashes(filter({{"value", {{"in", {0.1, "sgd"}}}}})), (V{"alpha-1", "gamma-1"}));
  EXPECT_EQ(hashes(filter({{"and", {{{"feature_id", {{"eq", g.id}}}}, {{"is_locked", {{"eq", false}}}}}}})), (V{"beta-1"}));
  EXPECT_EQ(hashes(filter({{"or", {{{"hash", {{"eq", "alpha-2"}}}}, {{"hash", {{"startswith", "gamma"}}}}}}})),
            (V{"alpha-2", "gamma-1"}));
  EXPECT_EQ(hashes(filter({{"or", {{{"and", {{{"feature_id", {{"eq", f.id}}}}, {{"id", {{"gt", ids[0]}}}}}}},
                                   {{"hash", {{"eq", "gamma-1"}}}}}}})),
            (V{"alpha-2", "gamma-1"}));
  EXPECT_EQ(hashes(filter({{"feature_id", {{"eq", f.id}}}, {"hash", {{"eq", "alpha-2"}}}})), (V{"alpha-2"}));  // implicit and
  // select, order_by, limit, offset
  const json some = Served::expect(s.post("jsonvalue?limit=2&offset=1", {{"select", {"hash", "value"}},
                                                                         {"order_by", {{{"field", "hash"}, {"descending", true}}}}}),
                                   200);
  EXPECT_EQ(some, json::parse(R"([{"hash": "beta-1", "value": "adam"}, {"hash": "alpha-2", "value": 0.01}])"));
  // strict: unknown fields, operators, types and keys are 422 with a JSON error
  for (const json& bad : {filter({{"nope", {{"eq", 1}}}}), filter({{"hash", {{"like", "a%"}}}}), filter({{"hash", "alpha-1"}}),
                          filter({{"hash", {{"eq", 1}}}}), filter({{"id", {{"in", 5}}}}), filter({{"id", {{"lt", nullptr}}}}),
                          filter({{"value", {{"gt", 1}}}}), filter({{"id", {{"contains", "1"}}}}),
                          filter({{"run_id", {{"is_null", 1}}}}), filter({{"and", {{"id", {{"eq", 1}}}}}}), filter(json::array()),
                          filter({{"hash\" = hash OR 1=1; --", {{"eq", "x"}}}}),
                          json{{"select", {"hash; DROP TABLE lamindb_jsonvalue"}}},
                          json{{"order_by", {{{"field", "id DESC"}}}}}, json{{"order_by", {{{"field", "id"}, {"descending", "yes"}}}}},
                          json{{"search", "x"}}, json::array()}) {
    Served::expect(s.post("jsonvalue", bad), 422);
  }
  Served::expect(s.post("jsonvalue?limit=-1", json::object()), 422);
  Served::expect(s.post("jsonvalue?limit=100000", json::object()), 422);
  Served::expect(s.post("jsonvalue?offset=abc", json::object()), 422);
  json deep = {{"id", {{"eq", 1}}}};
  for (int i = 0; i < 40; ++i) deep = {{"and", json::array({deep})}};
  Served::expect(s.post("jsonvalue", filter(deep)), 422);
  EXPECT_EQ(count_rows(s.tmp / "served", "lamindb_jsonvalue"), 4);
}

TEST(Tables, BatchDeleteCountsWhatItRemoved) {
  Served s;
  const auto f = s.remote->create_feature(FeatureOptions("epoch", "int"));
  const auto a = s.remote->create_artifact(write_file(s.tmp / "a.ckpt", "a"), ArtifactOptions("a.ckpt"));
  s.remote->add_values(a, {{"epoch", 1}});
  const json links = Served::expect(s.post("artifactjsonvalue", {{"filter", {{"artifact_id", {{"eq", a.id}}}}}}), 200);
  ASSERT_EQ(links.size(), 1u);
  const json body = {{"records", {{{"id", links[0]["id"]}}, {{"id", 424242}}}}};
  // a value still linked cannot go (LaminDB's PROTECT)
  const json values = Served::expect(s.post("jsonvalue", json::object()), 200);
  Served::expect(s.post("jsonvalue/batch-delete", {{"records", {{{"id", values[0]["id"]}}}}}), 409);
  EXPECT_EQ(Served::expect(s.post("artifactjsonvalue/batch-delete", body), 200), json({{"deleted_count", 1}}));
  EXPECT_EQ(Served::expect(s.post("artifactjsonvalue/batch-delete", body), 200), json({{"deleted_count", 0}}));
  EXPECT_EQ(s.remote->get_values(a), json::object());
  for (const json& bad : {json{{"records", {{{"uid", "x"}}}}}, json{{"records", {{{"id", "1"}}}}}, json{{"records", 1}},
                          json{{"ids", {1}}}, json{{"records", json::array()}, {"extra", 1}}, json::array()}) {
    Served::expect(s.post("artifactjsonvalue/batch-delete", bad), 422);
  }
  EXPECT_EQ(count_rows(s.tmp / "served", "lamindb_jsonvalue"), 1);  // JsonValue rows stay
}

/// The values every test below writes: each kind of Python value whose `str()` the hash depends on.
FeatureValues sample_values() {
  return {{"is_best_model", true}, {"flag", false}, {"epoch", 5}, {"step", -1}, {"val_loss", 0.5},
          {"lr", 1e-05},          {"big", 1e16},   {"whole", 1.0}, {"monitor", "min"}, {"note", "caf\xc3\xa9 \"q\""},
          {"cfg", json{{"b", 1}, {"a", {1.5, "x"}}}}};
}
void sample_features(Registry& r) {
  for (const auto& [name, dtype] : std::vector<std::pair<std::string, std::string>>{
           {"is_best_model", "bool"}, {"flag", "bool"}, {"epoch", "int"}, {"step", "int"}, {"val_loss", "float"},
           {"lr", "float"}, {"big", "float"}, {"whole", "float"}, {"monitor", "str"}, {"note", "str"}, {"cfg", "dict"}})
    r.create_feature(FeatureOptions(name, dtype));
}
const char* kValueRows =
    "SELECT f.name, v.value, v.hash FROM lamindb_jsonvalue v JOIN lamindb_feature f ON f.id = v.feature_id "
    "ORDER BY f.name, v.hash";

TEST(Tables, CoreTablesAnswerTheGenericQueryAndStayReadOnlyThere) {
  Served s;
  s.remote->create_feature(FeatureOptions("epoch", "int"));
  const auto t = s.remote->create_transform(TransformOptions("train.py").source_code("x"));
  const auto run = s.remote->create_run(t, RunOptions().name("r1"));
  const auto a = s.remote->create_artifact(write_file(s.tmp / "a.ckpt", "a"), ArtifactOptions("ckpt/a.ckpt").run(run));
  const auto b = s.remote->create_artifact(write_file(s.tmp / "b.csv", "b"), ArtifactOptions("data/b.csv").no_run());
  s.remote->add_run_input(b, run);
  auto rows = Served::expect(s.post("artifact", {{"select", {"uid", "key", "run_id"}},
                                                  {"filter", {{"key", {{"startswith", "ckpt/"}}}}}}), 200);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0], (json{{"uid", a.uid}, {"key", "ckpt/a.ckpt"}, {"run_id", run.id}}));
  rows = Served::expect(s.post("run", {{"filter", {{"uid", {{"eq", run.uid}}}}}}), 200);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["name"], "r1");
  EXPECT_EQ(rows[0]["transform_id"], t.id);
  rows = Served::expect(s.post("transform", {{"filter", {{"key", {{"eq", "train.py"}}}}}, {"select", {"uid"}}}), 200);
  EXPECT_EQ(rows, (json::array({{{"uid", t.uid}}})));
  rows = Served::expect(s.post("feature", {{"filter", {{"name", {{"contains", "poc"}}}}}, {"select", {"name"}}}), 200);
  EXPECT_EQ(rows, (json::array({{{"name", "epoch"}}})));
  rows = Served::expect(s.post("artifact_input_of_runs", {{"filter", {{"run_id", {{"eq", run.id}}}}},
                                                           {"select", {"artifact_id"}}}), 200);
  EXPECT_EQ(rows, (json::array({{{"artifact_id", b.id}}})));
  // Unknown fields are 422 there too; writes go through the tables' own routes.
  Served::expect(s.post("artifact", {{"filter", {{"nope", {{"eq", 1}}}}}}), 422);
  Served::expect(s.put("artifact/upsert?conflict_columns=uid", json::array({{{"uid", a.uid}, {"key", "x"}}})), 405);
  Served::expect(s.put("run/upsert?conflict_columns=uid", json::array({{{"uid", run.uid}}})), 405);
  EXPECT_EQ(s.remote->artifacts().count(), 2);  // lamin-serve's own query on the same path still answers
  EXPECT_EQ(s.remote->features().size(), 1u);
}

TEST(Values, RowsWrittenThroughTheServerEqualTheSqliteBackends) {
  Served s;
  auto local = init(s.tmp / "local");
  for (Registry* r : {&*s.remote, &*local}) {
    sample_features(*r);
    auto t = r->create_transform(TransformOptions("train.py"));
    auto run = r->create_run(t, RunOptions());
    auto a = r->create_artifact(write_file(s.tmp / "m.ckpt", "m"), ArtifactOptions("m.ckpt").run(run));
    r->add_values(a, sample_values());
    r->add_values(run, {{"epoch", 7}, {"val_loss", 0.5}, {"monitor", "max"}});
  }
  const auto served = sql_rows(s.tmp / "served", kValueRows);
  EXPECT_EQ(served.size(), 13u);
  EXPECT_EQ(served, sql_rows(s.tmp / "local", kValueRows));
  // LaminDB's own hashes and json.dumps text
  const std::vector<std::vector<std::string>> known = {{"flag", "false", "-DILJtMKtDPFpUVG0h9BTA"},
                                                       {"is_best_model", "true", "-CfPRi9ihI3zfF4elKTadA"},
                                                       {"monitor", "\"max\"", "L_5OdzJdmnFS9whup6pRFA"},
                                                       {"monitor", "\"min\"", "2L15zBMZINXeQm-RTRdAWg"},
                                                       {"step", "-1", "a7YeO3vOCTHaV00Z0dgsiA"},
                                                       {"val_loss", "0.5", "0xDLNn2ZP7b7WEsZii_XLA"}};
  for (const auto& k : known) EXPECT_NE(std::find(served.begin(), served.end(), k), served.end()) << k[0] << " " << k[1];
  for (const auto& row : served) {
    const std::map<std::string, std::string> floats = {{"lr", "1e-05"}, {"big", "1e+16"}, {"whole", "1.0"}};
    if (auto it = floats.find(row[0]); it != floats.end()) {
      EXPECT_EQ(row[1], it->second);
    }
  }
  for (const char* table : {"lamindb_artifactjsonvalue", "lamindb_runjsonvalue"})
    EXPECT_EQ(count_rows(s.tmp / "served", table), count_rows(s.tmp / "local", table)) << table;
  EXPECT_EQ(dump(*s.remote), dump(*local));
}

TEST(Values, RetriedAddsDoNotDuplicateAndRetriedRemovesCountOnce) {
  Served s;
  sample_features(*s.remote);
  auto a = s.remote->create_artifact(write_file(s.tmp / "m.ckpt", "m"), ArtifactOptions("m.ckpt"));
  auto b = s.remote->create_artifact(write_file(s.tmp / "n.ckpt", "n"), ArtifactOptions("n.ckpt"));
  auto& rest = dynamic_cast<rest::RestRegistry&>(*s.remote);
  for (int i = 0; i < 3; ++i) {  // as the outbox replays an operation whose answer was lost
    rest.set_next_key("replayed-add-key-0001");
    rest.add_values_by_id("artifact", a.id, sample_values());
  }
  s.remote->add_values(b, sample_values());  // another host shares the JsonValue rows
  EXPECT_EQ(count_rows(s.tmp / "served", "lamindb_jsonvalue"), 11);
  EXPECT_EQ(count_rows(s.tmp / "served", "lamindb_artifactjsonvalue"), 22);
  EXPECT_EQ(s.remote->get_values(a)["epoch"], 5);
  for (int i = 0; i < 2; ++i) {
    rest.set_next_key("replayed-remove-key-0001");
    EXPECT_EQ(rest.remove_values_by_id("artifact", a.id, "epoch", std::nullopt), 1);  // the replay answers the same
  }
  EXPECT_EQ(s.remote->remove_values(a, "epoch"), 0);  // a new removal finds nothing
  EXPECT_EQ(s.remote->remove_values(a, "val_loss", json(0.25)), 0);
  EXPECT_EQ(s.remote->remove_values(a, "val_loss", json(0.5)), 1);
  EXPECT_FALSE(s.remote->get_values(a).contains("epoch"));
  EXPECT_EQ(s.remote->get_values(b)["epoch"], 5);
  EXPECT_EQ(count_rows(s.tmp / "served", "lamindb_jsonvalue"), 11);  // JsonValue rows stay
  EXPECT_EQ(count_rows(s.tmp / "served", "lamindb_artifactjsonvalue"), 20);
  // several values of one feature on one run; removing without a value takes them all
  auto t = s.remote->create_transform(TransformOptions("t.py"));
  auto run = s.remote->create_run(t, RunOptions());
  s.remote->add_values(run, {{"epoch", 1}, {"epoch", 2}, {"epoch", 1}});
  EXPECT_EQ(s.remote->get_values(run)["epoch"], json::array({1, 2}));
  EXPECT_EQ(s.remote->remove_values(run, "epoch"), 2);
  EXPECT_EQ(s.remote->get_values(run), json::object());
}

TEST(Values, SetFeatureValuesThroughTheServerEqualsTheSqliteBackend) {
  // One feature moved on many artifacts in a handful of calls; the same end state as the embedded backend, and a
  // replay (the outbox resending the operation) changes nothing.
  Served s;
  TempDir local_dir;
  Instance local = init(local_dir / "inst");
  std::map<std::string, std::int64_t> counts;
  for (Instance* inst : {&s.remote, &local}) {
    Instance& r = *inst;
    const Feature rank = r->create_feature(FeatureOptions("model_rank", "int"));
    std::vector<Artifact> arts;
    for (int i = 0; i < 6; ++i) {
      const std::string name = "c" + std::to_string(i) + ".ckpt";
      arts.push_back(r->create_artifact(write_file(s.tmp / "files" / name, name), ArtifactOptions(name)));
    }
    r->add_values(arts[0], {{rank, 0}});
    r->add_values(arts[1], {{rank, 1}, {rank, 4}});
    r->add_values(arts[2], {{rank, 2}});
    std::vector<std::pair<std::int64_t, json>> targets;
    for (int i = 0; i < 5; ++i) targets.emplace_back(arts[i].id, 4 - i);  // arts[5] not listed
    if (inst == &s.remote) {
      // Through a counting proxy: a fixed handful of calls (values, links, feature check, delete, upsert).
      CountingProxy proxy(s.server.port());
      Instance counted = connect_rest(proxy.url(), rest_options());
      const auto before = proxy.bearers().size();
      counted->set_feature_values(rank, targets);
      EXPECT_LE(proxy.bearers().size() - before, 6u);
      auto& rest = dynamic_cast<rest::RestRegistry&>(*s.remote);
      for (int replay = 0; replay < 2; ++replay) {
        rest.set_next_key("replayed-set-values-key-01");
        r->set_feature_values(rank, targets);
      }
    } else {
      r->set_feature_values(rank, targets);
    }
    for (int i = 0; i < 5; ++i) EXPECT_EQ(r->get_values(arts[i]), (json{{"model_rank", 4 - i}})) << i;
    EXPECT_EQ(r->get_values(arts[5]), json::object());
  }
  for (const char* table : {"lamindb_jsonvalue", "lamindb_artifactjsonvalue"}) {
    EXPECT_EQ(count_rows(s.tmp / "served", table), count_rows(local_dir / "inst", table)) << table;
  }
  EXPECT_EQ(sql_rows(s.tmp / "served", "SELECT feature_id, value, hash FROM lamindb_jsonvalue ORDER BY hash"),
            sql_rows(local_dir / "inst", "SELECT feature_id, value, hash FROM lamindb_jsonvalue ORDER BY hash"));
}

TEST(Values, ValuesCreatedInATrackedRunBelongToItOnBothBackends) {
  // A value first written outside any run, then values written in a tracked run (add_values and
  // set_feature_values): new JsonValue rows belong to the run, existing ones keep theirs, on both backends.
  Served s;
  auto local = init(s.tmp / "local");
  const char* kRuns =
      "SELECT f.name, v.value, coalesce(r.uid, 'none') FROM lamindb_jsonvalue v JOIN lamindb_feature f ON "
      "f.id = v.feature_id LEFT JOIN lamindb_run r ON r.id = v.run_id ORDER BY f.name, v.value";
  std::vector<std::vector<std::vector<std::string>>> rows;
  std::vector<std::string> run_uids;
  for (auto* inst : {&s.remote, &local}) {
    Registry& r = **inst;
    const Feature epoch = r.create_feature(FeatureOptions("epoch", "int"));
    const Feature rank = r.create_feature(FeatureOptions("model_rank", "int"));
    auto a = r.create_artifact(write_file(s.tmp / "m.ckpt", "m"), ArtifactOptions("m.ckpt"));
    auto b = r.create_artifact(write_file(s.tmp / "n.ckpt", "n"), ArtifactOptions("n.ckpt"));
    r.add_values(a, {{epoch, 1}});  // before the run
    const lamin::Run run = track(*inst, nullptr, TrackOptions().transform_key("values.py"));
    run_uids.push_back(run.uid);
    r.add_values(a, {{epoch, 1}, {epoch, 2}});
    r.add_values(run, {{epoch, 3}});
    r.set_feature_values(rank, {{a.id, 0}, {b.id, 1}});
    finish();
    rows.push_back(sql_rows(inst == &s.remote ? s.tmp / "served" : s.tmp / "local", kRuns));
  }
  for (std::size_t i = 0; i < 2; ++i) {
    const std::vector<std::vector<std::string>> expected = {{"epoch", "1", "none"},
                                                            {"epoch", "2", run_uids[i]},
                                                            {"epoch", "3", run_uids[i]},
                                                            {"model_rank", "0", run_uids[i]},
                                                            {"model_rank", "1", run_uids[i]}};
    EXPECT_EQ(rows[i], expected) << (i == 0 ? "served" : "local");
  }
}

TEST(Values, ValidationErrorsAreTheSqliteBackends) {
  Served s;
  auto local = init(s.tmp / "local");
  auto message = [](const std::function<void()>& f) -> std::string {
    try {
      f();
    } catch (const ValidationError& e) {
      return e.what();
    } catch (const std::exception& e) {
      return std::string("other error: ") + e.what();
    }
    return "no error";
  };
  std::vector<std::vector<std::string>> got;
  for (Registry* r : {&*s.remote, &*local}) {
    r->create_feature(FeatureOptions("val_loss", "float"));
    r->create_feature(FeatureOptions("epoch", "int"));
    auto type_a = r->create_feature(FeatureOptions().name("A").is_type(true));
    auto type_b = r->create_feature(FeatureOptions().name("B").is_type(true));
    r->create_feature(FeatureOptions("dup", "int").type(type_a));
    r->create_feature(FeatureOptions("dup", "int").type(type_b));
    auto a = r->create_artifact(write_file(s.tmp / "x.ckpt", "x"), ArtifactOptions("x.ckpt"));
    std::vector<std::string> m;
    m.push_back(message([&] { r->add_values(a, {{"val_loss", 1}}); }));
    m.push_back(message([&] { r->add_values(a, {{"epoch", true}}); }));
    m.push_back(message([&] { r->add_values(a, {{"nope", 1}, {"epoch", 1}, {"nada", 2}}); }));
    m.push_back(message([&] { r->add_values(a, {{"nope", 1}, {"epoch", "one"}}); }));
    m.push_back(message([&] { r->remove_values(a, "nope"); }));
    m.push_back(message([&] { r->add_values(a, {{"val_loss", std::nan("")}}); }));
    m.push_back(message([&] { r->add_values(a, {{"dup", 3}}); }));  // typed twice: the shallowest
    got.push_back(m);
    EXPECT_EQ(r->get_values(a), json({{"dup", 3}})) << "nothing of a failed call was written";
  }
  EXPECT_EQ(got[0], got[1]);
  EXPECT_EQ(got[1][2], "These keys could not be validated: ['nope', 'nada']");
}

}  // namespace
}  // namespace lamin::test
