// ModelCheckpoint without training: constructor validation, state key, names, find-last, home expansion, save_last
// parsing, state round trip (spec sections 1, 3.5, 3.11 and 6.A items 1-8 and 15-18).

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <string>

#include "common/files.hpp"
#include "lamin/error.hpp"
#include "lamin/log.hpp"
#include "lamin/pl/model_checkpoint.hpp"
#include "pl/checkpoint_filename.hpp"

namespace fs = std::filesystem;
namespace pl = lamin::pl;
using pl::ModelCheckpoint;
using pl::ModelCheckpointOptions;
using pl::Scalar;

namespace {

using lamin::test::TempDir;
using lamin::test::write_file;

std::string error_of(const ModelCheckpointOptions& options) {
  try {
    ModelCheckpoint checkpoint(options);
  } catch (const lamin::ConfigurationError& e) {
    return e.what();
  }
  return "";
}

pl::MetricMap metrics(std::initializer_list<std::pair<const char*, Scalar>> entries) {
  pl::MetricMap m;
  for (const auto& [k, v] : entries) m.set(k, v);
  return m;
}

Scalar i(std::int64_t v) { return Scalar::integer(v); }
Scalar d(double v) { return Scalar{v, false}; }  // a plain Python float, as Lightning's unit tests pass

std::string base(const std::string& path) { return fs::path(path).filename().string(); }

}  // namespace

// 6.A.1
TEST(ModelCheckpointUnit, StateKey) {
  ModelCheckpoint checkpoint(ModelCheckpointOptions().monitor("val_loss"));
  EXPECT_EQ(checkpoint.state_key(),
            "ModelCheckpoint{'monitor': 'val_loss', 'mode': 'min', 'every_n_train_steps': 0, 'every_n_epochs': 1, "
            "'train_time_interval': None}");
  ModelCheckpoint timed(ModelCheckpointOptions().train_time_interval(std::chrono::seconds(60)));
  EXPECT_EQ(timed.state_key(),
            "ModelCheckpoint{'monitor': None, 'mode': 'min', 'every_n_train_steps': 0, 'every_n_epochs': 0, "
            "'train_time_interval': datetime.timedelta(seconds=60)}");
  ModelCheckpoint zero(ModelCheckpointOptions().train_time_interval(std::chrono::seconds(0)));
  EXPECT_NE(zero.state_key().find("'train_time_interval': datetime.timedelta(0)}"), std::string::npos);
  ModelCheckpoint max_mode(ModelCheckpointOptions().every_n_train_steps(0).every_n_epochs(3).monitor("val_loss").mode("max"));
  EXPECT_EQ(max_mode.state_key(),
            "ModelCheckpoint{'monitor': 'val_loss', 'mode': 'max', 'every_n_train_steps': 0, 'every_n_epochs': 3, "
            "'train_time_interval': None}");
  EXPECT_EQ(max_mode.kth_value(), -std::numeric_limits<double>::infinity());
}

// 6.A.2
TEST(ModelCheckpointUnit, InvalidTopK) {
  EXPECT_EQ(error_of(ModelCheckpointOptions().save_top_k(-3)), "Invalid value for save_top_k=-3. Must be >= -1");
  EXPECT_EQ(error_of(ModelCheckpointOptions().save_top_k(-2)), "Invalid value for save_top_k=-2. Must be >= -1");
}

// 6.A.3
TEST(ModelCheckpointUnit, MonitorNoneWithTopK) {
  EXPECT_EQ(error_of(ModelCheckpointOptions().save_top_k(3)),
            "ModelCheckpoint(save_top_k=3, monitor=None) is not a valid configuration. No quantity for top_k to track.");
  for (int k : {-1, 0, 1}) EXPECT_EQ(error_of(ModelCheckpointOptions().save_top_k(k)), "") << k;
}

// 6.A.4
TEST(ModelCheckpointUnit, NegativeTriggers) {
  EXPECT_EQ(error_of(ModelCheckpointOptions().every_n_epochs(-3)), "Invalid value for every_n_epochs=-3. Must be >= 0");
  for (int n : {0, 1, 2}) EXPECT_EQ(error_of(ModelCheckpointOptions().every_n_epochs(n)), "") << n;
  EXPECT_EQ(error_of(ModelCheckpointOptions().every_n_train_steps(-3)),
            "Invalid value for every_n_train_steps=-3. Must be >= 0");
  for (int n : {0, 1}) EXPECT_EQ(error_of(ModelCheckpointOptions().every_n_train_steps(n)), "") << n;
}

// 6.A.5
TEST(ModelCheckpointUnit, TriggerExclusivity) {
  using std::chrono::minutes;
  EXPECT_EQ(error_of(ModelCheckpointOptions().every_n_train_steps(1).every_n_epochs(2)),
            "Combination of parameters every_n_train_steps=1, every_n_epochs=2 and train_time_interval=None should be "
            "mutually exclusive.");
  EXPECT_EQ(error_of(ModelCheckpointOptions().train_time_interval(minutes(1)).every_n_epochs(2)),
            "Combination of parameters every_n_train_steps=0, every_n_epochs=2 and train_time_interval=0:01:00 should "
            "be mutually exclusive.");
  EXPECT_NE(error_of(ModelCheckpointOptions().train_time_interval(minutes(1)).every_n_train_steps(2))
                .find("Combination of parameters every_n_train_steps"),
            std::string::npos);
  EXPECT_EQ(error_of(ModelCheckpointOptions().every_n_train_steps(0).every_n_epochs(3)), "");
  EXPECT_EQ(error_of(ModelCheckpointOptions().every_n_train_steps(4).every_n_epochs(0)), "");
  EXPECT_EQ(error_of(ModelCheckpointOptions().every_n_train_steps(0).every_n_epochs(0).train_time_interval(minutes(1))),
            "");
}

// 6.A.6 and the defaulting of section 1.2 step 3.
TEST(ModelCheckpointUnit, Defaults) {
  ModelCheckpoint checkpoint;
  EXPECT_EQ(checkpoint.every_n_epochs(), 1);
  EXPECT_EQ(checkpoint.every_n_train_steps(), 0);
  EXPECT_EQ(checkpoint.save_top_k(), 1);
  EXPECT_EQ(checkpoint.mode(), "min");
  EXPECT_EQ(checkpoint.save_last(), pl::SaveLast::none);
  EXPECT_FALSE(checkpoint.monitor());
  EXPECT_FALSE(checkpoint.dirpath());
  EXPECT_EQ(checkpoint.best_model_path(), "");
  EXPECT_FALSE(checkpoint.best_model_score());
  EXPECT_TRUE(checkpoint.best_k_models().empty());
  EXPECT_EQ(checkpoint.kth_best_model_path(), "");
  EXPECT_EQ(checkpoint.kth_value(), std::numeric_limits<double>::infinity());
  EXPECT_EQ(checkpoint.last_model_path(), "");
  EXPECT_FALSE(checkpoint.current_score());
  EXPECT_EQ(checkpoint.last_global_step_saved(), 0);
  EXPECT_EQ(checkpoint.checkpoint_join_char, "-");
  EXPECT_EQ(checkpoint.checkpoint_equals_char, "=");
  EXPECT_EQ(checkpoint.checkpoint_name_last, "last");
  EXPECT_EQ(checkpoint.file_extension, ".ckpt");
  EXPECT_EQ(checkpoint.starting_version, 1);

  ModelCheckpoint steps_only(ModelCheckpointOptions().every_n_train_steps(5));
  EXPECT_EQ(steps_only.every_n_epochs(), 0);  // a step trigger turns off epoch saving
  EXPECT_EQ(steps_only.every_n_train_steps(), 5);
  ModelCheckpoint time_only(ModelCheckpointOptions().train_time_interval(std::chrono::seconds(60)));
  EXPECT_EQ(time_only.every_n_epochs(), 0);
  EXPECT_EQ(time_only.every_n_train_steps(), 0);
}

// 6.A.7 (mode is checked first).
TEST(ModelCheckpointUnit, Mode) {
  EXPECT_EQ(error_of(ModelCheckpointOptions().mode("unknown_option")), "`mode` can be min, max but got unknown_option");
  EXPECT_EQ(error_of(ModelCheckpointOptions().mode("avg").save_top_k(-5)), "`mode` can be min, max but got avg");
  try {
    ModelCheckpoint checkpoint(ModelCheckpointOptions().mode("avg"));
    FAIL();
  } catch (const lamin::Error& e) {
    EXPECT_STREQ(e.kind(), "configuration");
  }
}

// 6.A.8: every row of the table of section 3.5.
TEST(ModelCheckpointUnit, FormatCheckpointName) {
  TempDir tmp;
  const auto name = [](ModelCheckpoint& c, const pl::MetricMap& m, std::optional<std::string> prefix = std::nullopt,
                       std::optional<std::int64_t> ver = std::nullopt) {
    return c.format_checkpoint_name(m, std::nullopt, ver, prefix);
  };
  ModelCheckpoint plain(ModelCheckpointOptions().dirpath(""));
  const auto e3s2 = metrics({{"epoch", i(3)}, {"step", i(2)}});
  EXPECT_EQ(name(plain, e3s2), "epoch=3-step=2.ckpt");
  EXPECT_EQ(name(plain, e3s2, "test"), "test-epoch=3-step=2.ckpt");

  ModelCheckpoint ckpt_name(ModelCheckpointOptions().filename("ckpt"));
  EXPECT_EQ(name(ckpt_name, {}, "test"), "test-ckpt.ckpt");

  ModelCheckpoint acc(ModelCheckpointOptions().filename("{epoch:03d}-{acc}"));
  EXPECT_EQ(name(acc, metrics({{"epoch", i(3)}, {"acc", d(0.03)}})), "epoch=003-acc=0.03.ckpt");

  ModelCheckpoint longer_first(ModelCheckpointOptions().filename("{epoch:03d}-{epoch_test:03d}"));
  EXPECT_EQ(name(longer_first, metrics({{"epoch", i(3)}, {"epoch_test", i(3)}})), "epoch=003-epoch_test=003.ckpt");

  ModelCheckpoint join_at(ModelCheckpointOptions().filename("{epoch},{acc:.5f}"));
  join_at.checkpoint_join_char = "@";
  EXPECT_EQ(name(join_at, metrics({{"epoch", i(3)}, {"acc", d(0.03)}}), "test"), "test@epoch=3,acc=0.03000.ckpt");

  ModelCheckpoint equals_colon(ModelCheckpointOptions().filename("{epoch:03d}-{acc}"));
  equals_colon.checkpoint_equals_char = ":";
  EXPECT_EQ(name(equals_colon, metrics({{"epoch", i(3)}, {"acc", d(0.03)}})), "epoch:003-acc:0.03.ckpt");

  ModelCheckpoint no_dir;
  EXPECT_EQ(name(no_dir, e3s2), "epoch=3-step=2.ckpt");

  const fs::path cwd = fs::current_path();
  fs::current_path(tmp.path());
  ModelCheckpoint dot(ModelCheckpointOptions().dirpath("."));
  fs::current_path(cwd);
  EXPECT_EQ(name(dot, metrics({{"epoch", i(3)}, {"step", i(4)}})), tmp.str() + "/epoch=3-step=4.ckpt");

  ModelCheckpoint named(ModelCheckpointOptions().dirpath(tmp.str()).filename("name"));
  EXPECT_EQ(name(named, {}, std::nullopt, 3), tmp.str() + "/name-v3.ckpt");
  EXPECT_EQ(name(named, {}, "test"), tmp.str() + "/test-name.ckpt");

  ModelCheckpoint slash(ModelCheckpointOptions().filename("{epoch}_{val/loss:.5f}"));
  EXPECT_EQ(name(slash, metrics({{"epoch", i(4)}, {"val/loss", d(0.03)}})), "epoch=4_val/loss=0.03000.ckpt");

  ModelCheckpoint manual(
      ModelCheckpointOptions().filename("epoch={epoch:03d}-val_acc={val/acc}").auto_insert_metric_name(false));
  EXPECT_EQ(name(manual, metrics({{"epoch", i(3)}, {"val/acc", d(0.03)}})), "epoch=003-val_acc=0.03.ckpt");

  ModelCheckpoint map(ModelCheckpointOptions().filename("mAP@0.50={val/mAP@0.50:.4f}").auto_insert_metric_name(false));
  EXPECT_EQ(name(map, metrics({{"val/mAP@0.50", d(0.2)}})), "mAP@0.50=0.2000.ckpt");

  ModelCheckpoint epoch_only(ModelCheckpointOptions().filename("{epoch}"));
  EXPECT_EQ(name(epoch_only, metrics({{"epoch", i(0)}})), "epoch=0.ckpt");
  ModelCheckpoint epoch_padded(ModelCheckpointOptions().filename("{epoch:03d}"));
  EXPECT_EQ(name(epoch_padded, metrics({{"epoch", i(5)}})), "epoch=005.ckpt");
  ModelCheckpoint loss(ModelCheckpointOptions().filename("{epoch}-{val_loss:.2f}"));
  EXPECT_EQ(name(loss, metrics({{"epoch", i(2)}, {"val_loss", d(0.123456)}})), "epoch=2-val_loss=0.12.ckpt");
  EXPECT_EQ(loss.format_checkpoint_name(metrics({{"epoch", i(2)}, {"val_loss", d(0.12)}}), "{epoch:d}"),
            "epoch=2.ckpt");
  ModelCheckpoint missing(ModelCheckpointOptions().filename("{missing:d}"));
  EXPECT_EQ(name(missing, {}), "missing=0.ckpt");
  ModelCheckpoint missing_float(ModelCheckpointOptions().filename("{val_loss:.2f}"));
  EXPECT_EQ(name(missing_float, {}), "val_loss=0.00.ckpt");  // 6.A.35

  // Real runs pass float32 values: a bare field prints the double of the float32.
  ModelCheckpoint bare(ModelCheckpointOptions().filename("{val_loss}"));
  EXPECT_EQ(name(bare, metrics({{"val_loss", Scalar::f32(0.3)}})), "val_loss=0.30000001192092896.ckpt");
  EXPECT_EQ(name(bare, metrics({{"val_loss", Scalar::f32(5.0)}})), "val_loss=5.0.ckpt");
  EXPECT_EQ(name(bare, metrics({{"val_loss", d(std::nan(""))}})), "val_loss=nan.ckpt");
  // The last name is formatted with the same function.
  ModelCheckpoint last{ModelCheckpointOptions()};
  last.checkpoint_name_last = "{foo}-last";
  EXPECT_EQ(last.format_checkpoint_name(metrics({{"foo", i(1)}}), last.checkpoint_name_last), "foo=1-last.ckpt");
}

TEST(ModelCheckpointUnit, FormatErrorsUsePythonMessages) {
  ModelCheckpoint d_on_float(ModelCheckpointOptions().filename("{val_loss:d}"));
  try {
    d_on_float.format_checkpoint_name(metrics({{"val_loss", Scalar::f32(0.5)}}));
    FAIL();
  } catch (const lamin::ConfigurationError& e) {
    EXPECT_STREQ(e.what(), "Unknown format code 'd' for object of type 'float'");
  }
  ModelCheckpoint stray(ModelCheckpointOptions().filename("a}b"));
  EXPECT_THROW(stray.format_checkpoint_name({}), lamin::ConfigurationError);
}

TEST(CheckpointFilename, TemplateGroupsFollowLightningsRegex) {
  using pl::detail::template_groups;
  EXPECT_EQ(template_groups("{epoch:02d}-{val_loss:.2f}"), (std::vector<std::string>{"{epoch", "{val_loss"}));
  EXPECT_EQ(template_groups("{epoch}-{step}"), (std::vector<std::string>{"{epoch", "{step"}));
  EXPECT_EQ(template_groups("best"), std::vector<std::string>{});
  EXPECT_EQ(template_groups("{a{b}"), std::vector<std::string>{"{a{b"});
}

// 6.A.16
TEST(ModelCheckpointUnit, FindLastCheckpoints) {
  struct Case {
    std::string last, ext;
    std::vector<std::string> files;
    std::set<std::string> expected;
  };
  const std::vector<Case> cases = {
      {"last", ".ckpt", {}, {}},
      {"last", ".ckpt", {"last"}, {}},
      {"last", ".ckpt", {"last", "last.ckpt"}, {"last.ckpt"}},
      {"other", ".pt", {"last", "last.pt", "other.pt"}, {"other.pt"}},
      {"last", ".ckpt", {"log.txt", "last-v0.ckpt", "last-v1.ckpt"}, {"last-v0.ckpt", "last-v1.ckpt"}},
      {"other", ".pt", {"log.txt", "last-v0.ckpt", "other-v0.pt", "other-v1.pt"}, {"other-v0.pt", "other-v1.pt"}},
  };
  for (const auto& c : cases) {
    TempDir tmp;
    for (const auto& f : c.files) write_file(tmp.path() / f, "x");
    std::set<std::string> found;
    for (const auto& p : ModelCheckpoint::find_last_checkpoints(tmp.str(), c.last, c.ext)) {
      EXPECT_EQ(fs::path(p).parent_path(), tmp.path());
      found.insert(base(p));
    }
    EXPECT_EQ(found, c.expected) << c.last << c.ext;
  }
  EXPECT_TRUE(ModelCheckpoint::find_last_checkpoints("/nonexistent/lamin/dir").empty());
}

// 6.A.17
TEST(ModelCheckpointUnit, HomeExpansion) {
  TempDir tmp;
  const char* old_home = std::getenv("HOME");
  const std::string saved = old_home ? old_home : "";
  ::setenv("HOME", tmp.str().c_str(), 1);
  ModelCheckpoint home(ModelCheckpointOptions().dirpath("~/checkpoints"));
  EXPECT_EQ(*home.dirpath(), tmp.str() + "/checkpoints");
  const fs::path cwd = fs::current_path();
  fs::current_path(tmp.path());
  ModelCheckpoint literal(ModelCheckpointOptions().dirpath("./~/checkpoints"));
  fs::current_path(cwd);
  EXPECT_EQ(*literal.dirpath(), tmp.str() + "/~/checkpoints");
  if (old_home) ::setenv("HOME", saved.c_str(), 1);
  else ::unsetenv("HOME");
}

TEST(ModelCheckpointUnit, DirpathIsRealpathAtConstruction) {
  TempDir tmp;
  fs::create_directories(tmp.path() / "real");
  fs::create_directory_symlink(tmp.path() / "real", tmp.path() / "alias");
  ModelCheckpoint checkpoint(ModelCheckpointOptions().dirpath(tmp.str() + "/alias/sub/"));
  EXPECT_EQ(*checkpoint.dirpath(), tmp.str() + "/real/sub");
  ModelCheckpoint remote(ModelCheckpointOptions().dirpath("s3://bucket/ckpts"));
  EXPECT_EQ(*remote.dirpath(), "s3://bucket/ckpts");
  ModelCheckpoint empty(ModelCheckpointOptions().dirpath(""));
  EXPECT_EQ(*empty.dirpath(), "");
}

// 6.A.18
TEST(ModelCheckpointUnit, SaveLastParsing) {
  for (const char* t : {"yes", "True", "true"}) EXPECT_EQ(pl::parse_save_last(t), pl::SaveLast::on) << t;
  for (const char* t : {"no", "false", "False"}) EXPECT_EQ(pl::parse_save_last(t), pl::SaveLast::off) << t;
  EXPECT_EQ(pl::parse_save_last("link"), pl::SaveLast::link);
  EXPECT_THROW(pl::parse_save_last("sometimes"), lamin::ConfigurationError);
  EXPECT_EQ(ModelCheckpointOptions().save_last("link").save_last(), pl::SaveLast::link);
  EXPECT_EQ(ModelCheckpointOptions().save_last(true).save_last(), pl::SaveLast::on);
  EXPECT_EQ(ModelCheckpointOptions().save_last(false).save_last(), pl::SaveLast::off);
  EXPECT_FALSE(pl::is_enabled(pl::SaveLast::off));
  EXPECT_FALSE(pl::is_enabled(pl::SaveLast::none));
  EXPECT_TRUE(pl::is_enabled(pl::SaveLast::link));
}

// 6.A.15 (the part that needs no trainer).
TEST(ModelCheckpointUnit, StateRoundTripAndDirpathChange) {
  TempDir tmp;
  const std::string dir = tmp.str() + "/a";
  const std::string path = "epoch=10-step=1436.ckpt";
  nlohmann::json saved = {{"monitor", "val_loss"},
                          {"best_model_score", 2.246},
                          {"best_model_path", path},
                          {"current_score", nullptr},
                          {"dirpath", dir},
                          {"best_k_models", {{path, 2.246}}},
                          {"kth_best_model_path", path},
                          {"kth_value", 2.246},
                          {"last_model_path", "last2245.ckpt"}};
  ModelCheckpoint same(ModelCheckpointOptions().dirpath(dir).monitor("val_loss"));
  same.load_state_dict(saved);
  const nlohmann::json state = same.state_dict();
  for (const char* key : {"best_model_score", "best_model_path", "dirpath", "best_k_models", "kth_best_model_path",
                          "kth_value", "last_model_path", "monitor"}) {
    EXPECT_EQ(state.at(key), saved.at(key)) << key;
  }
  EXPECT_EQ(same.best_k_models().size(), 1u);

  lamin::log::WarningCapture warnings;
  ModelCheckpoint other(ModelCheckpointOptions().dirpath(tmp.str() + "/b").monitor("val_loss"));
  other.load_state_dict(saved);
  EXPECT_TRUE(warnings.contains("The dirpath has changed from '" + dir + "' to '" + tmp.str() + "/b'"));
  EXPECT_EQ(other.best_model_path(), path);
  EXPECT_FALSE(other.best_model_score());
  EXPECT_EQ(other.kth_best_model_path(), "");
  EXPECT_EQ(other.kth_value(), std::numeric_limits<double>::infinity());
  EXPECT_TRUE(other.best_k_models().empty());
  EXPECT_EQ(other.last_model_path(), "");
  EXPECT_NE(*other.dirpath(), dir);
}

TEST(ModelCheckpointUnit, ToYaml) {
  TempDir tmp;
  const std::string dir = tmp.str();
  ModelCheckpoint checkpoint(ModelCheckpointOptions().dirpath(dir).monitor("val_loss").save_top_k(2));
  checkpoint.to_yaml();
  std::ifstream empty(tmp.path() / "best_k_models.yaml");
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(empty), {}), "{}\n");
  checkpoint.load_state_dict({{"best_model_score", 0.25},
                              {"best_model_path", dir + "/b.ckpt"},
                              {"dirpath", dir},
                              {"best_k_models", {{dir + "/b.ckpt", 0.25}, {dir + "/a.ckpt", 0.5}}},
                              {"kth_best_model_path", dir + "/a.ckpt"},
                              {"kth_value", 0.5}});
  checkpoint.to_yaml(dir + "/scores.yaml");
  std::ifstream in(tmp.path() / "scores.yaml");
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), dir + "/a.ckpt: 0.5\n" + dir + "/b.ckpt: 0.25\n");
}
