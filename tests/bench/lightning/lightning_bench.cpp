// What ll::Checkpoint adds to a checkpoint save, measured in one run against plain pl::ModelCheckpoint:
//   1. small model: mean time of a save (file write + registry work) with Checkpoint vs ModelCheckpoint;
//   2. the median save with 1,000 earlier checkpoints under the same key prefix (scored and ranked) vs an empty
//      prefix, the two alternating in rounds;
//   3. optionally a big model (size in MiB as the second argument): the registry's share of the save.
//
//   lamin_bench_lightning [epochs=40] [big_model_MiB=0]

#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "common/files.hpp"
#include "common/torch/training.hpp"
#include "lamin/db.hpp"
#include "lamin/lightning.hpp"
#include "lamin/log.hpp"
#include "lamin/pl/trainer.hpp"

namespace fs = std::filesystem;
namespace ll = lamin::lightning;
namespace pl = lamin::pl;
using Clock = std::chrono::steady_clock;

namespace {

struct Model : pl::LightningModule {
  torch::nn::Linear a{nullptr}, b{nullptr};
  // Where each new checkpoint's score lands among 1,000 earlier ones scored 0.6 .. 1.6 (lower is better).
  enum class Scores { improving, middle, worst } scores = Scores::improving;
  std::int64_t epoch_offset = 0;  // continues an earlier training's improving scores
  explicit Model(std::int64_t hidden) {
    a = register_module("a", torch::nn::Linear(16, hidden));
    b = register_module("b", torch::nn::Linear(hidden, 1));
  }
  torch::Tensor training_step(const pl::Batch& batch, std::int64_t) override {
    auto loss = torch::mse_loss(b->forward(torch::relu(a->forward(batch.data))), batch.target);
    // improving: every save is a new best (every earlier rank shifts); middle: about half the ranks shift; worst:
    // every save is the worst (none shifts).
    const auto e = static_cast<double>(trainer().current_epoch() + epoch_offset);
    log("train_loss", scores == Scores::improving ? 1.0 / (e + 2.0)
                      : scores == Scores::middle  ? 1.1 + e * 1e-4
                                                  : 2.0 + e * 1e-3);
    return loss;
  }
  pl::OptimizerConfig configure_optimizers() override {
    return std::make_shared<torch::optim::SGD>(parameters(), torch::optim::SGDOptions(1e-3));
  }
};

// Notes when ModelCheckpoint has written a file (it notifies loggers right after the write), so that a save's time
// splits into the file write and what follows it (the registry's work for ll::Checkpoint), within the same save.
struct MarkLogger : pl::Logger {
  Clock::time_point written;
  std::string name() const override { return "mark"; }
  pl::LoggerVersion version() override { return std::int64_t{0}; }
  std::optional<std::string> save_dir() const override { return std::nullopt; }
  void log_metrics(const pl::MetricMap&, std::int64_t) override {}
  void after_save_checkpoint(const std::string&) override { written = Clock::now(); }
};

// Times every save (and eviction) of the wrapped callback.
template <typename Base>
struct Timed : Base {
  using Base::Base;
  std::shared_ptr<MarkLogger> mark = std::make_shared<MarkLogger>();
  std::vector<double> saves, writes, after_write;
  std::vector<double> removes;
  void _save_checkpoint(pl::Trainer& t, const std::string& f) override {
    const auto start = Clock::now();
    Base::_save_checkpoint(t, f);
    const auto end = Clock::now();
    saves.push_back(std::chrono::duration<double, std::milli>(end - start).count());
    writes.push_back(std::chrono::duration<double, std::milli>(mark->written - start).count());
    after_write.push_back(std::chrono::duration<double, std::milli>(end - mark->written).count());
  }
  void _remove_checkpoint(pl::Trainer& t, const std::string& f) override {
    const auto start = Clock::now();
    Base::_remove_checkpoint(t, f);
    removes.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
  }
};

// The median of v[skip, end): saves share the machine's disk, whose fsync latency now and then jumps for a few
// saves, and a mean of a few dozen saves follows those jumps.
double median(std::vector<double> v, std::size_t skip = 0, std::size_t end = SIZE_MAX) {
  v = std::vector<double>(v.begin() + static_cast<std::ptrdiff_t>(std::min(skip, v.size())),
                          v.begin() + static_cast<std::ptrdiff_t>(std::min(end, v.size())));
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

double mean(const std::vector<double>& v, std::size_t skip = 0) {
  double s = 0;
  for (std::size_t i = skip; i < v.size(); ++i) s += v[i];
  return v.size() > skip ? s / static_cast<double>(v.size() - skip) : 0.0;
}

pl::TrainerOptions options(const std::string& root, std::int64_t epochs) {
  return lamin::test::quiet_options(root).enable_checkpointing(true).max_epochs(epochs);
}

pl::DataLoader data() { return lamin::test::random_dataloader(8, 16, 8); }

struct Times {
  std::vector<double> saves, removes, writes, after_write;
};

Times run_plain(const fs::path& dir, std::int64_t epochs, std::int64_t hidden, std::int64_t top_k = -1) {
  auto cb = std::make_shared<Timed<pl::ModelCheckpoint>>(pl::ModelCheckpointOptions()
                                                             .dirpath((dir / ("plain" + std::to_string(top_k))).string())
                                                             .monitor("train_loss")
                                                             .save_top_k(top_k));
  pl::Trainer trainer(options(dir.string(), epochs).callbacks({cb}).logger(cb->mark));
  Model m(hidden);
  trainer.fit(m, data());
  return {cb->saves, cb->removes, cb->writes, cb->after_write};
}

Times run_lamin(const fs::path& dir, const lamin::Instance& inst, const std::string& sub, std::int64_t epochs,
                std::int64_t hidden, Model::Scores scores = Model::Scores::improving, std::int64_t top_k = -1,
                std::int64_t epoch_offset = 0) {
  auto cb = std::make_shared<Timed<ll::Checkpoint>>(ll::CheckpointOptions()
                                                        .dirpath((dir / sub).string())
                                                        .monitor("train_loss")
                                                        .save_top_k(top_k)
                                                        .instance(inst));
  pl::Trainer trainer(options(dir.string(), epochs).callbacks({cb}).logger(cb->mark));
  Model m(hidden);
  m.scores = scores;
  m.epoch_offset = epoch_offset;
  trainer.fit(m, data());
  return {cb->saves, cb->removes, cb->writes, cb->after_write};
}

}  // namespace

int main(int argc, char** argv) {
  const std::int64_t epochs = argc > 1 ? std::stoll(argv[1]) : 40;
  const std::int64_t big_mib = argc > 2 ? std::stoll(argv[2]) : 0;
  lamin::log::set_level(lamin::log::Level::error);
  const lamin::test::TempDir scratch("bench_lightning");
  const fs::path dir = scratch.path();

  // 1. Small model (16 -> 64 -> 1, ~5 KB checkpoints).
  auto inst = lamin::init(dir / "instance");
  ll::save_lightning_features(inst);
  std::printf("small model (16 -> 64 -> 1), %lld epochs, a new best every epoch; mean per save (first excluded),\n"
              "eviction of the replaced checkpoint included\n", static_cast<long long>(epochs));
  for (std::int64_t top_k : {1, 3, -1}) {
    const Times plain = run_plain(dir, epochs, 64, top_k);
    const Times lam = run_lamin(dir, inst, "lamin" + std::to_string(top_k), epochs, 64, Model::Scores::improving, top_k);
    const double p = mean(plain.saves, 1) + mean(plain.removes, 1);
    const double l = mean(lam.saves, 1) + mean(lam.removes, 1);
    std::printf("  save_top_k=%-3lld ModelCheckpoint %7.3f ms   ll::Checkpoint %7.3f ms   added %7.3f ms (%.2fx);"
                " within ll::Checkpoint's saves: file write %.3f ms, registry %.3f ms\n",
                static_cast<long long>(top_k), p, l, l - p, l / p, mean(lam.writes, 1),
                mean(lam.after_write, 1) + mean(lam.removes, 1));
  }

  // 2. 1,000 earlier checkpoints under the same prefix, scored and ranked (a shared prefix: no run uid in keys).
  auto inst2 = lamin::init(dir / "instance2");
  ll::save_lightning_features(inst2);
  const std::string prefix = (dir / "shared").string() + "/checkpoints";
  {
    const auto features = ll::save_lightning_features(inst2);  // in lightning_feature_specs() order
    const auto& best = features[0];
    const auto& last = features[1];
    const auto& score = features[2];
    const auto& rank = features[3];
    const fs::path f = dir / "tiny.ckpt";
    lamin::Transaction tx(inst2);
    for (int i = 0; i < 1000; ++i) {
      std::ofstream(f) << "checkpoint " << i;
      auto a = inst2->create_artifact(
          f, lamin::ArtifactOptions(prefix + "/old-" + std::to_string(i) + ".ckpt").kind("model").skip_hash_lookup(true));
      // Scores 0.6 .. 1.6: all worse than the new run's (<= 0.5), so each new best shifts every rank.
      inst2->add_values(a, {{score, 0.6 + i / 1000.0}, {rank, i}, {best, i == 0}, {last, i == 999}});
    }
    tx.commit();
  }
  // Baseline: saves 2-11 of an empty prefix (1 to 10 earlier checkpoints), in the same instance. Baseline and crowded
  // trainings alternate in rounds, so that both see the same disk (its fsync latency drifts over a run); the first
  // save of every training is left out. Medians throughout.
  const std::int64_t rounds = 4;
  const std::int64_t per_round = std::max<std::int64_t>(2, epochs / rounds);
  std::vector<double> first, crowded;
  double gathering = 0.0;  // the first crowded save, which also gathers the setup's spread rank links
  for (std::int64_t r = 0; r < rounds; ++r) {
    const auto f = run_lamin(dir, inst2, "first_prefix_" + std::to_string(r), 11, 64).saves;
    first.insert(first.end(), f.begin() + 1, f.end());
    const auto c = run_lamin(dir, inst2, "shared", per_round, 64, Model::Scores::improving, -1, r * per_round).saves;
    crowded.insert(crowded.end(), c.begin() + 1, c.end());
    if (r == 0) gathering = c.front();
  }
  const double f1 = median(first);
  const double c1 = median(crowded);
  std::printf("\n1,000 earlier checkpoints under the prefix (each new save is the best: all ranks shift); median per save,\n"
              "%lld rounds of an empty-prefix training (11 saves) and a crowded one (%lld saves)\n",
              static_cast<long long>(rounds), static_cast<long long>(per_round));
  std::printf("  save, 1-10 earlier              : %8.3f ms\n", f1);
  std::printf("  save, 1,000+ earlier            : %8.3f ms  (%.2fx)\n", c1, c1 / f1);
  std::printf("  the first of them, which gathers the 1,000 rank links that lie among other links: %.3f ms\n",
              gathering);
  // The same, with new checkpoints ranked in the middle (about half the ranks shift), and worse than all earlier
  // ones (no rank shifts).
  const double m1 = median(run_lamin(dir, inst2, "shared", epochs, 64, Model::Scores::middle).saves, 1);
  std::printf("  save, 1,000+ earlier, half shift: %8.3f ms  (%.2fx)\n", m1, m1 / f1);
  const double w1 = median(run_lamin(dir, inst2, "shared", epochs, 64, Model::Scores::worst).saves, 1);
  std::printf("  save, 1,000+ earlier, no shift  : %8.3f ms  (%.2fx)\n", w1, w1 / f1);
  // The same registry work next to a 1 MiB checkpoint (16 -> 16384 -> 1) instead of a 5 KB one.
  {
    const std::int64_t hidden = 16384;
    const double mf1 = median(run_lamin(dir, inst2, "first_prefix_1mib", 11, hidden).saves, 1);
    const double mc = median(run_lamin(dir, inst2, "shared", 11, hidden).saves, 1);
    std::printf("  1 MiB checkpoints: save, 1-10 earlier %.3f ms; 1,000+ earlier, all ranks shift %.3f ms (%.2fx)\n",
                mf1, mc, mc / mf1);
  }

  // 3. Optionally a big model.
  if (big_mib > 0) {
    const std::int64_t hidden = big_mib * 1024 * 1024 / 4 / 17;
    auto inst3 = lamin::init(dir / "instance3");
    ll::save_lightning_features(inst3);
    const auto bp = run_plain(dir, 3, hidden);
    const auto bl = run_lamin(dir, inst3, "big", 3, hidden);
    const double bpm = mean(bp.saves, 1), blm = mean(bl.saves, 1);
    const double w = mean(bl.writes, 1), r = mean(bl.after_write, 1);
    std::printf("\n%lld MiB model, 3 saves each (first excluded)\n", static_cast<long long>(big_mib));
    std::printf("  ModelCheckpoint save          : %8.1f ms\n", bpm);
    std::printf("  ll::Checkpoint save           : %8.1f ms  (%+.1f%%)\n", blm, 100.0 * (blm - bpm) / bpm);
    std::printf("  within ll::Checkpoint's saves : file write %.1f ms, registry %.1f ms = %.1f%% of the write\n", w, r,
                100.0 * r / w);
  }
  return 0;
}
