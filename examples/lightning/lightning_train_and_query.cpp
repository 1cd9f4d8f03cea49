// Trains with ll::Checkpoint, then finds the best checkpoint by its features and loads it.
//
//   lightning_train_and_query [DIR]     (default: ./lightning_example; the instance is DIR/instance)

#include <iostream>

#include "example_common.hpp"

namespace ll = lamin::lightning;
namespace pl = lamin::pl;

int main(int argc, char** argv) {
  const std::string dir = argc > 1 ? argv[1] : "lightning_example";
  auto instance = lamin::init(dir + "/instance");
  ll::save_lightning_features(instance);  // is_best_model, score, model_rank, ... (idempotent)

  const lamin::Run run = lamin::track(instance, {{"lr", 0.05}});
  auto checkpoint = std::make_shared<ll::Checkpoint>(
      ll::CheckpointOptions().monitor("val_loss").mode("min").save_top_k(2));
  pl::Trainer trainer(example::quiet(dir, 6).logger(std::make_shared<pl::CSVLogger>(dir + "/logs", "regression"))
                          .callbacks({checkpoint}));
  example::Regressor model(nlohmann::json{{"lr", 0.05}});
  auto [train, val] = example::make_loaders();
  trainer.fit(model, train, val);
  const std::string prefix = checkpoint->checkpoint_key_prefix();  // read while the run is current
  lamin::finish();

  // Every kept checkpoint of this run, with its metrics.
  std::cout << instance->artifacts().key_startswith(prefix + "/").kind("model").table({"score", "model_rank",
                                                                                      "is_best_model"})
                   .to_string()
            << "\n";
  // The best one, by query.
  const lamin::Artifact best = instance->artifacts()
                                   .key_startswith(prefix + "/")
                                   .where(lamin::feature("is_best_model") == true)
                                   .one();
  std::cout << lamin::describe(*instance, best) << "\n";
  auto restored = pl::LightningModule::load_from_checkpoint<example::Regressor>(
      instance->storage_path(best).string());
  std::cout << "run " << run.uid << ": best checkpoint " << *best.key << " restored (weight "
            << restored->layer->weight.flatten()[0].item<double>() << ")\n";
  return 0;
}
