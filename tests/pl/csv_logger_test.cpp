// CSVLogger: Lightning's layout and version resolution, metrics.csv byte for byte (including the oracle's files,
// replayed from the oracle cases' definitions), hparams.yaml, flushing and the non-empty folder warning.

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/files.hpp"
#include "lamin/log.hpp"
#include "lamin/pl/csv_logger.hpp"

namespace {

namespace fs = std::filesystem;
using lamin::pl::CSVLogger;
using lamin::pl::CSVLoggerOptions;
using lamin::pl::LoggerVersion;
using lamin::pl::MetricMap;
using lamin::pl::Scalar;
using nlohmann::json;

using lamin::test::read_file;
using lamin::test::TempDir;

MetricMap metrics(std::initializer_list<std::pair<const char*, double>> values) {
  MetricMap m;
  for (const auto& [k, v] : values) m.set(k, Scalar::f32(v));
  return m;
}

TEST(LoggerVersion, NextVersionFollowsLightning) {
  TempDir tmp;
  EXPECT_EQ(lamin::pl::next_logger_version((tmp / "missing").string()), 0);
  EXPECT_EQ(lamin::pl::next_logger_version(tmp.str()), 0);
  for (const char* d : {"version_0", "version_1", "version_nonumber", "other", "version_"})
    fs::create_directories(tmp / d);
  std::ofstream(tmp / "version_9") << "a file, not a folder";
  EXPECT_EQ(lamin::pl::next_logger_version(tmp.str()), 2);
  fs::create_directories(tmp / "version_4_old");  // "4" is between the first and the second '_'
  EXPECT_EQ(lamin::pl::next_logger_version(tmp.str()), 5);
  EXPECT_EQ(lamin::pl::version_folder_name(LoggerVersion(std::int64_t{3})), "version_3");
  EXPECT_EQ(lamin::pl::version_folder_name(LoggerVersion(std::string("awesome"))), "awesome");
}

TEST(CSVLogger, AutomaticVersionAndLayout) {
  TempDir tmp;
  for (const char* d : {"version_0", "version_1", "version_nonumber", "other"})
    fs::create_directories(tmp / "lightning_logs" / d);
  CSVLogger logger(tmp.str());
  EXPECT_EQ(std::get<std::int64_t>(logger.version()), 2);
  EXPECT_EQ(logger.root_dir(), tmp.str() + "/lightning_logs");
  EXPECT_EQ(*logger.log_dir(), tmp.str() + "/lightning_logs/version_2");
  EXPECT_EQ(*logger.save_dir(), tmp.str());
  EXPECT_FALSE(fs::exists(tmp / "lightning_logs/version_2"));
  logger.init_experiment();
  EXPECT_TRUE(fs::is_directory(tmp / "lightning_logs/version_2"));
}

TEST(CSVLogger, ExplicitVersions) {
  TempDir tmp;
  CSVLogger by_int(CSVLoggerOptions().save_dir(tmp.str()).name("exp").version(1));
  EXPECT_EQ(*by_int.log_dir(), tmp.str() + "/exp/version_1");
  CSVLogger by_str(CSVLoggerOptions().save_dir(tmp.str()).name("exp").version(std::string("awesome")));
  EXPECT_EQ(*by_str.log_dir(), tmp.str() + "/exp/awesome");
  by_str.log_hyperparams(json{{"a", 1}});
  EXPECT_FALSE(fs::is_empty(tmp / "exp/awesome"));
}

TEST(CSVLogger, EmptyNameUsesSaveDirDirectly) {
  TempDir tmp;
  CSVLogger logger(tmp.str(), "");
  EXPECT_EQ(logger.root_dir(), tmp.str() + "/");
  EXPECT_EQ(*logger.log_dir(), tmp.str() + "/version_0");
  logger.init_experiment();
  EXPECT_TRUE(fs::is_directory(tmp / "version_0"));
}

TEST(CSVLogger, OneRowAndSaveGivesHeaderAndRow) {
  TempDir tmp;
  CSVLogger logger(tmp.str());
  MetricMap m = metrics({{"float", 0.3}});
  m.set("int", Scalar::integer(1));
  logger.log_metrics(m, 0);
  EXPECT_FALSE(fs::exists(logger.metrics_file_path()));  // not flushed yet
  logger.save();
  EXPECT_EQ(read_file(logger.metrics_file_path()), "float,int,step\r\n0.30000001192092896,1,0\r\n");
}

TEST(CSVLogger, ColumnsAreSortedNewKeysRewriteAndOldColumnsStay) {
  TempDir tmp;
  CSVLogger logger(tmp.str());
  logger.log_metrics(metrics({{"d", 4}, {"b", 2}}), 0);
  logger.save();
  EXPECT_EQ(read_file(logger.metrics_file_path()), "b,d,step\r\n2.0,4.0,0\r\n");
  logger.log_metrics(metrics({{"b", 3}}), 1);  // no new key: appended
  logger.save();
  EXPECT_EQ(read_file(logger.metrics_file_path()), "b,d,step\r\n2.0,4.0,0\r\n3.0,,1\r\n");
  logger.log_metrics(metrics({{"c", 0.5}, {"a", 1}}), 2);  // new keys: whole file rewritten
  logger.save();
  EXPECT_EQ(read_file(logger.metrics_file_path()),
            "a,b,c,d,step\r\n,2.0,,4.0,0\r\n,3.0,,,1\r\n1.0,,0.5,,2\r\n");
}

TEST(CSVLogger, FlushesEveryNStepsByStepIndex) {
  TempDir tmp;
  CSVLogger logger(CSVLoggerOptions().save_dir(tmp.str()).flush_logs_every_n_steps(3));
  logger.log_metrics(metrics({{"x", 1}}), 0);
  logger.log_metrics(metrics({{"x", 2}}), 1);
  EXPECT_FALSE(fs::exists(logger.metrics_file_path()));
  logger.log_metrics(metrics({{"x", 3}}), 2);  // (2 + 1) % 3 == 0
  EXPECT_EQ(read_file(logger.metrics_file_path()), "step,x\r\n0,1.0\r\n1,2.0\r\n2,3.0\r\n");
  logger.log_metrics(metrics({{"x", 4}}), 3);
  logger.finalize("success");
  EXPECT_EQ(read_file(logger.metrics_file_path()), "step,x\r\n0,1.0\r\n1,2.0\r\n2,3.0\r\n3,4.0\r\n");
}

TEST(CSVLogger, PrefixAndNumberFormats) {
  TempDir tmp;
  CSVLogger logger(CSVLoggerOptions().save_dir(tmp.str()).prefix("train"));
  MetricMap m;
  m.set("loss", Scalar::f32(1e-5));
  m.set("big", Scalar::f32(1e20));
  m.set("nan", Scalar{std::nan(""), false});
  m.set("epoch", Scalar::integer(3));
  logger.log_metrics(m, 7);
  logger.save();
  EXPECT_EQ(read_file(logger.metrics_file_path()),
            "step,train-big,train-epoch,train-loss,train-nan\r\n"
            "7,1.0000000200408773e+20,3,9.999999747378752e-06,nan\r\n");
}

TEST(CSVLogger, KeysNeedingQuotesAreQuotedLikePythonCsv) {
  TempDir tmp;
  CSVLogger logger(tmp.str());
  logger.log_metrics(metrics({{"a,b", 1}, {"q\"x", 2}}), 0);
  logger.save();
  logger.log_metrics(metrics({{"c", 3}}), 1);  // rewrite: the quoted header must be parsed back
  logger.save();
  EXPECT_EQ(read_file(logger.metrics_file_path()),
            "\"a,b\",c,\"q\"\"x\",step\r\n1.0,,2.0,0\r\n,3.0,,1\r\n");
}

TEST(CSVLogger, ExistingVersionFolderWarnsAndDeletesMetrics) {
  TempDir tmp;
  fs::create_directories(tmp / "lightning_logs/version_0");
  std::ofstream(tmp / "lightning_logs/version_0/metrics.csv") << "old";
  std::ofstream(tmp / "lightning_logs/version_0/other.txt") << "kept";
  lamin::log::WarningCapture warnings;
  CSVLogger logger(CSVLoggerOptions().save_dir(tmp.str()).version(0));
  logger.init_experiment();
  EXPECT_TRUE(warnings.contains("Experiment logs directory " + tmp.str() +
                                "/lightning_logs/version_0 exists and is not empty. Previous log files in this "
                                "directory will be deleted when the new ones are saved!"));
  EXPECT_FALSE(fs::exists(tmp / "lightning_logs/version_0/metrics.csv"));
  EXPECT_TRUE(fs::exists(tmp / "lightning_logs/version_0/other.txt"));
}

TEST(CSVLogger, HparamsMergedAndRewrittenOnlyWhenLogged) {
  TempDir tmp;
  CSVLogger logger(tmp.str());
  logger.log_metrics(metrics({{"x", 1}}), 0);
  logger.finalize("success");
  EXPECT_FALSE(fs::exists(tmp / "lightning_logs/version_0/hparams.yaml"));

  CSVLogger second(tmp.str());
  second.log_hyperparams(json{{"width", 2}, {"lr", 0.05}});
  EXPECT_EQ(read_file(tmp / "lightning_logs/version_1/hparams.yaml"), "lr: 0.05\nwidth: 2\n");
  second.log_hyperparams(json{{"lr", 0.1}, {"opt", {{"name", "sgd"}}}});
  EXPECT_EQ(read_file(tmp / "lightning_logs/version_1/hparams.yaml"), "lr: 0.1\nopt:\n  name: sgd\nwidth: 2\n");
}

// ---- the oracle's metrics.csv files, replayed through the Logger interface ----------------------------------------
//
// The calls are derived from the case definitions with the trainer's logging rules (spec 5.3): a training row
// `{train_loss_step, epoch}` at step i when (i + 1) % log_every_n_steps == 0, then per epoch a validation row
// `{val_loss, epoch}` and an epoch-end row `{train_loss_epoch (float32 mean), epoch}`, both at the epoch's last step.
// The trainer calls save() after every log call and finalize("success") at the end.

void replay_case(const json& resolved, CSVLogger& logger) {
  const auto& trainer = resolved["trainer"];
  const std::int64_t epochs = trainer["max_epochs"].get<std::int64_t>();
  const std::int64_t every = trainer.value("log_every_n_steps", std::int64_t{50});
  const std::int64_t batches = resolved["batches_per_epoch"].get<std::int64_t>();
  const auto& train = resolved["train_metrics"]["train_loss"]["values"];
  const auto& val = resolved["val_metrics"]["val_loss"];
  for (std::int64_t e = 0; e < epochs; ++e) {
    float sum = 0.0f;
    for (std::int64_t b = 0; b < batches; ++b) {
      const std::int64_t step = e * batches + b;
      const float v = train[e][b].get<float>();
      sum += v;
      if ((step + 1) % every == 0) {
        MetricMap row;
        row.set("train_loss_step", Scalar::f32(v));
        row.set("epoch", Scalar::integer(e));
        logger.log_metrics(row, step);
        logger.save();
      }
    }
    const std::int64_t last_step = e * batches + batches - 1;
    MetricMap val_row;
    val_row.set("val_loss", Scalar::f32(val[std::min<std::size_t>(e, val.size() - 1)].get<double>()));
    val_row.set("epoch", Scalar::integer(e));
    logger.log_metrics(val_row, last_step);
    logger.save();
    MetricMap epoch_row;
    epoch_row.set("train_loss_epoch", Scalar::f32(sum / static_cast<float>(batches)));
    epoch_row.set("epoch", Scalar::integer(e));
    logger.log_metrics(epoch_row, last_step);
    logger.save();
  }
  logger.finalize("success");
}

TEST(CSVLogger, MetricsFilesAreByteEqualToTheOracle) {
  std::ifstream in(std::string(LAMIN_SHARED_DIR) + "/oracle/lightning_expected.json");
  ASSERT_TRUE(in.good());
  const json expected = json::parse(in);
  int compared = 0;
  for (const auto& c : expected["cases"]) {
    const json& resolved = c["resolved"];
    if (!resolved["logger"].is_object() || resolved["logger"]["type"] != "csv") continue;
    const auto& run = c["runs"][0];
    if (run["outcome"].value("status", std::string("ok")) == "error" || !resolved["epoch_end_metrics"].empty())
      continue;
    TempDir tmp;
    for (const auto& pre : resolved["pre_existing"]) fs::create_directories(tmp / pre.get<std::string>());
    const json& spec = resolved["logger"];
    CSVLogger logger(CSVLoggerOptions()
                         .save_dir((tmp / spec["save_dir"].get<std::string>()).string())
                         .name(spec.value("name", std::string("lightning_logs"))));
    logger.init_experiment();
    replay_case(resolved, logger);
    for (const auto& [rel, text] : run["logger_files"].items()) {
      if (rel.size() < 11 || rel.substr(rel.size() - 11) != "metrics.csv") continue;
      SCOPED_TRACE(c["name"].get<std::string>());
      ASSERT_TRUE(fs::exists(tmp / rel)) << rel;
      EXPECT_EQ(read_file(tmp / rel), text.get<std::string>());
      ++compared;
    }
  }
  EXPECT_EQ(compared, 3);  // csv_logger_versions, csv_logger_empty_name, csv_logger_explicit_dirpath
}

}  // namespace
