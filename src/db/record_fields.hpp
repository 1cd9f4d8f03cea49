#pragma once
// The fields of each record type in one list, by their LaminDB column names. The SQLite column lists and row
// readers (sqlite_rows.cpp), the artifact INSERT (sqlite_artifacts.cpp) and the JSON conversion (rest_json.cpp) all
// walk these lists, so a new column is one line here plus the struct member. Private to src/db.
//
// Members are std::int64_t, int, bool, std::string, std::optional<std::string>, std::optional<std::int64_t>,
// std::optional<bool> or JSON (stored as JSON text).

#include "lamin/db/artifact.hpp"
#include "lamin/db/feature.hpp"
#include "lamin/db/run.hpp"
#include "lamin/db/transform.hpp"

namespace lamin::detail {

/// Calls `f(column, member, inserted)` for every field of `a` (an Artifact or a const Artifact), in column order.
/// `inserted`: create_artifact writes the field; the others (the id, otype, the timestamps) are the database's.
template <typename A, typename F>
void for_each_artifact_field(A& a, F&& f) {
  f("id", a.id, false);
  f("uid", a.uid, true);
  f("key", a.key, true);
  f("description", a.description, true);
  f("suffix", a.suffix, true);
  f("kind", a.kind, true);
  f("otype", a.otype, false);
  f("size", a.size, true);
  f("hash", a.hash, true);
  f("_hash_type", a.hash_type, true);
  f("version_tag", a.version_tag, true);
  f("is_latest", a.is_latest, true);
  f("_key_is_virtual", a.key_is_virtual, true);
  f("_overwrite_versions", a.overwrite_versions, true);
  f("run_id", a.run_id, true);
  f("storage_id", a.storage_id, true);
  f("branch_id", a.branch_id, true);
  f("space_id", a.space_id, true);
  f("created_by_id", a.created_by_id, true);
  f("created_at", a.created_at, false);
  f("updated_at", a.updated_at, false);
  f("_aux", a.aux, true);
}

/// Calls `f(column, member)` for every field of a run (`lamindb_run`), in column order.
template <typename R, typename F>
void for_each_run_field(R& r, F&& f) {
  f("id", r.id);
  f("uid", r.uid);
  f("name", r.name);
  f("description", r.description);
  f("entrypoint", r.entrypoint);
  f("started_at", r.started_at);
  f("finished_at", r.finished_at);
  f("params", r.params);
  f("reference", r.reference);
  f("reference_type", r.reference_type);
  f("cli_args", r.cli_args);
  f("_status_code", r.status_code);
  f("transform_id", r.transform_id);
  f("initiated_by_run_id", r.initiated_by_run_id);
  f("branch_id", r.branch_id);
  f("created_by_id", r.created_by_id);
  f("created_at", r.created_at);
}

/// Calls `f(column, member)` for every field of a feature (`lamindb_feature`), in column order.
template <typename R, typename F>
void for_each_feature_field(R& r, F&& f) {
  f("id", r.id);
  f("uid", r.uid);
  f("name", r.name);
  f("_dtype_str", r.dtype);
  f("is_type", r.is_type);
  f("type_id", r.type_id);
  f("unit", r.unit);
  f("description", r.description);
  f("nullable", r.nullable);
  f("branch_id", r.branch_id);
}

/// Calls `f(column, member)` for every field of a transform (`lamindb_transform`), in column order.
template <typename R, typename F>
void for_each_transform_field(R& r, F&& f) {
  f("id", r.id);
  f("uid", r.uid);
  f("key", r.key);
  f("description", r.description);
  f("kind", r.kind);
  f("source_code", r.source_code);
  f("hash", r.hash);
  f("reference", r.reference);
  f("reference_type", r.reference_type);
  f("version_tag", r.version_tag);
  f("is_latest", r.is_latest);
  f("created_at", r.created_at);
}

}  // namespace lamin::detail
