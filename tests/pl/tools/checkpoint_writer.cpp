// Writes checkpoints to one path in a loop, each with tensors filled with its own counter, until killed.
// Used by the crash-safety test: whatever the moment of the kill, the path must hold a whole checkpoint.

#include <torch/torch.h>

#include <cstdio>

#include "lamin/pl/checkpoint_io.hpp"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: lamin_checkpoint_writer PATH\n");
    return 2;
  }
  for (std::int64_t step = 1;; ++step) {
    lamin::pl::CheckpointDict ckpt = lamin::pl::make_checkpoint_dict();
    c10::impl::GenericDict state(c10::StringType::get(), c10::TensorType::get());
    state.insert("weight", torch::full({256, 1024}, static_cast<float>(step)));
    state.insert("bias", torch::full({1024}, static_cast<float>(step)));
    ckpt.insert("global_step", step);
    ckpt.insert("state_dict", state);
    lamin::pl::save_checkpoint_file(ckpt, argv[1]);
    std::printf("%lld\n", static_cast<long long>(step));
    std::fflush(stdout);
  }
}
