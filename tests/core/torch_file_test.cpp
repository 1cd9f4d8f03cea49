// torch.save's containers (zip and legacy) read by lamin-cpp's TorchFile, checked against files Python's torch
// writes once into the build tree. Tests skip cleanly without /usr/bin/python3 (or $LAMIN_TEST_PYTHON) and its torch.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <random>

#include <nlohmann/json.hpp>

#include "common/files.hpp"
#include "core/pickle.hpp"
#include "core/pickle_fixtures.hpp"
#include "core/torch_file.hpp"
#include "core/zip_reader.hpp"
#include "lamin/error.hpp"

using namespace lamin::detail;
using namespace pickle_fixtures;
using namespace std::string_literals;
using lamin::test::TempDir;

TEST(TorchUnpickle, ZipTensorsOfSeveralDtypes) {
  REQUIRE_TORCH();
  const TorchFile file = open_fixture("dtypes.pt");
  EXPECT_EQ(file.format(), TorchFileFormat::kZip);
  EXPECT_EQ(file.archive_folder(), "dtypes");
  EXPECT_EQ(file.version(), 3);
  expect_tensors(file, *file.data(), manifest()["dtypes.pt"]);
  EXPECT_EQ(file.storages().size(), 12u);
  const TorchStorage& bf16 = *file.storage_of(*file.data()->get("bf16")->args()->at(0));
  EXPECT_EQ(bf16.storage_type, "torch.BFloat16Storage");
  EXPECT_EQ(bf16.element_size, 2u);
  EXPECT_EQ(bf16.numel, 2u);
  EXPECT_EQ(bf16.offset % 64, 0u);  // torch aligns data records to 64 bytes
}

TEST(TorchUnpickle, ZeroDimTensor) {
  REQUIRE_TORCH();
  const TorchFile file = open_fixture("dtypes.pt");
  const PickleValue& scalar = *file.data()->get("scalar");
  EXPECT_EQ(scalar.args()->at(2)->size(), 0u);
  EXPECT_EQ(scalar.args()->at(3)->size(), 0u);
  EXPECT_EQ(file.storage_of(*scalar.args()->at(0))->dtype, "float64");
  EXPECT_EQ(to_hex(file.read_storage(*file.storage_of(*scalar.args()->at(0)))), "0000000000000c40");  // 3.5
}

TEST(TorchUnpickle, LegacyFormatGivesTheSameTree) {
  REQUIRE_TORCH();
  const TorchFile legacy = open_fixture("dtypes_legacy.pt");
  EXPECT_EQ(legacy.format(), TorchFileFormat::kLegacy);
  EXPECT_EQ(legacy.version(), 1001);
  EXPECT_EQ(legacy.archive_folder(), "");
  expect_tensors(legacy, *legacy.data(), manifest()["dtypes_legacy.pt"]);
  for (const char* name : {"dtypes", "views", "state_dict", "sgd", "adam"}) {
    SCOPED_TRACE(name);
    const TorchFile zip = open_fixture(name + ".pt"s);
    const TorchFile old = open_fixture(name + "_legacy.pt"s);
    EXPECT_EQ(canonical(zip, *zip.data()), canonical(old, *old.data()));
  }
}

TEST(TorchUnpickle, ViewsShareOneStorage) {
  REQUIRE_TORCH();
  for (const char* name : {"views.pt", "views_legacy.pt"}) {
    SCOPED_TRACE(name);
    const TorchFile file = open_fixture(name);
    const PickleValue& list = *file.data();
    ASSERT_EQ(list.size(), 2u);
    const PickleValue& a = *list.at(0);
    const PickleValue& b = *list.at(1);
    EXPECT_EQ(a.args()->at(0).get(), b.args()->at(0).get());  // one storage object
    ASSERT_EQ(file.storages().size(), 1u);
    EXPECT_EQ(file.storages()[0].numel, 10u);
    expect_tensor(file, a, manifest()[name]["a"], "a");
    expect_tensor(file, b, manifest()[name]["b"], "b");
    EXPECT_EQ(a.args()->at(1)->as_int(), 2);
    EXPECT_EQ(ints(*b.args()->at(3)), std::vector<std::int64_t>{2});
  }
}

TEST(TorchUnpickle, StateDictIsAnOrderedDictWithMetadata) {
  REQUIRE_TORCH();
  for (const char* name : {"state_dict.pt", "state_dict_legacy.pt"}) {
    SCOPED_TRACE(name);
    const TorchFile file = open_fixture(name);
    const PickleValue& sd = *file.data();
    EXPECT_EQ(sd.dict_class(), "collections.OrderedDict");
    std::vector<std::string> keys;
    for (const auto& k : sd.items()) keys.push_back(k->as_string());
    std::vector<std::string> want;
    for (const auto& [k, v] : manifest()[name].items()) want.push_back(k);
    EXPECT_EQ(keys, want);
    expect_tensors(file, sd, manifest()[name]);
    ASSERT_NE(sd.state(), nullptr);  // BUILD: the OrderedDict's __dict__
    const PickleValue& metadata = *sd.state()->get("_metadata");
    EXPECT_EQ(metadata.dict_class(), "collections.OrderedDict");
    ASSERT_EQ(metadata.size(), manifest()["state_dict_metadata"].size());
    for (const auto& [module, entry] : manifest()["state_dict_metadata"].items())
      EXPECT_EQ(metadata.get(module)->get("version")->as_int(), entry["version"].get<int>()) << module;
  }
}

TEST(TorchUnpickle, OptimizerStateDicts) {
  REQUIRE_TORCH();
  const TorchFile sgd = open_fixture("sgd.pt");
  const PickleValue& sgd_group = *sgd.data()->get("param_groups")->at(0);
  EXPECT_EQ(sgd_group.get("lr")->as_float(), 0.1);
  EXPECT_EQ(sgd_group.get("momentum")->as_float(), 0.9);
  EXPECT_FALSE(sgd_group.get("nesterov")->as_bool());
  EXPECT_EQ(pickle_repr(*sgd_group.get("params")), "[0, 1, 2, 3]");
  const PickleValue& sgd_state = *sgd.data()->get("state");
  ASSERT_EQ(sgd_state.size(), 4u);
  const PickleValue& buffer = *sgd_state.find(*PickleValue::integer(0))->get("momentum_buffer");
  EXPECT_EQ(ints(*buffer.args()->at(2)), (std::vector<std::int64_t>{2, 3}));  // Linear(3, 2).weight
  EXPECT_EQ(sgd.storage_of(*buffer.args()->at(0))->nbytes, 24u);

  const TorchFile adam = open_fixture("adam.pt");
  const PickleValue& group = *adam.data()->get("param_groups")->at(0);
  EXPECT_EQ(pickle_repr(*group.get("betas")), "(0.8, 0.99)");
  EXPECT_EQ(group.get("lr")->as_float(), 0.01);
  EXPECT_FALSE(group.get("amsgrad")->as_bool());
  const PickleValue& s1 = *adam.data()->get("state")->find(*PickleValue::integer(1));
  for (const char* key : {"step", "exp_avg", "exp_avg_sq"}) EXPECT_TRUE(s1.get(key)->is(PickleKind::kObject)) << key;
  EXPECT_EQ(ints(*s1.get("exp_avg")->args()->at(2)), std::vector<std::int64_t>{2});
}

TEST(TorchUnpickle, LightningStyleCheckpoint) {
  REQUIRE_TORCH();
  const TorchFile file = open_fixture("lightning.ckpt");
  const PickleValue& ckpt = *file.data();
  EXPECT_EQ(ckpt.get("epoch")->as_int(), 3);
  EXPECT_EQ(ckpt.get("global_step")->as_int(), 120);
  EXPECT_EQ(ckpt.get("pytorch-lightning_version")->as_string(), "2.6.6");
  EXPECT_EQ(ckpt.get("state_dict")->dict_class(), "collections.OrderedDict");
  EXPECT_EQ(ckpt.get("state_dict")->size(), 7u);
  EXPECT_EQ(pickle_repr(*ckpt.get("hyper_parameters")),
            "{'lr': 0.01, 'layers': [3, 2], 'name': 'mlp', 'dropout': None}");
  EXPECT_EQ(pickle_repr(*ckpt.get("lr_schedulers")), "[]");
  EXPECT_EQ(ckpt.get("loops")->get("fit_loop")->get("epoch_progress")->get("total")->get("completed")->as_int(), 3);
  const PickleValue& callback = *ckpt.get("callbacks")->get("ModelCheckpoint{'monitor': 'val_loss', 'mode': 'min'}");
  EXPECT_TRUE(std::isinf(callback.get("kth_value")->as_float()));
  const PickleValue& score = *callback.get("best_model_score");
  EXPECT_EQ(score.args()->at(2)->size(), 0u);
  EXPECT_EQ(to_hex(file.read_storage(*file.storage_of(*score.args()->at(0)))), "0000803e");  // 0.25f
  EXPECT_EQ(ckpt.get("optimizer_states")->at(0)->get("param_groups")->at(0)->get("lr")->as_float(), 0.01);
}

TEST(TorchUnpickle, PickleProtocol4Checkpoint) {
  REQUIRE_TORCH();
  const TorchFile file = open_fixture("protocol4.pt");
  expect_tensor(file, *file.data()->get("w"), manifest()["dtypes.pt"]["f32"], "w");
  EXPECT_EQ(pickle_repr(*file.data()->get("set")), "{1, 2}");
  EXPECT_EQ(pickle_repr(*file.data()->get("bytes")), "b'\\x00\\xff'");
  EXPECT_EQ(file.data()->get("sd")->dict_class(), "collections.OrderedDict");
}

TEST(TorchUnpickle, AnyArchiveFolderNameAndZip64) {
  REQUIRE_TORCH();
  for (const auto& [name, folder] : {std::pair{"renamed.pt", "my checkpoint.v2"}, std::pair{"zip64.pt", "z64"},
                                     std::pair{"little_endian.pt", "dtypes"}}) {
    SCOPED_TRACE(name);
    const TorchFile file = open_fixture(name);
    EXPECT_EQ(file.archive_folder(), folder);
    expect_tensors(file, *file.data(), manifest()["dtypes.pt"]);
  }
}

TEST(TorchUnpickle, BigEndianAndCompressedFilesAreRefused) {
  REQUIRE_TORCH();
  const std::string big = (torch_fixtures() / "big_endian.pt").string();
  const std::string error = error_of([&] { TorchFile::open(big); });
  EXPECT_CONTAINS(error, big + ": it was saved on a big-endian machine");
  const std::string deflated = (torch_fixtures() / "deflated.pt").string();
  EXPECT_CONTAINS(error_of([&] { TorchFile::open(deflated); }), "is compressed (method 8)");
  REQUIRE_PYTHON();
  const std::string legacy = (stdlib_fixtures() / "legacy_big_endian.pt").string();
  EXPECT_CONTAINS(error_of([&] { TorchFile::open(legacy); }), legacy + ": it was saved on a big-endian machine");
}

TEST(TorchUnpickle, TruncatedFilesAreIntegrityErrors) {
  REQUIRE_TORCH();
  for (const char* name : {"dtypes.pt", "dtypes_legacy.pt", "zip64.pt"}) {
    const std::string bytes = lamin::test::read_file(torch_fixtures() / name);
    for (const std::size_t keep : {std::size_t(0), std::size_t(5), std::size_t(30), std::size_t(200), bytes.size() / 2,
                                   bytes.size() - 23, bytes.size() - 1}) {
      SCOPED_TRACE(std::string(name) + " cut to " + std::to_string(keep));
      const std::string error = error_of([&] { TorchFile::from_bytes(bytes.substr(0, keep), "cut.pt"); });
      EXPECT_EQ(error.rfind("cut.pt", 0), 0u) << error;
    }
  }
}

TEST(TorchUnpickle, CorruptionIsCaughtByCrcOrAsAnIntegrityError) {
  REQUIRE_TORCH();
  const std::string bytes = lamin::test::read_file(torch_fixtures() / "dtypes.pt");
  const TorchFile clean = TorchFile::from_bytes(bytes, "clean.pt");
  std::string flipped = bytes;
  flipped[clean.storage("0").offset] ^= 0x01;
  const TorchFile corrupt = TorchFile::from_bytes(flipped, "flipped.pt");
  EXPECT_CONTAINS(error_of([&] { corrupt.read_storage(corrupt.storage("0")); }), "flipped.pt: CRC-32 mismatch");
  std::mt19937 rng(7);
  for (int round = 0; round < 300; ++round) {
    std::string p = bytes;
    p[rng() % p.size()] = static_cast<char>(rng() % 256);
    try {
      const TorchFile f = TorchFile::from_bytes(p, "fuzz.pt");
      for (const auto& s : f.storages()) f.read_storage(s);
    } catch (const lamin::IntegrityError&) {
    }  // anything else fails the test
  }
}

TEST(TorchUnpickle, CheckpointWithDisallowedGlobalIsRefusedAndNothingRuns) {
  REQUIRE_PYTHON();
  const std::string system = read_json(stdlib_fixtures() / "evil.json")["system"].get<std::string>();
  for (const char* name : {"evil_zip.pt", "evil_legacy.pt", "evil_os_system.pt"}) {
    const std::string path = (stdlib_fixtures() / name).string();
    const std::string error = error_of([&] { TorchFile::open(path); });
    EXPECT_EQ(error.rfind(path, 0), 0u) << error;
    EXPECT_CONTAINS(error,
                    "Unsupported global: GLOBAL " + (std::string(name) == "evil_os_system.pt" ? "os.system"s : system));
  }
  EXPECT_FALSE(fs::exists(stdlib_fixtures() / "PWNED"));
}

TEST(TorchUnpickle, LegacyPicklesLargerThanTheFirstRead) {
  REQUIRE_PYTHON();
  const TorchFile file = TorchFile::open(stdlib_fixtures() / "legacy_large.pt");
  EXPECT_EQ(file.data()->size(), 20000u);
  std::string value;
  for (int i = 0; i < 17; ++i) value += "019999";
  EXPECT_EQ(file.data()->get("k19999")->as_string(), value);
}

TEST(TorchUnpickle, MissingFileIsNotFound) {
  EXPECT_THROW(TorchFile::open("/nonexistent/lamin/model.pt"), lamin::NotFoundError);
  EXPECT_EQ(crc32("123456789"), 0xCBF43926u);
  EXPECT_CONTAINS(error_of([] { TorchFile::from_bytes("PK\x05\x06"s + std::string(18, '\0'), "empty.zip"); }),
                  "empty.zip: no <folder>/data.pkl record");
}
