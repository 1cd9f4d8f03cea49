#include "rank_cache.hpp"

#include <algorithm>
#include <cstring>
#include <set>

#include "lamin/db/value.hpp"
#include "sql_dialect.hpp"

namespace lamin::detail {
namespace {

using nlohmann::json;

constexpr std::size_t kMaxRankCaches = 4;
constexpr std::size_t kMaxTrackedChanges = 4096;  // beyond this, reading everything again is as cheap

std::int64_t data_version(sqlite::Database& db) {
  auto s = db.prepare("PRAGMA data_version");
  s.step();
  return s.int64(0);
}

}  // namespace

void RankCache::clear() {
  valid = false;
  everything_changed = false;
  changed_artifacts.clear();
  changed_links.clear();
  members.clear();
  link_owner.clear();
  rank_values.clear();
}

RankCaches::RankCaches(sqlite::Database& db) : db_(db) {
  sqlite3_update_hook(db_.handle(), &RankCaches::on_row_change, this);
  sqlite3_rollback_hook(db_.handle(), &RankCaches::on_rollback, this);
}

RankCaches::~RankCaches() {
  // Closing the connection may roll back an open transaction: no hook may reach a destroyed cache.
  sqlite3_update_hook(db_.handle(), nullptr, nullptr);
  sqlite3_rollback_hook(db_.handle(), nullptr, nullptr);
}

void RankCaches::on_row_change(void* self_in, int op, const char* db, const char* table, sqlite3_int64 rowid) {
  auto* self = static_cast<RankCaches*>(self_in);
  if (!self->track_changes_ || self->caches_.empty()) return;
  if (std::strcmp(db, "main") != 0 || std::strncmp(table, "lamindb_", 8) != 0) return;
  const bool artifact = std::strcmp(table, "lamindb_artifact") == 0;
  const bool link = std::strcmp(table, "lamindb_artifactjsonvalue") == 0;
  // A new JsonValue changes no artifact's values; an edited or deleted one may be a cached rank value.
  const bool value_row = std::strcmp(table, "lamindb_jsonvalue") == 0 && op != SQLITE_INSERT;
  if (!artifact && !link && !value_row) return;
  for (auto& cache : self->caches_) {
    if (!cache->valid || cache->everything_changed) continue;
    if (value_row) {
      cache->everything_changed = true;
    } else {
      (artifact ? cache->changed_artifacts : cache->changed_links).push_back(rowid);
      if (cache->changed_artifacts.size() + cache->changed_links.size() > kMaxTrackedChanges) {
        cache->everything_changed = true;
      }
    }
  }
}

void RankCaches::on_rollback(void* self) { static_cast<RankCaches*>(self)->invalidate(); }

void RankCaches::invalidate() noexcept {
  for (auto& cache : caches_) cache->clear();
}

RankCache& RankCaches::get(const std::string& fingerprint) {
  for (auto it = caches_.begin(); it != caches_.end(); ++it) {
    if ((*it)->fingerprint == fingerprint) {
      std::rotate(caches_.begin(), it, it + 1);
      return *caches_.front();
    }
  }
  if (caches_.size() == kMaxRankCaches) caches_.pop_back();
  auto cache = std::make_unique<RankCache>();
  cache->fingerprint = fingerprint;
  caches_.insert(caches_.begin(), std::move(cache));
  return *caches_.front();
}

void RankCaches::refresh(RankCache& cache, const std::string& where, const std::vector<sqlite::Param>& params,
                         std::int64_t score_id, std::int64_t rank_id) {
  const std::int64_t version = data_version(db_);
  if (!cache.valid || cache.everything_changed || cache.data_version != version) {
    cache.clear();
    cache.score_id = score_id;
    cache.rank_id = rank_id;
    reload(cache, where, params, nullptr);
  } else if (!cache.changed_artifacts.empty() || !cache.changed_links.empty()) {
    const std::vector<std::int64_t> only = changed_artifacts(cache);
    reload(cache, where, params, &only);
  }
  cache.changed_artifacts.clear();
  cache.changed_links.clear();
  cache.everything_changed = false;
  cache.data_version = version;
  cache.valid = true;
}

std::vector<std::int64_t> RankCaches::changed_artifacts(const RankCache& cache) {
  std::set<std::int64_t> ids(cache.changed_artifacts.begin(), cache.changed_artifacts.end());
  std::vector<std::int64_t> unknown_links;
  for (const std::int64_t link : cache.changed_links) {
    const auto owner = cache.link_owner.find(link);
    if (owner != cache.link_owner.end()) {
      ids.insert(owner->second);
    } else {
      unknown_links.push_back(link);  // a new link, or one of an artifact that was not ranked
    }
  }
  if (!unknown_links.empty()) {
    sqlite::IntRows rows;
    for (const std::int64_t link : unknown_links) rows.add(link);
    auto s = db_.prepare(std::string("SELECT artifact_id FROM lamindb_artifactjsonvalue WHERE id IN ") + sql::kIdsIn);
    s.bind(1, rows);
    while (s.step()) ids.insert(s.int64(0));
  }
  return {ids.begin(), ids.end()};
}

void RankCaches::reload(RankCache& cache, const std::string& where, const std::vector<sqlite::Param>& params,
                        const std::vector<std::int64_t>* only) {
  if (!only) {
    cache.members.clear();
    cache.link_owner.clear();
  } else {
    for (const std::int64_t id : *only) {
      const auto it = cache.members.find(id);
      if (it == cache.members.end()) continue;
      for (const std::int64_t link : it->second.links) cache.link_owner.erase(link);
      cache.members.erase(it);
    }
  }
  const std::string restrict = only ? std::string(" AND a.id IN ") + sql::kIdsIn : std::string();
  sqlite::IntRows only_rows;
  if (only) {
    for (const std::int64_t id : *only) only_rows.add(id);
  }
  {
    auto s = db_.prepare("SELECT a.id FROM lamindb_artifact a WHERE " + where + restrict);
    s.bind_all(params);
    if (only) s.bind(static_cast<int>(params.size()) + 1, only_rows);
    while (s.step()) cache.members.emplace(s.int64(0), RankCache::Member{});
  }
  std::vector<sqlite::Param> link_params{cache.score_id, cache.rank_id};
  link_params.insert(link_params.end(), params.begin(), params.end());
  auto s = db_.prepare(
      "SELECT l.artifact_id, l.id, l.jsonvalue_id, l.run_id, v.feature_id, v.value FROM lamindb_artifact a CROSS JOIN "
      "lamindb_artifactjsonvalue l ON l.artifact_id = a.id CROSS JOIN lamindb_jsonvalue v ON v.id = l.jsonvalue_id "
      "WHERE v.feature_id IN (?, ?) AND " + where + restrict + " ORDER BY l.id");
  s.bind_all(link_params);
  if (only) s.bind(static_cast<int>(link_params.size()) + 1, only_rows);
  while (s.step()) {
    auto member = cache.members.find(s.int64(0));
    if (member == cache.members.end()) continue;
    const std::int64_t link_id = s.int64(1);
    cache.link_owner[link_id] = member->first;
    member->second.links.push_back(link_id);
    const std::int64_t feature_id = s.int64(4);
    if (feature_id == cache.score_id) {
      const json value = parse_json_value(s.text(5));
      if (value.is_number()) {
        auto& score = member->second.score;
        if (!score || value.get<double>() < *score) score = value.get<double>();
      }
    }
    if (feature_id == cache.rank_id) {
      member->second.ranks.push_back({link_id, s.int64(2), s.opt_int64(3)});
    }
  }
}

}  // namespace lamin::detail
