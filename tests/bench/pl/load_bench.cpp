// Checkpoint load time: lamin::pl::load_checkpoint_file against Python's torch.load on the same file.
//
//   bench_load [MiB] [folder]
//
// Writes one checkpoint of about MiB (default 1024) with save_checkpoint_file (a state_dict of float32 tensors of
// 16 MiB each), reads it back three times with load_checkpoint_file, then three times with torch.load in
// /usr/bin/python3 (or $LAMIN_TEST_PYTHON) when that Python has torch, timed inside Python so that its start and
// `import torch` do not count. Prints the medians and their ratio. The first read of each side follows the other's,
// so both read from the page cache.
#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "lamin/pl/checkpoint_io.hpp"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

/// Median seconds of three torch.load calls in Python; negative when that Python has no torch.
double python_load_seconds(const fs::path& file, const fs::path& dir) {
  const char* env = std::getenv("LAMIN_TEST_PYTHON");
  const std::string python = env ? env : "/usr/bin/python3";
  const fs::path script = dir / "load.py";
  std::ofstream(script) << "import sys, time\n"
                           "try:\n    import torch\nexcept ImportError:\n    print(-1); sys.exit(0)\n"
                           "times = []\n"
                           "for _ in range(3):\n"
                           "    t = time.perf_counter(); torch.load(sys.argv[1], map_location='cpu');"
                           " times.append(time.perf_counter() - t)\n"
                           "print(sorted(times)[1])\n";
  const std::string cmd = python + " " + script.string() + " " + file.string() + " 2>/dev/null";
  FILE* pipe = ::popen(cmd.c_str(), "r");
  if (!pipe) return -1;
  double seconds = -1;
  if (std::fscanf(pipe, "%lf", &seconds) != 1) seconds = -1;
  ::pclose(pipe);
  return seconds;
}

}  // namespace

int main(int argc, char** argv) {
  const std::int64_t mib = argc > 1 ? std::atoll(argv[1]) : 1024;
  const fs::path dir = fs::path(argc > 2 ? argv[2] : fs::temp_directory_path().string()) /
                       ("lamin-bench-load-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const fs::path file = dir / "big.ckpt";
  {
    lamin::pl::CheckpointDict ckpt = lamin::pl::make_checkpoint_dict();
    c10::impl::GenericDict state(c10::StringType::get(), c10::TensorType::get());
    const std::int64_t tensors = std::max<std::int64_t>(1, mib / 16);
    for (std::int64_t i = 0; i < tensors; ++i) state.insert("layer" + std::to_string(i) + ".weight", torch::randn({2048, 2048}));
    ckpt.insert("state_dict", state);
    ckpt.insert("epoch", std::int64_t{0});
    lamin::pl::save_checkpoint_file(ckpt, file.string());
  }
  const double size_mib = static_cast<double>(fs::file_size(file)) / (1024.0 * 1024.0);
  std::vector<double> ours;
  for (int r = 0; r < 3; ++r) {
    const auto t0 = Clock::now();
    const auto loaded = lamin::pl::load_checkpoint_file(file.string());
    ours.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
  }
  const double python = python_load_seconds(file, dir);
  std::printf("load %.0f MiB checkpoint: lamin-cpp load_checkpoint_file %.3f s (%.0f MiB/s)", size_mib, median(ours),
              size_mib / median(ours));
  if (python > 0) {
    std::printf(", Python torch.load %.3f s (%.0f MiB/s); time ratio lamin-cpp / torch.load %.3f\n", python,
                size_mib / python, median(ours) / python);
  } else {
    std::printf("; no Python with torch, so no baseline\n");
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
  return 0;
}
