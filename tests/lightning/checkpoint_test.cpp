// LaminDB's own test suite for the Lightning integration (tests/integrations/test_lightning.py), case by case, against
// a real SQLite instance and real Trainer fits. Test names follow the Python functions.

#include <fstream>
#include <set>

#include "common/registry_proxy.hpp"
#include "common/torch/lightning.hpp"

namespace lamin::test {
namespace {

bool starts_with(const std::string& s, const std::string& p) { return s.rfind(p, 0) == 0; }
bool ends_with(const std::string& s, const std::string& t) {
  return s.size() >= t.size() && s.compare(s.size() - t.size(), t.size(), t) == 0;
}

// 1
TEST_F(LightningTest, test_checkpoint_basic) {
  auto ckpt = std::make_shared<ll::Checkpoint>(ll::CheckpointOptions().dirpath(dirpath).monitor("train_loss"));
  fit({ckpt}, 2);
  const std::string prefix = ckpt->checkpoint_key_prefix();
  EXPECT_EQ(prefix, dirpath_stripped() + "/checkpoints");
  const auto artifacts = under(prefix);
  ASSERT_EQ(artifacts.size(), 1u);
  for (const auto& a : artifacts) {
    EXPECT_EQ(a.kind.value_or(""), "model");
    EXPECT_TRUE(starts_with(*a.key, prefix + "/"));
  }
}

// 2
TEST_F(LightningTest, test_checkpoint_with_features) {
  instance->create_feature(lamin::FeatureOptions("train_loss", "float"));
  instance->create_feature(lamin::FeatureOptions("custom_param", "str"));
  const lamin::Run run = lamin::track(instance);
  auto ckpt = std::make_shared<ll::Checkpoint>(
      ll::CheckpointOptions().dirpath(dirpath).monitor("train_loss").features(
          {{"artifact", {{"train_loss", nullptr}}}, {"run", {{"custom_param", "test_value"}}}}));
  fit({ckpt}, 2);
  const auto artifacts = checkpoints_under(ckpt->checkpoint_key_prefix());
  ASSERT_FALSE(artifacts.empty());
  for (const auto& a : artifacts) {
    const json values = instance->get_values(a);
    ASSERT_TRUE(values.contains("train_loss")) << values.dump();
    EXPECT_TRUE(values["train_loss"].is_number_float());
  }
  EXPECT_EQ(instance->get_values(run)["custom_param"], "test_value");
  lamin::finish();
}

// 3
TEST_F(LightningTest, test_checkpoint_missing_features) {
  auto ckpt = std::make_shared<ll::Checkpoint>(
      ll::CheckpointOptions().dirpath(dirpath).features({{"artifact", {{"nonexistent_feature", nullptr}}}}));
  try {
    fit({ckpt}, 1);
    FAIL() << "fit did not throw";
  } catch (const lamin::ValidationError& e) {
    EXPECT_NE(std::string(e.what()).find("Feature nonexistent_feature missing"), std::string::npos) << e.what();
  }
  EXPECT_EQ(instance->artifacts().count(), 0);
}

// 4
TEST_F(LightningTest, test_checkpoint_auto_features) {
  lightning_features();
  auto ckpt = std::make_shared<ll::Checkpoint>(
      ll::CheckpointOptions().dirpath(dirpath).monitor("train_loss").save_top_k(2));
  fit({ckpt}, 3);
  const auto artifacts = under(ckpt->checkpoint_key_prefix());
  ASSERT_EQ(artifacts.size(), 2u);
  for (const auto& a : artifacts) {
    const json values = instance->get_values(a);
    for (const char* name : {"is_best_model", "is_last_model", "score", "model_rank"}) {
      EXPECT_TRUE(values.contains(name)) << name << " missing in " << values.dump();
    }
  }
}

// 5
TEST_F(LightningTest, test_checkpoint_auto_features_with_duplicate_score_name) {
  lightning_features();
  instance->create_feature(lamin::FeatureOptions("score", "float"));
  auto ckpt = std::make_shared<ll::Checkpoint>(
      ll::CheckpointOptions().dirpath(dirpath).monitor("train_loss").save_top_k(2));
  ASSERT_NO_THROW(fit({ckpt}, 1));
  EXPECT_GE(under(ckpt->checkpoint_key_prefix()).size(), 1u);
}

// 6
TEST_F(LightningTest, test_checkpoint_best_model_with_duplicate_feature_names) {
  lightning_features();
  instance->create_feature(lamin::FeatureOptions("is_best_model", "bool"));
  auto ckpt = std::make_shared<ll::Checkpoint>(
      ll::CheckpointOptions().dirpath(dirpath).monitor("train_loss").save_top_k(2).mode("min"));
  fit({ckpt}, 3);
  const std::string prefix = ckpt->checkpoint_key_prefix() + "/";
  const auto best = lightning_feature("is_best_model");
  const auto last = lightning_feature("is_last_model");
  EXPECT_EQ(instance->artifacts().key_startswith(prefix).where(lamin::feature(best) == true).count(), 1);
  EXPECT_EQ(instance->artifacts().key_startswith(prefix).where(lamin::feature(last) == true).count(), 1);
}

// 7
TEST_F(LightningTest, test_checkpoint_query_budget_scales_sublinearly_with_hparams) {
  auto proxy = std::make_shared<ProxyRegistry>(instance);
  lamin::Instance counted(proxy);
  lightning_features();
  auto count_fit = [&](int n) {
    json hp = json::object();
    for (int i = 0; i < n; ++i) {
      hp["hp_" + std::to_string(i)] = i;
      instance->create_feature(lamin::FeatureOptions("hp_" + std::to_string(i), "int"));
    }
    SimpleModel model(hp);
    lamin::track(counted);
    auto ckpt = std::make_shared<ll::Checkpoint>(
        ll::CheckpointOptions().dirpath(dirpath + std::to_string(n) + "/").instance(counted));
    proxy->reset();
    fit({ckpt}, 1, nullptr, &model);
    const int calls = proxy->total();
    const json run_values = instance->get_values(*lamin::context().run());
    EXPECT_EQ(run_values.value("hp_" + std::to_string(n - 1), -1), n - 1);
    lamin::finish();
    return calls;
  };
  const int small = count_fit(2);
  const int large = count_fit(40);
  EXPECT_LE(large, small + 10) << "2 hparams: " << small << " calls, 40 hparams: " << large;
}

// 8
TEST_F(LightningTest, test_model_rank_update_query_budget) {
  lightning_features();
  auto proxy = std::make_shared<ProxyRegistry>(instance);
  lamin::Instance counted(proxy);
  auto ckpt = std::make_shared<ll::Checkpoint>(ll::CheckpointOptions().dirpath(dirpath).instance(counted));
  pl::Trainer trainer(trainer_options(1));
  SimpleModel model;
  ckpt->setup(trainer, model, "fit");
  const std::string prefix = ckpt->checkpoint_key_prefix();
  EXPECT_EQ(prefix, dirpath_stripped() + "/checkpoints");
  const auto score = lightning_feature("score");
  const auto rank = lightning_feature("model_rank");
  for (int i = 0; i < 8; ++i) {
    const auto file = tmp->path() / ("model_" + std::to_string(i) + ".ckpt");
    std::ofstream(file) << "checkpoint-" << i;
    auto a = instance->create_artifact(file, lamin::ArtifactOptions(prefix + "/model_" + std::to_string(i) + ".ckpt")
                                                 .kind("model"));
    instance->add_values(a, {{score, static_cast<double>(i)}, {rank, i}});
  }
  proxy->stub_value_writes = true;
  proxy->reset();
  ckpt->update_model_ranks(prefix, "min");
  EXPECT_LE(proxy->reads(), 6) << proxy->reads() << " queries";
  EXPECT_GE(proxy->reads(), 1);
}

// 9
TEST_F(LightningTest, test_checkpoint_best_model_tracking) {
  lightning_features();
  auto ckpt = std::make_shared<ll::Checkpoint>(
      ll::CheckpointOptions().dirpath(dirpath).monitor("train_loss").save_top_k(3).mode("min"));
  fit({ckpt}, 3);
  EXPECT_EQ(instance->artifacts()
                .key_startswith(ckpt->checkpoint_key_prefix() + "/")
                .where(lamin::feature("is_best_model") == true)
                .count(),
            1);
}

// 10
TEST_F(LightningTest, test_checkpoint_model_rank) {
  lightning_features();
  auto ckpt = std::make_shared<ll::Checkpoint>(
      ll::CheckpointOptions().dirpath(dirpath).monitor("train_loss").save_top_k(3).mode("min"));
  fit({ckpt}, 3);
  const std::string prefix = ckpt->checkpoint_key_prefix() + "/";
  std::set<std::int64_t> ranks;
  for (const auto& a : under(ckpt->checkpoint_key_prefix())) {
    const json v = instance->get_values(a);
    if (v.contains("model_rank")) ranks.insert(v["model_rank"].get<std::int64_t>());
  }
  EXPECT_TRUE(ranks.count(0));
  EXPECT_EQ(instance->artifacts().key_startswith(prefix).where(lamin::feature("is_last_model") == true).count(), 1);
}

// 11
TEST_F(LightningTest, test_checkpoint_last_model_points_to_last_saved_artifact) {
  lightning_features();
  auto ckpt = std::make_shared<ll::Checkpoint>(
      ll::CheckpointOptions().dirpath(dirpath).monitor("train_loss").save_top_k(3).mode("min"));
  fit({ckpt}, 3);
  const auto last = instance->artifacts()
                        .key_startswith(ckpt->checkpoint_key_prefix() + "/")
                        .where(lamin::feature("is_last_model") == true)
                        .all();
  ASSERT_EQ(last.size(), 1u);
  ASSERT_TRUE(ckpt->last_checkpoint_artifact());
  EXPECT_EQ(last[0].id, ckpt->last_checkpoint_artifact()->id);
}

// 12
TEST_F(LightningTest, test_checkpoint_semantic_paths) {
  lightning_features();
  auto ckpt = std::make_shared<ll::Checkpoint>(
      ll::CheckpointOptions().dirpath(dirpath).monitor("train_loss").save_top_k(3));
  fit({ckpt}, 3);
  const std::string prefix = ckpt->checkpoint_key_prefix();
  const auto artifacts = under(prefix);
  ASSERT_EQ(artifacts.size(), 3u);
  for (const auto& a : artifacts) {
    EXPECT_TRUE(starts_with(*a.key, prefix + "/"));
    const json v = instance->get_values(a);
    EXPECT_TRUE(v.contains("is_best_model"));
    EXPECT_TRUE(v.contains("score"));
  }
}

// 13
TEST_F(LightningTest, test_callback_deprecated) {
  const std::string path = (tmp->path() / "model.ckpt").string();
  const std::string key = "test/legacy/" + tmp_name() + "/model.ckpt";
  lamin::log::WarningCapture warnings;
  auto cb = std::make_shared<ll::Callback>(path, key);
  EXPECT_TRUE(warnings.contains("use ll.Checkpoint instead"));
  fit({cb}, 1);
  const auto artifacts = instance->artifacts().key(key).all();
  ASSERT_GE(artifacts.size(), 1u);
  EXPECT_EQ(artifacts[0].kind.value_or(""), "model");
}

// 14
TEST_F(LightningTest, test_checkpoint_overwrites_existing_artifact) {
  const std::string key = dirpath + "fixed.ckpt";
  const auto dummy = tmp->path() / "dummy.ckpt";
  std::ofstream(dummy) << "dummy";
  const lamin::Artifact old = instance->create_artifact(dummy, lamin::ArtifactOptions(key));
  struct FixedKey : ll::Checkpoint {
    std::string fixed;
    FixedKey(ll::CheckpointOptions o, std::string k) : ll::Checkpoint(std::move(o)), fixed(std::move(k)) {}
    std::string resolve_artifact_key(const pl::Trainer&, const std::string&, const std::string&) const override {
      return fixed;
    }
  };
  auto ckpt = std::make_shared<FixedKey>(ll::CheckpointOptions().dirpath(dirpath), key);
  fit({ckpt}, 1);
  const lamin::Artifact now = instance->artifacts().key(key).one();
  EXPECT_NE(now.uid, old.uid);
  EXPECT_FALSE(instance->get_artifact_by_id(now.id).storage_in_progress());
}

// 15
TEST_F(LightningTest, test_checkpoint_invalid_feature_keys) {
  try {
    ll::Checkpoint ckpt(ll::CheckpointOptions().dirpath(dirpath).features({{"invalid_key", {{"foo", "bar"}}}}));
    FAIL() << "no error";
  } catch (const lamin::ConfigurationError& e) {
    EXPECT_EQ(std::string(e.what()), "Invalid feature keys: {'invalid_key'}. Use 'run' and/or 'artifact'.");
  }
}

// 16
TEST_F(LightningTest, test_checkpoint_hparams) {
  instance->create_feature(lamin::FeatureOptions("hidden_size", "int"));
  instance->create_feature(lamin::FeatureOptions("learning_rate", "float"));
  const lamin::Run run = lamin::track(instance);
  SimpleModel model(json{{"hidden_size", 64}, {"learning_rate", 0.01}});
  auto ckpt = std::make_shared<ll::Checkpoint>(ll::CheckpointOptions().dirpath(dirpath));
  fit({ckpt}, 1, nullptr, &model);
  const json values = instance->get_values(run);
  EXPECT_EQ(values["hidden_size"], 64);
  EXPECT_EQ(values["learning_rate"], 0.01);
}

// 17
TEST_F(LightningTest, test_checkpoint_datamodule_hparams) {
  instance->create_feature(lamin::FeatureOptions("batch_size", "int"));
  instance->create_feature(lamin::FeatureOptions("num_workers", "int"));
  const lamin::Run run = lamin::track(instance);
  HparamsDataModule dm(json{{"batch_size", 16}, {"num_workers", 2}});
  auto ckpt = std::make_shared<ll::Checkpoint>(ll::CheckpointOptions().dirpath(dirpath));
  pl::Trainer trainer(trainer_options(1).callbacks({ckpt}));
  SimpleModel model;
  trainer.fit(model, dm);
  const json values = instance->get_values(run);
  EXPECT_EQ(values["batch_size"], 16);
  EXPECT_EQ(values["num_workers"], 2);
}

// 18
TEST_F(LightningTest, test_checkpoint_trainer_config) {
  lightning_features();
  const lamin::Run run = lamin::track(instance);
  auto ckpt = std::make_shared<ll::Checkpoint>(
      ll::CheckpointOptions().dirpath(dirpath).monitor("train_loss").save_weights_only(true).mode("min"));
  pl::Trainer trainer(trainer_options(5)
                          .max_steps(100)
                          .precision("32")
                          .accumulate_grad_batches(2)
                          .gradient_clip_val(0.5)
                          .callbacks({ckpt}));
  SimpleModel model;
  trainer.fit(model, simple_dataloader());
  const json rv = instance->get_values(run);
  EXPECT_EQ(rv["max_epochs"], 5);
  EXPECT_EQ(rv["max_steps"], 100);
  EXPECT_EQ(rv["precision"], "32-true");
  EXPECT_EQ(rv["accumulate_grad_batches"], 2);
  EXPECT_EQ(rv["gradient_clip_val"], 0.5);
  EXPECT_EQ(rv["monitor"], "train_loss");
  EXPECT_EQ(rv["mode"], "min");
  EXPECT_FALSE(rv.contains("save_weights_only"));
  const auto artifacts = checkpoints_under(ckpt->checkpoint_key_prefix());
  ASSERT_FALSE(artifacts.empty());
  for (const auto& a : artifacts) {
    const json v = instance->get_values(a);
    EXPECT_EQ(v["save_weights_only"], true);
    EXPECT_EQ(v["monitor"], "train_loss");
    EXPECT_EQ(v["mode"], "min");
  }
}

// 19
TEST_F(LightningTest, test_checkpoint_hparams_yaml_with_hparams) {
  auto logger = std::make_shared<pl::CSVLogger>(tmp->str(), "test_logs");
  SimpleModel model(json{{"hidden_size", 32}});
  auto ckpt = std::make_shared<ll::Checkpoint>(ll::CheckpointOptions().dirpath(dirpath));
  fit({ckpt}, 1, logger, &model);
  const std::string prefix = ckpt->checkpoint_key_prefix();
  EXPECT_EQ(prefix, dirpath_stripped() + "/checkpoints");
  const auto hparams = instance->artifacts().key(prefix + "/hparams.yaml").one();
  EXPECT_EQ(hparams.description.value_or(""), "Lightning run hyperparameters");
  EXPECT_EQ(hparams.kind.value_or(""), "config");
}

// 20-23
struct Layout {
  const char* id;
  bool dirpath;
  bool logger;
};

class KeyLayoutMatrix : public LightningTest, public ::testing::WithParamInterface<Layout> {};

TEST_P(KeyLayoutMatrix, test_key_layout_matrix) {
  const Layout p = GetParam();
  const lamin::Run run = lamin::track(instance);
  const std::string layout_dir = (tmp->path() / "layout_test").string();
  ll::CheckpointOptions o;
  if (p.dirpath) o.dirpath(layout_dir);
  auto ckpt = std::make_shared<ll::Checkpoint>(o);
  auto cfg = std::make_shared<ll::SaveConfigCallback>(
      ll::SaveConfigCallbackOptions().config({{"trainer", {{"max_epochs", 1}}}}));
  std::shared_ptr<pl::Logger> logger;
  if (p.logger) logger = std::make_shared<pl::CSVLogger>(tmp->str(), "layout_exp");
  auto opts = trainer_options(1).default_root_dir(tmp->str()).callbacks({cfg, ckpt});
  if (logger) opts.logger(logger);
  pl::Trainer trainer(opts);
  SimpleModel model;
  trainer.fit(model, simple_dataloader());

  std::string expected;
  if (p.dirpath) {
    expected = layout_dir + "/" + run.uid;
  } else if (p.logger) {
    expected = tmp_name() + "/layout_exp/" + run.uid;
  } else {
    expected = run.uid;
  }
  EXPECT_EQ(ckpt->base_prefix(), expected);
  EXPECT_EQ(ckpt->checkpoint_key_prefix(), expected + "/checkpoints");
  EXPECT_GE(checkpoints_under(ckpt->checkpoint_key_prefix()).size(), 1u);
  EXPECT_TRUE(instance->artifacts().key(expected + "/config.yaml").one_or_none());
}

INSTANTIATE_TEST_SUITE_P(Lightning, KeyLayoutMatrix,
                         ::testing::Values(Layout{"dirpath_logger", true, true},
                                           Layout{"no_dirpath_logger", false, true},
                                           Layout{"dirpath_no_logger", true, false},
                                           Layout{"no_dirpath_no_logger", false, false}),
                         [](const auto& info) { return std::string(info.param.id); });

// 24
TEST_F(LightningTest, test_run_uid_not_in_key_when_disabled) {
  lamin::track(instance);
  auto logger = std::make_shared<pl::CSVLogger>(tmp->str(), "no_uid_test");
  auto ckpt = std::make_shared<ll::Checkpoint>(ll::CheckpointOptions().run_uid_is_version(false));
  fit({ckpt}, 1, logger);
  const std::string prefix = ckpt->checkpoint_key_prefix();
  EXPECT_EQ(prefix, tmp_name() + "/no_uid_test/version_0/checkpoints");
  EXPECT_NE(prefix.find("version_0"), std::string::npos);
  EXPECT_GE(under(prefix).size(), 1u);
}

// 25
TEST_F(LightningTest, test_two_runs_same_logger_produce_different_keys) {
  std::vector<std::string> prefixes;
  for (int i = 0; i < 2; ++i) {
    lamin::track(instance);
    auto logger = std::make_shared<pl::CSVLogger>(tmp->str(), "same_logger", pl::LoggerVersion(std::int64_t{0}));
    auto ckpt = std::make_shared<ll::Checkpoint>();
    fit({ckpt}, 1, logger);
    prefixes.push_back(ckpt->checkpoint_key_prefix());
    EXPECT_GE(under(prefixes.back()).size(), 1u);
    lamin::finish();
  }
  EXPECT_NE(prefixes[0], prefixes[1]);
}

// 26-29
class ArtifactKeyPrefixMatrix : public LightningTest, public ::testing::WithParamInterface<Layout> {};

TEST_P(ArtifactKeyPrefixMatrix, test_checkpoint_artifact_key_prefix_matrix) {
  const Layout p = GetParam();
  ll::CheckpointOptions o;
  if (p.dirpath) o.dirpath(dirpath);
  auto ckpt = std::make_shared<ll::Checkpoint>(o);
  std::shared_ptr<pl::Logger> logger;
  const std::string name = p.dirpath ? "should_not_appear" : "my_experiment";
  if (p.logger) logger = std::make_shared<pl::CSVLogger>(tmp->str(), name);
  fit({ckpt}, 2, logger);
  const std::string prefix = ckpt->checkpoint_key_prefix();
  if (p.dirpath) {
    EXPECT_EQ(prefix, dirpath_stripped() + "/checkpoints");
    EXPECT_EQ(prefix.find("should_not_appear"), std::string::npos);
  } else if (p.logger) {
    EXPECT_EQ(prefix, tmp_name() + "/my_experiment/version_0/checkpoints");
  } else {
    EXPECT_EQ(prefix, "checkpoints");
  }
  const auto artifacts = under(prefix);
  ASSERT_GE(artifacts.size(), 1u);
  for (const auto& a : artifacts) EXPECT_EQ(a.kind.value_or(""), "model") << *a.key;
}

INSTANTIATE_TEST_SUITE_P(Lightning, ArtifactKeyPrefixMatrix,
                         ::testing::Values(Layout{"without_dirpath_with_logger", false, true},
                                           Layout{"without_dirpath_without_logger", false, false},
                                           Layout{"with_dirpath_with_logger", true, true},
                                           Layout{"with_dirpath_without_logger", true, false}),
                         [](const auto& info) { return std::string(info.param.id); });

// 30
TEST_F(LightningTest, test_checkpoint_auto_features_without_dirpath) {
  lightning_features();
  auto logger = std::make_shared<pl::CSVLogger>(tmp->str(), "auto_feat");
  auto ckpt = std::make_shared<ll::Checkpoint>(
      ll::CheckpointOptions().monitor("train_loss").save_top_k(2).mode("min"));
  fit({ckpt}, 3, logger);
  const std::string prefix = ckpt->checkpoint_key_prefix();
  const auto artifacts = under(prefix);
  ASSERT_EQ(artifacts.size(), 2u);
  int best = 0;
  std::set<std::int64_t> ranks;
  for (const auto& a : artifacts) {
    const json v = instance->get_values(a);
    ASSERT_TRUE(v.contains("is_best_model") && v.contains("score") && v.contains("model_rank")) << v.dump();
    best += v["is_best_model"] == true;
    ranks.insert(v["model_rank"].get<std::int64_t>());
  }
  EXPECT_EQ(best, 1);
  EXPECT_TRUE(ranks.count(0));
}

// 31-34
class SaveConfigArtifactKeyMatrix : public LightningTest, public ::testing::WithParamInterface<Layout> {};

TEST_P(SaveConfigArtifactKeyMatrix, test_save_config_artifact_key_matrix) {
  const Layout p = GetParam();
  ll::CheckpointOptions o;
  if (p.dirpath) o.dirpath(dirpath);
  auto ckpt = std::make_shared<ll::Checkpoint>(o);
  auto cfg = std::make_shared<ll::SaveConfigCallback>(ll::SaveConfigCallbackOptions().config(
      {{"trainer", {{"max_epochs", 1}}}, {"model", {{"hidden_size", 1}}}}));
  std::shared_ptr<pl::Logger> logger;
  if (p.logger) logger = std::make_shared<pl::CSVLogger>(tmp->str(), "cli_logs");
  auto opts = trainer_options(1).default_root_dir(tmp->str()).callbacks({cfg, ckpt});
  if (logger) opts.logger(logger);
  pl::Trainer trainer(opts);
  SimpleModel model;
  trainer.fit(model, simple_dataloader());

  const auto local = std::filesystem::path(trainer.log_dir()) / "config.yaml";
  ASSERT_TRUE(std::filesystem::exists(local)) << local;
  std::ifstream in(local);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("max_epochs"), std::string::npos);
  if (p.dirpath) {
    EXPECT_EQ(local.string().find(dirpath_stripped()), std::string::npos);
  }

  std::string key;
  if (p.dirpath) {
    key = dirpath_stripped() + "/config.yaml";
  } else if (p.logger) {
    key = tmp_name() + "/cli_logs/version_0/config.yaml";
  } else {
    key = "config.yaml";
  }
  const auto config = instance->artifacts().key(key).one();
  EXPECT_EQ(config.description.value_or(""), "Lightning CLI config");
  EXPECT_EQ(config.kind.value_or(""), "config");
  EXPECT_GE(checkpoints_under(ckpt->checkpoint_key_prefix()).size(), 1u);
}

INSTANTIATE_TEST_SUITE_P(Lightning, SaveConfigArtifactKeyMatrix,
                         ::testing::Values(Layout{"without_dirpath_with_logger", false, true},
                                           Layout{"without_dirpath_without_logger", false, false},
                                           Layout{"with_dirpath_with_logger", true, true},
                                           Layout{"with_dirpath_without_logger", true, false}),
                         [](const auto& info) { return std::string(info.param.id); });

// 35
TEST_F(LightningTest, test_save_config_artifact_tracked_as_run_input) {
  const lamin::Run run = lamin::track(instance);
  auto ckpt = std::make_shared<ll::Checkpoint>(ll::CheckpointOptions().dirpath(dirpath));
  auto cfg = std::make_shared<ll::SaveConfigCallback>();
  fit({cfg, ckpt}, 1);
  ASSERT_TRUE(ckpt->last_config_artifact());
  const auto config = *ckpt->last_config_artifact();
  EXPECT_FALSE(config.run_id.has_value());
  const auto inputs = instance->input_of_runs(config);
  ASSERT_EQ(inputs.size(), 1u);
  EXPECT_EQ(inputs[0].id, run.id);
  ASSERT_TRUE(ckpt->last_checkpoint_artifact());
  const auto checkpoint = *ckpt->last_checkpoint_artifact();
  EXPECT_EQ(checkpoint.run_id, run.id);
  EXPECT_TRUE(instance->input_of_runs(checkpoint).empty());
}

// 36
TEST_F(LightningTest, test_checkpoint_subclass_receives_artifact_events) {
  struct Recording : ll::Checkpoint {
    using ll::Checkpoint::Checkpoint;
    std::vector<ll::ArtifactSavedEvent> events;
    void on_artifact_saved(const ll::ArtifactSavedEvent& e) override { events.push_back(e); }
  };
  auto logger = std::make_shared<pl::CSVLogger>(tmp->str(), "recording_logs");
  SimpleModel model(json{{"hidden_size", 8}});
  auto ckpt = std::make_shared<Recording>(ll::CheckpointOptions().dirpath(dirpath));
  auto cfg = std::make_shared<ll::SaveConfigCallback>();
  fit({cfg, ckpt}, 1, logger, &model);
  std::set<std::string> kinds;
  for (const auto& e : ckpt->events) kinds.insert(e.kind);
  EXPECT_TRUE(kinds.count("checkpoint") && kinds.count("config") && kinds.count("hparams"));
  ASSERT_TRUE(ckpt->last_checkpoint_artifact() && ckpt->last_config_artifact() && ckpt->last_hparams_artifact());
  const std::string prefix = ckpt->checkpoint_key_prefix();
  EXPECT_TRUE(starts_with(*ckpt->last_checkpoint_artifact()->key, prefix + "/"));
  EXPECT_TRUE(ends_with(*ckpt->last_config_artifact()->key, "/config.yaml"));
  EXPECT_EQ(*ckpt->last_hparams_artifact()->key, prefix + "/hparams.yaml");
  const ll::ArtifactSavedEvent* checkpoint_event = nullptr;
  for (const auto& e : ckpt->events)
    if (e.kind == "checkpoint") checkpoint_event = &e;
  ASSERT_TRUE(checkpoint_event);
  EXPECT_TRUE(starts_with(checkpoint_event->key, prefix + "/"));
  EXPECT_EQ(*checkpoint_event->storage_uri, ckpt->resolve_artifact_storage_uri(*checkpoint_event->artifact));
  EXPECT_TRUE(ends_with(*checkpoint_event->storage_uri, ".ckpt"));
}

// 37
TEST_F(LightningTest, test_checkpoint_artifact_observers_receive_shared_events) {
  auto observer = std::make_shared<RecordingObserver>();
  auto logger = std::make_shared<pl::CSVLogger>(tmp->str(), "observer_logs");
  SimpleModel model(json{{"hidden_size", 8}});
  auto ckpt = std::make_shared<ll::Checkpoint>(ll::CheckpointOptions().dirpath(dirpath).artifact_observers({observer}));
  auto cfg = std::make_shared<ll::SaveConfigCallback>();
  fit({cfg, ckpt}, 1, logger, &model);
  std::set<std::string> kinds;
  for (const auto& k : observer->kinds()) kinds.insert(k);
  EXPECT_TRUE(kinds.count("checkpoint") && kinds.count("config") && kinds.count("hparams"));
  const auto e = observer->first_of("checkpoint");
  ASSERT_TRUE(e);
  EXPECT_TRUE(starts_with(e->key, ckpt->checkpoint_key_prefix() + "/"));
  EXPECT_TRUE(ends_with(e->local_path.filename().string(), ".ckpt"));
  EXPECT_EQ(*e->storage_uri, ckpt->resolve_artifact_storage_uri(*e->artifact));
  EXPECT_TRUE(ckpt->last_artifact_event());
  ASSERT_TRUE(ckpt->get_last_artifact("config"));
  EXPECT_EQ(ckpt->get_last_artifact("config")->id, ckpt->last_config_artifact()->id);
}

}  // namespace
}  // namespace lamin::test
