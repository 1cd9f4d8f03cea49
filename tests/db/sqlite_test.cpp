// The registry's SQLite layer: lamin_ints(?), integer rows handed to SQL without text in between, on a real
// database file.
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "common/files.hpp"
#include "lamin/error.hpp"
#include "sqlite.hpp"

namespace lamin {
namespace {

using test::TempDir;

std::vector<std::pair<std::int64_t, std::optional<std::int64_t>>> read(sqlite::Statement& s) {
  std::vector<std::pair<std::int64_t, std::optional<std::int64_t>>> rows;
  while (s.step()) rows.emplace_back(s.int64(0), s.opt_int64(1));
  return rows;
}

TEST(SqliteIntRows, YieldsBoundRowsInOrder) {
  TempDir dir;
  sqlite::Database db((dir / "t.db").string(), true);
  sqlite::IntRows pairs(2);
  pairs.add(7, -1);
  pairs.add(3, INT64_MAX);
  pairs.add(7, 0);
  auto s = db.prepare("SELECT a, b FROM lamin_ints(?)");
  s.bind(1, pairs);
  using Row = std::pair<std::int64_t, std::optional<std::int64_t>>;
  EXPECT_EQ(read(s), (std::vector<Row>{{7, -1}, {3, INT64_MAX}, {7, 0}}));

  sqlite::IntRows ids;
  for (std::int64_t i = 0; i < 1000; ++i) ids.add(i * i);
  auto one = db.prepare("SELECT a, b FROM lamin_ints(?)");
  one.bind(1, ids);
  const auto rows = read(one);
  ASSERT_EQ(rows.size(), 1000u);
  EXPECT_EQ(rows[999].first, 999 * 999);
  EXPECT_FALSE(rows[999].second.has_value());  // one-column rows: b is NULL

  sqlite::IntRows none(2);
  auto empty = db.prepare("SELECT count(*) FROM lamin_ints(?)");
  empty.bind(1, none);
  ASSERT_TRUE(empty.step());
  EXPECT_EQ(empty.int64(0), 0);
}

TEST(SqliteIntRows, DrivesAnUpdateByPrimaryKey) {
  TempDir dir;
  sqlite::Database db((dir / "t.db").string(), true);
  db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER NOT NULL)");
  for (std::int64_t i = 1; i <= 5; ++i) db.prepare("INSERT INTO t (id, v) VALUES (?, 0)").bind(1, i).run();
  sqlite::IntRows changes(2);
  changes.add(2, 20);
  changes.add(4, 40);
  changes.add(9, 90);  // no such row: nothing happens
  db.prepare("UPDATE t SET v = p.b FROM lamin_ints(?) p WHERE t.id = p.a").bind(1, changes).run();
  EXPECT_EQ(db.changes(), 2);
  auto s = db.prepare("SELECT id, v FROM t ORDER BY id");
  using Row = std::pair<std::int64_t, std::optional<std::int64_t>>;
  EXPECT_EQ(read(s), (std::vector<Row>{{1, 0}, {2, 20}, {3, 0}, {4, 40}, {5, 0}}));
}

// Only a value bound through IntRows reaches the rows: numbers, text or NULL in SQL read as no rows, so SQL text
// cannot make SQLite dereference an address.
TEST(SqliteIntRows, AnythingButBoundRowsIsEmpty) {
  TempDir dir;
  sqlite::Database db((dir / "t.db").string(), true);
  for (const char* sql : {"SELECT count(*) FROM lamin_ints(140737488355328)", "SELECT count(*) FROM lamin_ints('x')",
                          "SELECT count(*) FROM lamin_ints(NULL)"}) {
    auto s = db.prepare(sql);
    ASSERT_TRUE(s.step()) << sql;
    EXPECT_EQ(s.int64(0), 0) << sql;
  }
  auto s = db.prepare("SELECT count(*) FROM lamin_ints(?)");
  s.bind(1, std::int64_t{140737488355328});
  ASSERT_TRUE(s.step());
  EXPECT_EQ(s.int64(0), 0);
  // Without its argument it is not a table to scan.
  EXPECT_THROW(db.prepare("SELECT count(*) FROM lamin_ints"), Error);
}

}  // namespace
}  // namespace lamin
