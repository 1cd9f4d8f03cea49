// Several processes writing one instance, and a writer killed at random moments.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <set>
#include <random>
#include <thread>

#include <gtest/gtest.h>

#include "common/files.hpp"
#include "common/sql.hpp"
#include "lamin/db.hpp"

namespace lamin {
namespace {

namespace fs = std::filesystem;
using test::TempDir;
using test::write_file;

// Registers artifacts in a child process; returns the child's pid. The child never returns.
template <typename F>
pid_t spawn(F&& body) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    int rc = 0;
    try {
      body();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "child %d: %s\n", ::getpid(), e.what());
      rc = 1;
    }
    ::_exit(rc);
  }
  return pid;
}

TEST(Concurrency, ProcessesRegisteringAtOnceLoseNothing) {
  TempDir dir;
  { lamin::init(dir / "inst")->create_feature(FeatureOptions("worker", "int")); }
  constexpr int kWorkers = 4, kEach = 12, kVersions = 4;
  std::vector<pid_t> pids;
  for (int w = 0; w < kWorkers; ++w) {
    pids.push_back(spawn([&, w] {
      Instance inst = lamin::connect(dir / "inst");
      for (int i = 0; i < kEach; ++i) {
        const std::string name = "w" + std::to_string(w) + "/m" + std::to_string(i) + ".ckpt";
        auto a = inst->create_artifact(write_file(dir / "src" / name, name), ArtifactOptions(name));
        inst->add_values(a, {{"worker", w}});
        if (i < kVersions) {
          // Every worker also adds versions of one shared key.
          const std::string content = "cfg " + std::to_string(w) + " " + std::to_string(i);
          inst->create_artifact(write_file(dir / "src" / ("c" + std::to_string(w) + std::to_string(i) + ".yaml"), content),
                                ArtifactOptions("shared/config.yaml"));
        }
      }
    }));
  }
  for (pid_t pid : pids) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  Instance inst = lamin::connect(dir / "inst");
  EXPECT_EQ(inst->artifacts().suffix(".ckpt").count(), kWorkers * kEach);
  for (int w = 0; w < kWorkers; ++w) EXPECT_EQ(inst->artifacts().where(feature("worker") == w).count(), kEach);
  const auto versions = inst->artifacts().key("shared/config.yaml").order_by(Field::uid).all();
  ASSERT_EQ(versions.size(), static_cast<std::size_t>(kWorkers * kVersions));
  int latest = 0;
  for (std::size_t i = 0; i < versions.size(); ++i) {
    EXPECT_EQ(versions[i].stem_uid(), versions[0].stem_uid());
    EXPECT_EQ(base62_decode(versions[i].uid.substr(16)), i);  // 0000, 0001, ... no gaps, no duplicates
    latest += versions[i].is_latest;
  }
  EXPECT_EQ(latest, 1);
  EXPECT_TRUE(versions.back().is_latest);
  for (const auto& a : inst->artifacts().all()) EXPECT_TRUE(fs::exists(inst->storage_path(a))) << a.uid;
  EXPECT_EQ(test::Sql(dir / "inst/.lamindb/lamin.db").one("PRAGMA integrity_check"), "ok");
}

// What a killed writer may leave: records whose storage is marked in progress (file absent or complete), orphan or
// temporary files; never a record without the marker whose file is missing or incomplete.
int g_in_progress_seen = 0;

void check_consistent(Registry& reg, bool after_recover) {
  std::map<std::string, int> latest_per_stem;
  std::set<std::string> recorded;
  for (const auto& a : reg.artifacts().all_branches().include_incomplete().all()) {
    const fs::path p = reg.storage_path(a);
    recorded.insert(p.filename().string());
    const bool exists = fs::exists(p);
    if (a.storage_in_progress()) {
      EXPECT_FALSE(after_recover) << a.uid;
      if (exists) {
        EXPECT_EQ(hash_file(p).hash, a.hash) << "half-written file with a record: " << a.uid;
      }
      ++g_in_progress_seen;
    } else {
      ASSERT_TRUE(exists) << "record without its file: " << a.uid;
      EXPECT_EQ(static_cast<std::int64_t>(fs::file_size(p)), a.size) << a.uid;
      EXPECT_EQ(hash_file(p).hash, a.hash) << a.uid;
    }
    latest_per_stem[a.stem_uid()] += a.is_latest;
  }
  for (const auto& [stem, n] : latest_per_stem) EXPECT_EQ(n, 1) << "is_latest count of " << stem;
  // Files under their final names are complete; temporary files are only partial copies.
  for (const auto& e : fs::directory_iterator(reg.info().root / ".lamindb")) {
    const std::string name = e.path().filename().string();
    if (name.rfind("lamin.db", 0) == 0 || name == "storage_uid.txt") continue;
    if (name.rfind(".tmp-lamin-", 0) == 0) {
      EXPECT_FALSE(after_recover) << name;
      continue;
    }
  }
}

TEST(Concurrency, KilledWriterLeavesConsistentInstance) {
  TempDir dir;
  { lamin::init(dir / "inst")->create_feature(FeatureOptions("step", "int")); }
  std::mt19937 rng(12345);
  // Sources are prepared up front so that the child only registers.
  std::vector<fs::path> sources;
  for (int i = 0; i < 24; ++i) {
    const std::size_t size = 1000 + (rng() % (3u << 20));
    std::string content(size, static_cast<char>('a' + i % 26));
    content += std::to_string(i);
    sources.push_back(write_file(dir / ("src/s" + std::to_string(i) + ".ckpt"), content));
  }
  int kills = 0;
  for (int round = 0; round < 10; ++round) {
    const pid_t pid = spawn([&, round] {
      Instance inst = lamin::connect(dir / "inst");
      for (int i = 0;; ++i) {
        const auto& src = sources[static_cast<std::size_t>((round * 7 + i) % static_cast<int>(sources.size()))];
        // Versions of a few keys, copies (not links) so that storage takes time.
        const std::string key = "k" + std::to_string(i % 5) + ".ckpt";
        auto a = inst->create_artifact(src, ArtifactOptions(key).skip_hash_lookup(true));
        inst->add_values(a, {{"step", i}});
        if (i % 3 == 0) {
          auto old = inst->artifacts().key(key).is_latest(false).first();
          if (old) inst->delete_artifact(*old);
        }
      }
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(20 + rng() % 120));
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (WIFSIGNALED(status)) ++kills;
    Instance inst = lamin::connect(dir / "inst");
    check_consistent(*inst, false);
  }
  EXPECT_GE(kills, 8);
  std::printf("%d kills, %d interrupted artifacts seen\n", kills, g_in_progress_seen);
  Instance inst = lamin::connect(dir / "inst");
  EXPECT_GT(inst->artifacts().count(), 0);
  inst->recover(0);
  check_consistent(*inst, true);
  EXPECT_EQ(test::Sql(dir / "inst/.lamindb/lamin.db").one("PRAGMA integrity_check"), "ok");
  EXPECT_EQ(test::Sql(dir / "inst/.lamindb/lamin.db").one("SELECT count(*) FROM pragma_foreign_key_check"), "0");
}

}  // namespace
}  // namespace lamin
