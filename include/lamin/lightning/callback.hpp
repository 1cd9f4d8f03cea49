#pragma once
// Deprecated: LaminDB's legacy `ll.Callback(path, key, features)`. Use lamin::lightning::Checkpoint.
//
// Saves `path` at every training epoch end and registers it under `key` (kind "model"; identical content returns
// the existing artifact, new content makes a new version of the key), annotated with `features`, where each name
// takes the trainer attribute of that name, else the callback metric of that name, else the given value.

#include <string>

#include <nlohmann/json.hpp>

#include "lamin/db/instance.hpp"
#include "lamin/pl/callback.hpp"

namespace lamin::lightning {

class Callback : public pl::Callback {
 public:
  /// Warns "ll.Callback is deprecated, use ll.Checkpoint instead".
  Callback(std::string path, std::string key, nlohmann::json features = nlohmann::json::object(),
           lamin::Instance instance = {});

  /// Checks that every feature exists ("Feature x missing. Create it first.").
  void on_train_start(pl::Trainer& trainer, pl::LightningModule& module) override;
  void on_train_epoch_end(pl::Trainer& trainer, pl::LightningModule& module) override;
  std::string state_key() const override { return "Callback"; }

 private:
  lamin::Instance instance() const;
  std::string path_;
  std::string key_;
  nlohmann::json features_;
  mutable lamin::Instance instance_;
};

}  // namespace lamin::lightning
