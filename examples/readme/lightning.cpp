// The README's lamin::lightning example, compiled so that it keeps compiling. The part between the markers is
// copied byte for byte into README.md; tests/readme/check_snippets.cmake checks that it still is.
//
//   readme_lightning [DIR]      (default: ./readme_lightning; the instance is DIR/lamindata)

#include <cstdio>

#include "../lightning/example_common.hpp"  // example::Regressor, a LightningModule like the training example's

using example::Regressor;

// [readme]
#include <lamin/lamin.hpp>
namespace ll = lamin::lightning;
namespace pl = lamin::pl;

std::shared_ptr<Regressor> train_and_register(const std::string& dir, pl::DataLoader train, pl::DataLoader val) {
  auto instance = lamin::init(dir + "/lamindata");
  ll::save_lightning_features(instance);  // the `lamindb.lightning` feature type and its 14 features
  lamin::track(instance, {{"lr", 0.01}});

  auto ckpt = std::make_shared<ll::Checkpoint>(ll::CheckpointOptions().monitor("val_loss").mode("min").save_top_k(2));
  pl::Trainer trainer(pl::TrainerOptions().max_epochs(10).default_root_dir(dir)
                          .callbacks({std::make_shared<ll::SaveConfigCallback>(), ckpt}));
  Regressor model(nlohmann::json{{"lr", 0.01}});
  trainer.fit(model, train, val);
  const std::string prefix = ckpt->checkpoint_key_prefix();  // ".../<run uid>/checkpoints": read before finish()
  lamin::finish();

  auto best = instance->artifacts().key_startswith(prefix + "/")
                  .where(lamin::feature("is_best_model") == true).one();
  return pl::LightningModule::load_from_checkpoint<Regressor>(instance->storage_path(best).string());
}
// [/readme]

int main(int argc, char** argv) {
  const std::string dir = argc > 1 ? argv[1] : "readme_lightning";
  auto [train, val] = example::make_loaders();
  auto best = train_and_register(dir, train, val);
  std::printf("best checkpoint reloaded, hparams %s\n", best->hparams().dump().c_str());
  return 0;
}
