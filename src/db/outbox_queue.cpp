// The outbox's writes: each is applied to the local state and queued in ONE local transaction, so a call returns
// as soon as its records are local; an artifact deleted before its upload started supersedes its queued operations.
#include <algorithm>

#include "lamin/db/track.hpp"
#include "lamin/db/uid.hpp"
#include "lamin/error.hpp"
#include "lamin/log.hpp"
#include "outbox_registry.hpp"
#include "rest_json.hpp"

namespace lamin::detail {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {
json remove_payload(const char* host, std::int64_t id, const FeatureRef& f, const std::optional<json>& v) {
  json p = {{"host", host}, {"local_id", id}, {"feature", rest::to_json(f)}};
  if (v) p["value"] = *v;
  return p;
}
}  // namespace

template <typename F>
auto OutboxRegistry::write(F&& f) -> decltype(f()) {
  std::unique_lock<std::mutex> lock(mutex_);
  Transaction tx(*local_);
  auto out = f();
  tx.commit();
  const bool outer = local_->in_transaction();
  lock.unlock();
  if (!outer) {
    idle_cv_.notify_all();
    cv_.notify_all();
  }
  return out;
}

template <typename Create>
auto OutboxRegistry::create_queued(const char* table, const char* op, const json& options, Create&& create)
    -> decltype(create()) {
  return write([&] {
    const std::int64_t before = max_id(table);
    auto record = create();
    if (record.id > before) enqueue(op, {{"local_id", record.id}, {"options", options}});
    return record;
  });
}

std::int64_t OutboxRegistry::max_id(const char* table) {
  auto s = local_->database().prepare(std::string("SELECT COALESCE(MAX(id), 0) FROM ") + table);  // fixed names
  return s.step() ? s.int64(0) : 0;
}

void OutboxRegistry::enqueue(const std::string& op, const json& payload) {
  auto s = local_->database().prepare("INSERT INTO lamin_outbox_op (op, payload, key) VALUES (?, ?, ?)");
  s.bind(1, op).bind(2, payload.dump()).bind(3, base62_uid(20));
  s.run();
}

void OutboxRegistry::map_id(const std::string& kind, std::int64_t local_id, std::int64_t remote_id,
                            const std::string& remote_uid) {
  auto m = local_->database().prepare(
      "INSERT OR REPLACE INTO lamin_outbox_map (kind, local_id, remote_id, remote_uid) VALUES (?, ?, ?, ?)");
  m.bind(1, kind).bind(2, local_id).bind(3, remote_id).bind(4, remote_uid);
  m.run();
}

// --- Registry: writes go to the local state and the queue, in one local transaction ----------------------------
Artifact OutboxRegistry::create_artifact(const fs::path& file, const ArtifactOptions& options) {
  ArtifactOptions o = options;
  std::optional<std::int64_t> run_id;
  if (options.run_mode() == ArtifactOptions::RunMode::given) run_id = options.run_id();
  if (options.run_mode() == ArtifactOptions::RunMode::current) run_id = current_run_id(this);
  if (run_id) {
    Run r;
    r.id = *run_id;
    o.run(r);
  } else {
    o.no_run();
  }
  return write([&] {
    const std::int64_t before = max_id("lamindb_artifact");
    Artifact a = local_->create_artifact(file, o);
    if (a.id > before) {  // a new record (not an existing one with the same hash)
      enqueue("artifact", {{"local_id", a.id}, {"file", local_->storage_path(a).string()},
                           {"kwargs", rest::to_json(o, run_id)}});
    }
    return a;
  });
}

void OutboxRegistry::delete_artifact(const Artifact& a) {
  write([&] {
    local_->delete_artifact(a);
    if (!supersede_upload(a.id)) enqueue("delete_artifact", {{"local_id", a.id}});
    return 0;
  });
}

void OutboxRegistry::add_run_input(const Artifact& a, const Run& r) {
  write([&] {
    local_->add_run_input(a, r);
    enqueue("run_input", {{"artifact_id", a.id}, {"run_id", r.id}});
    return 0;
  });
}

Feature OutboxRegistry::create_feature(const FeatureOptions& options) {
  return create_queued("lamindb_feature", "feature", rest::to_json(options),
                       [&] { return local_->create_feature(options); });
}

void OutboxRegistry::add_values(const Artifact& a, const FeatureValues& values) {
  add_values_impl("artifact", a.id, values, &a, nullptr);
}

void OutboxRegistry::add_values(const Run& r, const FeatureValues& values) {
  add_values_impl("run", r.id, values, nullptr, &r);
}

std::int64_t OutboxRegistry::remove_values(const Artifact& a, const FeatureRef& f, const std::optional<json>& v) {
  return write([&] {
    auto n = local_->remove_values(a, f, v);
    if (n > 0) enqueue("remove_values", remove_payload("artifact", a.id, f, v));
    return n;
  });
}

std::int64_t OutboxRegistry::remove_values(const Run& r, const FeatureRef& f, const std::optional<json>& v) {
  return write([&] {
    auto n = local_->remove_values(r, f, v);
    if (n > 0) enqueue("remove_values", remove_payload("run", r.id, f, v));
    return n;
  });
}

void OutboxRegistry::set_feature_values(const Feature& f, const std::vector<std::pair<std::int64_t, json>>& values) {
  write([&] {
    local_->set_feature_values(f, values);
    // One queued operation (sent as a few batch calls), not a remove and an add per artifact.
    json targets = json::array();
    for (const auto& [id, v] : values) targets.push_back({id, v});
    if (!targets.empty()) enqueue("set_feature_values", {{"feature", rest::to_json(f)}, {"values", targets}});
    return 0;
  });
}

Transform OutboxRegistry::create_transform(const TransformOptions& options) {
  return create_queued("lamindb_transform", "transform", rest::to_json(options),
                       [&] { return local_->create_transform(options); });
}

Run OutboxRegistry::create_run(const Transform& transform, const RunOptions& options) {
  return write([&] {
    Run r = local_->create_run(transform, options);
    // The server's run gets the same uid: checkpoint keys contain it.
    RunOptions uploaded = options;
    uploaded.uid(r.uid);
    enqueue("run", {{"local_id", r.id}, {"transform_id", transform.id}, {"options", rest::to_json(uploaded)}});
    return r;
  });
}

Run OutboxRegistry::finish_run(const Run& run, RunStatus status) {
  return write([&] {
    Run r = local_->finish_run(run, status);
    enqueue("finish_run", {{"run_id", run.id}, {"status", static_cast<int>(status)}});
    return r;
  });
}

void OutboxRegistry::add_values_impl(const char* host, std::int64_t id, const FeatureValues& values,
                                     const Artifact* a, const Run* r) {
  import_missing_features(values);
  write([&] {
    if (a) local_->add_values(*a, values);
    else local_->add_values(*r, values);
    enqueue("add_values", {{"host", host}, {"local_id", id}, {"values", rest::to_json(values)}});
    return 0;
  });
}

void OutboxRegistry::import_missing_features(const FeatureValues& values) {
  std::vector<std::string> missing;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& [ref, v] : values) {
      (void)v;
      if (ref.id()) continue;
      try {
        if (!local_->find_feature(ref)) missing.push_back(ref.name());
      } catch (const Error&) {
      }
    }
  }
  if (missing.empty()) return;
  try {
    RestOptions ro = options_.rest();
    ro.max_attempts(1);
    ro.connect_timeout_s(std::min(ro.connect_timeout_s(), 2.0));
    ro.request_timeout_s(std::min(ro.request_timeout_s(), 5.0));
    rest::RestRegistry remote(url_, ro);
    for (const auto& name : missing) {
      auto f = remote.find_feature(FeatureRef(name));
      if (!f || f->type_id) continue;  // features under a type: define them locally first
      FeatureOptions o(f->name, f->dtype.value_or(""));
      if (!f->dtype) o = FeatureOptions().name(f->name);
      o.is_type(f->is_type);
      if (f->description) o.description(*f->description);
      if (f->unit) o.unit(*f->unit);
      create_feature(o);
    }
  } catch (const Error& e) {
    log::debug(std::string("lamin: could not fetch features from the server: ") + e.what());
  }
}

// --- superseded uploads ----------------------------------------------------------------------------------------
bool OutboxRegistry::supersede_upload(std::int64_t local_id) {
  auto& db = local_->database();
  auto find = db.prepare(
      "SELECT seq, attempts FROM lamin_outbox_op WHERE state = 'pending' AND op = 'artifact' AND "
      "json_extract(payload, '$.local_id') = ? ORDER BY seq DESC LIMIT 1");
  find.bind(1, local_id);
  if (!find.step()) return false;
  const std::int64_t since = find.int64(0);  // local ids can be reused: only operations from this upload on
  const bool sent = find.int64(1) > 0 || since == picked_seq_;
  db.prepare(
        "UPDATE lamin_outbox_op SET state = 'superseded' WHERE state = 'pending' AND seq >= ?1 AND ("
        "(op = 'artifact' AND json_extract(payload, '$.local_id') = ?2) OR "
        "(op IN ('add_values', 'remove_values') AND json_extract(payload, '$.host') = 'artifact' AND "
        "json_extract(payload, '$.local_id') = ?2) OR "
        "(op = 'run_input' AND json_extract(payload, '$.artifact_id') = ?2))")
      .bind(1, since)
      .bind(2, local_id)
      .run();
  // An upload already sent may be on the server even without an answer (the server went down after storing it).
  if (sent) retract_upload(since);
  // Batched value writes (ranks) name many artifacts: this one leaves them.
  std::vector<std::pair<std::int64_t, json>> batches;
  {
    auto s = db.prepare(
        "SELECT seq, payload FROM lamin_outbox_op WHERE state = 'pending' AND op = 'set_feature_values' AND "
        "seq > ?1 AND EXISTS (SELECT 1 FROM json_each(payload, '$.values') WHERE json_extract(value, '$[0]') = ?2)");
    s.bind(1, since).bind(2, local_id);
    while (s.step()) batches.emplace_back(s.int64(0), json::parse(s.text(1)));
  }
  for (auto& [seq, payload] : batches) {
    json kept = json::array();
    for (const auto& item : payload.at("values"))
      if (item.at(0).get<std::int64_t>() != local_id) kept.push_back(item);
    payload["values"] = kept;
    auto u = kept.empty() ? db.prepare("UPDATE lamin_outbox_op SET state = 'superseded' WHERE seq = ?1")
                          : db.prepare("UPDATE lamin_outbox_op SET payload = ?2 WHERE seq = ?1");
    u.bind(1, seq);
    if (!kept.empty()) u.bind(2, payload.dump());
    u.run();
  }
  return true;
}

void OutboxRegistry::retract_upload(std::int64_t seq) {
  local_->database()
      .prepare("UPDATE lamin_outbox_op SET state = 'pending', payload = json_set(payload, '$.retract', json('true')) "
               "WHERE seq = ?1 AND op = 'artifact'")
      .bind(1, seq)
      .run();
}

}  // namespace lamin::detail
