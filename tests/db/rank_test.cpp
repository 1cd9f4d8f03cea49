// Registry::rank_artifacts: ranks by score under a query, on the SQLite backend (which remembers what it read and
// re-reads only what changed) and in its generic form, against real instances. After every kind of write between
// two calls (on the same connection, from another connection, rolled back) the ranks must be exactly what reading
// everything again gives.
#include <sqlite3.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "common/files.hpp"
#include "common/registry.hpp"
#include "lamin/db.hpp"

namespace lamin::test {
namespace {

using nlohmann::json;

class RankTest : public InstanceTest {
 protected:
  void SetUp() override {
    InstanceTest::SetUp();
    score = instance->create_feature(FeatureOptions("score", "float"));
    rank = instance->create_feature(FeatureOptions("model_rank", "int"));
    flag = instance->create_feature(FeatureOptions("is_best_model", "bool"));
  }

  Artifact make(const std::string& key) {
    return instance->create_artifact(file(key, key), ArtifactOptions(key).skip_hash_lookup(true));
  }
  QuerySpec under(const std::string& prefix) {
    return instance->artifacts().key_startswith(prefix).all_branches().spec();
  }

  // What the ranks must be, from a fresh read of every score: artifact id -> rank.
  std::map<std::int64_t, std::int64_t> expected_ranks(const QuerySpec& spec, bool descending) {
    std::vector<std::pair<double, std::int64_t>> rows;
    for (const auto& [id, values] : instance->feature_values_of_artifacts(score, spec)) {
      std::optional<double> smallest;
      for (const auto& v : values) {
        if (v.is_number() && (!smallest || v.get<double>() < *smallest)) smallest = v.get<double>();
      }
      if (smallest) rows.emplace_back(descending ? -*smallest : *smallest, id);
    }
    std::sort(rows.begin(), rows.end());
    std::map<std::int64_t, std::int64_t> out;
    for (std::size_t i = 0; i < rows.size(); ++i) out[rows[i].second] = static_cast<std::int64_t>(i);
    return out;
  }

  // Every scored artifact has exactly one rank, the expected one.
  void expect_ranked(const QuerySpec& spec, bool descending = false) {
    const auto expected = expected_ranks(spec, descending);
    const auto ranks = instance->feature_values_of_artifacts(rank, spec);
    for (const auto& [id, r] : expected) {
      const auto it = ranks.find(id);
      ASSERT_NE(it, ranks.end()) << "artifact " << id << " has no rank";
      EXPECT_EQ(it->second, std::vector<json>{r}) << "artifact " << id;
    }
  }

  Feature score, rank, flag;
};

TEST_F(RankTest, RanksByScoreWithTiesInCreationOrder) {
  const Artifact a = make("p/a.ckpt"), b = make("p/b.ckpt"), c = make("p/c.ckpt"), d = make("p/d.ckpt");
  const Artifact outside = make("q/e.ckpt"), unscored = make("p/f.ckpt");
  instance->add_values(a, {{score, 0.5}});
  instance->add_values(b, {{score, 0.25}, {score, 0.75}});  // two scores: the smallest counts
  instance->add_values(c, {{score, 0.5}});                  // a tie with a: a was created first
  instance->add_values(d, {{score, 0.1}, {rank, 7}, {rank, 8}});  // two old ranks: one is left
  instance->add_values(outside, {{score, 0.0}, {rank, 3}});
  instance->add_values(unscored, {{rank, 5}});

  EXPECT_EQ(instance->rank_artifacts(under("p/"), score, rank, false), 4);
  EXPECT_EQ(instance->get_values(d)["model_rank"], 0);
  EXPECT_EQ(instance->get_values(b)["model_rank"], 1);
  EXPECT_EQ(instance->get_values(a)["model_rank"], 2);
  EXPECT_EQ(instance->get_values(c)["model_rank"], 3);
  EXPECT_EQ(instance->get_values(outside)["model_rank"], 3);   // not selected
  EXPECT_EQ(instance->get_values(unscored)["model_rank"], 5);  // no score: not ranked, left as it was
  EXPECT_EQ(instance->rank_artifacts(under("p/"), score, rank, false), 0);  // nothing changed: nothing written

  EXPECT_EQ(instance->rank_artifacts(under("p/"), score, rank, true), 4);  // descending
  EXPECT_EQ(instance->get_values(a)["model_rank"], 0);
  EXPECT_EQ(instance->get_values(c)["model_rank"], 1);  // ties stay in creation order
  EXPECT_EQ(instance->get_values(b)["model_rank"], 2);
  EXPECT_EQ(instance->get_values(d)["model_rank"], 3);

  // A rank feature that cannot hold ranks: a clear error, nothing written.
  const Feature text = instance->create_feature(FeatureOptions("rank_text", "str"));
  EXPECT_THROW(instance->rank_artifacts(under("p/"), score, text, false), ValidationError);
  EXPECT_TRUE(instance->feature_values_of_artifacts(text, under("p/")).empty());
}

TEST_F(RankTest, TheGenericFormGivesTheSameRanks) {
  // The same writes on two instances; one ranked by the SQLite backend, one by the generic form.
  TempDir other_dir;
  Instance other = lamin::init(other_dir / "inst");
  const Feature other_score = other->create_feature(FeatureOptions("score", "float"));
  const Feature other_rank = other->create_feature(FeatureOptions("model_rank", "int"));
  const double scores[] = {0.3, 0.1, 0.3, 0.9, 0.2, 0.05};
  std::vector<Artifact> mine, theirs;
  for (int i = 0; i < 6; ++i) {
    const std::string key = "run/checkpoints/m" + std::to_string(i) + ".ckpt";
    mine.push_back(make(key));
    theirs.push_back(other->create_artifact(write_file(other_dir / "src" / key, key), ArtifactOptions(key)));
    if (i % 2) {
      instance->add_values(mine.back(), {{rank, 10 + i}});
      other->add_values(theirs.back(), {{other_rank, 10 + i}});
    }
  }
  for (int round = 0; round < 6; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    instance->add_values(mine[round], {{score, scores[round]}});
    other->add_values(theirs[round], {{other_score, scores[round]}});
    const auto written = instance->rank_artifacts(under("run/checkpoints/"), score, rank, false);
    const auto generic_written = other.get().Registry::rank_artifacts(
        other->artifacts().key_startswith("run/checkpoints/").all_branches().spec(), other_score, other_rank, false);
    EXPECT_EQ(written, generic_written);
    for (int i = 0; i < 6; ++i) EXPECT_EQ(instance->get_values(mine[i]), other->get_values(theirs[i])) << i;
  }
}

TEST_F(RankTest, SeesEveryChangeSinceItsLastCall) {
  const QuerySpec spec = under("run/checkpoints/");
  std::vector<Artifact> a;
  for (int i = 0; i < 8; ++i) {
    a.push_back(make("run/checkpoints/m" + std::to_string(i) + ".ckpt"));
    instance->add_values(a.back(), {{score, 1.0 + i}});
  }
  auto rank_and_check = [&](const std::string& step) {
    SCOPED_TRACE(step);
    instance->rank_artifacts(spec, score, rank, false);
    expect_ranked(spec);
  };
  rank_and_check("first call");

  const Artifact best = make("run/checkpoints/best.ckpt");
  instance->add_values(best, {{score, 0.5}, {flag, true}});
  rank_and_check("a new best");

  instance->set_feature_values(score, {{a[7].id, 0.25}});
  rank_and_check("a score changed");

  const json rank_before = instance->get_values(a[0])["model_rank"];
  EXPECT_EQ(rank_before, 2);  // after a[7] (0.25) and best (0.5)
  instance->remove_values(a[0], score);
  rank_and_check("a score removed");
  EXPECT_EQ(instance->get_values(a[0])["model_rank"], rank_before);  // not ranked any more: its last rank stays

  instance->add_values(a[5], {{score, 0.1}});
  rank_and_check("a smaller second score");

  instance->delete_artifact(a[3]);
  rank_and_check("an artifact deleted");

  instance->set_feature_values(rank, {{a[4].id, 99}});
  rank_and_check("a rank written by hand");

  instance->remove_values(a[6], rank);
  rank_and_check("a rank removed");

  instance->add_values(a[2], {{rank, 42}});
  rank_and_check("a second rank added");

  make("run/checkpoints/unscored.ckpt");
  const Artifact outside = make("run/other/x.ckpt");
  instance->add_values(outside, {{score, 0.0}});
  rank_and_check("artifacts that are not ranked");

  {
    // Ranked inside a transaction that rolls back: the database goes back, and so must what was remembered.
    Transaction tx(instance);
    const Artifact gone = make("run/checkpoints/gone.ckpt");
    instance->add_values(gone, {{score, 0.01}});
    instance->set_feature_values(score, {{a[1].id, 50.0}});
    instance->rank_artifacts(spec, score, rank, false);
    expect_ranked(spec);
    tx.rollback();
  }
  EXPECT_FALSE(instance->artifacts().key("run/checkpoints/gone.ckpt").one_or_none());
  rank_and_check("after a rollback");

  {
    // The same inside a savepoint of an outer transaction that commits.
    Transaction outer(instance);
    {
      Transaction inner(instance);
      instance->set_feature_values(score, {{a[2].id, 0.001}});
      instance->rank_artifacts(spec, score, rank, false);
      inner.rollback();
    }
    rank_and_check("after a rolled-back savepoint");
    outer.commit();
  }

  // Another connection: a second instance on the same folder, and raw SQL.
  {
    Instance second = lamin::connect(dir / "inst");
    second->set_feature_values(score, {{a[1].id, 0.0001}});
  }
  rank_and_check("a score changed by another connection");
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((dir / "inst/.lamindb/lamin.db").c_str(), &db), SQLITE_OK);
    sqlite3_stmt* s = nullptr;
    // Give the best artifact rank 5, behind the registry's back.
    const char* sql =
        "UPDATE lamindb_artifactjsonvalue SET jsonvalue_id = (SELECT id FROM lamindb_jsonvalue WHERE feature_id = ?1 "
        "AND value = '5') WHERE artifact_id = ?2 AND jsonvalue_id IN (SELECT id FROM lamindb_jsonvalue WHERE "
        "feature_id = ?1)";
    ASSERT_EQ(sqlite3_prepare_v2(db, sql, -1, &s, nullptr), SQLITE_OK);
    sqlite3_bind_int64(s, 1, rank.id);
    sqlite3_bind_int64(s, 2, a[1].id);
    EXPECT_EQ(sqlite3_step(s), SQLITE_DONE);
    sqlite3_finalize(s);
    sqlite3_close(db);
  }
  EXPECT_EQ(instance->get_values(a[1])["model_rank"], 5);
  rank_and_check("a rank changed by raw SQL from another connection");
  EXPECT_EQ(instance->get_values(a[1])["model_rank"], 0);
}

TEST_F(RankTest, GathersThinlySpreadRankLinksAndKeepsRankingRight) {
  // 300 checkpoints, each with its score, rank and flag links side by side, as saves leave them: a new best moves
  // every rank, and the moved links are replaced by links that lie together at the table's end (so that later saves
  // rewrite a few table pages, not one per checkpoint).
  const QuerySpec spec = under("run/checkpoints/");
  std::vector<Artifact> a;
  {
    Transaction tx(instance);
    for (int i = 0; i < 300; ++i) {
      a.push_back(make("run/checkpoints/m" + std::to_string(i) + ".ckpt"));
      instance->add_values(a.back(), {{score, 300.0 - i}, {rank, 299 - i}, {flag, i == 299}});  // later is better
    }
    tx.commit();
  }
  EXPECT_EQ(instance->rank_artifacts(spec, score, rank, false), 0);  // already right: nothing written

  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir / "inst/.lamindb/lamin.db").c_str(), &db), SQLITE_OK);
  // artifact id -> (link id, run id or -1, created_by_id) of its rank links
  auto rank_links = [&] {
    std::map<std::int64_t, std::vector<std::array<std::int64_t, 3>>> out;
    sqlite3_stmt* s = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db,
                                 "SELECT l.artifact_id, l.id, coalesce(l.run_id, -1), l.created_by_id FROM "
                                 "lamindb_artifactjsonvalue l JOIN lamindb_jsonvalue v ON v.id = l.jsonvalue_id "
                                 "WHERE v.feature_id = ?",
                                 -1, &s, nullptr),
              SQLITE_OK);
    sqlite3_bind_int64(s, 1, rank.id);
    while (sqlite3_step(s) == SQLITE_ROW) {
      out[sqlite3_column_int64(s, 0)].push_back(
          {sqlite3_column_int64(s, 1), sqlite3_column_int64(s, 2), sqlite3_column_int64(s, 3)});
    }
    sqlite3_finalize(s);
    return out;
  };
  auto id_span = [&](const std::vector<Artifact>& which) {
    const auto links = rank_links();
    std::int64_t lo = INT64_MAX, hi = INT64_MIN;
    for (const auto& x : which) {
      const auto& l = links.at(x.id);
      EXPECT_EQ(l.size(), 1u) << "artifact " << x.id;
      lo = std::min(lo, l.front()[0]);
      hi = std::max(hi, l.front()[0]);
    }
    return hi - lo + 1;
  };
  EXPECT_EQ(id_span(a), 3 * 299 + 1);  // three links per checkpoint, rank every third

  const auto before = rank_links();
  std::vector<Artifact> saved;
  for (int i = 0; i < 3; ++i) {
    SCOPED_TRACE("new best " + std::to_string(i));
    saved.push_back(make("run/checkpoints/best" + std::to_string(i) + ".ckpt"));
    instance->add_values(saved.back(), {{score, 0.5 - 0.1 * i}, {flag, false}});
    EXPECT_EQ(instance->rank_artifacts(spec, score, rank, false), 301 + i);  // every rank moves, one is new
    expect_ranked(spec);
    EXPECT_EQ(id_span(a), 300);  // the earlier checkpoints' rank links lie together
  }
  {
    // ... in rank order: by link id, a[299] .. a[0].
    std::vector<std::pair<std::int64_t, std::int64_t>> by_id;  // (link id, artifact id)
    for (const auto& [artifact, links] : rank_links()) by_id.emplace_back(links.front()[0], artifact);
    std::sort(by_id.begin(), by_id.end());
    std::vector<std::int64_t> artifacts;
    for (const auto& [link, artifact] : by_id) {
      if (artifact <= a.back().id) artifacts.push_back(artifact);
    }
    std::vector<std::int64_t> expected;
    for (auto x = a.rbegin(); x != a.rend(); ++x) expected.push_back(x->id);
    EXPECT_EQ(artifacts, expected);
  }
  // Replaced links are made by the current user (who made the old ones here) in the current run (none here), as
  // re-pointed ones are moved to it.
  const auto after = rank_links();
  for (const auto& x : a) {
    EXPECT_EQ(after.at(x.id).front()[1], -1);
    EXPECT_EQ(after.at(x.id).front()[2], before.at(x.id).front()[2]);
  }
  sqlite3_close(db);

  // What the registry remembers follows the new link ids: a change made now is seen, and a second connection that
  // reads everything afresh agrees.
  instance->set_feature_values(score, {{a[0].id, 0.0}});
  instance->rank_artifacts(spec, score, rank, false);
  expect_ranked(spec);
  EXPECT_EQ(instance->get_values(a[0])["model_rank"], 0);
  Instance second = lamin::connect(dir / "inst");
  EXPECT_EQ(second->rank_artifacts(spec, score, rank, false), 0);
}

TEST_F(RankTest, QueriesWithFeatureConditionsRankAllTheSame) {
  // Conditions on other features take the generic path; the result is the same.
  std::vector<Artifact> a;
  for (int i = 0; i < 5; ++i) {
    a.push_back(make("p/m" + std::to_string(i) + ".ckpt"));
    instance->add_values(a.back(), {{score, 5.0 - i}, {flag, i % 2 == 0}});
  }
  const QuerySpec flagged =
      instance->artifacts().key_startswith("p/").where(feature(flag) == true).all_branches().spec();
  EXPECT_EQ(instance->rank_artifacts(flagged, score, rank, false), 3);
  EXPECT_EQ(instance->get_values(a[4])["model_rank"], 0);
  EXPECT_EQ(instance->get_values(a[2])["model_rank"], 1);
  EXPECT_EQ(instance->get_values(a[0])["model_rank"], 2);
  EXPECT_FALSE(instance->get_values(a[1]).contains("model_rank"));
  expect_ranked(flagged);
}

}  // namespace
}  // namespace lamin::test
