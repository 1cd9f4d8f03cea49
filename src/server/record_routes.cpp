// lamin-serve's record routes under /instances/{id}: features, transforms, runs, artifacts (query, get, delete),
// run inputs and lineage in LaminHub's shapes; LaminHub's generic upsert / query / batch-delete (tables.hpp); and
// the value reads (/values/get, /values/describe, /values/of).
#include <optional>
#include <regex>
#include <sstream>
#include <vector>

#include "db/rest_json.hpp"
#include "lamin/db/instance.hpp"
#include "lamin/error.hpp"
#include "server.hpp"

namespace lamin::serve {

namespace rest = lamin::rest;
using nlohmann::json;

namespace {

template <typename Record>
json record_or_null(const std::optional<Record>& r) {
  return json{{"record", r ? rest::to_json(*r) : json(nullptr)}};
}

template <typename Records>
json to_json_array(const Records& records) {
  json out = json::array();
  for (const auto& r : records) out.push_back(rest::to_json(r));
  return out;
}

}  // namespace

void Server::add_feature_routes(const std::string& I) {
  json_route("PUT", I + "/modules/core/feature", true, [this](const auto&, const json& b) {
    return json::array({rest::to_json(reg().create_feature(rest::feature_options_from_json(b)))});
  });
  json_route("POST", I + "/modules/core/feature", false, [this](const httplib::Request& req, const json& b) {
    if (Tables::is_generic_query(b)) return generic_query("feature", req, b);
    return to_json_array(reg().features());
  });
  json_route("POST", I + "/modules/core/feature/find", false,
             [this](const auto&, const json& b) { return find_features(b); });
}

// POST .../feature/find: one feature by name (and type), or several names at once, each resolved (or failed) as
// alone: {"results": [{"record"} | {"error"}, ...]}.
json Server::find_features(const json& b) {
  if (b.is_object() && b.contains("refs")) {
    const json& refs = b["refs"];
    if (!refs.is_array() || refs.size() > Tables::kMaxRecords)
      throw lamin::ValidationError("field 'refs' must be a list of at most 1000 features");
    json results = json::array();
    for (const auto& r : refs) {
      const auto ref = rest::feature_ref_from_json(r);
      try {
        results.push_back(record_or_null(reg().find_feature(ref)));
      } catch (const lamin::ValidationError& e) {
        results.push_back(rest::error_body(e.kind(), e.what()));
      }
    }
    return json{{"results", results}};
  }
  if (auto type_id = rest::opt_int64(b, "type_id")) {
    lamin::Feature type;
    type.id = *type_id;
    return record_or_null(reg().find_feature(rest::str(b, "name"), type));
  }
  return record_or_null(reg().find_feature(rest::feature_ref_from_json(b)));
}

void Server::add_run_routes(const std::string& I) {
  json_route("PUT", I + "/modules/core/transform", true, [this](const auto&, const json& b) {
    return json::array({rest::to_json(reg().create_transform(rest::transform_options_from_json(b)))});
  });
  json_route("POST", I + "/modules/core/transform/get", false, [this](const auto&, const json& b) {
    try {
      return json{{"record", rest::to_json(reg().get_transform_by_id(rest::int64(b, "id")))}};
    } catch (const lamin::NotFoundError&) {
      return json{{"record", nullptr}};
    }
  });
  json_route("PUT", I + "/modules/core/run", true, [this](const auto&, const json& b) {
    lamin::Transform t = reg().get_transform_by_id(rest::int64(b, "transform_id"));
    return json::array({rest::to_json(reg().create_run(t, rest::run_options_from_json(b)))});
  });
  json_route("POST", I + "/modules/core/run/get", false, [this](const auto&, const json& b) {
    std::optional<lamin::Run> r;
    if (auto uid = rest::opt_str(b, "uid")) {
      r = reg().find_run(*uid);
    } else {
      try {
        r = reg().get_run_by_id(rest::int64(b, "id"));
      } catch (const lamin::NotFoundError&) {
      }
    }
    return record_or_null(r);
  });
  json_route("PATCH", I + "/modules/core/run/([0-9A-Za-z]{1,32})", true, [this](const httplib::Request& req, const json& b) {
    auto run = reg().find_run(req.matches[2]);
    if (!run) throw lamin::NotFoundError("Run matching query does not exist: uid " + std::string(req.matches[2]));
    const auto code = rest::int64(b, "_status_code");
    if (code < -3 || code > 2) throw lamin::ValidationError("field '_status_code' must be between -3 and 2");
    return json::array({rest::to_json(reg().finish_run(*run, static_cast<lamin::RunStatus>(code)))});
  });
  json_route("POST", I + "/modules/core/run", false, [this](const httplib::Request& req, const json& b) {
    if (Tables::is_generic_query(b)) return generic_query("run", req, b);
    const auto spec = rest::query_spec_from_json(rest::member(b, "lamin_query"));
    if (rest::boolean(b, "count", false)) return json{{"count", reg().count_runs(spec)}};
    return to_json_array(reg().select_runs(spec));
  });
}

void Server::add_artifact_routes(const std::string& I) {
  json_route("POST", I + "/modules/core/artifact", false, [this](const httplib::Request& req, const json& b) {
    if (Tables::is_generic_query(b)) return generic_query("artifact", req, b);
    const auto spec = rest::query_spec_from_json(rest::member(b, "lamin_query"));
    if (rest::boolean(b, "count", false)) return json{{"count", reg().count_artifacts(spec)}};
    return to_json_array(reg().select_artifacts(spec));
  });
  json_route("POST", I + "/modules/core/artifact/get", false, [this](const auto&, const json& b) {
    std::optional<lamin::Artifact> a;
    if (auto k = rest::opt_str(b, "uid_or_key")) {
      a = reg().find_artifact(*k);
    } else {
      try {
        a = reg().get_artifact_by_id(rest::int64(b, "id"));
      } catch (const lamin::NotFoundError&) {
      }
    }
    return record_or_null(a);
  });
  json_route("DELETE", I + "/modules/core/artifact/([^/]+)", true, [this](const httplib::Request& req, const json&) {
    static const std::regex ok("[0-9A-Za-z]{20}");
    const std::string uid = req.matches[2];
    if (!std::regex_match(uid, ok)) throw HttpError(400, "validation", "invalid artifact uid");
    auto a = reg().find_artifact(uid);
    if (!a) throw lamin::NotFoundError("Artifact matching query does not exist: uid " + uid);
    reg().delete_artifact(*a);
    return json{{"deleted_count", 1}};
  });
  json_route("PUT", I + "/modules/core/artifact_input_of_runs/upsert", true, [this](const httplib::Request& req, const json& b) {
    auto cols = req.get_param_value_count("conflict_columns");
    if (cols != 2 || req.get_param_value("conflict_columns", 0) != "artifact_id" ||
        req.get_param_value("conflict_columns", 1) != "run_id")
      throw HttpError(422, "validation", "conflict_columns must be artifact_id and run_id");
    if (!b.is_array() || b.size() > 1000) throw lamin::ValidationError("body must be a list of at most 1000 records");
    for (const auto& r : b)
      reg().add_run_input(reg().get_artifact_by_id(rest::int64(r, "artifact_id")),
                          reg().get_run_by_id(rest::int64(r, "run_id")));
    return json::array();
  });
  json_route("POST", I + "/lineage/input_of_runs", false, [this](const auto&, const json& b) {
    return to_json_array(reg().input_of_runs(reg().get_artifact_by_id(rest::int64(b, "artifact_id"))));
  });
  json_route("POST", I + "/lineage/run_inputs", false, [this](const auto&, const json& b) {
    return to_json_array(reg().run_inputs(reg().get_run_by_id(rest::int64(b, "run_id"))));
  });
}

// LaminHub's generic registry endpoints, for feature values and their links (tables.hpp).
void Server::add_table_routes(const std::string& I) {
  const std::string M = I + "/modules/core/(" + Tables::model_pattern() + ")";
  json_route("PUT", M + "/upsert", true, [this](const httplib::Request& req, const json& b) {
    std::vector<std::string> columns;
    for (std::size_t i = 0, n = req.get_param_value_count("conflict_columns"); i < n; ++i) {
      std::stringstream list(req.get_param_value("conflict_columns", i));
      for (std::string c; std::getline(list, c, ',');) columns.push_back(c);
    }
    lamin::Transaction tx(reg());
    json out = tables_->upsert(req.matches[2], columns, b);
    tx.commit();
    return out;
  });
  json_route("POST", M, false, [this](const httplib::Request& req, const json& b) {
    return generic_query(req.matches[2], req, b);
  });
  // read-only through the generic query (their writes have their own routes)
  json_route("POST", I + "/modules/core/(transform|artifact_input_of_runs)", false,
             [this](const httplib::Request& req, const json& b) { return generic_query(req.matches[2], req, b); });
  json_route("PUT", I + "/modules/core/(" + std::string(Tables::query_only_pattern()) +
                        "|transform|artifact_input_of_runs)/upsert", true,
             [this](const httplib::Request& req, const json& b) {
               return tables_->upsert(req.matches[2], {"id"}, b);  // answers 405: read-only here
             });
  json_route("POST", M + "/batch-delete", true, [this](const httplib::Request& req, const json& b) {
    lamin::Transaction tx(reg());
    json out = tables_->batch_delete(req.matches[2], b);
    tx.commit();
    return out;
  });
}

void Server::add_value_routes(const std::string& I) {
  for (const char* op : {"get", "describe", "of"}) {
    json_route("POST", I + "/values/" + op, false, [this, op](const auto&, const json& b) { return values_op(op, b); });
  }
}

json Server::values_op(const std::string& op, const json& body) {
  auto host_kind = [&] {
    std::string h = rest::str(body, "host");
    if (h != "artifact" && h != "run") throw lamin::ValidationError("field 'host' must be 'artifact' or 'run'");
    return h;
  };
  if (op == "get") {
    if (host_kind() == "artifact") return {{"values", reg().get_values(reg().get_artifact_by_id(rest::int64(body, "id")))}};
    return {{"values", reg().get_values(reg().get_run_by_id(rest::int64(body, "id")))}};
  }
  if (op == "describe") {
    json out = json::array();
    for (const auto& [f, vs] : reg().feature_values(reg().get_artifact_by_id(rest::int64(body, "artifact_id"))))
      out.push_back({{"feature", rest::to_json(f)}, {"values", vs}});
    return out;
  }
  if (op == "of") {
    const auto& ids_json = rest::member(body, "ids");
    if (!ids_json.is_array() || ids_json.size() > 100000) throw lamin::ValidationError("field 'ids' must be an array");
    std::vector<std::int64_t> ids;
    for (const auto& i : ids_json) {
      if (!i.is_number_integer()) throw lamin::ValidationError("field 'ids' must hold integers");
      ids.push_back(i.get<std::int64_t>());
    }
    auto m = host_kind() == "artifact" ? reg().values_of_artifacts(ids) : reg().values_of_runs(ids);
    json out = json::array();
    for (const auto& [id, v] : m) out.push_back({id, v});
    return out;
  }
  throw HttpError(404, "not_found", "no such operation");
}

}  // namespace lamin::serve
