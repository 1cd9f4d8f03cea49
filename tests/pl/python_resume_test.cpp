// Resuming and fine-tuning from checkpoints Python wrote: a Lightning-shaped checkpoint with AdamW, a StepLR and the
// states of ModelCheckpoint, EarlyStopping and Timer restores every one of them; a `save_weights_only` checkpoint
// and a bare `torch.save(model.state_dict())` file load weights, and resuming from the former names the cause;
// `strict(false)` skips missing and unexpected entries with Lightning's warnings. Python's torch writes the files at
// test time; the tests skip cleanly without it.

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <string>

#include "common/torch/training.hpp"
#include "core/pickle_fixtures.hpp"
#include "lamin/error.hpp"
#include "lamin/log.hpp"
#include "lamin/pl/checkpoint_io.hpp"
#include "lamin/pl/early_stopping.hpp"
#include "lamin/pl/model_checkpoint.hpp"
#include "lamin/pl/timer.hpp"
#include "lamin/pl/trainer.hpp"
#include "python_modules.hpp"

namespace pl = lamin::pl;
using pickle_fixtures::interpreter;
using pickle_fixtures::torch_fixtures;
using python_modules::fixture;
using python_modules::SequentialModule;

namespace {

/// Writes `full.ckpt` as Lightning 2.6 writes one in `on_train_epoch_end` of epoch 3 (two batches an epoch): AdamW
/// stepped three times under a StepLR(step_size=2, gamma=0.5), and the states of ModelCheckpoint (dirpath
/// `<out>/ckpts`, under the key Lightning gives it), EarlyStopping and Timer; and `weights_only.ckpt`, the same
/// checkpoint as `save_weights_only=True` writes it.
const char* const kLightningCheckpoints = R"PY(
import os, sys, torch
out = sys.argv[1]
mc_key = ("ModelCheckpoint{'monitor': 'val_loss', 'mode': 'min', 'every_n_train_steps': 0, 'every_n_epochs': 1, "
          "'train_time_interval': None}")
ckpts = os.path.join(out, 'ckpts')
torch.manual_seed(1)
model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
x = torch.randn(4, 3)
opt = torch.optim.AdamW(model.parameters(), lr=0.02, betas=(0.85, 0.95), weight_decay=0.05)
sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
for _ in range(3):
    model(x).sum().backward()
    opt.step()
    opt.zero_grad()
    sched.step()
p = lambda e: os.path.join(ckpts, 'epoch=%d.ckpt' % e)
progress = lambda n: {'ready': n, 'started': n, 'processed': n, 'completed': n}
ckpt = {
    'epoch': 3, 'global_step': 8, 'pytorch-lightning_version': '2.6.6', 'state_dict': model.state_dict(),
    'loops': {'fit_loop': {
        'state_dict': {},
        'epoch_progress': {'total': {'ready': 4, 'started': 4, 'processed': 4, 'completed': 3},
                           'current': {'ready': 4, 'started': 4, 'processed': 4, 'completed': 3}},
        'epoch_loop.state_dict': {'_batches_that_stepped': 8},
        'epoch_loop.batch_progress': {'total': progress(8), 'current': progress(2), 'is_last_batch': True}}},
    'callbacks': {
        mc_key: {'monitor': 'val_loss', 'best_model_score': torch.tensor(0.25), 'best_model_path': p(2),
                 'current_score': torch.tensor(0.5), 'dirpath': ckpts,
                 'best_k_models': {p(3): torch.tensor(0.5), p(2): torch.tensor(0.25)},
                 'kth_best_model_path': p(3), 'kth_value': torch.tensor(0.5), 'last_model_path': ''},
        "EarlyStopping{'monitor': 'val_loss', 'mode': 'min'}": {
            'wait_count': 1, 'stopped_epoch': 0, 'best_score': torch.tensor(0.25), 'patience': 3},
        'Timer': {'time_elapsed': {'train': 12.5, 'sanity_check': 0.0, 'validate': 1.0, 'test': 0.0, 'predict': 0.0}}},
    'optimizer_states': [opt.state_dict()], 'lr_schedulers': [sched.state_dict()],
    'hparams_name': 'kwargs', 'hyper_parameters': {'lr': 0.02},
}
torch.save(ckpt, os.path.join(out, 'full.ckpt'))
torch.save({k: v for k, v in ckpt.items() if k not in ('callbacks', 'optimizer_states', 'lr_schedulers')},
           os.path.join(out, 'weights_only.ckpt'))
)PY";

/// SequentialModule with AdamW and a StepLR whose settings differ from the saved ones, logging `val_loss`.
struct FineTuned : SequentialModule {
  using SequentialModule::SequentialModule;
  torch::Tensor training_step(const pl::Batch& b, std::int64_t i) override {
    auto loss = SequentialModule::training_step(b, i);
    log("val_loss", loss, pl::LogOptions().on_step(false).on_epoch(true));
    return loss;
  }
  pl::OptimizerConfig configure_optimizers() override {
    auto adamw = std::make_shared<torch::optim::AdamW>(parameters(), torch::optim::AdamWOptions(0.5));
    pl::SchedulerConfig step_lr;
    step_lr.scheduler = std::make_shared<pl::StepLR>(*adamw, 5, 0.9);
    return pl::OptimizerConfig(adamw, step_lr);
  }
};

/// What the trainer holds when training starts, after the checkpoint was restored.
struct RestoredProbe : pl::Callback {
  std::string state_key() const override { return "RestoredProbe"; }
  void on_train_start(pl::Trainer& trainer, pl::LightningModule&) override {
    optimizer = &*trainer.optimizers().at(0);
    const auto& o = static_cast<const torch::optim::AdamWOptions&>(optimizer->param_groups().at(0).options());
    lr = o.lr();
    betas = o.betas();
    weight_decay = o.weight_decay();
    scheduler = trainer.lr_scheduler_configs().at(0).scheduler->state_dict();
    for (const auto& entry : optimizer->state()) {
      steps.push_back(static_cast<const torch::optim::AdamWParamState&>(*entry.second).step());
    }
  }
  torch::optim::Optimizer* optimizer = nullptr;
  double lr = 0, weight_decay = 0;
  std::tuple<double, double> betas;
  nlohmann::json scheduler;
  std::vector<std::int64_t> steps;
};

struct Written {
  std::string full, weights_only, ckpts;
};

/// Python's files for this test, in `tmp`; empty paths when Python could not write them.
Written write_lightning_checkpoints(const lamin::test::TempDir& tmp) {
  std::string out;
  if (pickle_fixtures::run_python(kLightningCheckpoints, tmp.str(), &out) != 0) {
    ADD_FAILURE() << out;
    return {};
  }
  return {(tmp / "full.ckpt").string(), (tmp / "weights_only.ckpt").string(), (tmp / "ckpts").string()};
}

std::map<std::string, at::Tensor> tensors_of(torch::nn::Module& m) {
  std::map<std::string, at::Tensor> out;
  for (const auto& p : m.named_parameters()) out[p.key()] = p.value();
  for (const auto& b : m.named_buffers()) out[b.key()] = b.value();
  return out;
}

bool warned_about(const lamin::log::WarningCapture& warnings, const std::string& message) {
  for (const auto& w : warnings.messages()) {
    if (w == message) return true;
  }
  return false;
}

}  // namespace

TEST(PythonResume, ALightningCheckpointRestoresOptimizerSchedulerAndEveryCallbackState) {
  REQUIRE_TORCH();
  lamin::test::TempDir tmp("py_full_resume");
  const std::string ckpts = (tmp / "ckpts").string();
  auto mc = std::make_shared<pl::ModelCheckpoint>(pl::ModelCheckpointOptions().dirpath(ckpts).monitor("val_loss"));
  EXPECT_EQ(mc->state_key(), "ModelCheckpoint{'monitor': 'val_loss', 'mode': 'min', 'every_n_train_steps': 0, "
                             "'every_n_epochs': 1, 'train_time_interval': None}");
  const Written files = write_lightning_checkpoints(tmp);
  ASSERT_FALSE(files.full.empty());
  auto es = std::make_shared<pl::EarlyStopping>("val_loss", /*patience=*/10);
  auto timer = std::make_shared<pl::Timer>();
  auto probe = std::make_shared<RestoredProbe>();
  torch::manual_seed(0);
  const at::Tensor x = torch::randn({8, 3}), y = torch::randn({8, 1});
  FineTuned m;
  pl::Trainer trainer(lamin::test::quiet_options(tmp.str()).enable_checkpointing(true).max_epochs(6).callbacks(
      {mc, es, timer, probe}));
  lamin::log::WarningCapture warnings;
  trainer.fit(m, pl::DataLoader::from_tensors(x, y, 4), pl::DataLoader{}, files.full);

  for (const auto& w : warnings.messages()) EXPECT_EQ(w.find("Please add the following callbacks"), std::string::npos);
  // AdamW: the saved group's hyperparameters and per-parameter steps.
  EXPECT_EQ(probe->lr, 0.01);
  EXPECT_EQ(std::get<0>(probe->betas), 0.85);
  EXPECT_EQ(std::get<1>(probe->betas), 0.95);
  EXPECT_EQ(probe->weight_decay, 0.05);
  EXPECT_EQ(probe->steps, std::vector<std::int64_t>(4, 3));
  // StepLR: PyTorch's state, its own step_size and gamma included, replaces the configured one.
  EXPECT_EQ(probe->scheduler.at("last_epoch"), 3);
  EXPECT_EQ(probe->scheduler.at("step_size"), 2);
  EXPECT_EQ(probe->scheduler.at("gamma"), 0.5);
  EXPECT_EQ(probe->scheduler.at("base_lrs"), nlohmann::json({0.02}));
  const auto after = trainer.lr_scheduler_configs().at(0).scheduler->state_dict();
  const std::int64_t last_epoch = after.at("last_epoch");
  EXPECT_GT(last_epoch, 3);
  EXPECT_DOUBLE_EQ(probe->optimizer->param_groups().at(0).options().get_lr(),
                   0.02 * std::pow(0.5, static_cast<double>(last_epoch / 2)));
  // EarlyStopping: the saved patience replaces the configured one, as Lightning's load_state_dict does.
  EXPECT_EQ(es->patience(), 3);
  // Timer: the 12.5 s Python trained count toward this run.
  EXPECT_GE(timer->time_elapsed("train"), 12.5);
}

TEST(PythonResume, CallbackStatesAreThoseTheCheckpointHeldWhenTrainingStarts) {
  REQUIRE_TORCH();
  lamin::test::TempDir tmp("py_callback_states");
  const std::string ckpts = (tmp / "ckpts").string();
  auto mc = std::make_shared<pl::ModelCheckpoint>(pl::ModelCheckpointOptions().dirpath(ckpts).monitor("val_loss"));
  const Written files = write_lightning_checkpoints(tmp);
  ASSERT_FALSE(files.full.empty());
  auto es = std::make_shared<pl::EarlyStopping>("val_loss", /*patience=*/10);
  struct Snapshot : pl::Callback {
    std::shared_ptr<pl::ModelCheckpoint> mc;
    std::shared_ptr<pl::EarlyStopping> es;
    nlohmann::json mc_state, es_state;
    void on_train_start(pl::Trainer&, pl::LightningModule&) override {
      mc_state = mc->state_dict();
      es_state = es->state_dict();
    }
  };
  auto snapshot = std::make_shared<Snapshot>();
  snapshot->mc = mc;
  snapshot->es = es;
  torch::manual_seed(0);
  FineTuned m;
  pl::Trainer trainer(
      lamin::test::quiet_options(tmp.str()).enable_checkpointing(true).max_epochs(4).callbacks({mc, es, snapshot}));
  trainer.fit(m, pl::DataLoader::from_tensors(torch::randn({8, 3}), torch::randn({8, 1}), 4), pl::DataLoader{},
              files.full);
  EXPECT_EQ(trainer.global_step(), 8);  // the checkpoint ended epoch 3 of 4: nothing is left to train
  EXPECT_EQ(snapshot->mc_state.at("best_model_path"), ckpts + "/epoch=2.ckpt");
  EXPECT_EQ(snapshot->mc_state.at("best_model_score"), 0.25);
  EXPECT_EQ(snapshot->mc_state.at("kth_best_model_path"), ckpts + "/epoch=3.ckpt");
  EXPECT_EQ(snapshot->mc_state.at("kth_value"), 0.5);
  EXPECT_EQ(snapshot->es_state.at("wait_count"), 1);
  EXPECT_EQ(snapshot->es_state.at("patience"), 3);
  EXPECT_EQ(snapshot->es_state.at("best_score"), 0.25);
  // The top-k in the checkpoint's dict order, not sorted (the dirpath is the same).
  ASSERT_EQ(mc->best_k_models().size(), 2u);
  EXPECT_EQ(mc->best_k_models()[0].first, ckpts + "/epoch=3.ckpt");
  EXPECT_EQ(mc->best_k_models()[1].first, ckpts + "/epoch=2.ckpt");
}

TEST(PythonResume, AWeightsOnlyCheckpointLoadsWeightsAndResumingFromItNamesTheCause) {
  REQUIRE_TORCH();
  lamin::test::TempDir tmp("py_weights_only");
  const Written files = write_lightning_checkpoints(tmp);
  ASSERT_FALSE(files.full.empty());
  const auto from_full = pl::LightningModule::load_from_checkpoint<SequentialModule>(files.full);
  const auto m = pl::LightningModule::load_from_checkpoint<SequentialModule>(files.weights_only);
  EXPECT_EQ(m->given, nlohmann::json({{"lr", 0.02}}));
  const auto want = tensors_of(*from_full);
  for (const auto& [name, t] : tensors_of(*m)) EXPECT_TRUE(t.equal(want.at(name))) << name;

  FineTuned fresh;
  pl::Trainer trainer(lamin::test::quiet_options(tmp.str()).max_epochs(5));
  try {
    trainer.fit(fresh, pl::DataLoader::from_tensors(torch::randn({8, 3}), torch::randn({8, 1}), 4),
                pl::DataLoader{}, files.weights_only);
    FAIL() << "resumed from a checkpoint without optimizer state";
  } catch (const lamin::IntegrityError& e) {
    EXPECT_CONTAINS(e.what(), "contains only the model");
    EXPECT_CONTAINS(e.what(), files.weights_only);
  }
}

TEST(PythonResume, ABareStateDictFileLoadsIntoTheModule) {
  REQUIRE_TORCH();
  SequentialModule m;
  m.load_weights_from_checkpoint(fixture("state_dict.pt"));
  const pl::CheckpointDict saved = pl::load_checkpoint_file(fixture("state_dict.pt"));
  const auto mine = tensors_of(m);
  ASSERT_EQ(mine.size(), saved.size());
  for (const auto& entry : saved) {
    EXPECT_TRUE(mine.at(entry.key().toStringRef()).equal(entry.value().toTensor())) << entry.key().toStringRef();
  }
}

TEST(PythonResume, NotStrictSkipsMissingAndUnexpectedEntriesWithLightningsWarnings) {
  REQUIRE_TORCH();
  const std::string path = fixture("lightning.ckpt");
  struct Wider : SequentialModule {  // one layer more than the checkpoint
    Wider() { head = register_module("2", torch::nn::Linear(2, 1)); }
    torch::nn::Linear head{nullptr};
  };
  struct Narrower : pl::LightningModule {  // the checkpoint's BatchNorm is missing
    Narrower() { linear = register_module("0", torch::nn::Linear(3, 2)); }
    torch::Tensor training_step(const pl::Batch& b, std::int64_t) override { return linear->forward(b.data).sum(); }
    pl::OptimizerConfig configure_optimizers() override {
      return std::make_shared<torch::optim::SGD>(parameters(), 0.1);
    }
    torch::nn::Linear linear{nullptr};
  };
  struct Misshapen : pl::LightningModule {
    Misshapen() {
      register_module("0", torch::nn::Linear(3, 4));
      register_module("1", torch::nn::BatchNorm1d(4));
    }
    torch::Tensor training_step(const pl::Batch& b, std::int64_t) override { return b.data.sum(); }
    pl::OptimizerConfig configure_optimizers() override {
      return std::make_shared<torch::optim::SGD>(parameters(), 0.1);
    }
  };
  const auto reference = tensors_of(*pl::LightningModule::load_from_checkpoint<SequentialModule>(path));

  Wider wider;
  EXPECT_CONTAINS(pickle_fixtures::error_of([&] { wider.load_weights_from_checkpoint(path); }),
                  "Missing key \"2.weight\"");
  const at::Tensor head_before = wider.head->weight.clone();
  {
    lamin::log::WarningCapture warnings;
    wider.load_weights_from_checkpoint(path, pl::LoadOptions().strict(false));
    EXPECT_TRUE(warned_about(warnings, "Found keys that are in the model state dict but not in the checkpoint: "
                                       "['2.weight', '2.bias']"));
  }
  EXPECT_TRUE(wider.head->weight.equal(head_before));
  EXPECT_TRUE(wider.linear->weight.equal(reference.at("0.weight")));
  EXPECT_TRUE(wider.norm->running_var.equal(reference.at("1.running_var")));

  Narrower narrower;
  {
    lamin::log::WarningCapture warnings;
    narrower.load_weights_from_checkpoint(path, pl::LoadOptions().strict(false));
    EXPECT_TRUE(warned_about(warnings, "Found keys that are not in the model state dict but in the checkpoint: "
                                       "['1.weight', '1.bias', '1.running_mean', '1.running_var', "
                                       "'1.num_batches_tracked']"));
  }
  EXPECT_TRUE(narrower.linear->weight.equal(reference.at("0.weight")));

  Misshapen misshapen;
  EXPECT_CONTAINS(pickle_fixtures::error_of([&] {
                    misshapen.load_weights_from_checkpoint(path, pl::LoadOptions().strict(false));
                  }),
                  "size mismatch for 0.weight: copying a param with shape [2, 3] from checkpoint, the shape in "
                  "current model is [4, 3]");
}
