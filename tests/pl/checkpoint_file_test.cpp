// The checkpoint file: Lightning's dict, torch.save's zip format, loading back, bad input, crash safety, resume.

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "common/process.hpp"
#include "common/torch/training.hpp"
#include "core/file_io.hpp"
#include "lamin/error.hpp"
#include "lamin/pl/checkpoint_io.hpp"
#include "lamin/pl/model_checkpoint.hpp"
#include "lamin/pl/trainer.hpp"

using namespace lamin::pl;
using namespace lamin::test;
namespace fs = std::filesystem;

namespace {

std::vector<std::string> sorted_keys(const CheckpointDict& d) {
  std::vector<std::string> keys;
  for (const auto& e : d) keys.push_back(e.key().toStringRef());
  std::sort(keys.begin(), keys.end());
  return keys;
}

std::string trained_checkpoint(const TempDir& root, bool weights_only, LinearModule& module) {
  auto [x, y] = regression_data(8);
  Trainer trainer(quiet_options(root.str()).max_epochs(2));
  trainer.fit(module, DataLoader::from_tensors(x, y, 4));
  const std::string path = (root / (weights_only ? "weights.ckpt" : "full.ckpt")).string();
  trainer.save_checkpoint(path, weights_only);
  return path;
}

}  // namespace

TEST(CheckpointFile, HoldsLightningsKeysAndLoadsBack) {
  TempDir root("ckpt_keys");
  LinearModule module(nlohmann::json{{"lr", 0.05}, {"width", 2}});
  const std::string path = trained_checkpoint(root, false, module);
  const CheckpointDict ckpt = load_checkpoint_file(path);
  EXPECT_EQ(sorted_keys(ckpt),
            (std::vector<std::string>{"callbacks", "epoch", "global_step", "hparams_name", "hyper_parameters", "loops",
                                      "lr_schedulers", "optimizer_states", "pytorch-lightning_version", "state_dict"}));
  EXPECT_EQ(ckpt.at("epoch").toInt(), 2);
  EXPECT_EQ(ckpt.at("global_step").toInt(), 4);
  EXPECT_EQ(ckpt.at("pytorch-lightning_version").toStringRef(), "2.6.6");
  EXPECT_EQ(ckpt.at("hparams_name").toStringRef(), "kwargs");
  EXPECT_EQ(ivalue_to_json(ckpt.at("hyper_parameters")), (nlohmann::json{{"lr", 0.05}, {"width", 2}}));
  auto state = ckpt.at("state_dict").toGenericDict();
  ASSERT_TRUE(state.contains("layer.weight"));
  EXPECT_TRUE(torch::equal(state.at("layer.weight").toTensor(), module.layer->weight));
  // SGD with momentum: PyTorch's layout, one state per parameter.
  auto opt = ckpt.at("optimizer_states").toList().get(0).toGenericDict();
  EXPECT_EQ(opt.at("state").toGenericDict().size(), 2u);
  EXPECT_DOUBLE_EQ(opt.at("param_groups").toList().get(0).toGenericDict().at("momentum").toDouble(), 0.9);
  const auto loops = ivalue_to_json(ckpt.at("loops"));
  EXPECT_EQ(loops["fit_loop"]["epoch_loop.state_dict"]["_batches_that_stepped"], 4);
}

TEST(CheckpointFile, WeightsOnlyHoldsOnlyTheWeightsAndCounters) {
  TempDir root("ckpt_weights");
  LinearModule module;
  const CheckpointDict ckpt = load_checkpoint_file(trained_checkpoint(root, true, module));
  EXPECT_EQ(sorted_keys(ckpt),
            (std::vector<std::string>{"epoch", "global_step", "loops", "pytorch-lightning_version", "state_dict"}));
}

TEST(CheckpointFile, LoadFromCheckpointRestoresWeightsAndHyperparameters) {
  TempDir root("ckpt_load");
  LinearModule module(nlohmann::json{{"lr", 0.05}});
  const std::string path = trained_checkpoint(root, false, module);
  auto loaded = LightningModule::load_from_checkpoint<LinearModule>(path);
  EXPECT_TRUE(torch::equal(loaded->layer->weight, module.layer->weight));
  EXPECT_TRUE(torch::equal(loaded->layer->bias, module.layer->bias));
  EXPECT_DOUBLE_EQ(loaded->lr, 0.05);
  EXPECT_EQ(loaded->hparams()["lr"], 0.05);
  EXPECT_FALSE(loaded->is_training());
}

TEST(CheckpointFile, MismatchedParametersAreListedByNameAndShape) {
  struct Wider : LightningModule {
    torch::nn::Linear layer{nullptr}, extra{nullptr};
    Wider() {
      layer = register_module("layer", torch::nn::Linear(3, 1));
      extra = register_module("extra", torch::nn::Linear(1, 1));
    }
    torch::Tensor training_step(const Batch&, std::int64_t) override { return {}; }
    OptimizerConfig configure_optimizers() override { return {}; }
  };
  TempDir root("ckpt_mismatch");
  LinearModule module;
  const std::string path = trained_checkpoint(root, false, module);
  Wider wider;
  try {
    wider.load_weights_from_checkpoint(path);
    FAIL() << "expected IntegrityError";
  } catch (const lamin::IntegrityError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("size mismatch for layer.weight"), std::string::npos) << what;
    EXPECT_NE(what.find("[1, 2]"), std::string::npos) << what;
    EXPECT_NE(what.find("[1, 3]"), std::string::npos) << what;
    EXPECT_NE(what.find("Missing key \"extra.weight\""), std::string::npos) << what;
  }
}

TEST(CheckpointFile, MissingCorruptAndTruncatedFilesAreClearErrors) {
  TempDir root("ckpt_bad");
  EXPECT_THROW(load_checkpoint_file((root / "nope.ckpt").string()), lamin::NotFoundError);
  lamin::detail::atomic_write(root / "garbage.ckpt", "this is not a zip file");
  EXPECT_THROW(load_checkpoint_file((root / "garbage.ckpt").string()), lamin::IntegrityError);

  LinearModule module;
  const std::string path = trained_checkpoint(root, false, module);
  const std::string bytes = lamin::detail::read_file(path);
  lamin::detail::atomic_write(root / "torn.ckpt", bytes.substr(0, bytes.size() / 2));
  try {
    load_checkpoint_file((root / "torn.ckpt").string());
    FAIL() << "expected IntegrityError";
  } catch (const lamin::IntegrityError& e) {
    EXPECT_NE(std::string(e.what()).find("torn.ckpt"), std::string::npos);
  }
}

TEST(CheckpointFile, UnwritableFolderIsAStorageError) {
  TempDir root("ckpt_unwritable");
  lamin::detail::atomic_write(root / "file", "x");
  LinearModule module;
  auto [x, y] = regression_data(4);
  Trainer trainer(quiet_options(root.str()).max_epochs(1));
  trainer.fit(module, DataLoader::from_tensors(x, y, 2));
  EXPECT_THROW(trainer.save_checkpoint((root / "file" / "sub" / "a.ckpt").string()), lamin::StorageError);
}

TEST(CheckpointFile, CudaTensorsAreSavedLoadableOnCpu) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  TempDir root("ckpt_cuda");
  auto [x, y] = regression_data(8);
  LinearModule module;
  Trainer trainer(quiet_options(root.str()).max_epochs(1).accelerator("cuda"));
  trainer.fit(module, DataLoader::from_tensors(x, y, 4));
  EXPECT_TRUE(module.layer->weight.device().is_cuda());
  const std::string path = (root / "cuda.ckpt").string();
  trainer.save_checkpoint(path);
  const CheckpointDict ckpt = load_checkpoint_file(path);
  EXPECT_TRUE(ckpt.at("state_dict").toGenericDict().at("layer.weight").toTensor().device().is_cpu());
  auto cpu = LightningModule::load_from_checkpoint<LinearModule>(path, torch::kCPU);
  EXPECT_TRUE(torch::equal(cpu->layer->weight, module.layer->weight.cpu()));
  auto back = LightningModule::load_from_checkpoint<LinearModule>(path, torch::Device(torch::kCUDA, 0));
  EXPECT_TRUE(back->layer->weight.device().is_cuda());
}

// ---- Python ------------------------------------------------------------------------------------------------------

namespace {

bool python_torch_available() { return run_python("import torch\n", "").first == 0; }

}  // namespace

TEST(CheckpointFile, PythonTorchLoadOpensItAndThePickleNamesOnlySafeGlobals) {
  if (!python_torch_available()) GTEST_SKIP() << "python3 with torch is not available";
  TempDir root("ckpt_python");
  LinearModule module(nlohmann::json{{"lr", 0.05}, {"name", "linear"}});
  const std::string path = trained_checkpoint(root, false, module);
  const std::string script = R"PY(
import sys, zipfile, pickletools, torch
path = sys.argv[1]
major = int(torch.__version__.split('.')[0])
# torch >= 2: the real check. Older readers refuse floats even from Python, so there check the globals instead.
ckpt = torch.load(path, map_location='cpu', weights_only=True) if major >= 2 else torch.load(path, map_location='cpu')
assert ckpt['epoch'] == 2 and ckpt['global_step'] == 4, ckpt
assert ckpt['pytorch-lightning_version'] == '2.6.6'
assert ckpt['hyper_parameters'] == {'lr': 0.05, 'name': 'linear'}, ckpt['hyper_parameters']
assert list(ckpt['state_dict']) == ['layer.weight', 'layer.bias']
assert tuple(ckpt['state_dict']['layer.weight'].shape) == (1, 2)
assert ckpt['optimizer_states'][0]['param_groups'][0]['params'] == [0, 1]
allowed = {('collections', 'OrderedDict'), ('torch._utils', '_rebuild_tensor_v2')}
with zipfile.ZipFile(path) as z:
    name = [n for n in z.namelist() if n.endswith('data.pkl')][0]
    data = z.read(name)
found = set()
ops = list(pickletools.genops(data))
for i, (op, arg, pos) in enumerate(ops):
    if op.name == 'GLOBAL':
        mod, _, attr = arg.partition(' ')
        found.add((mod, attr))
for g in found:
    ok = g in allowed or (g[0] == 'torch' and g[1].endswith('Storage'))
    assert ok, 'unsafe global %r' % (g,)
m = torch.nn.Linear(2, 1)
m.load_state_dict({k.split('.', 1)[1]: v for k, v in ckpt['state_dict'].items()})
print('OK', sorted(found))
)PY";
  const auto [rc, out] = run_python(script, path);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("OK"), std::string::npos) << out;
}

// ---- crash safety -------------------------------------------------------------------------------------------------

TEST(CheckpointFile, KillingAWriterMidSaveNeverLeavesATornFile) {
  const fs::path writer = fs::path(LAMIN_BINARY_DIR) / "tests" / "pl" / "lamin_checkpoint_writer";
  if (!fs::exists(writer)) GTEST_SKIP() << "checkpoint writer tool not built";
  TempDir root("ckpt_crash");
  const std::string target = (root / "model.ckpt").string();
  std::mt19937 rng(1234);
  int verified = 0;
  for (int round = 0; round < 25; ++round) {
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::dup2(fds[1], STDOUT_FILENO);
      ::close(fds[0]);
      ::execl(writer.c_str(), writer.c_str(), target.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(fds[1]);
    // Wait until the writer has completed at least one save, then kill it at a random moment of a later one.
    char c = 0;
    ASSERT_EQ(::read(fds[0], &c, 1), 1);
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % 30000));
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    ::close(fds[0]);
    if (!fs::exists(target)) continue;  // killed before the first rename
    // Whatever the moment of the kill, the file is a complete checkpoint whose tensors agree with its counter.
    const CheckpointDict ckpt = load_checkpoint_file(target);
    const std::int64_t step = ckpt.at("global_step").toInt();
    const at::Tensor w = ckpt.at("state_dict").toGenericDict().at("weight").toTensor();
    EXPECT_TRUE(torch::all(w == static_cast<float>(step)).item<bool>()) << "torn content at round " << round;
    ++verified;
  }
  EXPECT_EQ(verified, 25);
}

TEST(CheckpointFile, FitRemovesTheTemporaryFileOfASaveWhoseProcessDied) {
  TempDir root("ckpt_leftover");
  const fs::path dir = root / "ckpts";
  // A process that dies in the middle of a save (after writing part of the checkpoint, before the rename).
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    lamin::detail::atomic_write(dir / "epoch=0-step=3.ckpt", [](lamin::detail::FileWriter& w) {
      w.write("part of a checkpoint");
      ::_exit(0);
    });
    ::_exit(1);
  }
  ::waitpid(child, nullptr, 0);
  auto leftovers = [&] {
    std::vector<fs::path> out;
    for (const auto& e : fs::directory_iterator(dir)) {
      if (e.path().filename().string().find(".tmp-") != std::string::npos) out.push_back(e.path());
    }
    return out;
  };
  ASSERT_EQ(leftovers().size(), 1u);
  fs::last_write_time(leftovers().front(), fs::file_time_type::clock::now() - std::chrono::minutes(5));

  auto [x, y] = regression_data(8);
  LinearModule module;
  auto cb = std::make_shared<ModelCheckpoint>(ModelCheckpointOptions().dirpath(dir.string()));
  Trainer trainer(quiet_options(root.str()).enable_checkpointing(true).max_epochs(1).callbacks({cb}));
  trainer.fit(module, DataLoader::from_tensors(x, y, 4));
  EXPECT_TRUE(leftovers().empty());
  EXPECT_NO_THROW(load_checkpoint_file((dir / "epoch=0-step=2.ckpt").string()));
}

// ---- resume -------------------------------------------------------------------------------------------------------

namespace {
struct EpochRecorder : Callback {
  std::vector<std::pair<std::int64_t, double>> losses;
  void on_train_epoch_end(Trainer& t, LightningModule&) override {
    losses.emplace_back(t.current_epoch(), t.callback_metrics().at("train_loss_epoch").value);
  }
};
}  // namespace

TEST(CheckpointFile, ResumingContinuesExactlyAsOneUninterruptedFit) {
  auto [x, y] = regression_data(12);
  auto data = [&] { return DataLoader::from_tensors(x, y, 4); };
  TempDir root("resume");

  torch::manual_seed(0);
  LinearModule straight;
  straight.use_adam = true;
  straight.use_step_lr = true;
  auto rec_straight = std::make_shared<EpochRecorder>();
  Trainer t1(quiet_options(root.str()).max_epochs(4).callbacks({rec_straight}));
  t1.fit(straight, data());

  torch::manual_seed(0);
  LinearModule first;
  first.use_adam = true;
  first.use_step_lr = true;
  auto rec_first = std::make_shared<EpochRecorder>();
  Trainer t2(quiet_options(root.str()).max_epochs(2).callbacks({rec_first}));
  t2.fit(first, data());
  const std::string mid = (root / "mid.ckpt").string();
  t2.save_checkpoint(mid);

  torch::manual_seed(99);  // a different init: everything must come from the checkpoint
  LinearModule second;
  second.use_adam = true;
  second.use_step_lr = true;
  auto rec_second = std::make_shared<EpochRecorder>();
  Trainer t3(quiet_options(root.str()).max_epochs(4).callbacks({rec_second}));
  t3.fit(second, data(), {}, mid);

  EXPECT_EQ(t3.global_step(), t1.global_step());
  EXPECT_EQ(t3.current_epoch(), 4);
  EXPECT_TRUE(torch::equal(second.layer->weight, straight.layer->weight));
  EXPECT_TRUE(torch::equal(second.layer->bias, straight.layer->bias));
  auto combined = rec_first->losses;
  combined.insert(combined.end(), rec_second->losses.begin(), rec_second->losses.end());
  EXPECT_EQ(combined, rec_straight->losses);
  EXPECT_EQ(t3.lr_scheduler_configs()[0].scheduler->get_last_lr(), t1.lr_scheduler_configs()[0].scheduler->get_last_lr());
}

TEST(CheckpointFile, ResumeFromAMissingCheckpointFailsBeforeTraining) {
  TempDir root("resume_missing");
  auto [x, y] = regression_data(4);
  LinearModule module;
  Trainer trainer(quiet_options(root.str()).max_epochs(1));
  EXPECT_THROW(trainer.fit(module, DataLoader::from_tensors(x, y, 2), {}, (root / "nope.ckpt").string()),
               lamin::NotFoundError);
  EXPECT_EQ(trainer.global_step(), 0);
}
