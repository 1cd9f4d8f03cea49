#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <stdexcept>

#include "common/files.hpp"
#include "core/file_io.hpp"
#include "lamin/error.hpp"

namespace fs = std::filesystem;
using namespace lamin::detail;

using lamin::test::TempDir;

TEST(AtomicWrite, CreatesParentsAndReplaces) {
  const TempDir scratch("replace");
  const fs::path dir = scratch.path();
  const fs::path file = dir / "a" / "b" / "f.txt";
  atomic_write(file, "one");
  EXPECT_EQ(read_file(file), "one");
  atomic_write(file, "two");
  EXPECT_EQ(read_file(file), "two");
  // No temporary files are left behind.
  int entries = 0;
  for (auto& e : fs::directory_iterator(file.parent_path())) { (void)e; ++entries; }
  EXPECT_EQ(entries, 1);
}

TEST(AtomicWrite, FailureKeepsTheOldFileAndLeavesNoTemporary) {
  const TempDir scratch("failure");
  const fs::path dir = scratch.path();
  const fs::path file = dir / "f.txt";
  atomic_write(file, "old");
  EXPECT_THROW(atomic_write(file,
                            [](FileWriter& w) {
                              w.write("partial");
                              throw std::runtime_error("writer failed");
                            }),
               std::runtime_error);
  EXPECT_EQ(read_file(file), "old");
  int entries = 0;
  for (auto& e : fs::directory_iterator(dir)) { (void)e; ++entries; }
  EXPECT_EQ(entries, 1);
}

TEST(AtomicWrite, UnwritableFolderIsAStorageErrorNamingIt) {
  if (::geteuid() == 0) {
    // root ignores permission bits; use a path below a regular file instead.
    const TempDir scratch("unwritable");
    const fs::path dir = scratch.path();
    atomic_write(dir / "file", "x");
    try {
      atomic_write(dir / "file" / "sub" / "f.txt", "y");
      FAIL() << "expected StorageError";
    } catch (const lamin::StorageError& e) {
      EXPECT_NE(std::string(e.what()).find((dir / "file").string()), std::string::npos) << e.what();
    }
    return;
  }
  const TempDir scratch("unwritable");
  const fs::path dir = scratch.path();
  ::chmod(dir.c_str(), 0500);
  EXPECT_THROW(atomic_write(dir / "f.txt", "x"), lamin::StorageError);
  ::chmod(dir.c_str(), 0700);
}

TEST(AtomicWrite, FullDiskIsReported) {
  if (!fs::exists("/dev/full")) GTEST_SKIP() << "/dev/full is not available";
  FileWriter w(::open("/dev/full", O_WRONLY), "/dev/full");
  try {
    w.write("data");
    FAIL() << "expected StorageError";
  } catch (const lamin::StorageError& e) {
    EXPECT_NE(std::string(e.what()).find("disk is full"), std::string::npos) << e.what();
  }
}

TEST(ReadFile, MissingFileIsNotFound) {
  EXPECT_THROW(read_file("/nonexistent/lamin/file"), lamin::NotFoundError);
}

TEST(AtomicWrite, LeftoversOfKilledWritersAreRemovedOthersKept) {
  const TempDir scratch("stale");
  const fs::path dir = scratch.path();
  atomic_write(dir / "model.ckpt", "complete");
  // A real writer, SIGKILLed in the middle of its write: its temporary file stays behind.
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t writer = ::fork();
  ASSERT_GE(writer, 0);
  if (writer == 0) {
    atomic_write(dir / "model.ckpt", [&](FileWriter& w) {
      w.write("partial");
      (void)!::write(ready[1], "x", 1);
      ::pause();
    });
    ::_exit(0);
  }
  char c = 0;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  ::kill(writer, SIGKILL);
  ::waitpid(writer, nullptr, 0);
  // A live writer (a sleeping child) and this process's own temporary files are never touched.
  const pid_t live = ::fork();
  ASSERT_GE(live, 0);
  if (live == 0) {
    ::pause();
    ::_exit(0);
  }
  const fs::path live_tmp = dir / (".other.ckpt.tmp-" + std::to_string(live) + "-abcdefgh");
  const fs::path own_tmp = dir / (".mine.ckpt.tmp-" + std::to_string(::getpid()) + "-abcdefgh");
  atomic_write(live_tmp, "", false);
  atomic_write(own_tmp, "", false);
  atomic_write(dir / "notes.tmp-1-x", "not a temporary file of ours", false);

  auto leftovers = [&] {
    std::size_t n = 0;
    for (const auto& e : fs::directory_iterator(dir)) {
      const std::string name = e.path().filename().string();
      if (name.rfind(".model.ckpt.tmp-" + std::to_string(writer) + "-", 0) == 0) ++n;
    }
    return n;
  };
  ASSERT_EQ(leftovers(), 1u);
  EXPECT_EQ(remove_stale_temporaries(dir, 3600), 0u);  // too recent: might be another host's live write
  EXPECT_EQ(remove_stale_temporaries(dir, 0), 1u);
  EXPECT_EQ(leftovers(), 0u);
  EXPECT_TRUE(fs::exists(live_tmp));
  EXPECT_TRUE(fs::exists(own_tmp));
  EXPECT_TRUE(fs::exists(dir / "notes.tmp-1-x"));
  EXPECT_EQ(read_file(dir / "model.ckpt"), "complete");
  ::kill(live, SIGKILL);
  ::waitpid(live, nullptr, 0);
}
