// Checkpoints Python wrote, loaded by lamin::pl: every dtype with its bytes, views sharing a storage, a Lightning
// checkpoint into a C++ module with its hyperparameters, PyTorch's optimizer layout, a disallowed global refused,
// a C++ checkpoint re-saved by Python that loads and resumes again; and the lamin-ckpt program. Python and its
// torch (/usr/bin/python3 or $LAMIN_TEST_PYTHON) write the files at test time; those tests skip cleanly without them.

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <map>
#include <string>
#include <tuple>

#include "common/process.hpp"
#include "common/torch/training.hpp"
#include "core/pickle_fixtures.hpp"
#include "lamin/error.hpp"
#include "lamin/log.hpp"
#include "lamin/pl/checkpoint_io.hpp"
#include "lamin/pl/module.hpp"
#include "lamin/pl/trainer.hpp"
#include "pl/python_checkpoint.hpp"
#include "python_modules.hpp"

namespace pl = lamin::pl;
namespace fs = std::filesystem;
using pickle_fixtures::interpreter;
using pickle_fixtures::Json;
using pickle_fixtures::manifest;
using pickle_fixtures::stdlib_fixtures;
using pickle_fixtures::torch_fixtures;
using python_modules::fixture;
using python_modules::SequentialModule;

namespace {

std::string python_dtype(at::ScalarType t) {
  static const std::map<at::ScalarType, std::string> kNames = {
      {at::kDouble, "float64"}, {at::kFloat, "float32"},        {at::kHalf, "float16"},
      {at::kBFloat16, "bfloat16"}, {at::kLong, "int64"},        {at::kInt, "int32"},
      {at::kShort, "int16"},    {at::kChar, "int8"},            {at::kByte, "uint8"},
      {at::kBool, "bool"},      {at::kComplexFloat, "complex64"}, {at::kComplexDouble, "complex128"}};
  auto it = kNames.find(t);
  return it == kNames.end() ? "?" : it->second;
}

/// The bytes of the tensor's whole storage, as the manifest writes them.
std::string storage_hex(const at::Tensor& t) {
  const auto& s = t.storage();
  return pickle_fixtures::to_hex(std::string_view(static_cast<const char*>(s.data()), s.nbytes()));
}

void expect_like_python(const at::Tensor& t, const Json& want, const std::string& what) {
  SCOPED_TRACE(what);
  EXPECT_EQ(python_dtype(t.scalar_type()), want.at("dtype").get<std::string>());
  EXPECT_EQ(t.sizes().vec(), want.at("shape").get<std::vector<std::int64_t>>());
  EXPECT_EQ(t.strides().vec(), want.at("stride").get<std::vector<std::int64_t>>());
  EXPECT_EQ(t.storage_offset(), want.at("offset").get<std::int64_t>());
  EXPECT_EQ(storage_hex(t), want.at("hex").get<std::string>());
  EXPECT_TRUE(t.device().is_cpu());
}

}  // namespace

TEST(PythonCheckpoint, ASingleItemDictLoads) {
  REQUIRE_TORCH();
  lamin::test::TempDir tmp("py_ckpt");
  const std::string path = (tmp / "t.ckpt").string();
  ASSERT_EQ(pickle_fixtures::run_python("import sys, torch\ntorch.save({'a': 1}, sys.argv[1])\n", path), 0);
  const pl::CheckpointDict ckpt = pl::load_checkpoint_file(path);
  ASSERT_EQ(ckpt.size(), 1u);
  EXPECT_EQ(ckpt.at("a").toInt(), 1);
}

TEST(PythonCheckpoint, EveryDtypeLoadsWithItsShapeStrideAndBytesFromBothFormats) {
  REQUIRE_TORCH();
  for (const std::string name : {"dtypes.pt", "dtypes_legacy.pt"}) {
    const pl::CheckpointDict ckpt = pl::load_checkpoint_file(fixture(name));
    const Json& want = manifest().at(name);
    ASSERT_EQ(ckpt.size(), want.size()) << name;
    for (const auto& [key, description] : want.items()) {
      ASSERT_TRUE(ckpt.contains(key)) << name << ": " << key;
      expect_like_python(ckpt.at(key).toTensor(), description, name + ": " + key);
    }
    const at::Tensor scalar = ckpt.at("scalar").toTensor();
    EXPECT_EQ(scalar.dim(), 0);
    EXPECT_EQ(scalar.item<double>(), 3.5);
    EXPECT_EQ(ckpt.at("i64").toTensor()[2].item<std::int64_t>(), std::int64_t{1} << 40);
    EXPECT_TRUE(ckpt.at("f32").toTensor().equal(torch::tensor({1.5f, -2.0f, 3.25f})));
  }
}

TEST(PythonCheckpoint, ViewsOfOneStorageShareIt) {
  REQUIRE_TORCH();
  for (const std::string name : {"views.pt", "views_legacy.pt"}) {
    const auto value = pl::detail::ivalue_from_torch_file(pickle_fixtures::open_fixture(name));
    ASSERT_TRUE(value.isList()) << name;
    const at::Tensor a = value.toList().get(0).toTensor();  // base[2:5]
    const at::Tensor b = value.toList().get(1).toTensor();  // base[::2]
    expect_like_python(a, manifest().at(name).at("a"), name + ": a");
    expect_like_python(b, manifest().at(name).at("b"), name + ": b");
    EXPECT_EQ(a.storage().data(), b.storage().data()) << name;
    a[0].fill_(100.0);  // base[2], which b sees as b[1]
    EXPECT_EQ(b[1].item<float>(), 100.0f) << name;
  }
}

TEST(PythonCheckpoint, MapLocationPlacesEveryTensor) {
  REQUIRE_TORCH();
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const pl::CheckpointDict ckpt = pl::load_checkpoint_file(fixture("dtypes.pt"), c10::Device("cuda:0"));
  for (const auto& entry : ckpt) EXPECT_TRUE(entry.value().toTensor().is_cuda()) << entry.key().toStringRef();
  EXPECT_TRUE(ckpt.at("f32").toTensor().cpu().equal(torch::tensor({1.5f, -2.0f, 3.25f})));
}

TEST(PythonCheckpoint, ALightningCheckpointLoadsIntoTheSameModuleBuiltInCpp) {
  REQUIRE_TORCH();
  const auto m = pl::LightningModule::load_from_checkpoint<SequentialModule>(fixture("lightning.ckpt"));
  EXPECT_EQ(m->given.at("layers"), nlohmann::json({3, 2}));
  EXPECT_EQ(m->given.at("name"), "mlp");
  EXPECT_TRUE(m->given.at("dropout").is_null());
  EXPECT_FALSE(m->is_training());
  const Json& want = manifest().at("lightning.ckpt");
  std::map<std::string, at::Tensor> mine;
  for (const auto& p : m->named_parameters()) mine[p.key()] = p.value();
  for (const auto& b : m->named_buffers()) mine[b.key()] = b.value();
  ASSERT_EQ(mine.size(), want.size());
  for (const auto& [key, description] : want.items()) {
    ASSERT_TRUE(mine.count(key)) << key;
    EXPECT_EQ(storage_hex(mine.at(key).contiguous()), description.at("hex").get<std::string>()) << key;
  }
}

TEST(PythonCheckpoint, OptimizerStatesKeepPyTorchsLayout) {
  REQUIRE_TORCH();
  const pl::CheckpointDict ckpt = pl::load_checkpoint_file(fixture("lightning.ckpt"));
  const auto adam = ckpt.at("optimizer_states").toList().get(0).toGenericDict();
  const auto group = adam.at("param_groups").toList().get(0).toGenericDict();
  ASSERT_TRUE(group.at("betas").isTuple());
  EXPECT_EQ(group.at("betas").toTupleRef().elements()[0].toDouble(), 0.8);
  EXPECT_EQ(group.at("betas").toTupleRef().elements()[1].toDouble(), 0.99);
  EXPECT_EQ(group.at("lr").toDouble(), 0.01);
  const auto params = group.at("params").toList();
  ASSERT_EQ(params.size(), 4u);  // Linear weight and bias, BatchNorm weight and bias
  const auto state = adam.at("state").toGenericDict();
  ASSERT_EQ(state.size(), 4u);
  const auto first = state.at(params.get(0)).toGenericDict();
  EXPECT_EQ(first.at("exp_avg").toTensor().sizes().vec(), (std::vector<std::int64_t>{2, 3}));
  EXPECT_TRUE(first.contains("step"));
  const auto callback = ckpt.at("callbacks").toGenericDict().at("ModelCheckpoint{'monitor': 'val_loss', 'mode': 'min'}");
  EXPECT_EQ(callback.toGenericDict().at("best_model_path").toStringRef(), "/ckpts/epoch=2.ckpt");
}

TEST(PythonCheckpoint, ADisallowedGlobalIsRefusedByName) {
  REQUIRE_PYTHON();
  const std::string path = (stdlib_fixtures() / "evil_os_system.pt").string();
  try {
    pl::load_checkpoint_file(path);
    FAIL() << "a checkpoint calling os.system loaded";
  } catch (const lamin::IntegrityError& e) {
    EXPECT_CONTAINS(e.what(), path);
    EXPECT_CONTAINS(e.what(), "os.system");
  }
  EXPECT_FALSE(fs::exists(stdlib_fixtures() / "PWNED"));
}

TEST(PythonCheckpoint, ACppCheckpointResavedByPythonLoadsAndResumes) {
  REQUIRE_TORCH();
  lamin::test::TempDir tmp("py_resave");
  torch::manual_seed(0);
  const at::Tensor x = torch::randn({8, 3}), y = torch::randn({8, 1});
  SequentialModule first;
  pl::Trainer trainer(lamin::test::quiet_options(tmp.str()).max_epochs(2));
  trainer.fit(first, pl::DataLoader::from_tensors(x, y, 4));
  const std::string cpp = (tmp / "cpp.ckpt").string(), py = (tmp / "py.ckpt").string();
  trainer.save_checkpoint(cpp);
  // torch.load's default (weights_only from torch 2.6; torch 1.13's weights-only unpickler lacks BINFLOAT).
  std::string out;
  ASSERT_EQ(pickle_fixtures::run_python("import sys, torch\nsrc, dst = sys.argv[1].split('|')\n"
                                        "torch.save(torch.load(src, map_location='cpu'), dst)\n",
                                        cpp + "|" + py, &out),
            0)
      << out;
  const pl::CheckpointDict again = pl::load_checkpoint_file(py);
  EXPECT_EQ(again.at("global_step").toInt(), 4);
  SequentialModule loaded;
  loaded.load_weights_from_checkpoint(py);
  const auto theirs = loaded.named_parameters();
  for (const auto& p : first.named_parameters()) EXPECT_TRUE(p.value().equal(theirs[p.key()])) << p.key();

  SequentialModule resumed;
  pl::Trainer more(lamin::test::quiet_options(tmp.str()).max_epochs(3));
  more.fit(resumed, pl::DataLoader::from_tensors(x, y, 4), pl::DataLoader{}, py);
  EXPECT_EQ(more.global_step(), 6);
  EXPECT_EQ(more.current_epoch(), 3);
}

TEST(PythonCheckpoint, FitResumesFromALightningCheckpointWrittenInPython) {
  REQUIRE_TORCH();
  lamin::test::TempDir tmp("py_resume");
  torch::manual_seed(0);
  const at::Tensor x = torch::randn({8, 3}), y = torch::randn({8, 1});
  SequentialModule m;
  m.lr = 0.5;  // the saved group's hyperparameters replace these, as torch.optim's load_state_dict does
  m.betas = {0.9, 0.999};
  pl::Trainer trainer(lamin::test::quiet_options(tmp.str()).max_epochs(6));
  lamin::log::WarningCapture warnings;
  trainer.fit(m, pl::DataLoader::from_tensors(x, y, 4), pl::DataLoader{}, fixture("lightning.ckpt"));
  EXPECT_EQ(trainer.current_epoch(), 6);
  // This trainer has no ModelCheckpoint: its state is warned about and kept in the checkpoints it writes.
  const std::string key = "ModelCheckpoint{'monitor': 'val_loss', 'mode': 'min'}";
  bool warned = false;
  for (const auto& w : warnings.messages()) {
    warned = warned || w == "Be aware that when using `ckpt_path`, callbacks used to create the checkpoint need to be "
                            "provided during `Trainer` instantiation. Please add the following callbacks: [\"" +
                                key + "\"].";
  }
  EXPECT_TRUE(warned);
  trainer.save_checkpoint((tmp / "after.ckpt").string());
  const auto after = pl::load_checkpoint_file((tmp / "after.ckpt").string());
  EXPECT_EQ(after.at("callbacks").toGenericDict().at(key).toGenericDict().at("best_model_path").toStringRef(),
            "/ckpts/epoch=2.ckpt");
  EXPECT_EQ(trainer.global_step(), 120 + 2 * 2);  // saved after epoch 3 (four done): epochs 4 and 5 remain
  auto& adam = *trainer.optimizers().at(0);
  const auto& o = static_cast<const torch::optim::AdamOptions&>(adam.param_groups().at(0).options());
  EXPECT_EQ(o.lr(), 0.01);
  EXPECT_EQ(std::get<0>(o.betas()), 0.8);
  EXPECT_EQ(std::get<1>(o.betas()), 0.99);
  // Python's Adam took one step; four more here.
  ASSERT_EQ(adam.state().size(), 4u);
  for (const auto& entry : adam.state()) {
    EXPECT_EQ(static_cast<const torch::optim::AdamParamState&>(*entry.second).step(), 5);
  }
}

TEST(LaminCkpt, ShowPrintsTheTreeAndDiffNamesEachDifference) {
  if (std::string(LAMIN_CKPT_PATH).empty()) GTEST_SKIP() << "lamin-ckpt is not built (LAMIN_BUILD_PROGRAMS=OFF)";
  lamin::test::TempDir tmp("lamin_ckpt");
  torch::manual_seed(0);
  const at::Tensor x = torch::randn({8, 3}), y = torch::randn({8, 1});
  SequentialModule m;
  pl::Trainer trainer(lamin::test::quiet_options(tmp.str()).max_epochs(2));
  trainer.fit(m, pl::DataLoader::from_tensors(x, y, 4));
  const std::string a = (tmp / "a.ckpt").string(), b = (tmp / "b.ckpt").string(), c = (tmp / "c.ckpt").string();
  trainer.save_checkpoint(a);
  trainer.save_checkpoint(b);
  pl::Trainer more(lamin::test::quiet_options(tmp.str()).max_epochs(3));
  more.fit(m, pl::DataLoader::from_tensors(x, y, 4), pl::DataLoader{}, a);
  more.save_checkpoint(c);

  const std::string tool = LAMIN_CKPT_PATH;
  auto [rc, out] = lamin::test::run_command(tool + " show " + a);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_CONTAINS(out, "global_step: 4\n");
  EXPECT_CONTAINS(out, "state_dict:\n  0.weight: tensor float32 [2, 3] 24 B\n");
  EXPECT_CONTAINS(out, "      betas: (0.8, 0.99)\n");

  std::tie(rc, out) = lamin::test::run_command(tool + " diff " + a + " " + b);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_EQ(out, "equal\n");
  std::tie(rc, out) = lamin::test::run_command(tool + " diff " + a + " " + c);
  EXPECT_EQ(rc, 1) << out;
  EXPECT_CONTAINS(out, "global_step: 4 vs 6\n");
  EXPECT_CONTAINS(out, "state_dict.0.weight: tensors differ (tensor float32 [2, 3] 24 B");

  std::tie(rc, out) = lamin::test::run_command(tool + " show " + (tmp / "missing.ckpt").string());
  EXPECT_EQ(rc, 2) << out;
  EXPECT_CONTAINS(out, "missing.ckpt");
}
