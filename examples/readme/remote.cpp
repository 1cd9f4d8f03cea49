// The README's remote-registry example (no LibTorch), compiled so that it keeps compiling. The part between the
// markers is copied byte for byte into README.md; tests/readme/check_snippets.cmake checks that it still is.
//
//   readme_remote URL FILE      (e.g. readme_remote http://127.0.0.1:8080 model.ckpt, with lamin-serve running)

// [readme]
#include <lamin/db.hpp>
#include <iostream>

void register_remotely(const std::string& url, const std::string& checkpoint_file) {
  auto remote = lamin::connect(url);  // "https://...": synchronous, retried; the API key from $LAMIN_API_KEY
  std::cout << remote->artifacts().key_startswith("mnist/").count() << " artifacts under mnist/\n";

  auto buffered = lamin::connect_buffered(url, "lamin-outbox");  // writes locally, uploads in the background
  buffered->create_artifact(checkpoint_file,
      lamin::ArtifactOptions("mnist/model.ckpt").storage_mode(lamin::StorageMode::link));
  lamin::OutboxStatus st = lamin::flush(buffered, 60);  // at the end of training: a bounded wait
  if (!st.drained()) std::cerr << lamin::to_string(st) << "\n";  // what is left; `lamin sync` uploads it later
}
// [/readme]

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: readme_remote URL FILE\n";
    return 2;
  }
  register_remotely(argv[1], argv[2]);
  return 0;
}
