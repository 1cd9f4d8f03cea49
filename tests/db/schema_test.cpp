// The schema lamin::init writes, compared with the database LaminDB's own `lamin init` made; and lamin-cpp writing
// into that real database.
#include <map>
#include <set>

#include <gtest/gtest.h>

#include "common/files.hpp"
#include "common/registry.hpp"
#include "common/sql.hpp"
#include "lamin/db.hpp"

namespace lamin {
namespace {

using test::Sql;
using test::TempDir;
using test::write_file;

const std::vector<std::string> kTables = {
    "lamindb_user", "lamindb_space", "lamindb_branch", "lamindb_storage", "lamindb_transform", "lamindb_run",
    "lamindb_artifact", "lamindb_schema", "lamindb_feature", "lamindb_jsonvalue", "lamindb_artifactjsonvalue", "lamindb_runjsonvalue",
    "lamindb_artifact_input_of_runs"};

std::string strip_if_not_exists(std::string sql) {
  const std::string needle = "IF NOT EXISTS ";
  for (auto pos = sql.find(needle); pos != std::string::npos; pos = sql.find(needle)) sql.erase(pos, needle.size());
  return sql;
}

TEST(Schema, InitMatchesLaminDbColumnByColumn) {
  TempDir fixture_dir, ours_dir;
  const auto fixture_db = test::unpack_fixture(fixture_dir.path());
  { lamin::init(ours_dir.path()); }
  Sql theirs(fixture_db);
  Sql ours(ours_dir / ".lamindb/lamin.db");
  for (const auto& t : kTables) {
    SCOPED_TRACE(t);
    // name, type, notnull, default, pk, in order
    EXPECT_EQ(ours.rows("PRAGMA table_info(" + t + ")"), theirs.rows("PRAGMA table_info(" + t + ")"));
    EXPECT_EQ(ours.rows("PRAGMA foreign_key_list(" + t + ")"), theirs.rows("PRAGMA foreign_key_list(" + t + ")"));
    // The whole CREATE TABLE text, CHECK constraints included.
    EXPECT_EQ(strip_if_not_exists(ours.one("SELECT sql FROM sqlite_master WHERE name = '" + t + "'")),
              strip_if_not_exists(theirs.one("SELECT sql FROM sqlite_master WHERE name = '" + t + "'")));
    // Indexes: the same names (Django's), columns, uniqueness and partial conditions.
    auto indexes = [&](Sql& db) {
      std::map<std::string, std::string> out;
      for (const auto& row : db.rows("SELECT name, COALESCE(sql, '') FROM sqlite_master WHERE type = 'index' AND "
                                     "tbl_name = '" + t + "' AND name NOT LIKE 'lamin_cpp_%'")) {
        std::string key = row[0];
        if (key.rfind("sqlite_autoindex_", 0) == 0) {
          auto cols = db.rows("PRAGMA index_info('" + row[0] + "')");
          key = "auto:" + cols.at(0).at(2);
        }
        out[key] = strip_if_not_exists(row[1]);
      }
      return out;
    };
    EXPECT_EQ(indexes(ours), indexes(theirs));
  }
  // Seed rows (spec 3.2).
  EXPECT_EQ(ours.rows("SELECT id, name, uid FROM lamindb_space"),
            (std::vector<std::vector<std::string>>{{"1", "all", "aaaaaaaaaaaa"}}));
  EXPECT_EQ(ours.rows("SELECT id, name, uid FROM lamindb_branch ORDER BY id"),
            (std::vector<std::vector<std::string>>{
                {"-1", "trash", "tttttttttttt"}, {"0", "archive", "aaaaaaaaaaaa"}, {"1", "main", "mmmmmmmmmmmm"}}));
  EXPECT_EQ(ours.rows("SELECT uid, handle FROM lamindb_user"),
            (std::vector<std::vector<std::string>>{{"00000000", "anonymous"}}));
  EXPECT_EQ(ours.one("SELECT root FROM lamindb_storage"), std::filesystem::canonical(ours_dir.path()).string());
  EXPECT_EQ(ours.one("SELECT type FROM lamindb_storage"), "local");
  EXPECT_EQ(ours.one("SELECT length(instance_uid) FROM lamindb_storage"), "12");
  EXPECT_EQ(ours.one("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(ours.one("PRAGMA integrity_check"), "ok");
}

// Adds the rows LaminDB's setup (`register_initial_records`) writes into a fresh database.
void add_setup_rows(const std::filesystem::path& db_path, const std::filesystem::path& root) {
  Sql db(db_path);
  db.exec("INSERT INTO lamindb_user (id, uid, handle, name) VALUES (1, '00000000', 'anonymous', NULL)");
  db.exec("INSERT INTO lamindb_branch (id, name, uid, space_id, created_by_id) VALUES "
          "(-1, 'trash', 'tttttttttttt', 1, 1), (0, 'archive', 'aaaaaaaaaaaa', 1, 1), (1, 'main', 'mmmmmmmmmmmm', 1, 1)");
  db.exec("INSERT INTO lamindb_storage (uid, root, type, region, instance_uid, created_by_id) VALUES ('Stor4geUid12', '" +
          std::filesystem::canonical(root).string() + "', 'local', NULL, 'Inst4nceUid1', 1)");
}

TEST(Schema, WritesIntoRealLaminDbDatabase) {
  TempDir dir;
  const auto db_path = test::unpack_fixture(dir.path());
  add_setup_rows(db_path, dir.path());
  std::string best_uid, old_uid;
  {
    Instance instance = lamin::connect(dir.path());
    auto type = instance->create_feature(FeatureOptions().name("lamindb.lightning").is_type(true)
                                             .type_dtype_str("__lamindb_lightning__"));
    auto is_best = instance->create_feature(FeatureOptions("is_best_model", "bool").type(type));
    instance->create_feature(FeatureOptions("score", "float").type(type));
    instance->create_feature(FeatureOptions("max_epochs", "int"));
    instance->create_feature(FeatureOptions("mode", "str").type(type));
    const lamin::Run run = lamin::track(instance, {{"lr", 0.01}}, TrackOptions().transform_key("train.cpp"));
    instance->add_values(run, {{"max_epochs", 5}, {"mode", "min"}});
    const auto input = instance->create_artifact(write_file(dir / "in/data.csv", "a,b\n1,2\n"),
                                                 ArtifactOptions("data/train.csv").no_run());
    instance->add_run_input(input, run);
    for (int i = 0; i < 3; ++i) {
      auto a = instance->create_artifact(write_file(dir / ("ck/e" + std::to_string(i) + ".ckpt"), "w" + std::to_string(i)),
                                         ArtifactOptions("ckpt/checkpoints/e" + std::to_string(i) + ".ckpt")
                                             .description("model checkpoint").kind("model").skip_hash_lookup(true));
      instance->add_values(a, {{is_best, i == 2}, {"score", 0.5 - 0.2 * i}});
      if (i == 2) best_uid = a.uid;
    }
    // A versioned config and a permanent delete.
    auto v0 = instance->create_artifact(write_file(dir / "h0.yaml", "a: 1\n"), ArtifactOptions("ckpt/hparams.yaml").kind("config"));
    auto v1 = instance->create_artifact(write_file(dir / "h1.yaml", "a: 2\n"), ArtifactOptions("ckpt/hparams.yaml").kind("config"));
    old_uid = v0.uid;
    instance->delete_artifact(instance->artifacts().key("ckpt/checkpoints/e0.ckpt").one());
    lamin::finish();
  }
  Sql db(db_path);
  EXPECT_EQ(db.one("PRAGMA integrity_check"), "ok");
  EXPECT_TRUE(db.rows("PRAGMA foreign_key_check").empty()) << db.rows("PRAGMA foreign_key_check").size();
  // Reads the way LaminDB's Django queries read these tables.
  EXPECT_EQ(db.one("SELECT COUNT(*) AS \"__count\" FROM \"lamindb_artifact\" WHERE (\"lamindb_artifact\".\"branch_id\" IN (1) "
                   "AND \"lamindb_artifact\".\"key\" LIKE 'ckpt/checkpoints/%' ESCAPE '\\')"),
            "2");
  EXPECT_EQ(db.one("SELECT U0.\"uid\" FROM \"lamindb_artifact\" U0 INNER JOIN \"lamindb_artifactjsonvalue\" U1 ON "
                   "(U0.\"id\" = U1.\"artifact_id\") INNER JOIN \"lamindb_jsonvalue\" U2 ON (U1.\"jsonvalue_id\" = U2.\"id\") "
                   "INNER JOIN \"lamindb_feature\" U3 ON (U2.\"feature_id\" = U3.\"id\") WHERE (U3.\"name\" = 'is_best_model' "
                   "AND JSON_EXTRACT(U2.\"value\", '$') = JSON_EXTRACT('true', '$'))"),
            best_uid);
  EXPECT_EQ(db.one("SELECT COUNT(*) FROM lamindb_jsonvalue U2 INNER JOIN lamindb_feature U3 ON U2.feature_id = U3.id "
                   "WHERE U3.name = 'score' AND CAST(JSON_EXTRACT(U2.value, '$') AS REAL) < 0.2"),
            "1");
  // Values and hashes as LaminDB writes them.
  EXPECT_EQ(db.one("SELECT hash FROM lamindb_jsonvalue v JOIN lamindb_feature f ON f.id = v.feature_id "
                   "WHERE f.name = 'is_best_model' AND v.value = 'true'"),
            "-CfPRi9ihI3zfF4elKTadA");
  EXPECT_EQ(db.one("SELECT hash FROM lamindb_jsonvalue WHERE value = '\"min\"'"), "2L15zBMZINXeQm-RTRdAWg");
  EXPECT_EQ(db.one("SELECT COUNT(*) FROM lamindb_jsonvalue WHERE NOT json_valid(value)"), "0");
  EXPECT_EQ(db.one("SELECT COUNT(*) FROM lamindb_artifact WHERE _aux IS NOT NULL AND _aux != 'null'"), "0");
  EXPECT_EQ(db.one("SELECT COUNT(*) FROM lamindb_artifact WHERE length(uid) != 20 OR hash IS NULL OR length(hash) != 22"), "0");
  EXPECT_EQ(db.one("SELECT COUNT(*) FROM lamindb_artifact WHERE created_at NOT GLOB "
                   "'[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9] [0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9]*'"),
            "0");
  // Versioning: the deleted checkpoint is gone, the config has two versions and only the newest is latest.
  EXPECT_EQ(db.one("SELECT COUNT(*) FROM lamindb_artifact WHERE key = 'ckpt/checkpoints/e0.ckpt'"), "0");
  EXPECT_EQ(db.rows("SELECT substr(uid, 17), is_latest FROM lamindb_artifact WHERE key = 'ckpt/hparams.yaml' ORDER BY uid"),
            (std::vector<std::vector<std::string>>{{"0000", "0"}, {"0001", "1"}}));
  EXPECT_EQ(db.one("SELECT substr(uid, 1, 16) FROM lamindb_artifact WHERE key = 'ckpt/hparams.yaml' AND is_latest = 1"),
            old_uid.substr(0, 16));
  // Lineage rows: run of transform, outputs, inputs, run values.
  EXPECT_EQ(db.one("SELECT _status_code FROM lamindb_run"), "0");
  EXPECT_EQ(db.one("SELECT params FROM lamindb_run"), "{\"lr\": 0.01}");
  EXPECT_EQ(db.one("SELECT t.key || ':' || t.kind || ':' || length(t.uid) FROM lamindb_transform t"), "train.cpp:script:16");
  EXPECT_EQ(db.one("SELECT COUNT(*) FROM lamindb_artifact a JOIN lamindb_run r ON a.run_id = r.id"), "4");
  EXPECT_EQ(db.one("SELECT COUNT(*) FROM lamindb_artifact_input_of_runs"), "1");
  EXPECT_EQ(db.one("SELECT COUNT(*) FROM lamindb_runjsonvalue"), "2");
  // The stored files exist where LaminDB looks for them.
  for (const auto& row : db.rows("SELECT uid, suffix FROM lamindb_artifact")) {
    EXPECT_TRUE(std::filesystem::exists(dir / (".lamindb/" + row[0] + row[1]))) << row[0];
  }
}

TEST(Schema, RefusesNewerSchemas) {
  TempDir a, b;
  const auto db_path = test::unpack_fixture(a.path());
  add_setup_rows(db_path, a.path());
  {
    Sql db(db_path);
    db.exec("INSERT INTO django_migrations (app, name, applied) VALUES ('lamindb', '0250_future', '2030-01-01')");
  }
  EXPECT_THROW(lamin::connect(a.path()), IntegrityError);
  { lamin::init(b.path()); }
  {
    Sql db(b / ".lamindb/lamin.db");
    db.exec("PRAGMA user_version = 99");
  }
  EXPECT_THROW(lamin::connect(b.path()), IntegrityError);
}

TEST(Schema, NonInstanceFolder) {
  TempDir dir;
  EXPECT_THROW(lamin::connect(dir.path()), NotFoundError);
  EXPECT_THROW(lamin::connect(dir / "missing"), NotFoundError);
  EXPECT_FALSE(std::filesystem::exists(dir / ".lamindb"));
  write_file(dir / ".lamindb/lamin.db", "this is not a database, just text that is long enough to not be empty....");
  EXPECT_THROW(lamin::connect(dir.path()), Error);
}

}  // namespace
}  // namespace lamin
