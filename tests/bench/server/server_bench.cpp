// lamin_bench_server [N] [SIZE_KIB]: per-registration latency (create_artifact with StorageMode::link + add_values
// of two values) through lamin-serve on 127.0.0.1 vs the embedded SQLite backend, and the time the caller is
// blocked per registration with the outbox while the server is up and while it is down.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "common/files.hpp"
#include "common/serve.hpp"
#include "lamin/db.hpp"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {
struct Stats {
  double median_ms, p95_ms, mean_ms;
};
Stats stats(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  double sum = 0;
  for (double x : v) sum += x;
  return {v[v.size() / 2], v[std::min(v.size() - 1, v.size() * 95 / 100)], sum / v.size()};
}
void print(const char* name, const Stats& s) {
  std::printf("%-44s: median %8.3f ms   p95 %8.3f ms   mean %8.3f ms\n", name, s.median_ms, s.p95_ms, s.mean_ms);
}

std::vector<fs::path> make_files(const fs::path& dir, int n, std::size_t kib) {
  std::vector<fs::path> out;
  for (int i = 0; i < n; ++i) {
    std::string content(kib * 1024, 'c');
    content.replace(0, 16, "file" + std::to_string(100000 + i) + "......");
    out.push_back(lamin::test::write_file(dir / ("epoch=" + std::to_string(i) + ".ckpt"), content));
  }
  return out;
}

std::vector<double> register_all(lamin::Registry& r, const std::vector<fs::path>& files) {
  r.create_feature(lamin::FeatureOptions("val_loss", "float"));
  r.create_feature(lamin::FeatureOptions("is_best_model", "bool"));
  std::vector<double> ms;
  int i = 0;
  for (const auto& f : files) {
    const auto t0 = Clock::now();
    auto a = r.create_artifact(f, lamin::ArtifactOptions("bench/model.ckpt").storage_mode(lamin::StorageMode::link).no_run());
    r.add_values(a, {{"val_loss", 1.0 / (++i)}, {"is_best_model", i % 2 == 0}});
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  return ms;
}

}  // namespace

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::stoi(argv[1]) : 200;
  const std::size_t kib = argc > 2 ? std::stoul(argv[2]) : 1024;
  const lamin::test::TempDir scratch("bench_server");
  const fs::path root = scratch.path();
  std::printf("%d registrations of %zu KiB checkpoints (create_artifact, link mode, + 2 values)\n", n, kib);
  {
    auto files = make_files(root / "f1", n, kib);
    auto inst = lamin::init(root / "embedded");
    print("embedded SQLite backend", stats(register_all(*inst, files)));
  }
  int port = 0;
  {
    lamin::test::ServeProcess server(root / "served", {});
    server.start();
    port = server.port();
    auto files = make_files(root / "f2", n, kib);
    lamin::RestOptions o;
    auto remote = lamin::connect_rest(server.url(), o);
    print("RestRegistry through lamin-serve (127.0.0.1)", stats(register_all(*remote, files)));

    auto files3 = make_files(root / "f3", n, kib);
    lamin::OutboxOptions oo;
    oo.rest(o);
    auto buffered = lamin::connect_buffered(server.url(), root / "outbox-up", oo);
    print("outbox, server up: caller blocked", stats(register_all(*buffered, files3)));
    const auto t0 = Clock::now();
    const auto st = lamin::flush(buffered, 120);
    std::printf("%-44s: %8.3f s (%lld pending after)\n", "outbox, server up: flush after the loop",
                std::chrono::duration<double>(Clock::now() - t0).count(), static_cast<long long>(st.pending));
  }
  {
    auto files4 = make_files(root / "f4", n, kib);
    lamin::OutboxOptions oo;
    oo.rest().max_attempts(1);
    auto buffered = lamin::connect_buffered("http://127.0.0.1:" + std::to_string(port), root / "outbox-down", oo);
    print("outbox, server down: caller blocked", stats(register_all(*buffered, files4)));
    const auto st = lamin::flush(buffered, 0.1);
    std::printf("%-44s: %lld pending\n", "outbox, server down: queued", static_cast<long long>(st.pending));
  }
  return 0;
}
