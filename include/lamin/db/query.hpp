#pragma once
// Typed queries over artifacts and runs that read like LaminDB's filters:
//
//   auto best = instance->artifacts()
//                   .key_startswith("mnist/checkpoints/")
//                   .where(lamin::feature("val_loss") < 0.05)
//                   .where(lamin::feature("is_best_model") == true)
//                   .order_by(lamin::Field::created_at, lamin::Order::descending)
//                   .first();
//
// Queries are immutable values (each call returns a new query); a backend turns them into prepared statements.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lamin/db/artifact.hpp"
#include "lamin/db/feature.hpp"
#include "lamin/db/run.hpp"

namespace lamin {

class Registry;

/// Comparison of a feature value (Django's lookups `exact`, `lt`, `lte`, `gt`, `gte`, `isnull`; and `!=`).
enum class CompareOp { eq, ne, lt, le, gt, ge, is_null, not_null };

/// "a host has a value of `feature` that compares `op` to `value`" (for ne: "has no value equal to").
struct FeatureCondition {
  FeatureRef feature;
  CompareOp op;
  nlohmann::json value;
};

/// `lamin::feature("val_loss") < 0.05`: the left-hand side of a feature comparison.
class FeatureExpr {
 public:
  explicit FeatureExpr(FeatureRef ref) : ref_(std::move(ref)) {}
  FeatureCondition operator==(nlohmann::json v) const { return {ref_, CompareOp::eq, std::move(v)}; }
  FeatureCondition operator!=(nlohmann::json v) const { return {ref_, CompareOp::ne, std::move(v)}; }
  FeatureCondition operator<(nlohmann::json v) const { return {ref_, CompareOp::lt, std::move(v)}; }
  FeatureCondition operator<=(nlohmann::json v) const { return {ref_, CompareOp::le, std::move(v)}; }
  FeatureCondition operator>(nlohmann::json v) const { return {ref_, CompareOp::gt, std::move(v)}; }
  FeatureCondition operator>=(nlohmann::json v) const { return {ref_, CompareOp::ge, std::move(v)}; }
  FeatureCondition is_null() const { return {ref_, CompareOp::is_null, nullptr}; }
  FeatureCondition not_null() const { return {ref_, CompareOp::not_null, nullptr}; }

 private:
  FeatureRef ref_;
};

inline FeatureExpr feature(FeatureRef ref) { return FeatureExpr(std::move(ref)); }

/// Parses a CLI-style condition: `val_loss<0.05`, `is_best_model=true`, `mode!=min`, `score>=1`, `wandb_run_id=abc`.
/// The value is JSON if it parses as JSON (numbers, true/false, quoted strings), else a string.
/// Throws lamin::ValidationError for text without an operator.
FeatureCondition parse_feature_condition(const std::string& text);

/// Record fields a query can filter or order on (a fixed whitelist, so no user text reaches SQL).
enum class Field { id, uid, key, suffix, kind, description, size, hash, is_latest, run_id, created_at, updated_at,
                   name, started_at, finished_at, status_code, transform_id };

/// Field lookups (Django's `exact`, `startswith`, `endswith`, `contains`, `lt`, `lte`, `gt`, `gte`, `isnull`).
enum class Lookup { exact, startswith, endswith, contains, lt, le, gt, ge, is_null, not_null };

struct FieldCondition {
  Field field;
  Lookup lookup;
  nlohmann::json value;
};

enum class Order { ascending, descending };

/// The backend-neutral content of a query.
struct QuerySpec {
  std::vector<FieldCondition> fields;
  std::vector<FeatureCondition> features;
  std::vector<std::shared_ptr<const QuerySpec>> run_in;  ///< artifact.run_id IN (runs matching these)
  std::vector<std::pair<Field, Order>> order;             ///< default: id ascending
  std::optional<std::int64_t> limit;
  bool all_branches = false;       ///< default: main branch only (trash and archive excluded)
  bool include_incomplete = false;  ///< artifacts whose file is still being stored (`_aux.so`)
};

/// A table for printing (`lamin ls`) or JSON output.
struct Table {
  std::vector<std::string> columns;
  std::vector<std::vector<nlohmann::json>> rows;
  /// Aligned text with a header line.
  std::string to_string() const;
  /// A JSON array of objects.
  nlohmann::json to_json() const;
};

class RunQuery;

/// A query over `lamindb_artifact` (LaminDB's `ln.Artifact.filter(...)`).
class ArtifactQuery {
 public:
  explicit ArtifactQuery(std::shared_ptr<Registry> registry);

  ArtifactQuery filter(Field field, Lookup lookup, nlohmann::json value) const;
  ArtifactQuery key(const std::string& v) const { return filter(Field::key, Lookup::exact, v); }
  ArtifactQuery key_startswith(const std::string& v) const { return filter(Field::key, Lookup::startswith, v); }
  ArtifactQuery key_endswith(const std::string& v) const { return filter(Field::key, Lookup::endswith, v); }
  ArtifactQuery suffix(const std::string& v) const { return filter(Field::suffix, Lookup::exact, v); }
  ArtifactQuery suffix_endswith(const std::string& v) const { return filter(Field::suffix, Lookup::endswith, v); }
  ArtifactQuery kind(const std::string& v) const { return filter(Field::kind, Lookup::exact, v); }
  ArtifactQuery uid(const std::string& v) const { return filter(Field::uid, Lookup::exact, v); }
  ArtifactQuery hash(const std::string& v) const { return filter(Field::hash, Lookup::exact, v); }
  ArtifactQuery is_latest(bool v = true) const { return filter(Field::is_latest, Lookup::exact, v); }
  /// Outputs of this run.
  ArtifactQuery run(const Run& run) const { return filter(Field::run_id, Lookup::exact, run.id); }
  /// Outputs of any run matching `runs` (e.g. runs whose feature `wandb_run_id` is X).
  ArtifactQuery run_in(const RunQuery& runs) const;
  /// created_at >= / < a UTC time text `YYYY-MM-DD[ HH:MM:SS[.fff]]`.
  ArtifactQuery created_after(const std::string& v) const { return filter(Field::created_at, Lookup::ge, v); }
  ArtifactQuery created_before(const std::string& v) const { return filter(Field::created_at, Lookup::lt, v); }
  ArtifactQuery where(FeatureCondition condition) const;
  ArtifactQuery order_by(Field field, Order order = Order::ascending) const;
  ArtifactQuery limit(std::int64_t n) const;
  ArtifactQuery all_branches(bool v = true) const;
  ArtifactQuery include_incomplete(bool v = true) const;

  std::vector<Artifact> all() const;
  std::optional<Artifact> first() const;  ///< in order (default: by id), none if empty
  std::optional<Artifact> last() const;
  /// Exactly one; throws lamin::NotFoundError ("Artifact matching query does not exist.") or
  /// lamin::IntegrityError ("MultipleResultsFound: ...").
  Artifact one() const;
  std::optional<Artifact> one_or_none() const;
  std::int64_t count() const;
  bool exists() const { return count() > 0; }
  /// Rows with uid, key, kind, size, is_latest, created_at, plus one column per feature in `feature_columns`.
  Table table(const std::vector<std::string>& feature_columns = {}) const;

  const QuerySpec& spec() const { return *spec_; }

 private:
  ArtifactQuery(std::shared_ptr<Registry> registry, std::shared_ptr<QuerySpec> spec)
      : registry_(std::move(registry)), spec_(std::move(spec)) {}
  ArtifactQuery with(const std::function<void(QuerySpec&)>& change) const;
  std::shared_ptr<Registry> registry_;
  std::shared_ptr<const QuerySpec> spec_;
};

/// A query over `lamindb_run` (LaminDB's `ln.Run.filter(...)`).
class RunQuery {
 public:
  explicit RunQuery(std::shared_ptr<Registry> registry);

  RunQuery filter(Field field, Lookup lookup, nlohmann::json value) const;
  RunQuery uid(const std::string& v) const { return filter(Field::uid, Lookup::exact, v); }
  RunQuery name(const std::string& v) const { return filter(Field::name, Lookup::exact, v); }
  RunQuery transform_id(std::int64_t v) const { return filter(Field::transform_id, Lookup::exact, v); }
  RunQuery status(RunStatus v) const { return filter(Field::status_code, Lookup::exact, static_cast<int>(v)); }
  RunQuery where(FeatureCondition condition) const;
  RunQuery order_by(Field field, Order order = Order::ascending) const;
  RunQuery limit(std::int64_t n) const;

  std::vector<Run> all() const;
  std::optional<Run> first() const;
  std::optional<Run> last() const;
  Run one() const;
  std::int64_t count() const;
  Table table(const std::vector<std::string>& feature_columns = {}) const;

  const QuerySpec& spec() const { return *spec_; }
  std::shared_ptr<const QuerySpec> shared_spec() const { return spec_; }

 private:
  RunQuery(std::shared_ptr<Registry> registry, std::shared_ptr<QuerySpec> spec)
      : registry_(std::move(registry)), spec_(std::move(spec)) {}
  RunQuery with(const std::function<void(QuerySpec&)>& change) const;
  std::shared_ptr<Registry> registry_;
  std::shared_ptr<const QuerySpec> spec_;
};

}  // namespace lamin
