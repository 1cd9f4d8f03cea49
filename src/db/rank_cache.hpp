#pragma once
// The memory of SqliteRegistry::rank_artifacts. Private to src/db.
//
// rank_artifacts runs after every checkpoint save, over every checkpoint under a prefix: reading all scores and
// ranks each time would cost as much as the rest of the save. So it keeps, per query, each selected artifact's
// score and rank links (ids included, so a changed rank is one UPDATE by primary key), and learns what changed
// since its last call from SQLite's update hook: every row this connection inserts, updates or deletes in
// lamindb_artifact (by artifact id) or lamindb_artifactjsonvalue (by link id) is noted, and only those artifacts
// are read again. Anything it cannot place (a changed JsonValue row, too many changes) makes it read everything, as
// does a commit by another connection (PRAGMA data_version) or any rollback. Queries with feature or run conditions
// depend on more tables than these two and are never cached.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "sqlite.hpp"

namespace lamin::detail {

/// What rank_artifacts knows of one query: its members' scores and rank links, and the writes since.
struct RankCache {
  struct Link {
    std::int64_t id = 0;
    std::int64_t jsonvalue_id = 0;
    std::optional<std::int64_t> run_id;
  };
  struct Member {
    std::optional<double> score;      // the smallest number among its scores
    std::vector<Link> ranks;          // its links to values of the rank feature
    std::vector<std::int64_t> links;  // the ids of its score and rank links (its keys in link_owner)
  };
  std::string fingerprint;  // the query's SQL, parameters and features
  bool valid = false;
  std::int64_t data_version = 0;
  bool everything_changed = false;
  std::vector<std::int64_t> changed_artifacts;
  std::vector<std::int64_t> changed_links;
  std::unordered_map<std::int64_t, Member> members;            // artifact id -> score and rank links
  std::unordered_map<std::int64_t, std::int64_t> link_owner;   // score and rank link id -> artifact id
  std::unordered_map<std::int64_t, std::int64_t> rank_values;  // rank -> JsonValue id
  std::int64_t score_id = 0, rank_id = 0;

  void clear();
};

/// The rank caches of one connection, and the update and rollback hooks that keep them honest.
class RankCaches {
 public:
  /// Installs the hooks on `db`. REQUIRES: `db` outlives this object.
  explicit RankCaches(sqlite::Database& db);
  /// Removes the hooks.
  ~RankCaches();
  RankCaches(const RankCaches&) = delete;
  RankCaches& operator=(const RankCaches&) = delete;

  /// The cache of the query `fingerprint`, made most recently used (the least recently used one beyond a few goes).
  RankCache& get(const std::string& fingerprint);
  /// Brings `cache` up to date for the query `where` (over alias `a`, bound with `params`) and the two features:
  /// everything is read again, or only the artifacts written since the last call.
  void refresh(RankCache& cache, const std::string& where, const std::vector<sqlite::Param>& params,
               std::int64_t score_id, std::int64_t rank_id);
  /// Forgets what every cache holds (after a rollback, which may take writes they saw).
  void invalidate() noexcept;

  /// While one is alive, the connection's writes are not noted: rank_artifacts writes what its cache already holds.
  class Pause {
   public:
    explicit Pause(RankCaches& caches) : caches_(caches) { caches_.track_changes_ = false; }
    ~Pause() { caches_.track_changes_ = true; }
    Pause(const Pause&) = delete;
    Pause& operator=(const Pause&) = delete;

   private:
    RankCaches& caches_;
  };

 private:
  /// Reads the members of the cached query, all of them or those among `only`, with their score and rank links.
  void reload(RankCache& cache, const std::string& where, const std::vector<sqlite::Param>& params,
              const std::vector<std::int64_t>* only);
  /// The artifacts the noted writes touched (links are mapped to their artifacts).
  std::vector<std::int64_t> changed_artifacts(const RankCache& cache);
  static void on_row_change(void* self, int op, const char* db, const char* table, sqlite3_int64 rowid);
  static void on_rollback(void* self);

  sqlite::Database& db_;
  std::vector<std::unique_ptr<RankCache>> caches_;  // most recently used first
  bool track_changes_ = true;
};

}  // namespace lamin::detail
