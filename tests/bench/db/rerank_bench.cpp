// Re-ranking N checkpoints under one key prefix, as ll::Checkpoint does after every save when the new checkpoint is
// the best (every earlier model_rank shifts by one).
//
//   lamin_bench_rerank [N=1000] [ROUNDS=21] [DIR=$TMPDIR]
//
// One round: in one transaction, read score and model_rank of every artifact under the prefix, then set the shifted
// ranks; commit. The registry's batch calls (one read, a few set statements) are timed against their generic forms
// (Registry::feature_values_of_artifacts per feature and Registry::set_feature_values: a remove and an add per
// artifact), in the same run on the same instance. Then Registry::rank_artifacts, which does the whole re-ranking
// in one call, after a new best checkpoint each round.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "lamin/db.hpp"
#include "lamin/log.hpp"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n == 0 ? 0.0 : n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

struct Round {
  double read_ms, set_ms, commit_ms;
};

// One re-ranking: every artifact's rank becomes `offset + position`.
Round rerank(lamin::Instance& inst, bool generic, const lamin::Feature& score, const lamin::Feature& rank,
             const lamin::QuerySpec& spec, std::int64_t offset) {
  lamin::Registry& r = inst.get();
  const auto t0 = Clock::now();
  lamin::Transaction tx(inst);
  std::vector<std::map<std::int64_t, std::vector<json>>> read;
  if (generic) {
    read.push_back(r.Registry::feature_values_of_artifacts(score, spec));
    read.push_back(r.Registry::feature_values_of_artifacts(rank, spec));
  } else {
    read = r.feature_values_of_artifacts({score, rank}, spec);
  }
  const auto t1 = Clock::now();
  std::vector<std::pair<std::int64_t, double>> by_score;
  for (const auto& [id, values] : read[0]) by_score.emplace_back(id, values.front().get<double>());
  std::stable_sort(by_score.begin(), by_score.end(), [](const auto& a, const auto& b) { return a.second < b.second; });
  std::vector<std::pair<std::int64_t, json>> targets;
  for (std::size_t i = 0; i < by_score.size(); ++i) {
    targets.emplace_back(by_score[i].first, offset + static_cast<std::int64_t>(i));
  }
  if (generic) {
    r.Registry::set_feature_values(rank, targets);
  } else {
    r.set_feature_values(rank, targets);
  }
  const auto t2 = Clock::now();
  tx.commit();
  const auto t3 = Clock::now();
  auto ms = [](Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double, std::milli>(b - a).count();
  };
  return {ms(t0, t1), ms(t1, t2), ms(t2, t3)};
}

}  // namespace

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 1000;
  const int rounds = argc > 2 ? std::atoi(argv[2]) : 21;
  const fs::path base = argc > 3 ? fs::path(argv[3]) : fs::temp_directory_path();
  if (n <= 0 || rounds <= 0) {
    std::fprintf(stderr, "usage: lamin_bench_rerank [N>0] [ROUNDS>0] [DIR]\n");
    return 2;
  }
  lamin::log::set_level(lamin::log::Level::error);
  const fs::path dir = base / ("lamin-bench-rerank-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  auto inst = lamin::init(dir / "instance");
  const auto score = inst->create_feature(lamin::FeatureOptions("score", "float"));
  const auto rank = inst->create_feature(lamin::FeatureOptions("model_rank", "int"));
  const auto best = inst->create_feature(lamin::FeatureOptions("is_best_model", "bool"));
  const auto last = inst->create_feature(lamin::FeatureOptions("is_last_model", "bool"));
  {
    lamin::Transaction tx(inst);
    const fs::path f = dir / "tiny.ckpt";
    for (int i = 0; i < n; ++i) {
      std::ofstream(f) << "checkpoint " << i;
      auto a = inst->create_artifact(
          f, lamin::ArtifactOptions("run/checkpoints/epoch=" + std::to_string(i) + ".ckpt").skip_hash_lookup(true));
      inst->add_values(a, {{score, 0.5 + i / 1000.0}, {rank, i}, {best, i == 0}, {last, i == n - 1}});
    }
    tx.commit();
  }
  const auto spec = inst->artifacts().key_startswith("run/checkpoints/").all_branches().spec();

  std::printf("re-ranking %d checkpoints, every rank shifting (median of %d rounds; generic: 3 rounds)\n", n, rounds);
  std::printf("  %-36s %9s %9s %9s %9s\n", "", "read ms", "set ms", "commit ms", "total ms");
  double totals[2] = {0, 0};
  std::int64_t offset = 1;
  for (const bool generic : {false, true}) {
    std::vector<double> read, set, commit, total;
    for (int i = 0; i < (generic ? 3 : rounds); ++i) {
      const Round r = rerank(inst, generic, score, rank, spec, offset++);
      read.push_back(r.read_ms);
      set.push_back(r.set_ms);
      commit.push_back(r.commit_ms);
      total.push_back(r.read_ms + r.set_ms + r.commit_ms);
    }
    totals[generic] = median(total);
    std::printf("  %-36s %9.2f %9.2f %9.2f %9.2f\n",
                generic ? "generic calls (per artifact)" : "batch calls (SQLite backend)", median(read),
                median(set), median(commit), totals[generic]);
  }
  std::printf("  batch: %.1f us per shifted rank, %.0fx faster than the generic calls\n", 1000.0 * totals[0] / n,
              totals[1] / totals[0]);

  // Registry::rank_artifacts, as ll::Checkpoint calls it after a save: a new best checkpoint arrives (created
  // untimed), and every earlier rank shifts. The SQLite backend re-reads only the new artifact.
  {
    std::vector<double> rank_ms;
    for (int i = 0; i < rounds; ++i) {
      const fs::path f = dir / "new.ckpt";
      std::ofstream(f) << "new best " << i;
      auto a = inst->create_artifact(
          f, lamin::ArtifactOptions("run/checkpoints/best-" + std::to_string(i) + ".ckpt").skip_hash_lookup(true));
      inst->add_values(a, {{score, -1.0 - i}});
      const auto t0 = Clock::now();
      lamin::Transaction tx(inst);
      const auto written = inst->rank_artifacts(spec, score, rank, false);
      tx.commit();
      rank_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
      if (written < n) {
        std::fprintf(stderr, "rank_artifacts wrote %lld ranks, expected at least %d\n",
                     static_cast<long long>(written), n);
        return 1;
      }
    }
    const double r = median(rank_ms);
    std::printf("  %-36s %29s %9.2f\n", "rank_artifacts (new best each round)", "", r);
    std::printf("  rank_artifacts: %.2fx the time of the batch calls' read, set and commit\n", r / totals[0]);
  }
  lamin::finish();
  fs::remove_all(dir);
  return 0;
}
