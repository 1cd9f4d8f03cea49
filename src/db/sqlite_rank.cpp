// SqliteRegistry::rank_artifacts: ranks written from the rank cache (rank_cache.hpp), with few statements.
#include "sqlite_registry.hpp"

#include <algorithm>
#include <map>
#include <type_traits>
#include <unordered_map>

#include "lamin/db/track.hpp"
#include "lamin/db/value.hpp"
#include "lamin/error.hpp"
#include "rank.hpp"
#include "rank_cache.hpp"
#include "sql_dialect.hpp"
#include "sqlite_rows.hpp"

using nlohmann::json;

namespace lamin::detail {
namespace {

// rank_artifacts replaces the rank links it moves, instead of re-pointing them in place, when there are at least
// kMinGatheredRankLinks of them and they are spread over at least twice the table pages they would fill together
// (counted as blocks of kLinksPerPage consecutive link ids; a link row takes 40 to 60 of a page's 4,096 bytes).
constexpr std::size_t kMinGatheredRankLinks = 256;
constexpr std::int64_t kLinksPerPage = 64;

bool should_gather_rank_links(std::vector<std::int64_t> ids) {
  if (ids.size() < kMinGatheredRankLinks) return false;
  std::sort(ids.begin(), ids.end());
  std::size_t pages = 0;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (i == 0 || ids[i] / kLinksPerPage != ids[i - 1] / kLinksPerPage) ++pages;
  }
  const std::size_t fewest = (ids.size() + kLinksPerPage - 1) / kLinksPerPage;
  return pages >= 2 * fewest;
}

// A bound parameter as text that no other parameter gives (strings carry their length).
std::string param_key(const sqlite::Param& p) {
  return std::visit(
      [](const auto& v) -> std::string {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::nullptr_t>) {
          return "null";
        } else if constexpr (std::is_same_v<T, std::string>) {
          return std::to_string(v.size()) + ':' + v;
        } else {
          return std::to_string(v);
        }
      },
      p);
}

/// One artifact's single rank link, to be pointed at the JsonValue `target`.
struct Move {
  std::int64_t artifact;
  std::int64_t target;
  RankCache::Link* link;
};

void expect_changed(const std::vector<Move>& moves, std::int64_t changed) {
  const auto expected = static_cast<std::int64_t>(moves.size());
  if (changed != expected) {
    throw IntegrityError("rank_artifacts: " + std::to_string(expected - changed) +
                         " rank links changed underneath the registry");
  }
}

/// The moving links lie thinly among other links, and every table page holding one would be rewritten. Replacing
/// them instead (which is what LaminDB's remove-and-add does) gathers them at the table's end, in rank order: a
/// later save moves the ranks after its own, which then lie together too.
void replace_rank_links(sqlite::Database& db, std::int64_t user_id, std::optional<std::int64_t> run_id,
                        RankCache& cache, std::vector<Move>& moves) {
  sqlite::IntRows old_ids(1), added(2);  // link id; (artifact id, new JsonValue id)
  std::unordered_map<std::int64_t, Move*> by_artifact;
  for (auto& m : moves) {
    old_ids.add(m.link->id);
    added.add(m.artifact, m.target);
    by_artifact.emplace(m.artifact, &m);
  }
  db.prepare(std::string("DELETE FROM lamindb_artifactjsonvalue WHERE id IN ") + sql::kIdsIn).bind(1, old_ids).run();
  expect_changed(moves, db.changes());
  auto insert = db.prepare(
      "INSERT INTO lamindb_artifactjsonvalue (artifact_id, jsonvalue_id, run_id, created_by_id) "
      "SELECT a, b, ?, ? FROM " + std::string(sql::kIntRows) + " RETURNING id, artifact_id");
  insert.bind(1, run_id).bind(2, user_id).bind(3, added);
  while (insert.step()) {
    Move& m = *by_artifact.at(insert.int64(1));
    const std::int64_t new_id = insert.int64(0);
    auto& member_links = cache.members.at(m.artifact).links;
    std::replace(member_links.begin(), member_links.end(), m.link->id, new_id);
    cache.link_owner.erase(m.link->id);
    cache.link_owner[new_id] = m.artifact;
    *m.link = {new_id, m.target, run_id};
  }
}

/// Re-points the links in place, in link id order (the order of the table's pages), and moves them to the current
/// run, as removing and adding the value would.
void repoint_rank_links(sqlite::Database& db, std::optional<std::int64_t> run_id, std::vector<Move>& moves) {
  std::sort(moves.begin(), moves.end(), [](const Move& x, const Move& y) { return x.link->id < y.link->id; });
  sqlite::IntRows same_run(2), new_run(2);  // (link id, new JsonValue id)
  for (const auto& m : moves) (m.link->run_id == run_id ? same_run : new_run).add(m.link->id, m.target);
  std::int64_t changed = 0;
  if (!same_run.empty()) {
    db.prepare(std::string("UPDATE lamindb_artifactjsonvalue AS l SET jsonvalue_id = p.b FROM ") + sql::kIntRows +
               " p WHERE l.id = p.a")
        .bind(1, same_run)
        .run();
    changed += db.changes();
  }
  if (!new_run.empty()) {
    db.prepare(
          std::string("UPDATE lamindb_artifactjsonvalue AS l SET jsonvalue_id = p.b, run_id = ? FROM ") +
          sql::kIntRows + " p WHERE l.id = p.a")
        .bind(1, run_id)
        .bind(2, new_run)
        .run();
    changed += db.changes();
  }
  expect_changed(moves, changed);
  for (auto& m : moves) {
    m.link->jsonvalue_id = m.target;
    m.link->run_id = run_id;
  }
}

}  // namespace

std::int64_t SqliteRegistry::rank_artifacts(const QuerySpec& spec, const Feature& score, const Feature& rank,
                                            bool descending) {
  if (!spec.features.empty() || !spec.run_in.empty()) return Registry::rank_artifacts(spec, score, rank, descending);
  validate_feature_value(rank, json(0));
  Tx tx(*this);
  std::vector<sqlite::Param> params;
  const std::string where = build_where(HostKind::artifact, spec, params);
  std::string fingerprint = where + '\n' + std::to_string(score.id) + '\n' + std::to_string(rank.id);
  for (const auto& p : params) fingerprint += '\n' + param_key(p);
  RankCache& cache = rank_caches_->get(fingerprint);
  try {
    // 1. Bring the cache up to date: everything, or only the artifacts written since the last call.
    rank_caches_->refresh(cache, where, params, score.id, rank.id);
    // 2. The order, and the JsonValue of every rank it needs.
    std::vector<std::pair<std::int64_t, double>> rows;
    rows.reserve(cache.members.size());
    for (const auto& [id, member] : cache.members) {
      if (member.score) rows.emplace_back(id, *member.score);
    }
    const std::vector<std::int64_t> order = rank_order(std::move(rows), descending);
    const auto run_id = current_run_id(this);
    add_rank_values(cache, rank, order.size(), run_id);
    // 3. The changed ranks.
    const std::int64_t written = write_ranks(cache, rank, order, run_id);
    tx.commit();
    return written;
  } catch (...) {
    cache.clear();
    throw;
  }
}

void SqliteRegistry::add_rank_values(RankCache& cache, const Feature& rank, std::size_t count,
                                     std::optional<std::int64_t> run_id) {
  std::map<std::string, json> missing;  // hash -> rank
  for (std::size_t i = 0; i < count; ++i) {
    const json r = static_cast<std::int64_t>(i);
    if (!cache.rank_values.count(r.get<std::int64_t>())) missing.emplace(json_value_hash(r), r);
  }
  for (const auto& [hash, id] : json_value_ids(rank, missing, run_id)) {
    cache.rank_values[missing.at(hash).get<std::int64_t>()] = id;
  }
}

// An artifact with one rank link has that link re-pointed (and moved to the current run, as removing and adding
// the value would); others (no rank yet, or several) go through set_feature_values, and the hook notes them for the
// next call.
std::int64_t SqliteRegistry::write_ranks(RankCache& cache, const Feature& rank, const std::vector<std::int64_t>& order,
                                         std::optional<std::int64_t> run_id) {
  std::vector<std::pair<std::int64_t, json>> others;
  std::vector<Move> moves;
  for (std::size_t i = 0; i < order.size(); ++i) {
    const auto r = static_cast<std::int64_t>(i);
    const std::int64_t target = cache.rank_values.at(r);
    auto& links = cache.members.at(order[i]).ranks;
    if (links.size() != 1) {
      others.emplace_back(order[i], r);
      continue;
    }
    if (links.front().jsonvalue_id != target) moves.push_back({order[i], target, &links.front()});
  }
  std::vector<std::int64_t> moved_ids;
  moved_ids.reserve(moves.size());
  for (const auto& m : moves) moved_ids.push_back(m.link->id);
  {
    RankCaches::Pause pause(*rank_caches_);
    if (should_gather_rank_links(std::move(moved_ids))) {
      replace_rank_links(*db_, info_.user.id, run_id, cache, moves);
    } else {
      repoint_rank_links(*db_, run_id, moves);
    }
  }
  if (!others.empty()) set_feature_values(rank, others);
  return static_cast<std::int64_t>(moves.size() + others.size());
}

}  // namespace lamin::detail
