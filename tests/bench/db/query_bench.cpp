// A feature query over many artifacts.
//
//   lamin_bench_query [N_ARTIFACTS=100000] [DIR=$TMPDIR]
//
// Fills an instance with N checkpoint records, each with a float `val_loss`, a bool `is_best_model` and an int
// `epoch` value, written in bulk with the same rows the registry writes (no files: the query does not read them).
// Then times `artifacts().where(feature("val_loss") < 0.05)` (count and first page), a combined query, and the
// same query without lamin-cpp's expression index.
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "lamin/db.hpp"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

static void exec(sqlite3* db, const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::fprintf(stderr, "%s: %s\n", sql.c_str(), err);
    std::exit(1);
  }
}

template <typename F>
static double median_ms(F&& f, int n = 21) {
  std::vector<double> t;
  for (int i = 0; i < n; ++i) {
    auto s = Clock::now();
    f();
    t.push_back(std::chrono::duration<double, std::milli>(Clock::now() - s).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 100000;
  const fs::path base = argc > 2 ? fs::path(argv[2]) : fs::temp_directory_path();
  const fs::path dir = base / ("lamin-bench-query-" + std::to_string(::getpid()));
  std::int64_t f_loss = 0, f_best = 0, f_epoch = 0;
  {
    auto inst = lamin::init(dir);
    f_loss = inst->create_feature(lamin::FeatureOptions("val_loss", "float")).id;
    f_best = inst->create_feature(lamin::FeatureOptions("is_best_model", "bool")).id;
    f_epoch = inst->create_feature(lamin::FeatureOptions("epoch", "int")).id;
  }
  auto t0 = Clock::now();
  {
    sqlite3* db = nullptr;
    sqlite3_open((dir / ".lamindb/lamin.db").c_str(), &db);
    exec(db, "BEGIN");
    sqlite3_stmt *art, *val, *link;
    sqlite3_prepare_v2(db,
                       "INSERT INTO lamindb_artifact (uid, key, suffix, kind, size, hash, _hash_type, is_latest, "
                       "_key_is_virtual, _overwrite_versions, storage_id, created_by_id, _aux) VALUES "
                       "(?, ?, '.ckpt', 'model', 1000, ?, 'md5', 1, 1, 0, 1, 1, NULL)",
                       -1, &art, nullptr);
    sqlite3_prepare_v2(db,
                       "INSERT OR IGNORE INTO lamindb_jsonvalue (feature_id, value, hash, created_by_id) "
                       "VALUES (?, ?, ?, 1)",
                       -1, &val, nullptr);
    sqlite3_prepare_v2(db,
                       "INSERT INTO lamindb_artifactjsonvalue (artifact_id, jsonvalue_id, created_by_id) VALUES "
                       "(?, (SELECT id FROM lamindb_jsonvalue WHERE feature_id = ? AND hash = ?), 1)",
                       -1, &link, nullptr);
    std::mt19937_64 rng(7);
    std::uniform_real_distribution<double> loss(0.0, 1.0);
    auto add_value = [&](std::int64_t artifact_id, std::int64_t feature_id, const nlohmann::json& v) {
      const std::string text = lamin::python_json_dumps(v), hash = lamin::json_value_hash(v);
      sqlite3_reset(val);
      sqlite3_bind_int64(val, 1, feature_id);
      sqlite3_bind_text(val, 2, text.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(val, 3, hash.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_step(val);
      sqlite3_reset(link);
      sqlite3_bind_int64(link, 1, artifact_id);
      sqlite3_bind_int64(link, 2, feature_id);
      sqlite3_bind_text(link, 3, hash.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_step(link);
    };
    for (int i = 0; i < n; ++i) {
      const std::string uid = lamin::base62_uid(16) + "0000";
      const std::string key = "runs/r" + std::to_string(i / 100) + "/checkpoints/epoch=" + std::to_string(i % 100) + ".ckpt";
      const std::string hash = lamin::hash_string(uid);
      sqlite3_reset(art);
      sqlite3_bind_text(art, 1, uid.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(art, 2, key.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(art, 3, hash.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_step(art);
      const auto id = sqlite3_last_insert_rowid(db);
      add_value(id, f_loss, std::round(loss(rng) * 1e6) / 1e6);
      add_value(id, f_best, i % 100 == 99);
      add_value(id, f_epoch, i % 100);
    }
    sqlite3_finalize(art);
    sqlite3_finalize(val);
    sqlite3_finalize(link);
    exec(db, "COMMIT");
    exec(db, "ANALYZE");
    sqlite3_close(db);
  }
  std::printf("filled %d artifacts with 3 feature values each in %.1f s (%s)\n", n,
              std::chrono::duration<double>(Clock::now() - t0).count(), dir.c_str());

  auto inst = lamin::connect(dir);
  using lamin::feature;
  const auto q = inst->artifacts().where(feature("val_loss") < 0.05);
  std::int64_t count = 0;
  const double t_count = median_ms([&] { count = q.count(); });
  const double t_page = median_ms([&] { (void)q.order_by(lamin::Field::id).limit(20).all(); });
  const auto q2 = inst->artifacts().key_startswith("runs/r1").where(feature("val_loss") < 0.5)
                      .where(feature("is_best_model") == true);
  std::int64_t count2 = 0;
  const double t_combined = median_ms([&] { count2 = q2.count(); });
  std::int64_t count_all = 0;
  const double t_all = median_ms([&] { count_all = static_cast<std::int64_t>(q.all().size()); }, 5);
  std::printf("val_loss < 0.05: count (%lld matches)        : %7.2f ms\n", static_cast<long long>(count), t_count);
  std::printf("val_loss < 0.05: first 20 records             : %7.2f ms\n", t_page);
  std::printf("val_loss < 0.05: all %lld records             : %7.2f ms\n", static_cast<long long>(count_all), t_all);
  std::printf("key prefix + val_loss + is_best_model (%lld)   : %7.2f ms\n", static_cast<long long>(count2), t_combined);
  {
    sqlite3* db = nullptr;
    sqlite3_open((dir / ".lamindb/lamin.db").c_str(), &db);
    exec(db, "DROP INDEX lamin_cpp_jsonvalue_feature_id_real_value");
    exec(db, "DROP INDEX lamin_cpp_artifactjsonvalue_jsonvalue_id_artifact_id");
    exec(db, "DROP INDEX lamin_cpp_artifact_id_branch_id_aux");
    sqlite3_close(db);
  }
  {
    // A fresh connection: the registry would recreate the index on connect, so query through SQLite directly with
    // the same statement text.
    sqlite3* db = nullptr;
    sqlite3_open((dir / ".lamindb/lamin.db").c_str(), &db);
    sqlite3_stmt* s = nullptr;
    sqlite3_prepare_v2(db,
                       "SELECT count(*) FROM lamindb_artifact a WHERE a.branch_id = 1 AND a.id IN (SELECT l.artifact_id "
                       "FROM lamindb_artifactjsonvalue l JOIN lamindb_jsonvalue v ON v.id = l.jsonvalue_id WHERE "
                       "v.feature_id = ? AND CAST(v.value AS REAL) < ?)",
                       -1, &s, nullptr);
    const double t_noindex = median_ms([&] {
      sqlite3_reset(s);
      sqlite3_bind_int64(s, 1, f_loss);
      sqlite3_bind_double(s, 2, 0.05);
      sqlite3_step(s);
    });
    std::printf("val_loss < 0.05: count without lamin-cpp's indexes: %7.2f ms\n", t_noindex);
    sqlite3_finalize(s);
    sqlite3_close(db);
  }
  std::error_code ec;
  if (!std::getenv("LAMIN_BENCH_KEEP")) fs::remove_all(dir, ec);
  return 0;
}
