// The outbox sends one queued operation: the local ids it names are translated to the server's through the id map
// (lamin_outbox_map), and each call carries the idempotency key the operation was queued with.
#include "lamin/error.hpp"
#include "outbox_registry.hpp"
#include "rest_json.hpp"

namespace lamin::detail {
namespace fs = std::filesystem;
using nlohmann::json;

std::optional<std::pair<std::int64_t, std::string>> OutboxRegistry::mapped(const std::string& kind,
                                                                           std::int64_t local_id) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto s = local_->database().prepare(
      "SELECT remote_id, remote_uid FROM lamin_outbox_map WHERE kind = ? AND local_id = ?");
  s.bind(1, kind).bind(2, local_id);
  if (!s.step()) return std::nullopt;
  return std::make_pair(s.int64(0), s.opt_text(1).value_or(""));
}

std::pair<std::int64_t, std::string> OutboxRegistry::need(const std::string& kind, std::int64_t local_id) {
  auto m = mapped(kind, local_id);
  if (!m) {
    throw IntegrityError("lamin: the " + kind + " (local id " + std::to_string(local_id) +
                         ") it refers to never reached the server");
  }
  return *m;
}

std::int64_t OutboxRegistry::remote_feature(std::int64_t local_id) {
  if (auto m = mapped("feature", local_id)) return m->first;
  std::optional<Feature> f;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& x : local_->features())
      if (x.id == local_id) f = x;
  }
  if (!f) throw IntegrityError("lamin: unknown local feature id " + std::to_string(local_id));
  FeatureOptions o = FeatureOptions().name(f->name);
  if (f->dtype && !f->is_type) o.dtype(*f->dtype);
  if (f->is_type) {
    o.is_type(true);
    if (f->dtype) o.type_dtype_str(*f->dtype);
  }
  if (f->type_id) o.type_id(remote_feature(*f->type_id));
  if (f->description) o.description(*f->description);
  if (f->unit) o.unit(*f->unit);
  Feature remote = remote_->create_feature(o);
  std::unique_lock<std::mutex> lock(mutex_);
  if (!wait_until_idle(lock, Clock::time_point::max())) return remote.id;  // mapped again next time
  map_id("feature", local_id, remote.id, remote.uid);
  return remote.id;
}

FeatureValues OutboxRegistry::translate(const FeatureValues& values) {
  FeatureValues out;
  for (const auto& [ref, v] : values) out.emplace_back(translate(ref), v);
  return out;
}

FeatureRef OutboxRegistry::translate(const FeatureRef& ref) {
  if (!ref.id()) return ref;
  Feature f;
  f.name = ref.name();
  f.id = remote_feature(*ref.id());
  return FeatureRef(f);
}

OutboxRegistry::IdMaps OutboxRegistry::apply(const Op& op, const fs::path& file) {
  auto& r = *remote_;
  const json& p = op.payload;
  const auto local_id = [&](const char* name) { return p.at(name).get<std::int64_t>(); };
  r.set_next_key(op.key);
  if (op.op == "feature") {
    FeatureOptions o = rest::feature_options_from_json(p.at("options"));
    if (o.type_id()) o.type_id(remote_feature(*o.type_id()));
    r.set_next_key(op.key);
    Feature f = r.create_feature(o);
    return {{"feature", local_id("local_id"), f.id, f.uid}};
  }
  if (op.op == "transform") {
    Transform t = r.create_transform(rest::transform_options_from_json(p.at("options")));
    return {{"transform", local_id("local_id"), t.id, t.uid}};
  }
  if (op.op == "run") {
    const auto transform = need("transform", local_id("transform_id"));
    RunOptions o = rest::run_options_from_json(p.at("options"));
    if (o.initiated_by_run_id()) o.initiated_by_run_id(need("run", *o.initiated_by_run_id()).first);
    Run run = r.create_run_by_id(transform.first, o);
    return {{"run", local_id("local_id"), run.id, run.uid}};
  }
  if (op.op == "finish_run") {
    r.finish_run_by_uid(need("run", local_id("run_id")).second, static_cast<RunStatus>(p.at("status").get<int>()));
    return {};
  }
  if (op.op == "artifact") {
    json kwargs = p.at("kwargs");
    if (!kwargs["run_id"].is_null()) kwargs["run_id"] = need("run", kwargs["run_id"].get<std::int64_t>()).first;
    Artifact a = r.upload(file, kwargs);
    return {{"artifact", local_id("local_id"), a.id, a.uid}};
  }
  if (op.op == "delete_artifact") {
    r.delete_artifact_by_uid(need("artifact", local_id("local_id")).second);
    return {};
  }
  if (op.op == "delete_remote_artifact") {
    r.delete_artifact_by_uid(p.at("uid").get<std::string>());
    return {};
  }
  if (op.op == "run_input") {
    r.add_run_input_by_id(need("artifact", local_id("artifact_id")).first, need("run", local_id("run_id")).first);
    return {};
  }
  const std::string host = p.value("host", "");
  if (op.op == "add_values") {
    const auto id = need(host, local_id("local_id")).first;
    const auto values = translate(rest::feature_values_from_json(p.at("values")));
    r.set_next_key(op.key);
    r.add_values_by_id(host, id, values);
    return {};
  }
  if (op.op == "remove_values") {
    const auto id = need(host, local_id("local_id")).first;
    const auto ref = translate(rest::feature_ref_from_json(p.at("feature")));
    std::optional<json> value;
    if (p.contains("value")) value = p["value"];
    r.set_next_key(op.key);
    r.remove_values_by_id(host, id, ref, value);
    return {};
  }
  if (op.op == "set_feature_values") {
    Feature f = rest::feature_from_json(p.at("feature"));
    f.id = remote_feature(f.id);
    std::vector<std::pair<std::int64_t, json>> values;
    for (const auto& item : p.at("values"))
      values.emplace_back(need("artifact", item.at(0).get<std::int64_t>()).first, item.at(1));
    r.set_next_key(op.key);
    r.set_feature_values(f, values);
    return {};
  }
  throw IntegrityError("lamin: unknown queued operation '" + op.op + "'");
}

}  // namespace lamin::detail
