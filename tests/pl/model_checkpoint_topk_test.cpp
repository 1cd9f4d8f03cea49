// ModelCheckpoint inside real Trainer::fit runs, continued (spec section 6.A): time intervals, top-k, scores (NaN
// included), reruns into the same folder, refits, resuming, last-file versioning and save counts.

#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "lamin/error.hpp"
#include "lamin/log.hpp"
#include "pl/model_checkpoint_fit.hpp"

using namespace mc_fit;  // NOLINT: the shared fixtures of the ModelCheckpoint fit tests

namespace {

class MockClock : public Recording {
 public:
  using Recording::Recording;

 protected:
  double monotonic_now() const override {
    const double t = now_;
    now_ += 7.0;
    return t;
  }

 private:
  mutable double now_ = 0.0;
};

}  // namespace

// 6.A.32
TEST(ModelCheckpointFit, TrainTimeInterval) {
  Root root;
  auto cb = std::make_shared<MockClock>(ModelCheckpointOptions()
                                            .dirpath(root / "ckpts")
                                            .filename("{epoch}-{step}")
                                            .save_top_k(-1)
                                            .train_time_interval(std::chrono::minutes(1)));
  auto m = std::make_shared<Scripted>();
  fit(base_options(root, 2).callbacks({cb}), *m, 64, 0);
  EXPECT_EQ(files_in(root / "ckpts").size(), 14u);
  EXPECT_EQ(name_of(cb->saved.front()), "epoch=0-step=9.ckpt");
}

// 6.A.34
TEST(ModelCheckpointFit, TopKAllOnEpoch) {
  Root root;
  auto cb = std::make_shared<ModelCheckpoint>(
      ModelCheckpointOptions().dirpath(root / "ckpts").monitor("epoch").mode("max").filename("{epoch}").save_top_k(-1));
  auto m = std::make_shared<Scripted>();
  fit(base_options(root, 3).callbacks({cb}), *m, 2, 0);
  EXPECT_EQ(cb->best_model_path(), root / "ckpts/epoch=2.ckpt");
  EXPECT_EQ(*cb->best_model_score(), 2);
  EXPECT_EQ(cb->best_k_models().size(), 3u);
  EXPECT_EQ(cb->kth_best_model_path(), root / "ckpts/epoch=0.ckpt");
  EXPECT_EQ(callback_state(root / "ckpts/epoch=2.ckpt", cb->state_key()).at("best_model_score"), 2);
}

// 6.A.36
TEST(ModelCheckpointFit, DefaultCheckpointing) {
  Root root;
  auto m = std::make_shared<Scripted>();
  pl::Trainer trainer(base_options(root, 3));
  trainer.fit(*m, loader(5), loader(5));
  EXPECT_EQ(files_in(root / "checkpoints"), Files{"epoch=2-step=15.ckpt"});
  EXPECT_EQ(trainer.checkpoint_callback()->best_model_path(), root / "checkpoints/epoch=2-step=15.ckpt");
}

// 6.A.37
TEST(ModelCheckpointFit, LastHasTheSameContentAsTheNewestFile) {
  Root root;
  auto cb = std::make_shared<ModelCheckpoint>(ModelCheckpointOptions()
                                                  .dirpath(root / "ckpts")
                                                  .monitor("early_stop_on")
                                                  .filename("{epoch}")
                                                  .save_top_k(3)
                                                  .save_last(true));
  auto m = std::make_shared<Scripted>();
  m->step_logs = [](Scripted& s, std::int64_t) { log_f(s, "early_stop_on", 1.0 / (s.trainer().current_epoch() + 1)); };
  fit(base_options(root, 3).callbacks({cb}), *m, 2, 0);
  const auto last = pl::load_checkpoint_file(root / "ckpts/last.ckpt");
  const auto newest = pl::load_checkpoint_file(root / "ckpts/epoch=2.ckpt");
  for (const char* key : {"epoch", "global_step"}) EXPECT_EQ(last.at(key).toInt(), newest.at(key).toInt());
  auto s1 = pl::ivalue_to_json(last.at("callbacks")), s2 = pl::ivalue_to_json(newest.at("callbacks"));
  s1.begin()->erase("last_model_path");
  s2.begin()->erase("last_model_path");
  EXPECT_EQ(s1, s2);
  const auto w1 = last.at("state_dict").toGenericDict(), w2 = newest.at("state_dict").toGenericDict();
  for (const auto& e : w1) EXPECT_TRUE(torch::equal(e.value().toTensor(), w2.at(e.key()).toTensor()));
}

// 6.A.38 and 6.A.40
TEST(ModelCheckpointFit, NaNScores) {
  const double nan = std::nan("");
  struct Case {
    const char* mode;
    std::vector<double> values;
    double best;
  };
  for (const Case& c : {Case{"max", {nan, 5, 7, 8}, 8}, Case{"min", {nan, 8, 7, 5}, 5}}) {
    Root root;
    auto cb = std::make_shared<Recording>(ModelCheckpointOptions().dirpath(root / "ckpts").monitor("abc").mode(c.mode));
    auto m = std::make_shared<Scripted>();
    m->val_logs = [&](Scripted& s) { s.log("abc", c.values[s.trainer().current_epoch()]); };
    fit(base_options(root, 4).callbacks({cb}), *m, 1, 1);
    EXPECT_EQ(cb->saved.size(), 4u) << c.mode;
    EXPECT_EQ(*cb->best_model_score(), c.best);
  }
  for (const char* mode : {"min", "max"}) {
    Root root;
    auto cb = std::make_shared<ModelCheckpoint>(ModelCheckpointOptions().dirpath(root / "ckpts").monitor("foo").mode(mode));
    auto m = std::make_shared<Scripted>();
    m->step_logs = [&](Scripted& s, std::int64_t) { log_f(s, "foo", nan); };
    fit(base_options(root, 1).callbacks({cb}), *m, 2, 0);
    const double inf = std::string(mode) == "min" ? std::numeric_limits<double>::infinity()
                                                  : -std::numeric_limits<double>::infinity();
    EXPECT_EQ(*cb->best_model_score(), inf);
    EXPECT_EQ(*cb->current_score(), inf);
  }
}

// 6.A.39
TEST(ModelCheckpointFit, CurrentScore) {
  Root root;
  auto cb = std::make_shared<Recording>(ModelCheckpointOptions().dirpath(root / "ckpts").monitor("foo").save_top_k(3));
  auto m = std::make_shared<Scripted>();
  m->step_logs = [](Scripted& s, std::int64_t) { log_f(s, "foo", (s.trainer().current_epoch() + 1) / 10.0); };
  fit(base_options(root, 3).callbacks({cb}), *m, 1, 0);
  EXPECT_EQ(*cb->current_score(), static_cast<double>(0.3f));
  std::vector<double> scores;
  for (const auto& f : cb->saved) scores.push_back(callback_state(f, cb->state_key()).at("current_score"));
  std::sort(scores.begin(), scores.end());
  EXPECT_EQ(scores, (std::vector<double>{0.1f, 0.2f, 0.3f}));
}

// 6.A.42 and 6.A.44
TEST(ModelCheckpointFit, RerunIntoTheSameFolder) {
  for (bool counter : {true, false}) {
    Root root;
    for (int run = 0; run < 2; ++run) {
      auto cb = std::make_shared<ModelCheckpoint>(ModelCheckpointOptions()
                                                      .dirpath(root / "ckpts")
                                                      .monitor("epoch")
                                                      .mode("max")
                                                      .save_top_k(-1)
                                                      .filename("{epoch}")
                                                      .save_last(!counter)
                                                      .enable_version_counter(counter));
      auto m = std::make_shared<Scripted>();
      fit(base_options(root, 2).callbacks({cb}), *m, 1, 0);
      Files names;
      for (const auto& [path, score] : cb->best_k_models()) names.insert(name_of(path));
      if (counter && run == 1) {
        EXPECT_EQ(names, (Files{"epoch=0-v1.ckpt", "epoch=1-v1.ckpt"}));
      }
      if (!counter) {
        EXPECT_EQ(names, (Files{"epoch=0.ckpt", "epoch=1.ckpt"}));
        EXPECT_EQ(name_of(cb->last_model_path()), "last.ckpt");
      }
    }
    const Files expected = counter ? Files{"epoch=0.ckpt", "epoch=1.ckpt", "epoch=0-v1.ckpt", "epoch=1-v1.ckpt"}
                                   : Files{"epoch=0.ckpt", "epoch=1.ckpt", "last.ckpt"};
    EXPECT_EQ(files_in(root / "ckpts"), expected);
  }
}

// 6.A.43
TEST(ModelCheckpointFit, RefitWithTheSameTrainer) {
  Root root;
  auto cb = std::make_shared<ModelCheckpoint>(
      ModelCheckpointOptions().dirpath(root / "ckpts").filename("test").monitor("epoch").mode("max").save_top_k(-1));
  cb->starting_version = 9;
  auto m = std::make_shared<Scripted>();
  pl::Trainer trainer(base_options(root, 2).callbacks({cb}));
  trainer.fit(*m, loader(1));
  trainer.mutable_options().max_epochs(4);
  trainer.fit(*m, loader(1));
  const Files expected{"test.ckpt", "test-v9.ckpt", "test-v10.ckpt", "test-v11.ckpt"};
  Files names;
  for (const auto& [path, score] : cb->best_k_models()) names.insert(name_of(path));
  EXPECT_EQ(names, expected);
  EXPECT_EQ(files_in(root / "ckpts"), expected);
}

// 6.A.45 and 6.A.46
TEST(ModelCheckpointFit, ValidationScheduleDecidesSaves) {
  {
    Root root;
    auto cb = std::make_shared<ModelCheckpoint>(
        ModelCheckpointOptions().dirpath(root / "ckpts").monitor("epoch").save_top_k(-1).filename("{epoch}"));
    auto m = std::make_shared<Scripted>();
    fit(base_options(root, 5).check_val_every_n_epoch(2).callbacks({cb}), *m, 1, 1);
    EXPECT_EQ(files_in(root / "ckpts"), (Files{"epoch=1.ckpt", "epoch=3.ckpt"}));
  }
  {
    Root root;
    auto cb = std::make_shared<ModelCheckpoint>(
        ModelCheckpointOptions().dirpath(root / "ckpts").monitor("val_acc").mode("max").save_top_k(-1));
    auto m = std::make_shared<Scripted>();
    m->val_logs = [](Scripted& s) { s.log("val_acc", 1.23); };
    fit(base_options(root, 1).val_check_interval(0.2).callbacks({cb}), *m, 10, 1);
    EXPECT_EQ(files_in(root / "ckpts"), (Files{"epoch=0-step=2.ckpt", "epoch=0-step=4.ckpt", "epoch=0-step=6.ckpt",
                                              "epoch=0-step=8.ckpt", "epoch=0-step=10.ckpt"}));
  }
}

// 6.A.47 and 6.A.50 (resume into another folder leaves the old one alone)
TEST(ModelCheckpointFit, ResumeIntoAnotherFolder) {
  Root root;
  auto first = std::make_shared<ModelCheckpoint>(ModelCheckpointOptions()
                                                     .filename("{step}")
                                                     .monitor("step")
                                                     .mode("max")
                                                     .save_last(true)
                                                     .save_top_k(2)
                                                     .every_n_train_steps(1));
  auto m = std::make_shared<Scripted>();
  fit(base_options(root, 1).callbacks({first}), *m, 3, 0);
  EXPECT_EQ(files_in(root / "checkpoints"), (Files{"last.ckpt", "step=2.ckpt", "step=3.ckpt"}));
  auto second = std::make_shared<ModelCheckpoint>(ModelCheckpointOptions()
                                                      .dirpath(root / "new")
                                                      .filename("{step}")
                                                      .monitor("step")
                                                      .mode("max")
                                                      .save_last(true)
                                                      .save_top_k(2)
                                                      .every_n_train_steps(1));
  auto m2 = std::make_shared<Scripted>();
  fit(base_options(root, 2).callbacks({second}), *m2, 3, 0, root / "checkpoints/step=3.ckpt");
  EXPECT_TRUE(fs::exists(root / "checkpoints/last.ckpt"));
  EXPECT_TRUE(fs::exists(root / "checkpoints/step=2.ckpt"));
}

// 6.A.48 and 6.A.49
TEST(ModelCheckpointFit, LastVersioningAndEveryNEpochs) {
  Root root;
  for (int run = 0; run < 2; ++run) {
    auto cb = std::make_shared<ModelCheckpoint>(
        ModelCheckpointOptions().dirpath(root / "ckpts").save_top_k(0).save_last(true));
    auto m = std::make_shared<Scripted>();
    fit(base_options(root, 2).callbacks({cb}), *m, 1, 0);
  }
  EXPECT_EQ(files_in(root / "ckpts"), (Files{"last.ckpt", "last-v1.ckpt"}));
  EXPECT_FALSE(fs::is_symlink(root / "ckpts/last-v1.ckpt"));
  for (int n : {0, 5}) {
    Root r;
    auto cb = std::make_shared<Recording>(ModelCheckpointOptions()
                                              .dirpath(r / "ckpts")
                                              .every_n_epochs(n)
                                              .save_top_k(0)
                                              .save_last(true)
                                              .save_on_train_epoch_end(true));
    auto m = std::make_shared<Scripted>();
    fit(base_options(r, 2).callbacks({cb}), *m, 1, 0);
    EXPECT_EQ(cb->saved.size(), 1u) << n;
    EXPECT_NE(cb->last_model_path(), "");
  }
}

// 6.A.51 and 6.A.52
TEST(ModelCheckpointFit, LastOnlyWhenSomethingWasSaved) {
  {
    Root root;
    auto cb = std::make_shared<ModelCheckpoint>(
        ModelCheckpointOptions().dirpath(root / "ckpts").save_last(true).save_on_train_epoch_end(false));
    auto m = std::make_shared<Scripted>();
    fit(base_options(root, 2).callbacks({cb}), *m, 2, 0);
    EXPECT_TRUE(fs::exists(root / "ckpts/last.ckpt"));
  }
  {
    Root root;
    auto cb = std::make_shared<ModelCheckpoint>(ModelCheckpointOptions()
                                                    .dirpath(root / "ckpts")
                                                    .filename("best-{epoch}-{val_loss:.2f}")
                                                    .monitor("val_loss")
                                                    .save_last(true)
                                                    .every_n_epochs(1)
                                                    .save_on_train_epoch_end(false));
    auto m = std::make_shared<Scripted>();
    m->val_logs = [](Scripted& s) {
      const auto e = s.trainer().current_epoch();
      s.log("val_loss", e % 2 == 0 ? 1.0 - 0.1 * e : 1.0 + 0.1 * e);
    };
    fit(base_options(root, 4).callbacks({cb}), *m, 2, 1);
    EXPECT_EQ(files_in(root / "ckpts"), (Files{"best-epoch=2-val_loss=0.80.ckpt", "last.ckpt"}));
  }
}

// 6.A.53
TEST(ModelCheckpointFit, SaveCounts) {
  struct Case {
    std::int64_t epochs;
    double interval;
    std::size_t saves;
    std::int64_t k;
    std::size_t monitored_saves;
  };
  for (const Case c : {Case{1, 1.0, 1, 1, 1}, Case{2, 1.0, 2, 2, 2}, Case{1, 0.25, 4, 2, 4}, Case{2, 0.3, 6, 2, 6}}) {
    for (const char* last : {"false", "true", "link"}) {
      Root root;
      auto plain = std::make_shared<Recording>(ModelCheckpointOptions().dirpath(root / "a").save_last(std::string(last)));
      auto monitored = std::make_shared<Recording>(ModelCheckpointOptions()
                                                       .dirpath(root / "b")
                                                       .monitor("my_loss")
                                                       .save_top_k(c.k)
                                                       .save_last(std::string(last)));
      auto m = std::make_shared<Scripted>();
      m->step_logs = [](Scripted& s, std::int64_t) { log_f(s, "my_loss", 1000.0 - s.trainer().global_step()); };
      fit(base_options(root, c.epochs).val_check_interval(c.interval).limit_val_batches(1).callbacks({plain, monitored}),
          *m, 64, 4);
      const std::size_t factor = std::string(last) == "true" ? 2 : 1;
      EXPECT_EQ(plain->saved.size(), c.saves * factor) << c.epochs << " " << c.interval << " " << last;
      EXPECT_EQ(monitored->saved.size(), c.monitored_saves * factor) << c.epochs << " " << c.interval << " " << last;
    }
  }
}

// 6.A.54 and 6.A.55
TEST(ModelCheckpointFit, StepAndTimeTriggersWithMetrics) {
  {
    Root root;
    auto cb = std::make_shared<ModelCheckpoint>(ModelCheckpointOptions()
                                                    .dirpath(root / "ckpts")
                                                    .monitor("train_score")
                                                    .mode("max")
                                                    .every_n_train_steps(1)
                                                    .every_n_epochs(0)
                                                    .save_on_train_epoch_end(false));
    auto m = std::make_shared<Scripted>();
    m->step_logs = [](Scripted& s, std::int64_t) { log_f(s, "train_score", s.trainer().global_step() + 1.0); };
    fit(base_options(root, 2).callbacks({cb}), *m, 2, 0);
    EXPECT_EQ(*cb->best_model_score(), 4.0);
  }
  struct Case {
    std::optional<std::int64_t> steps;
    bool time;
    std::optional<std::int64_t> check_val;
    std::vector<double> scores;
    std::int64_t epochs, batches;
    double interval;
  };
  const std::vector<Case> cases = {
      {2, false, 1, {0.1, 0.5, 1.0}, 3, 2, 1.0},          {std::nullopt, true, 1, {0.2, 0.4, 0.9}, 3, 2, 1.0},
      {2, false, 2, {0.1, 0.5, 1.0, 3.0}, 4, 2, 1.0},     {std::nullopt, true, 2, {0.2, 0.6}, 2, 2, 1.0},
      {1, false, 1, {0.1, 0.9}, 1, 4, 0.5},
  };
  for (const auto& c : cases) {
    Root root;
    auto o = ModelCheckpointOptions().dirpath(root / "ckpts").monitor("auroc").mode("max").save_on_train_epoch_end(false);
    if (c.steps) o.every_n_train_steps(*c.steps);
    if (c.time) o.train_time_interval(std::chrono::seconds(0));
    auto cb = std::make_shared<ModelCheckpoint>(o);
    auto m = std::make_shared<Scripted>();
    std::int64_t runs = 0;
    const bool by_run = c.interval != 1.0;
    m->val_logs = [&](Scripted& s) {
      const auto index = by_run ? runs++ : s.trainer().current_epoch();
      s.log("auroc", c.scores[std::min<std::size_t>(index, c.scores.size() - 1)]);
    };
    fit(base_options(root, c.epochs).check_val_every_n_epoch(c.check_val).val_check_interval(c.interval).callbacks({cb}),
        *m, c.batches, 1);
    ASSERT_TRUE(cb->best_model_score());
    EXPECT_EQ(*cb->best_model_score(), static_cast<double>(static_cast<float>(c.scores.back())));
  }
}

// 6.A.56
TEST(ModelCheckpointFit, LinkWithoutEpochSaves) {
  Root root;
  auto cb = std::make_shared<ModelCheckpoint>(
      ModelCheckpointOptions().dirpath(root / "ckpts").save_last("link").save_top_k(-1).every_n_epochs(10));
  auto m = std::make_shared<Scripted>();
  fit(base_options(root, 2).callbacks({cb}), *m, 2, 1);
  const std::string last = root / "ckpts/last.ckpt";
  ASSERT_TRUE(fs::exists(last));
  EXPECT_FALSE(fs::is_symlink(last));
}

// Ties with save_top_k=-1 go to the first path in dict order, for the best and for the kth (worst) alike.
TEST(ModelCheckpointFit, TopKAllTiesGoToTheFirstPath) {
  for (const char* mode : {"min", "max"}) {
    Root root;
    auto cb = std::make_shared<ModelCheckpoint>(
        ModelCheckpointOptions().dirpath(root / "ckpts").monitor("v").mode(mode).save_top_k(-1).filename("{epoch}"));
    auto m = std::make_shared<Scripted>();
    const bool min = std::string(mode) == "min";
    const std::vector<double> values = min ? std::vector<double>{0.5, 0.5, 0.4, 0.4, 0.6, 0.6}
                                           : std::vector<double>{0.5, 0.5, 0.6, 0.6, 0.4, 0.4};
    m->val_logs = [&](Scripted& s) { s.log("v", values[s.trainer().current_epoch()]); };
    fit(base_options(root, 6).callbacks({cb}), *m, 1, 1);
    EXPECT_EQ(name_of(cb->best_model_path()), "epoch=2.ckpt") << mode;
    EXPECT_EQ(name_of(cb->kth_best_model_path()), "epoch=4.ckpt") << mode;
    EXPECT_EQ(cb->best_k_models().size(), 6u);
  }
}
