// The README's registry example (no LibTorch), compiled so that it keeps compiling. The part between the markers
// is copied byte for byte into README.md; tests/readme/check_snippets.cmake checks that it still is.
//
//   readme_registry [DIR]      (default: ./readme_registry; writes a small file there and registers it)

#include <fstream>

// [readme]
#include <lamin/db.hpp>
#include <iostream>

void register_and_query(const std::string& dir, const std::string& checkpoint_file) {
  auto instance = lamin::init(dir);  // or lamin::connect(dir), or lamin::connect() for $LAMIN_INSTANCE
  instance->create_feature(lamin::FeatureOptions("val_loss", "float"));
  instance->create_feature(lamin::FeatureOptions("is_best_model", "bool"));

  lamin::track({{"lr", 0.01}});  // transform = this program, run = this execution
  auto a = instance->create_artifact(checkpoint_file,
      lamin::ArtifactOptions("mnist/checkpoints/epoch=3.ckpt").description("model checkpoint").kind("model")
          .storage_mode(lamin::StorageMode::link));  // zero copy, for files written atomically
  instance->add_values(a, {{"val_loss", 0.031}, {"is_best_model", true}});
  lamin::finish();

  auto best = instance->artifacts()
                  .key_startswith("mnist/checkpoints/")
                  .where(lamin::feature("val_loss") < 0.05)
                  .where(lamin::feature("is_best_model") == true)
                  .order_by(lamin::Field::created_at, lamin::Order::descending)
                  .first();
  if (best) std::cout << lamin::describe(*instance, *best);
}
// [/readme]

int main(int argc, char** argv) {
  const std::string dir = argc > 1 ? argv[1] : "readme_registry";
  std::filesystem::create_directories(dir);
  const std::string file = dir + "/epoch=3.ckpt";
  std::ofstream(file) << "not a real checkpoint\n";
  register_and_query(dir, file);
  return 0;
}
