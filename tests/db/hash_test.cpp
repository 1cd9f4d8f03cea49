#include "lamin/db/hash.hpp"

#include <gtest/gtest.h>

#include "common/files.hpp"
#include "lamin/db/uid.hpp"
#include "lamin/error.hpp"

namespace lamin {
namespace {

using test::TempDir;
using test::write_file;

TEST(Hash, SpecVectorsMd5) {
  TempDir dir;
  EXPECT_EQ(hash_file(write_file(dir / "a", "a")).hash, "DMF1ucDxtqgxw5niaXcmYQ");
  EXPECT_EQ(hash_file(write_file(dir / "b", "b")).hash, "kutf_uauL-w61xx3dTFXjw");
  const auto abc = hash_file(write_file(dir / "abc", "abc"));
  EXPECT_EQ(abc.hash, "kAFQmDzST7DWlj99KOF_cg");
  EXPECT_EQ(abc.hash_type, "md5");
  EXPECT_EQ(abc.size, 3u);
}

TEST(Hash, SpecVectorSha1FirstLast) {
  TempDir dir;
  const auto h = hash_file(write_file(dir / "abc", "abc"), 1);
  EXPECT_EQ(h.hash, "p0EbDbQEP1wS-Tw6TuBjKS");
  EXPECT_EQ(h.hash_type, "sha1-fl");
}

TEST(Hash, OnlyFirstAndLastChunkMatter) {
  TempDir dir;
  // With chunk 4, the middle byte of a 9-byte file is never read.
  const auto a = hash_file(write_file(dir / "x", "abcdXefgh"), 4);
  const auto b = hash_file(write_file(dir / "y", "abcdYefgh"), 4);
  const auto c = hash_file(write_file(dir / "z", "abcdXefgX"), 4);
  EXPECT_EQ(a.hash, b.hash);
  EXPECT_NE(a.hash, c.hash);
  EXPECT_EQ(a.hash.size(), 22u);
  // Exactly chunk-sized files are hashed whole with md5.
  EXPECT_EQ(hash_file(write_file(dir / "w", "abcd"), 4).hash_type, "md5");
}

TEST(Hash, HashString) {
  EXPECT_EQ(hash_string("a"), "DMF1ucDxtqgxw5niaXcmYQ");
  EXPECT_EQ(hash_string("True"), "-CfPRi9ihI3zfF4elKTadA");
}

TEST(Hash, MissingFileIsNotFound) {
  TempDir dir;
  EXPECT_THROW(hash_file(dir / "nope"), NotFoundError);
  EXPECT_THROW(hash_file(dir.path()), ValidationError);
}

TEST(Uid, SuffixArithmetic) {
  EXPECT_EQ(increment_version_suffix("0000"), "0001");
  EXPECT_EQ(increment_version_suffix("0009"), "000A");
  EXPECT_EQ(increment_version_suffix("000Z"), "000a");
  EXPECT_EQ(increment_version_suffix("000z"), "0010");
  EXPECT_EQ(increment_version_suffix("0zzz"), "1000");
  EXPECT_THROW(increment_version_suffix("zzzz"), ValidationError);
  EXPECT_THROW(increment_version_suffix("00-0"), ValidationError);
  EXPECT_EQ(base62_decode("10"), 62u);
}

TEST(Uid, RandomBase62) {
  const auto u = base62_uid(20);
  ASSERT_EQ(u.size(), 20u);
  for (char c : u) EXPECT_NE(kBase62Alphabet.find(c), std::string_view::npos);
  EXPECT_NE(base62_uid(16), base62_uid(16));
}

}  // namespace
}  // namespace lamin
