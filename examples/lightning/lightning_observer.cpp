// An observer that prints every artifact event: checkpoints saved and evicted, the config and the hparams.
//
//   lightning_observer [DIR]     (default: ./lightning_observer)

#include <iostream>

#include "example_common.hpp"

namespace ll = lamin::lightning;
namespace pl = lamin::pl;

struct PrintingObserver : ll::ArtifactObserver {
  void on_artifact_saved(const ll::ArtifactSavedEvent& e) override {
    std::cout << "saved   " << e.kind << "  " << e.key << "\n        uid " << e.artifact->uid << " -> "
              << *e.storage_uri << "\n";
  }
  void on_artifact_removed(const ll::ArtifactRemovedEvent& e) override {
    std::cout << "removed " << e.kind << "  " << e.key << (e.artifact ? " (uid " + e.artifact->uid + ")" : "")
              << "\n";
  }
};

int main(int argc, char** argv) {
  const std::string dir = argc > 1 ? argv[1] : "lightning_observer";
  auto instance = lamin::init(dir + "/instance");
  ll::save_lightning_features(instance);
  auto checkpoint = std::make_shared<ll::Checkpoint>(ll::CheckpointOptions()
                                                         .monitor("val_loss")
                                                         .save_top_k(1)
                                                         .instance(instance)
                                                         .artifact_observers({std::make_shared<PrintingObserver>()}));
  auto config = std::make_shared<ll::SaveConfigCallback>(ll::SaveConfigCallbackOptions().overwrite(true));
  pl::Trainer trainer(example::quiet(dir, 3)
                          .logger(std::make_shared<pl::CSVLogger>(dir + "/logs", "observed"))
                          .callbacks({config, checkpoint}));
  example::Regressor model(nlohmann::json{{"lr", 0.05}});
  auto [train, val] = example::make_loaders();
  trainer.fit(model, train, val);
  return 0;
}
