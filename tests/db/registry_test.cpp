// Artifacts, versions, deletion, storage, transactions, features and values against a real instance.
#include <sqlite3.h>
#include <sys/stat.h>

#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "common/files.hpp"
#include "common/registry.hpp"
#include "lamin/db.hpp"
#include "sqlite_registry.hpp"

namespace lamin::test {
namespace {

using nlohmann::json;

class RegistryTest : public InstanceTest {
 protected:
  std::size_t stored_files() {
    std::size_t n = 0;
    for (const auto& e : fs::directory_iterator(dir / "inst/.lamindb")) {
      const auto name = e.path().filename().string();
      if (name.rfind("lamin.db", 0) != 0 && name != "storage_uid.txt") ++n;
    }
    return n;
  }
};

TEST_F(RegistryTest, InitLayoutAndReopen) {
  EXPECT_TRUE(fs::exists(dir / "inst/.lamindb/lamin.db"));
  EXPECT_EQ(instance->info().storage.root, fs::canonical(dir / "inst").string());
  EXPECT_EQ(instance->info().user.handle, "anonymous");
  const auto storage_uid = instance->info().storage.uid;
  // init on an existing instance opens it; connect finds the same storage.
  EXPECT_EQ(lamin::init(dir / "inst")->info().storage.uid, storage_uid);
  EXPECT_EQ(lamin::connect(dir / "inst")->info().storage.uid, storage_uid);
}

TEST_F(RegistryTest, CreateArtifactFromFile) {
  const auto a = instance->create_artifact(file("model.ckpt", "weights"),
                                           ArtifactOptions("exp/model.ckpt").description("model checkpoint").kind("model"));
  EXPECT_EQ(a.uid.size(), 20u);
  EXPECT_EQ(a.uid.substr(16), "0000");
  EXPECT_EQ(a.key, "exp/model.ckpt");
  EXPECT_EQ(a.suffix, ".ckpt");
  EXPECT_EQ(a.size, 7);
  EXPECT_EQ(a.hash, hash_string("weights"));
  EXPECT_EQ(a.hash_type, "md5");
  EXPECT_EQ(a.kind, "model");
  EXPECT_TRUE(a.is_latest);
  EXPECT_TRUE(a.key_is_virtual);
  EXPECT_FALSE(a.storage_in_progress());
  EXPECT_FALSE(a.run_id);
  const auto path = instance->storage_path(a);
  EXPECT_EQ(path, fs::canonical(dir / "inst") / ".lamindb" / (a.uid + ".ckpt"));
  EXPECT_EQ(test::read_file(path), "weights");
  EXPECT_EQ(instance->get_artifact(a.uid).id, a.id);
  EXPECT_EQ(instance->get_artifact("exp/model.ckpt").id, a.id);
  EXPECT_EQ(instance->get_artifact(a.stem_uid()).id, a.id);
  EXPECT_THROW(instance->get_artifact("nope/x.ckpt"), NotFoundError);
}

TEST_F(RegistryTest, VersionsByKey) {
  const auto v0 = instance->create_artifact(file("h0.yaml", "a: 0"), ArtifactOptions("run/hparams.yaml"));
  const auto v1 = instance->create_artifact(file("h1.yaml", "a: 1"), ArtifactOptions("run/hparams.yaml"));
  const auto v2 = instance->create_artifact(file("h2.yaml", "a: 2"), ArtifactOptions("run/hparams.yaml"));
  EXPECT_EQ(v1.stem_uid(), v0.stem_uid());
  EXPECT_EQ(v1.uid.substr(16), "0001");
  EXPECT_EQ(v2.uid.substr(16), "0002");
  EXPECT_FALSE(instance->get_artifact(v0.uid).is_latest);
  EXPECT_FALSE(instance->get_artifact(v1.uid).is_latest);
  EXPECT_TRUE(instance->get_artifact(v2.uid).is_latest);
  EXPECT_EQ(instance->get_artifact("run/hparams.yaml").uid, v2.uid);  // get by key = latest
  EXPECT_EQ(instance->artifacts().key("run/hparams.yaml").count(), 3);  // filter by key = all versions
  EXPECT_EQ(instance->artifacts().key("run/hparams.yaml").is_latest().one().uid, v2.uid);
  // The same content under the same key is the same artifact.
  EXPECT_EQ(instance->create_artifact(file("h2b.yaml", "a: 2"), ArtifactOptions("run/hparams.yaml").skip_hash_lookup(true)).uid,
            v2.uid);
  EXPECT_EQ(v2.version(), "0002");
}

TEST_F(RegistryTest, HashLookupReturnsExisting) {
  const auto a = instance->create_artifact(file("a.pt", "same"), ArtifactOptions("a.pt"));
  EXPECT_EQ(instance->create_artifact(file("b.pt", "same"), ArtifactOptions("b.pt")).uid, a.uid);
  const auto c = instance->create_artifact(file("c.pt", "same"), ArtifactOptions("c.pt").skip_hash_lookup(true));
  EXPECT_NE(c.uid, a.uid);
  EXPECT_EQ(instance->artifacts().count(), 2);
}

TEST_F(RegistryTest, DeletePromotesPreviousVersionAndRemovesFile) {
  const auto v0 = instance->create_artifact(file("c0.yaml", "0"), ArtifactOptions("cfg.yaml"));
  const auto v1 = instance->create_artifact(file("c1.yaml", "1"), ArtifactOptions("cfg.yaml"));
  auto f = instance->create_feature(FeatureOptions("note", "str"));
  instance->add_values(v1, {{"note", "x"}});
  const lamin::Run run = lamin::track(instance, nullptr, TrackOptions().transform_key("t"));
  instance->add_run_input(v1, run);
  const auto path1 = instance->storage_path(v1);
  ASSERT_TRUE(fs::exists(path1));
  instance->delete_artifact(v1);
  EXPECT_FALSE(fs::exists(path1));
  EXPECT_FALSE(instance->find_artifact(v1.uid));
  EXPECT_TRUE(instance->get_artifact(v0.uid).is_latest);
  EXPECT_TRUE(instance->run_inputs(run).empty());
  // Deleting a non-latest version promotes nothing.
  const auto v2 = instance->create_artifact(file("c2.yaml", "2"), ArtifactOptions("cfg.yaml"));
  EXPECT_EQ(v2.uid.substr(16), "0001");  // the next suffix after the highest remaining version
  instance->delete_artifact(instance->get_artifact(v0.uid));
  EXPECT_TRUE(instance->get_artifact(v2.uid).is_latest);
  EXPECT_THROW(instance->delete_artifact(v0), NotFoundError);
}

TEST_F(RegistryTest, StorageModes) {
  const auto src = file("big.ckpt", std::string(100000, 'x'));
  const auto linked = instance->create_artifact(src, ArtifactOptions("l.ckpt").storage_mode(StorageMode::link));
  const auto copied = instance->create_artifact(src, ArtifactOptions("c.ckpt").skip_hash_lookup(true));
  struct stat s {}, l {}, c {};
  ::stat(src.c_str(), &s);
  ::stat(instance->storage_path(linked).c_str(), &l);
  ::stat(instance->storage_path(copied).c_str(), &c);
  EXPECT_EQ(s.st_ino, l.st_ino);  // zero copy
  EXPECT_NE(s.st_ino, c.st_ino);
  EXPECT_EQ(test::read_file(instance->storage_path(copied)), std::string(100000, 'x'));
  // Replacing the source atomically (as lamin::pl writes checkpoints) leaves the linked artifact intact.
  write_file(dir / "src/big.ckpt.tmp", "new");
  fs::rename(dir / "src/big.ckpt.tmp", src);
  EXPECT_EQ(test::read_file(instance->storage_path(linked)), std::string(100000, 'x'));
}

TEST_F(RegistryTest, BadInputWritesNothing) {
  const auto ok = file("m.ckpt", "m");
  EXPECT_THROW(instance->create_artifact(ok, ArtifactOptions("../m.ckpt")), ValidationError);
  EXPECT_THROW(instance->create_artifact(ok, ArtifactOptions("a\\m.ckpt")), ValidationError);
  EXPECT_THROW(instance->create_artifact(ok, ArtifactOptions("a/./m.ckpt")), ValidationError);
  EXPECT_THROW(instance->create_artifact(ok, ArtifactOptions(std::string(1100, 'a') + ".ckpt")), ValidationError);
  EXPECT_THROW(instance->create_artifact(ok, ArtifactOptions("m.pt")), ValidationError);  // wrong suffix
  EXPECT_THROW(instance->create_artifact(dir / "src/missing.ckpt", ArtifactOptions("m.ckpt")), NotFoundError);
  EXPECT_THROW(instance->create_artifact(dir / "src", ArtifactOptions("m")), ValidationError);
  EXPECT_EQ(instance->artifacts().all_branches().include_incomplete().count(), 0);
  EXPECT_EQ(stored_files(), 0u);
}

TEST_F(RegistryTest, TransactionCommitsOrRollsBackEverything) {
  instance->create_feature(FeatureOptions("is_best_model", "bool"));
  {
    Transaction tx(instance);
    auto a = instance->create_artifact(file("t.ckpt", "t"), ArtifactOptions("t.ckpt"));
    instance->add_values(a, {{"is_best_model", true}});
    EXPECT_EQ(stored_files(), 1u);
    // not committed
  }
  EXPECT_EQ(instance->artifacts().include_incomplete().count(), 0);
  EXPECT_EQ(stored_files(), 0u);  // the stored file went with the record
  auto a = lamin::transaction(instance, [&] {
    auto x = instance->create_artifact(file("t.ckpt", "t"), ArtifactOptions("t.ckpt"));
    instance->add_values(x, {{"is_best_model", true}});
    return x;
  });
  EXPECT_EQ(instance->get_values(a), (json{{"is_best_model", true}}));
  // A failure inside rolls back all flag changes made before it.
  EXPECT_THROW(lamin::transaction(instance, [&] {
                 instance->remove_values(a, "is_best_model", json(true));
                 instance->add_values(a, {{"is_best_model", false}});
                 instance->add_values(a, {{"no_such_feature", 1}});
               }),
               ValidationError);
  EXPECT_EQ(instance->get_values(a), (json{{"is_best_model", true}}));
  // A deletion inside a rolled-back transaction keeps the file.
  {
    Transaction tx(instance);
    instance->delete_artifact(a);
  }
  EXPECT_TRUE(fs::exists(instance->storage_path(a)));
  EXPECT_TRUE(instance->find_artifact(a.uid));
}

TEST_F(RegistryTest, InterruptedStorageIsMarkedAndRecovered) {
  const auto v0 = instance->create_artifact(file("k0.ckpt", "0"), ArtifactOptions("k.ckpt"));
  detail::SqliteRegistry::set_step_hook([](const char* step) {
    if (std::string(step) == "inserted") throw std::runtime_error("crash");
  });
  EXPECT_THROW(instance->create_artifact(file("k1.ckpt", "1"), ArtifactOptions("k.ckpt")), std::runtime_error);
  detail::SqliteRegistry::set_step_hook(nullptr);
  // The record exists with the storage-ongoing marker and no file; normal queries do not return it.
  auto pending = instance->artifacts().key("k.ckpt").include_incomplete().is_latest().one();
  EXPECT_TRUE(pending.storage_in_progress());
  EXPECT_EQ(pending.aux, (json{{"so", 1}}));
  EXPECT_FALSE(fs::exists(instance->storage_path(pending)));
  EXPECT_EQ(instance->artifacts().key("k.ckpt").count(), 1);
  EXPECT_EQ(instance->recover(3600), 0);  // too young: could be a live writer
  EXPECT_EQ(instance->recover(0), 1);
  EXPECT_FALSE(instance->find_artifact(pending.uid));
  EXPECT_TRUE(instance->get_artifact(v0.uid).is_latest);
}

TEST_F(RegistryTest, FeaturesDedupeAndValidateDtypes) {
  const auto f = instance->create_feature(FeatureOptions("score", "float"));
  EXPECT_EQ(instance->create_feature(FeatureOptions("score", "float")).id, f.id);
  EXPECT_EQ(f.uid.size(), 12u);
  EXPECT_THROW(instance->create_feature(FeatureOptions("score", "int")), ValidationError);
  EXPECT_THROW(instance->create_feature(FeatureOptions("x", "tensor")), ValidationError);
  EXPECT_THROW(instance->create_feature(FeatureOptions("", "int")), ValidationError);
  const auto type = instance->create_feature(FeatureOptions().name("lamindb.lightning").is_type(true));
  const auto typed = instance->create_feature(FeatureOptions("score", "float").type(type));
  EXPECT_NE(typed.id, f.id);
  EXPECT_EQ(typed.type_id, type.id);
  // Name resolution: the root-level feature wins over the typed one.
  EXPECT_EQ(instance->find_feature("score")->id, f.id);
  EXPECT_EQ(instance->find_feature("score", type)->id, typed.id);
  EXPECT_FALSE(instance->find_feature("nope"));
  EXPECT_EQ(instance->features().size(), 3u);
}

TEST_F(RegistryTest, AddGetRemoveValues) {
  instance->create_feature(FeatureOptions("score", "float"));
  instance->create_feature(FeatureOptions("is_best_model", "bool"));
  instance->create_feature(FeatureOptions("mode", "str"));
  instance->create_feature(FeatureOptions("tags", "list[str]"));
  const auto a = instance->create_artifact(file("a.ckpt", "a"), ArtifactOptions("a.ckpt"));
  const auto b = instance->create_artifact(file("b.ckpt", "b"), ArtifactOptions("b.ckpt"));
  instance->add_values(a, {{"score", 0.5}, {"is_best_model", true}, {"mode", "min"}, {"tags", json::array({"x", "y"})},
                           {"score", nullptr}});
  instance->add_values(b, {{"score", 0.5}, {"is_best_model", false}});
  EXPECT_EQ(instance->get_values(a),
            (json{{"score", 0.5}, {"is_best_model", true}, {"mode", "min"}, {"tags", json::array({"x", "y"})}}));
  // Several values for one feature read back as a sorted array; the json value row is shared.
  instance->add_values(a, {{"score", 0.25}});
  EXPECT_EQ(instance->get_values(a)["score"], json::array({0.25, 0.5}));
  EXPECT_EQ(instance->remove_values(a, "score", json(0.5)), 1);
  EXPECT_EQ(instance->get_values(a)["score"], 0.25);
  EXPECT_EQ(instance->get_values(b)["score"], 0.5);
  EXPECT_EQ(instance->remove_values(a, "mode"), 1);
  EXPECT_FALSE(instance->get_values(a).contains("mode"));
  EXPECT_EQ(instance->remove_values(a, "mode"), 0);
  // Unknown keys and wrong dtypes: a clear error, nothing written (not even the valid values).
  try {
    instance->add_values(b, {{"mode", "max"}, {"nope", 1}, {"nada", 2}});
    FAIL();
  } catch (const ValidationError& e) {
    EXPECT_STREQ(e.what(), "These keys could not be validated: ['nope', 'nada']");
  }
  EXPECT_THROW(instance->add_values(b, {{"mode", "max"}, {"score", 1}}), ValidationError);
  EXPECT_FALSE(instance->get_values(b).contains("mode"));
  // Run values.
  instance->create_feature(FeatureOptions("max_epochs", "int"));
  const lamin::Run run = lamin::track(instance, nullptr, TrackOptions().transform_key("t"));
  instance->add_values(run, {{"max_epochs", 5}});
  EXPECT_EQ(instance->get_values(run), (json{{"max_epochs", 5}}));
}

// Links of `feature` per artifact id, read straight from the database: (link row id, value JSON).
std::map<std::int64_t, std::vector<std::pair<std::int64_t, std::string>>> link_rows(const fs::path& db_path,
                                                                                   std::int64_t feature_id) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* s = nullptr;
  sqlite3_prepare_v2(db,
                     "SELECT l.artifact_id, l.id, v.value FROM lamindb_artifactjsonvalue l JOIN lamindb_jsonvalue v "
                     "ON v.id = l.jsonvalue_id WHERE v.feature_id = ? ORDER BY l.artifact_id, v.id",
                     -1, &s, nullptr);
  sqlite3_bind_int64(s, 1, feature_id);
  std::map<std::int64_t, std::vector<std::pair<std::int64_t, std::string>>> out;
  while (sqlite3_step(s) == SQLITE_ROW) {
    out[sqlite3_column_int64(s, 0)].emplace_back(sqlite3_column_int64(s, 1),
                                                 reinterpret_cast<const char*>(sqlite3_column_text(s, 2)));
  }
  sqlite3_finalize(s);
  sqlite3_close(db);
  return out;
}

TEST_F(RegistryTest, SetFeatureValuesOnManyArtifacts) {
  // The batch calls of the SQLite backend and their generic forms (through add/remove/get) agree.
  for (const bool generic : {false, true}) {
    SCOPED_TRACE(generic ? "generic" : "sqlite");
    TempDir d;
    Instance inst = lamin::init(d / "inst");
    Registry& r = inst.get();
    const Feature rank = inst->create_feature(FeatureOptions("model_rank", "int"));
    const Feature score = inst->create_feature(FeatureOptions("score", "float"));
    auto make = [&](const std::string& key) {
      return inst->create_artifact(write_file(d / "src" / key, key), ArtifactOptions(key));
    };
    const Artifact a = make("p/a.ckpt"), b = make("p/b.ckpt"), c = make("p/c.ckpt"), e = make("q/e.ckpt");
    const Artifact same = make("p/same.ckpt");
    inst->add_values(a, {{rank, 0}, {score, 0.1}});
    inst->add_values(b, {{rank, 5}, {rank, 7}});  // two values: both give way to one
    inst->add_values(same, {{rank, 2}});
    inst->add_values(e, {{rank, 9}});
    const fs::path db_path = d / "inst/.lamindb/lamin.db";
    const auto before = link_rows(db_path, rank.id);
    const std::vector<std::pair<std::int64_t, json>> targets = {{a.id, 1}, {b.id, 0}, {c.id, 3}, {same.id, 2}};
    if (generic) {
      r.Registry::set_feature_values(rank, targets);
    } else {
      r.set_feature_values(rank, targets);
    }
    EXPECT_EQ(inst->get_values(a), (json{{"model_rank", 1}, {"score", 0.1}}));
    EXPECT_EQ(inst->get_values(b), (json{{"model_rank", 0}}));
    EXPECT_EQ(inst->get_values(c), (json{{"model_rank", 3}}));
    EXPECT_EQ(inst->get_values(same), (json{{"model_rank", 2}}));
    EXPECT_EQ(inst->get_values(e), (json{{"model_rank", 9}}));  // not listed: untouched
    const auto after = link_rows(db_path, rank.id);
    EXPECT_EQ(after.at(same.id), before.at(same.id));  // already right: the very same link row
    // The JsonValue rows of replaced values stay (LaminDB leaves them).
    EXPECT_EQ(inst->artifacts().where(feature(rank) == 7).count(), 0);

    const auto spec = inst->artifacts().key_startswith("p/").spec();
    const auto read = generic ? r.Registry::feature_values_of_artifacts(rank, spec)
                              : r.feature_values_of_artifacts(rank, spec);
    const std::map<std::int64_t, std::vector<json>> expected = {
        {a.id, {1}}, {b.id, {0}}, {c.id, {3}}, {same.id, {2}}};
    EXPECT_EQ(read, expected);
    EXPECT_TRUE(r.feature_values_of_artifacts(score, inst->artifacts().key_startswith("q/").spec()).empty());

    // Bad values: a clear error before anything is written.
    EXPECT_THROW(r.set_feature_values(rank, {{a.id, 4}, {b.id, 0.5}}), ValidationError);
    EXPECT_THROW(r.set_feature_values(rank, {{a.id, nullptr}}), ValidationError);
    EXPECT_EQ(inst->get_values(a)["model_rank"], 1);
    EXPECT_EQ(link_rows(db_path, rank.id), after);
    lamin::finish();
  }
}

TEST_F(RegistryTest, ReadingSeveralFeaturesAtOnceMatchesReadingEach) {
  const Feature rank = instance->create_feature(FeatureOptions("model_rank", "int"));
  const Feature score = instance->create_feature(FeatureOptions("score", "float"));
  const Feature flag = instance->create_feature(FeatureOptions("is_best_model", "bool"));
  for (int i = 0; i < 5; ++i) {
    const Artifact a = instance->create_artifact(file("m" + std::to_string(i) + ".ckpt", std::to_string(i)),
                                                 ArtifactOptions("p/m" + std::to_string(i) + ".ckpt"));
    if (i != 2) instance->add_values(a, {{rank, 4 - i}, {score, 0.25 * i}});
    if (i == 3) instance->add_values(a, {{flag, true}, {score, 7.5}});  // two scores
  }
  const auto spec = instance->artifacts().key_startswith("p/").spec();
  Registry& r = instance.get();
  for (const bool generic : {false, true}) {
    SCOPED_TRACE(generic ? "generic" : "sqlite");
    const std::vector<Feature> features{score, rank, flag, score};
    const auto together = generic ? r.Registry::feature_values_of_artifacts(features, spec)
                                  : r.feature_values_of_artifacts(features, spec);
    ASSERT_EQ(together.size(), 4u);
    for (std::size_t i = 0; i < features.size(); ++i) {
      EXPECT_EQ(together[i], r.feature_values_of_artifacts(features[i], spec)) << features[i].name;
    }
    EXPECT_EQ(together[0].size(), 4u);
    EXPECT_EQ(together[2].size(), 1u);
    EXPECT_EQ(together[3], together[0]);
  }
}

TEST_F(RegistryTest, SetFeatureValuesRecordsTheRunThatSetThem) {
  // A re-pointed or new link names the current run, like a link LaminDB creates; a link left as it was keeps its run.
  const Feature rank = instance->create_feature(FeatureOptions("model_rank", "int"));
  std::vector<Artifact> artifacts;
  for (int i = 0; i < 4; ++i) {
    artifacts.push_back(instance->create_artifact(file("r" + std::to_string(i) + ".ckpt", std::to_string(i)),
                                                  ArtifactOptions("r/m" + std::to_string(i) + ".ckpt")));
  }
  instance->add_values(artifacts[0], {{rank, 0}});
  instance->add_values(artifacts[1], {{rank, 1}});
  const lamin::Run run = lamin::track(instance, nullptr, TrackOptions().transform_key("rerank"));
  instance->set_feature_values(rank, {{artifacts[0].id, 1}, {artifacts[1].id, 1}, {artifacts[2].id, 2}});
  const fs::path db_path = dir / "inst/.lamindb/lamin.db";
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  auto run_of = [&](std::int64_t artifact_id) -> std::optional<std::int64_t> {
    sqlite3_stmt* s = nullptr;
    sqlite3_prepare_v2(db,
                       "SELECT l.run_id FROM lamindb_artifactjsonvalue l JOIN lamindb_jsonvalue v ON v.id = "
                       "l.jsonvalue_id WHERE v.feature_id = ? AND l.artifact_id = ?",
                       -1, &s, nullptr);
    sqlite3_bind_int64(s, 1, rank.id);
    sqlite3_bind_int64(s, 2, artifact_id);
    std::optional<std::int64_t> out;
    if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL) out = sqlite3_column_int64(s, 0);
    EXPECT_NE(sqlite3_step(s), SQLITE_ROW) << "one link per artifact";
    sqlite3_finalize(s);
    return out;
  };
  EXPECT_EQ(run_of(artifacts[0].id), run.id);        // re-pointed from 0 to 1
  EXPECT_EQ(run_of(artifacts[1].id), std::nullopt);  // already 1: untouched
  EXPECT_EQ(run_of(artifacts[2].id), run.id);        // new
  sqlite3_close(db);
  // Again within the same run: the re-pointed link keeps its run, nothing is added.
  instance->set_feature_values(rank, {{artifacts[0].id, 3}, {artifacts[3].id, 0}});
  EXPECT_EQ(instance->get_values(artifacts[0]), (json{{"model_rank", 3}}));
  EXPECT_EQ(instance->get_values(artifacts[3]), (json{{"model_rank", 0}}));
  EXPECT_EQ(instance->artifacts().key_startswith("r/").where(feature(rank) >= 0).count(), 4);
}

TEST_F(RegistryTest, RunsWithAChosenUid) {
  const Transform t = instance->create_transform(TransformOptions("train.py").source_code("x"));
  const Transform other = instance->create_transform(TransformOptions("eval.py").source_code("y"));
  const lamin::Run run = instance->create_run(t, RunOptions().uid("abcdefghABCDEF12").name("first"));
  EXPECT_EQ(run.uid, "abcdefghABCDEF12");
  // A replay returns the same run; the same uid for another transform, or a malformed uid, is an error.
  EXPECT_EQ(instance->create_run(t, RunOptions().uid("abcdefghABCDEF12")).id, run.id);
  EXPECT_EQ(instance->runs().count(), 1);
  EXPECT_THROW(instance->create_run(other, RunOptions().uid("abcdefghABCDEF12")), IntegrityError);
  EXPECT_THROW(instance->create_run(t, RunOptions().uid("short")), ValidationError);
  EXPECT_THROW(instance->create_run(t, RunOptions().uid("abcdefghABCDEF1-")), ValidationError);
  EXPECT_EQ(instance->runs().count(), 1);
}

TEST_F(RegistryTest, AFileLeftByAWriterThatDiedBeforeCommittingIsReplaced) {
  // A writer (e.g. lamin-serve inside a request's transaction) stored the next version's file and died before its
  // record was committed: the name is taken by a file no record owns. The next attempt stores its own file there.
  const Artifact first = instance->create_artifact(file("v0.ckpt", "version 0"), ArtifactOptions("model.ckpt"));
  const std::string next_uid = first.uid.substr(0, 16) + "0001";
  const fs::path orphan = dir / "inst/.lamindb" / (next_uid + ".ckpt");
  write_file(orphan, "half of a file from a dead writer");
  const Artifact second = instance->create_artifact(file("v1.ckpt", "version 1"), ArtifactOptions("model.ckpt"));
  EXPECT_EQ(second.uid, next_uid);
  EXPECT_EQ(test::read_file(instance->storage_path(second)), "version 1");
  EXPECT_EQ(test::read_file(instance->storage_path(first)), "version 0");
}

TEST_F(RegistryTest, AmbiguousFeatureNames) {
  const auto t1 = instance->create_feature(FeatureOptions().name("t1").is_type(true));
  const auto t2 = instance->create_feature(FeatureOptions().name("t2").is_type(true));
  const auto a1 = instance->create_feature(FeatureOptions("flag", "bool").type(t1));
  instance->create_feature(FeatureOptions("flag", "bool").type(t2));
  const auto a = instance->create_artifact(file("a.ckpt", "a"), ArtifactOptions("a.ckpt"));
  EXPECT_NO_THROW(instance->add_values(a, {{a1, true}}));  // exact with the record
  EXPECT_THROW(instance->artifacts().where(feature("flag") == true).count(), ValidationError);
  EXPECT_EQ(instance->artifacts().where(feature(a1) == true).count(), 1);
}

// A decorator on RegistryWrapper sees every forwarded call in around(), and the derived operations run on its core:
// the value writes of rank_artifacts reach the decorator, not only the target.
class CountingRegistry : public RegistryWrapper {
 public:
  using RegistryWrapper::RegistryWrapper;
  std::map<std::string, int> calls;

 protected:
  void around(const char* name, const std::function<void()>& call) override {
    ++calls[name];
    call();
  }
};

TEST_F(RegistryTest, WrapperForwardsTheCoreAndRunsDerivedOperationsOnIt) {
  auto counting = std::make_shared<CountingRegistry>(instance.ptr());
  Instance wrapped(counting);
  const auto score = wrapped->create_feature(FeatureOptions("score", "float"));
  const auto rank = wrapped->create_feature(FeatureOptions("rank", "int"));
  const auto a = wrapped->create_artifact(file("a.txt", "a"), ArtifactOptions("w/a.txt"));
  const auto b = wrapped->create_artifact(file("b.txt", "b"), ArtifactOptions("w/b.txt"));
  wrapped->add_values(a, {{score, 0.5}});
  wrapped->add_values(b, {{score, 0.1}});
  EXPECT_EQ(wrapped->info().root, instance->info().root);
  EXPECT_EQ(counting->calls["create_feature"], 2);
  EXPECT_EQ(counting->calls["create_artifact"], 2);
  counting->calls.clear();
  EXPECT_EQ(wrapped->rank_artifacts(QuerySpec{}, score, rank, false), 2);
  EXPECT_GE(counting->calls["select_artifacts"], 1);
  EXPECT_EQ(counting->calls["add_values"], 2);  // the generic set_feature_values, through the wrapper
  EXPECT_EQ(instance->get_values(b), json({{"rank", 0}, {"score", 0.1}}));
  EXPECT_EQ(wrapped->get_values(a), json({{"rank", 1}, {"score", 0.5}}));
  EXPECT_GT(counting->calls["values_of_artifacts"], 0);  // get_values, derived
}

}  // namespace
}  // namespace lamin::test
