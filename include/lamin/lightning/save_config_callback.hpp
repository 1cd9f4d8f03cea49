#pragma once
// SaveConfigCallback: writes the resolved training configuration to `config.yaml` in the log folder at setup and
// registers it, through the first ArtifactPublishingModelCheckpoint among the trainer's callbacks, as an input of
// the current run (LaminDB's `SaveConfigCallback`, which replaces LightningCLI's).
//
//   auto ckpt = std::make_shared<ll::Checkpoint>(ll::CheckpointOptions().monitor("val_loss"));
//   auto cfg = std::make_shared<ll::SaveConfigCallback>();
//   pl::Trainer trainer(pl::TrainerOptions().callbacks({cfg, ckpt}));

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "lamin/arg.hpp"
#include "lamin/pl/callback.hpp"

namespace lamin::pl {
class LightningModule;
class Trainer;
}  // namespace lamin::pl

namespace lamin::lightning {

/// SaveConfigCallback's arguments, with Lightning's names and defaults.
struct SaveConfigCallbackOptions {
  /// The configuration to save (what LightningCLI parsed); null: resolve_config() of the trainer, module and data.
  LAMIN_ARG(nlohmann::json, config) = nullptr;
  LAMIN_ARG(std::string, config_filename) = "config.yaml";
  /// Replace an existing file instead of failing.
  LAMIN_ARG(bool, overwrite) = false;
  /// False: do nothing at all (LaminDB's behaviour: not even save_config()).
  LAMIN_ARG(bool, save_to_log_dir) = true;
};

class SaveConfigCallback : public pl::Callback {
 public:
  explicit SaveConfigCallback(SaveConfigCallbackOptions options = {});

  /// Once per instance, on global rank zero: writes the config (YAML, atomically) to
  /// `{save_dir}/{name}/{version}/{config_filename}` of the first logger (save_dir defaulting to default_root_dir),
  /// or `{default_root_dir}/{config_filename}` without a logger; registers it through the first
  /// ArtifactPublishingModelCheckpoint; then calls save_config(). Throws lamin::ConfigurationError
  /// ("Config file already exists: <path>") when the file exists and `overwrite` is false.
  void setup(pl::Trainer& trainer, pl::LightningModule& module, const std::string& stage) override;

  /// Called after the config is saved (for subclasses that save it somewhere else too).
  virtual void save_config(pl::Trainer& trainer, pl::LightningModule& module, const std::string& stage);

  /// The resolved training configuration: `{"trainer": {options...}, "model": module hparams, "data": datamodule
  /// hparams, "ckpt_path": null}`.
  static nlohmann::json resolve_config(const pl::Trainer& trainer, const pl::LightningModule& module);

  const SaveConfigCallbackOptions& options() const { return options_; }
  bool already_saved() const { return already_saved_; }
  /// The local file written (none before setup).
  const std::optional<std::string>& config_path() const { return config_path_; }
  std::string state_key() const override { return "SaveConfigCallback"; }

 private:
  SaveConfigCallbackOptions options_;
  bool already_saved_ = false;
  std::optional<std::string> config_path_;
};

}  // namespace lamin::lightning
