// Checks beyond LaminDB's suite: eviction, versioning of config/hparams, ranks after every save, duplicate feature
// names, bad input before anything is written, a registry failing mid-save, ranks other than zero, observers.

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <set>

#include "common/registry_proxy.hpp"
#include "common/torch/lightning.hpp"

namespace lamin::test {
namespace {

namespace fs = std::filesystem;

/// A model whose logged loss follows a fixed sequence, one value per epoch (all steps of an epoch log the same).
struct ScriptedModel : SimpleModel {
  std::vector<double> per_epoch;
  explicit ScriptedModel(std::vector<double> v) : per_epoch(std::move(v)) {}
  torch::Tensor training_step(const pl::Batch& batch, std::int64_t) override {
    auto loss = torch::mse_loss(layer->forward(batch.data), batch.target);
    const auto epoch = static_cast<std::size_t>(trainer().current_epoch());
    log("train_loss", per_epoch.at(std::min(epoch, per_epoch.size() - 1)));
    return loss;
  }
};

std::vector<std::string> flagged(const lamin::Instance& inst, const std::string& prefix, const lamin::Feature& f) {
  std::vector<std::string> keys;
  for (const auto& a : inst->artifacts().key_startswith(prefix + "/").where(lamin::feature(f) == true).all()) {
    keys.push_back(*a.key);
  }
  return keys;
}

// Ranks of every scored artifact under the prefix are 0..n-1 in score order (ascending for min, descending for max).
void expect_ranks_in_score_order(const lamin::Instance& inst, const std::string& prefix, const std::string& mode) {
  std::vector<std::pair<double, std::int64_t>> rows;
  for (const auto& a : inst->artifacts().key_startswith(prefix + "/").all()) {
    const json v = inst->get_values(a);
    if (!v.contains("score")) continue;
    ASSERT_TRUE(v.contains("model_rank")) << *a.key;
    rows.emplace_back(v["score"].get<double>(), v["model_rank"].get<std::int64_t>());
  }
  std::sort(rows.begin(), rows.end(), [](const auto& x, const auto& y) { return x.second < y.second; });
  for (std::size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(rows[i].second, static_cast<std::int64_t>(i));
    if (i > 0) {
      if (mode == "min") {
        EXPECT_LE(rows[i - 1].first, rows[i].first);
      } else {
        EXPECT_GE(rows[i - 1].first, rows[i].first);
      }
    }
  }
}

TEST_F(LightningTest, EvictionEmitsRemovedEventThenDeletesRecordAndStoredFile) {
  lightning_features();
  struct Checker : ll::ArtifactObserver {
    lamin::Instance inst;
    std::vector<std::string> order;
    bool record_present_at_removal = false;
    bool stored_file_present_at_removal = false;
    bool local_file_absent_at_removal = false;
    std::optional<lamin::Artifact> removed;
    void on_artifact_saved(const ll::ArtifactSavedEvent& e) override { order.push_back("saved:" + e.key); }
    void on_artifact_removed(const ll::ArtifactRemovedEvent& e) override {
      order.push_back("removed:" + e.key);
      ASSERT_TRUE(e.artifact);
      removed = e.artifact;
      record_present_at_removal = inst->artifacts().key(e.key).count() == 1;
      stored_file_present_at_removal = fs::exists(*e.storage_uri);
      local_file_absent_at_removal = !fs::exists(e.local_path);
    }
  };
  auto checker = std::make_shared<Checker>();
  checker->inst = instance;
  ScriptedModel model({3.0, 2.0, 1.0});  // every epoch is a new best: the previous one is evicted
  auto ckpt = std::make_shared<ll::Checkpoint>(
      ll::CheckpointOptions().dirpath(dirpath).monitor("train_loss").save_top_k(1).artifact_observers({checker}));
  fit({ckpt}, 3, nullptr, &model);

  const std::string prefix = ckpt->checkpoint_key_prefix();
  ASSERT_EQ(checker->order.size(), 5u);
  EXPECT_EQ(checker->order[0], "saved:" + prefix + "/epoch=0-step=10.ckpt");
  EXPECT_EQ(checker->order[1], "saved:" + prefix + "/epoch=1-step=20.ckpt");
  EXPECT_EQ(checker->order[2], "removed:" + prefix + "/epoch=0-step=10.ckpt");
  EXPECT_EQ(checker->order[4], "removed:" + prefix + "/epoch=1-step=20.ckpt");
  EXPECT_TRUE(checker->record_present_at_removal);
  EXPECT_TRUE(checker->stored_file_present_at_removal);
  EXPECT_TRUE(checker->local_file_absent_at_removal);
  ASSERT_TRUE(checker->removed);
  EXPECT_FALSE(instance->find_artifact(checker->removed->uid));
  EXPECT_FALSE(fs::exists(instance->storage_path(*checker->removed)));
  const auto left = under(prefix);
  ASSERT_EQ(left.size(), 1u);
  EXPECT_TRUE(fs::exists(instance->storage_path(left[0])));
  EXPECT_EQ(instance->get_values(left[0])["model_rank"], 0);
  ASSERT_TRUE(ckpt->last_artifact_event());
  EXPECT_TRUE(ckpt->last_artifact_event()->removed());
}

TEST_F(LightningTest, ConfigAndHparamsKeyReuseMakesNewVersions) {
  std::vector<lamin::Artifact> configs, hparams;
  for (int i = 0; i < 2; ++i) {
    auto logger = std::make_shared<pl::CSVLogger>(tmp->str(), "versions", pl::LoggerVersion(std::int64_t{0}));
    SimpleModel model(json{{"hidden_size", 8 + i}});
    auto ckpt = std::make_shared<ll::Checkpoint>(ll::CheckpointOptions().dirpath(dirpath));
    auto cfg = std::make_shared<ll::SaveConfigCallback>(ll::SaveConfigCallbackOptions().overwrite(true));
    fit({cfg, ckpt}, 1, logger, &model);
    configs.push_back(*ckpt->last_config_artifact());
    hparams.push_back(*ckpt->last_hparams_artifact());
  }
  for (auto* family : {&configs, &hparams}) {
    const auto& v = *family;
    EXPECT_EQ(v[0].key, v[1].key);
    EXPECT_EQ(v[0].stem_uid(), v[1].stem_uid());
    EXPECT_EQ(v[0].uid.substr(16), "0000");
    EXPECT_EQ(v[1].uid.substr(16), "0001");
    EXPECT_FALSE(instance->get_artifact_by_id(v[0].id).is_latest);
    EXPECT_TRUE(instance->get_artifact_by_id(v[1].id).is_latest);
  }
}

TEST_F(LightningTest, CheckpointKeyReuseMakesANewStem) {
  // Two trainings into the same dirpath without a run: the same file names, so the same keys.
  std::vector<std::string> uids;
  for (int i = 0; i < 2; ++i) {
    auto ckpt = std::make_shared<ll::Checkpoint>(
        ll::CheckpointOptions().dirpath(dirpath).enable_version_counter(false));
    fit({ckpt}, 1);
    uids.push_back(ckpt->last_checkpoint_artifact()->uid);
  }
  EXPECT_NE(uids[0].substr(0, 16), uids[1].substr(0, 16));
  EXPECT_EQ(uids[1].substr(16), "0000");
  EXPECT_EQ(instance->artifacts().key(dirpath_stripped() + "/checkpoints/epoch=0-step=10.ckpt").count(), 1);
}

class RanksAfterEverySave : public LightningTest, public ::testing::WithParamInterface<const char*> {};

TEST_P(RanksAfterEverySave, RanksAreZeroToNMinusOneInScoreOrder) {
  lightning_features();
  const std::string mode = GetParam();
  struct RankCheck : ll::ArtifactObserver {
    lamin::Instance inst;
    std::string prefix, mode;
    int saves = 0;
    void on_artifact_saved(const ll::ArtifactSavedEvent& e) override {
      if (e.kind != "checkpoint") return;
      ++saves;
      expect_ranks_in_score_order(inst, prefix, mode);
    }
  };
  auto check = std::make_shared<RankCheck>();
  check->inst = instance;
  check->prefix = dirpath_stripped() + "/checkpoints";
  check->mode = mode;
  ScriptedModel model({0.5, 0.9, 0.1, 0.7, 0.3, 0.3});
  auto ckpt = std::make_shared<ll::Checkpoint>(ll::CheckpointOptions()
                                                   .dirpath(dirpath)
                                                   .monitor("train_loss")
                                                   .mode(mode)
                                                   .save_top_k(-1)
                                                   .artifact_observers({check}));
  fit({ckpt}, 6, nullptr, &model);
  EXPECT_EQ(check->saves, 6);
  EXPECT_EQ(under(check->prefix).size(), 6u);
  expect_ranks_in_score_order(instance, check->prefix, mode);
  // The best one is rank 0 and the only is_best_model.
  const auto best = flagged(instance, check->prefix, lightning_feature("is_best_model"));
  ASSERT_EQ(best.size(), 1u);
  const auto rank0 = instance->artifacts()
                         .key_startswith(check->prefix + "/")
                         .where(lamin::feature(lightning_feature("model_rank")) == 0)
                         .one();
  EXPECT_EQ(*rank0.key, best[0]);
  EXPECT_EQ(best[0], check->prefix + (mode == "min" ? "/epoch=2-step=30.ckpt" : "/epoch=1-step=20.ckpt"));
}

INSTANTIATE_TEST_SUITE_P(Lightning, RanksAfterEverySave, ::testing::Values("min", "max"));

TEST_F(LightningTest, DuplicateFeatureNamesDoNotBreakFlagging) {
  lightning_features();
  // Genuine root-level duplicates of three auto-features, created twice.
  for (int i = 0; i < 2; ++i) {
    instance->create_feature(lamin::FeatureOptions("is_best_model", "bool"));
    instance->create_feature(lamin::FeatureOptions("is_last_model", "bool"));
    instance->create_feature(lamin::FeatureOptions("score", "float"));
  }
  auto ckpt = std::make_shared<ll::Checkpoint>(
      ll::CheckpointOptions().dirpath(dirpath).monitor("train_loss").save_top_k(2).mode("min"));
  ScriptedModel model({0.5, 0.2, 0.4});
  fit({ckpt}, 3, nullptr, &model);
  const std::string prefix = ckpt->checkpoint_key_prefix();
  EXPECT_EQ(flagged(instance, prefix, lightning_feature("is_best_model")),
            std::vector<std::string>{prefix + "/epoch=1-step=20.ckpt"});
  EXPECT_EQ(flagged(instance, prefix, lightning_feature("is_last_model")),
            std::vector<std::string>{prefix + "/epoch=2-step=30.ckpt"});
  expect_ranks_in_score_order(instance, prefix, "min");
}

TEST_F(LightningTest, SaveLastCopiesAreFlaggedLastAndCarryTheStaleScore) {
  lightning_features();
  lamin::log::WarningCapture warnings;
  auto ckpt = std::make_shared<ll::Checkpoint>(
      ll::CheckpointOptions().dirpath(dirpath).monitor("train_loss").save_top_k(1).save_last(true));
  fit({ckpt}, 2);
  EXPECT_TRUE(warnings.contains("save_last is not necessary with Lamin"));
  const std::string prefix = ckpt->checkpoint_key_prefix();
  EXPECT_EQ(flagged(instance, prefix, lightning_feature("is_last_model")),
            std::vector<std::string>{prefix + "/last.ckpt"});
  EXPECT_EQ(flagged(instance, prefix, lightning_feature("is_best_model")).size(), 1u);
}

TEST_F(LightningTest, NonFiniteScoreFailsBeforeAnythingIsWritten) {
  lightning_features();
  SimpleModel model;
  model.use_fixed = true;
  model.fixed_loss = std::nan("");
  auto ckpt = std::make_shared<ll::Checkpoint>(ll::CheckpointOptions().dirpath(dirpath).monitor("train_loss"));
  EXPECT_THROW(fit({ckpt}, 1, nullptr, &model), lamin::ValidationError);
  EXPECT_EQ(instance->artifacts().count(), 0);
  EXPECT_FALSE(fs::exists(fs::path(dirpath) / "epoch=0-step=10.ckpt"));
}

TEST_F(LightningTest, WrongDtypeFailsBeforeAnythingIsWritten) {
  instance->create_feature(lamin::FeatureOptions("learning_rate", "float"));
  auto ckpt = std::make_shared<ll::Checkpoint>(
      ll::CheckpointOptions().dirpath(dirpath).features({{"artifact", {{"learning_rate", 1}}}}));
  try {
    fit({ckpt}, 1);
    FAIL() << "no error";
  } catch (const lamin::ValidationError& e) {
    EXPECT_NE(std::string(e.what()).find("learning_rate"), std::string::npos) << e.what();
  }
  EXPECT_EQ(instance->artifacts().count(), 0);
  EXPECT_FALSE(fs::exists(fs::path(dirpath) / "epoch=0-step=10.ckpt"));
}

TEST_F(LightningTest, KeyLaminDBRejectsFailsBeforeAnythingIsWritten) {
  const std::string bad = (tmp->path() / "a").string() + "/./b";
  auto ckpt = std::make_shared<ll::Checkpoint>(ll::CheckpointOptions().dirpath(bad));
  EXPECT_THROW(fit({ckpt}, 1), lamin::ValidationError);
  EXPECT_EQ(instance->artifacts().count(), 0);
  EXPECT_FALSE(fs::exists(tmp->path() / "a" / "b" / "epoch=0-step=10.ckpt"));
}

TEST_F(LightningTest, MissingFeaturesAreAllNamed) {
  auto ckpt = std::make_shared<ll::Checkpoint>(ll::CheckpointOptions().dirpath(dirpath).features(
      {{"run", {{"b_feature", 1}}}, {"artifact", {{"a_feature", nullptr}}}}));
  try {
    fit({ckpt}, 1);
    FAIL() << "no error";
  } catch (const lamin::ValidationError& e) {
    EXPECT_EQ(std::string(e.what()), "Features a_feature, b_feature missing. Create them first.");
  }
}

TEST_F(LightningTest, RegistryFailingMidSaveLeavesNoOrphanAndOneFlag) {
  lightning_features();
  auto proxy = std::make_shared<ProxyRegistry>(instance);
  lamin::Instance faulty(proxy);
  int checkpoint_saves = 0;
  bool armed = false;
  proxy->before = [&](const std::string& op) {
    if (op == "create_artifact") ++checkpoint_saves;
    if (armed && op == "add_values" && checkpoint_saves == 2) throw lamin::StorageError("injected failure");
  };
  armed = true;
  ScriptedModel model({0.5, 0.2, 0.1});
  auto ckpt = std::make_shared<ll::Checkpoint>(
      ll::CheckpointOptions().dirpath(dirpath).monitor("train_loss").save_top_k(3).instance(faulty));
  EXPECT_THROW(fit({ckpt}, 3, nullptr, &model), lamin::StorageError);
  const std::string prefix = dirpath_stripped() + "/checkpoints";
  const auto left = instance->artifacts().key_startswith(prefix + "/").include_incomplete().all();
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(*left[0].key, prefix + "/epoch=0-step=10.ckpt");
  EXPECT_TRUE(fs::exists(instance->storage_path(left[0])));
  EXPECT_EQ(flagged(instance, prefix, lightning_feature("is_last_model")).size(), 1u);
  EXPECT_EQ(flagged(instance, prefix, lightning_feature("is_best_model")).size(), 1u);
  // Every stored file belongs to a record.
  std::set<std::string> stored;
  for (const auto& e : fs::directory_iterator(instance->info().root / ".lamindb")) {
    const std::string name = e.path().filename().string();
    if (name.size() > 5 && name.substr(name.size() - 5) == ".ckpt") stored.insert(name);
  }
  EXPECT_EQ(stored, std::set<std::string>{left[0].uid + ".ckpt"});
}

TEST_F(LightningTest, OneTransactionPerSave) {
  lightning_features();
  auto proxy = std::make_shared<ProxyRegistry>(instance);
  lamin::Instance counted(proxy);
  int value_writes_outside_tx = 0, creates_outside_tx = 0, deletes_outside_tx = 0;
  proxy->before = [&](const std::string& op) {
    if (instance->in_transaction()) return;
    if (op == "add_values" || op == "remove_values") ++value_writes_outside_tx;
    if (op == "create_artifact") ++creates_outside_tx;
    if (op == "delete_artifact") ++deletes_outside_tx;
  };
  auto observer = std::make_shared<RecordingObserver>();
  ScriptedModel model({0.5, 0.2, 0.4, 0.1});
  auto ckpt = std::make_shared<ll::Checkpoint>(ll::CheckpointOptions()
                                                   .dirpath(dirpath)
                                                   .monitor("train_loss")
                                                   .save_top_k(2)
                                                   .instance(counted)
                                                   .artifact_observers({observer}));
  fit({ckpt}, 4, nullptr, &model);
  int removed = 0;
  for (const auto& e : observer->events) removed += e->removed();
  EXPECT_EQ(removed, 2);
  // Flags, the new record, its values and the ranks are written inside the save's transaction; only evictions
  // (one delete each) run on their own.
  EXPECT_EQ(value_writes_outside_tx, 0);
  EXPECT_EQ(creates_outside_tx, 0);
  EXPECT_EQ(deletes_outside_tx, removed);
}

TEST_F(LightningTest, OnlyGlobalRankZeroWrites) {
  lightning_features();
  ::setenv("RANK", "1", 1);
  ::setenv("WORLD_SIZE", "2", 1);
  auto ckpt = std::make_shared<ll::Checkpoint>(ll::CheckpointOptions().dirpath(dirpath).monitor("train_loss").features(
      {{"artifact", {{"not_checked_on_other_ranks", nullptr}}}}));
  try {
    fit({ckpt}, 2);
  } catch (...) {
    ::unsetenv("RANK");
    ::unsetenv("WORLD_SIZE");
    throw;
  }
  ::unsetenv("RANK");
  ::unsetenv("WORLD_SIZE");
  EXPECT_EQ(instance->artifacts().count(), 0);
  EXPECT_FALSE(ckpt->last_checkpoint_artifact());
}

TEST_F(LightningTest, ArtifactFeaturesFromTrainerAttributesBeforeMetrics) {
  instance->create_feature(lamin::FeatureOptions("current_epoch", "int"));
  instance->create_feature(lamin::FeatureOptions("global_step", "int"));
  instance->create_feature(lamin::FeatureOptions("train_loss", "float"));
  instance->create_feature(lamin::FeatureOptions("stage", "str"));
  auto ckpt = std::make_shared<ll::Checkpoint>(ll::CheckpointOptions().dirpath(dirpath).save_top_k(-1).features(
      {{"artifact",
        {{"current_epoch", nullptr}, {"global_step", nullptr}, {"train_loss", nullptr}, {"stage", "pretrain"}}}}));
  fit({ckpt}, 2);
  const auto artifacts = under(ckpt->checkpoint_key_prefix());
  ASSERT_EQ(artifacts.size(), 2u);
  const json v = instance->get_values(artifacts[1]);
  EXPECT_EQ(v["current_epoch"], 1);
  EXPECT_EQ(v["global_step"], 20);
  EXPECT_TRUE(v["train_loss"].is_number_float());
  EXPECT_EQ(v["stage"], "pretrain");
}

TEST_F(LightningTest, ObserversCanBeRemovedAndUnknownOnesThrow) {
  auto a = std::make_shared<RecordingObserver>();
  auto b = std::make_shared<RecordingObserver>();
  ll::Checkpoint ckpt(ll::CheckpointOptions().artifact_observers({a}));
  ckpt.add_artifact_observer(b);
  EXPECT_EQ(ckpt.artifact_observers().size(), 2u);
  ckpt.remove_artifact_observer(a);
  EXPECT_EQ(ckpt.artifact_observers().size(), 1u);
  EXPECT_THROW(ckpt.remove_artifact_observer(a), lamin::NotFoundError);
  EXPECT_FALSE(ckpt.last_artifact_event());
  EXPECT_FALSE(ckpt.get_last_artifact("checkpoint"));
  EXPECT_FALSE(ckpt.get_last_artifact("unknown"));
}

TEST_F(LightningTest, PrefixesNeedSetupAndBaseLayerIsAbstract) {
  ll::Checkpoint ckpt;
  EXPECT_THROW(ckpt.base_prefix(), lamin::Error);
  EXPECT_THROW(ckpt.checkpoint_key_prefix(), lamin::Error);
  // The artifact steps are pure virtual: a subclass that leaves one out does not compile.
  static_assert(std::is_abstract_v<ll::ArtifactPublishingModelCheckpoint>);
  static_assert(!std::is_abstract_v<ll::Checkpoint>);
}

TEST_F(LightningTest, SaveLightningFeaturesCreatesTheTypeAndFourteenFeatures) {
  const auto first = ll::save_lightning_features(instance);
  const auto again = ll::save_lightning_features(instance);
  ASSERT_EQ(first.size(), 14u);
  for (std::size_t i = 0; i < first.size(); ++i) EXPECT_EQ(first[i].id, again[i].id);
  const auto type = lightning_type();
  EXPECT_TRUE(type.is_type);
  EXPECT_EQ(type.dtype.value_or(""), "__lamindb_lightning__");
  EXPECT_EQ(type.description.value_or(""), "Auto-generated features tracking lightning parameters & metrics");
  std::map<std::string, std::string> dtypes;
  for (const auto& f : first) {
    EXPECT_EQ(f.type_id, type.id);
    dtypes[f.name] = f.dtype.value_or("");
  }
  EXPECT_EQ(dtypes["score"], "float");
  EXPECT_EQ(dtypes["model_rank"], "int");
  EXPECT_EQ(dtypes["is_best_model"], "bool");
  EXPECT_EQ(dtypes["gradient_clip_val"], "float");
  EXPECT_EQ(dtypes["precision"], "str");
  EXPECT_EQ(instance->features().size(), 15u);
}

TEST_F(LightningTest, ConfigFileAlreadyExists) {
  auto cfg = std::make_shared<ll::SaveConfigCallback>();
  std::ofstream(fs::path(root) / "config.yaml") << "old: 1\n";
  auto ckpt = std::make_shared<ll::Checkpoint>(ll::CheckpointOptions().dirpath(dirpath));
  try {
    fit({cfg, ckpt}, 1);
    FAIL() << "no error";
  } catch (const lamin::ConfigurationError& e) {
    EXPECT_EQ(std::string(e.what()), "Config file already exists: " + (fs::path(root) / "config.yaml").string());
  }
  EXPECT_EQ(instance->artifacts().count(), 0);
}

TEST_F(LightningTest, ResolvedConfigHasTrainerModelAndData) {
  auto cfg = std::make_shared<ll::SaveConfigCallback>();
  SimpleModel model(json{{"hidden_size", 4}});
  fit({cfg}, 1, nullptr, &model);
  ASSERT_TRUE(cfg->config_path());
  std::ifstream in(*cfg->config_path());
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("trainer:"), std::string::npos) << text;
  EXPECT_NE(text.find("  max_epochs: 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("  max_time: null\n"), std::string::npos) << text;
  EXPECT_NE(text.find("model:\n  hidden_size: 4\n"), std::string::npos) << text;
}

TEST(SaveConfig, MaxTimeIsWrittenAsLightningCliReadsIt) {
  SimpleModel model;
  auto config = [&](pl::TrainerOptions o) {
    pl::Trainer trainer(o.logger(false).enable_checkpointing(false).enable_progress_bar(false));
    return ll::SaveConfigCallback::resolve_config(trainer, model).at("trainer").at("max_time");
  };
  EXPECT_EQ(config(pl::TrainerOptions().max_time(std::chrono::hours(36) + std::chrono::seconds(5))), "01:12:00:05");
  EXPECT_EQ(config(pl::TrainerOptions().max_time(std::chrono::duration<double>(1.5))), (json{{"seconds", 1.5}}));
  EXPECT_TRUE(config(pl::TrainerOptions()).is_null());
}

TEST(SaveConfig, ValCheckIntervalKeepsItsForm) {
  SimpleModel model;
  auto config = [&](pl::TrainerOptions o) {
    pl::Trainer trainer(o.logger(false).enable_checkpointing(false).enable_progress_bar(false));
    return ll::SaveConfigCallback::resolve_config(trainer, model).at("trainer").at("val_check_interval");
  };
  EXPECT_EQ(config(pl::TrainerOptions().val_check_interval("00:00:30:00")), "00:00:30:00");
  EXPECT_EQ(config(pl::TrainerOptions().val_check_interval(std::chrono::minutes(90))), "00:01:30:00");
  EXPECT_EQ(config(pl::TrainerOptions().val_check_interval(0.25)), 0.25);
  EXPECT_EQ(config(pl::TrainerOptions().val_check_interval(50)), 50);
}

}  // namespace
}  // namespace lamin::test
