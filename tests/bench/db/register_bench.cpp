// Registering a large checkpoint file vs. writing it.
//
//   lamin_bench_register [SIZE_MIB=256] [DIR=$TMPDIR]      (1 GiB: lamin_bench_register 1024)
//
// The baseline is what a trainer does to save a checkpoint: write SIZE bytes to a file durably (temporary file,
// fsync, rename: lamin::detail::atomic_write, as lamin::pl writes checkpoints) -- the cost of `torch::save` minus the
// serialisation. Registration hashes at most 100 MiB (first and last 50 MiB) and stores the file by hard link.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "core/file_io.hpp"
#include "lamin/db.hpp"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

static double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

int main(int argc, char** argv) {
  const std::uint64_t mib = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 256;
  const fs::path base = argc > 2 ? fs::path(argv[2]) : fs::temp_directory_path();
  const fs::path dir = base / ("lamin-bench-register-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::uint64_t size = mib << 20;

  std::vector<char> block(8 << 20);
  std::mt19937_64 rng(42);
  for (auto& c : block) c = static_cast<char>(rng());

  auto write_checkpoint = [&](const fs::path& path, bool durable) {
    lamin::detail::atomic_write(
        path,
        [&](lamin::detail::FileWriter& w) {
          for (std::uint64_t done = 0; done < size; done += block.size()) {
            block[0] = static_cast<char>(done >> 20);  // distinct content per block
            w.write(block.data(), std::min<std::uint64_t>(block.size(), size - done));
          }
        },
        durable);
  };

  auto instance = lamin::init(dir / "instance");
  std::printf("checkpoint size: %llu MiB, folder: %s\n", static_cast<unsigned long long>(mib), dir.c_str());
  double write_durable = 0, write_plain = 0, reg_link = 0, reg_copy = 0, hash_only = 0;
  const int kRepeats = 3;
  for (int r = 0; r < kRepeats; ++r) {
    const fs::path ckpt = dir / ("epoch=" + std::to_string(r) + ".ckpt");
    auto t = Clock::now();
    write_checkpoint(ckpt, true);
    write_durable += seconds_since(t);

    t = Clock::now();
    (void)lamin::hash_file(ckpt);
    hash_only += seconds_since(t);

    t = Clock::now();
    instance->create_artifact(ckpt, lamin::ArtifactOptions("bench/link/epoch=" + std::to_string(r) + ".ckpt")
                                        .kind("model").skip_hash_lookup(true).storage_mode(lamin::StorageMode::link));
    reg_link += seconds_since(t);

    t = Clock::now();
    instance->create_artifact(ckpt, lamin::ArtifactOptions("bench/copy/epoch=" + std::to_string(r) + ".ckpt")
                                        .kind("model").skip_hash_lookup(true).storage_mode(lamin::StorageMode::copy));
    reg_copy += seconds_since(t);

    // Last, so that its unsynced data is not flushed by the registrations' directory fsyncs.
    t = Clock::now();
    write_checkpoint(dir / "plain.ckpt", false);
    write_plain += seconds_since(t);
    ::sync();
  }
  write_durable /= kRepeats;
  write_plain /= kRepeats;
  reg_link /= kRepeats;
  reg_copy /= kRepeats;
  hash_only /= kRepeats;
  std::printf("write checkpoint (atomic, fsync)   : %8.3f s\n", write_durable);
  std::printf("write checkpoint (no fsync)        : %8.3f s\n", write_plain);
  std::printf("hash_file (bounded, <= 100 MiB)    : %8.3f s\n", hash_only);
  std::printf("register, zero-copy (hard link)    : %8.3f s  = %5.1f%% of the durable write, %5.1f%% of the plain write\n",
              reg_link, 100 * reg_link / write_durable, 100 * reg_link / write_plain);
  std::printf("register, copy + fsync             : %8.3f s  = %5.1f%% of the durable write\n", reg_copy,
              100 * reg_copy / write_durable);
  std::error_code ec;
  fs::remove_all(dir, ec);
  return 0;
}
