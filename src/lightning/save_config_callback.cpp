// SaveConfigCallback: config.yaml in the log folder, registered as a run input.

#include "lamin/lightning/save_config_callback.hpp"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <system_error>

#include "core/file_io.hpp"
#include "lamin/error.hpp"
#include "lamin/lightning/checkpoint.hpp"
#include "lamin/pl/data.hpp"
#include "lamin/pl/module.hpp"
#include "lamin/pl/trainer.hpp"
#include "core/python.hpp"

namespace lamin::lightning {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

json number_json(const pl::IntOrFloat& v) { return v.is_int() ? json(v.as_int()) : json(v.as_double()); }

template <typename T>
json optional_json(const std::optional<T>& v) {
  return v ? json(*v) : json(nullptr);
}

// `max_time` (and a time-based `val_check_interval`) as LightningCLI accepts it: "DD:HH:MM:SS" for whole seconds,
// else timedelta keywords.
json max_time_json(const std::optional<std::chrono::duration<double>>& t) {
  if (!t) return nullptr;
  const double s = t->count();
  if (s != std::floor(s) || s < 0 || s > 1e15) return {{"seconds", s}};
  const auto whole = static_cast<long long>(s);
  char text[48];
  std::snprintf(text, sizeof text, "%02lld:%02lld:%02lld:%02lld", whole / 86400, whole / 3600 % 24, whole / 60 % 60,
                whole % 60);
  return text;
}

// `val_check_interval`: the number, or a duration in max_time's forms.
json val_check_interval_json(const pl::ValCheckInterval& v) {
  if (!v.is_time_based()) return number_json(v.number());
  return max_time_json(std::chrono::duration<double>(*v.seconds()));
}

}  // namespace

SaveConfigCallback::SaveConfigCallback(SaveConfigCallbackOptions options) : options_(std::move(options)) {}

void SaveConfigCallback::save_config(pl::Trainer&, pl::LightningModule&, const std::string&) {}

json SaveConfigCallback::resolve_config(const pl::Trainer& trainer, const pl::LightningModule& module) {
  const auto& o = trainer.options();
  json t = json::object();
  t["accelerator"] = o.accelerator();
  t["accumulate_grad_batches"] = o.accumulate_grad_batches();
  t["check_val_every_n_epoch"] = optional_json(o.check_val_every_n_epoch());
  t["default_root_dir"] = o.default_root_dir().empty() ? json(nullptr) : json(o.default_root_dir());
  t["enable_checkpointing"] = o.enable_checkpointing();
  t["enable_progress_bar"] = o.enable_progress_bar();
  t["fast_dev_run"] = o.fast_dev_run();
  t["gradient_clip_algorithm"] = o.gradient_clip_algorithm();
  t["gradient_clip_val"] = optional_json(o.gradient_clip_val());
  t["limit_test_batches"] = number_json(o.limit_test_batches());
  t["limit_train_batches"] = number_json(o.limit_train_batches());
  t["limit_val_batches"] = number_json(o.limit_val_batches());
  t["log_every_n_steps"] = o.log_every_n_steps();
  t["logger"] = !trainer.loggers().empty();
  t["max_epochs"] = optional_json(o.max_epochs());
  t["max_steps"] = o.max_steps();
  t["max_time"] = max_time_json(o.max_time());
  t["min_epochs"] = optional_json(o.min_epochs());
  t["min_steps"] = optional_json(o.min_steps());
  t["num_sanity_val_steps"] = o.num_sanity_val_steps();
  t["precision"] = o.precision();
  t["val_check_interval"] = val_check_interval_json(o.val_check_interval());
  json callbacks = json::array();
  for (const auto& cb : trainer.callbacks()) callbacks.push_back(cb->state_key());
  t["callbacks"] = callbacks;

  json config = json::object();
  config["seed_everything"] = o.seed() ? json(*o.seed()) : json(nullptr);
  config["trainer"] = t;
  config["model"] = module.hparams().is_null() ? json::object() : module.hparams();
  config["data"] = trainer.datamodule() && !trainer.datamodule()->hparams().is_null()
                       ? trainer.datamodule()->hparams()
                       : json(nullptr);
  config["ckpt_path"] = trainer.ckpt_path() ? json(*trainer.ckpt_path()) : json(nullptr);
  return config;
}

void SaveConfigCallback::setup(pl::Trainer& trainer, pl::LightningModule& module, const std::string& stage) {
  if (already_saved_ || !options_.save_to_log_dir()) return;
  fs::path path;
  if (!trainer.loggers().empty()) {
    const auto& logger = trainer.loggers().front();
    std::string save_dir = logger->save_dir().value_or("");
    if (save_dir.empty()) save_dir = trainer.default_root_dir();
    path = fs::path(save_dir);
    if (!logger->name().empty()) path /= logger->name();
    path /= pl::version_folder_name(logger->version());
    path /= options_.config_filename();
  } else {
    path = fs::path(trainer.default_root_dir()) / options_.config_filename();
  }
  if (trainer.is_global_zero()) {
    std::error_code ec;
    if (!options_.overwrite() && fs::exists(path, ec)) {
      throw ConfigurationError("Config file already exists: " + path.string());
    }
    const json config = options_.config().is_null() ? resolve_config(trainer, module) : options_.config();
    lamin::detail::atomic_write(path, lamin::detail::yaml_dump(config));
    config_path_ = path.string();
    for (const auto& cb : trainer.callbacks()) {
      if (auto* publishing = dynamic_cast<ArtifactPublishingModelCheckpoint*>(cb.get())) {
        publishing->save_config_artifact(trainer, path.string());
        break;
      }
    }
    save_config(trainer, module, stage);
  }
  already_saved_ = true;
}

}  // namespace lamin::lightning
