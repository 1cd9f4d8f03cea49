#include "schema.hpp"

#include <openssl/evp.h>

#include <cstdio>

namespace lamin::db_schema {
namespace {

enum Flags : unsigned { kNull = 0, kNotNull = 1, kIndex = 2, kUnique = 4, kJson = 8, kPk = 16 };

struct Column {
  std::string name;
  std::string type;
  unsigned flags;
  std::string default_sql;
  std::string references;
};

struct TableDef {
  std::string name;
  std::vector<Column> columns;
  std::vector<std::vector<std::string>> unique_together;  // Django's "<cols>_<hash>_uniq" unique indexes
  std::vector<std::string> extra;                         // constraints appended to the column list
  std::vector<std::string> extra_indexes;                 // named constraints as indexes
};

const char* kNow = "(STRFTIME('%Y-%m-%d %H:%M:%f', 'NOW'))";

Column pk() { return {"id", "integer", kNotNull | kPk, "", ""}; }
Column col(std::string name, std::string type, unsigned flags, std::string dflt = "", std::string ref = "") {
  return {std::move(name), std::move(type), flags, std::move(dflt), std::move(ref)};
}
Column timestamp(std::string name) { return col(std::move(name), "datetime", kNotNull | kIndex, kNow); }
Column is_locked() { return col("is_locked", "bool", kNotNull, "0"); }
Column aux() { return col("_aux", "text", kJson, "'null'"); }
Column branch() { return col("branch_id", "integer", kNotNull | kIndex, "1", "lamindb_branch"); }
Column created_on() { return col("created_on_id", "integer", kNotNull | kIndex, "1", "lamindb_branch"); }
Column space() { return col("space_id", "smallint", kNotNull | kIndex, "1", "lamindb_space"); }
Column created_by() { return col("created_by_id", "integer", kNotNull | kIndex, "", "lamindb_user"); }
Column run_fk(unsigned nullability = kNull) { return col("run_id", "bigint", nullability | kIndex, "", "lamindb_run"); }
Column artifact_fk(std::string name) { return col(std::move(name), "integer", kIndex, "", "lamindb_artifact"); }

/// The instance: users, spaces, branches and storage locations.
void instance_tables(std::vector<TableDef>& t) {
  t.push_back({"lamindb_user",
               {pk(), col("uid", "varchar(8)", kNotNull | kUnique), col("handle", "varchar(30)", kNotNull | kUnique),
                col("name", "varchar(150)", kIndex), timestamp("created_at"), timestamp("updated_at")},
               {}, {}, {}});
  t.push_back({"lamindb_space",
               {pk(), col("name", "varchar(100)", kNotNull | kIndex), col("uid", "varchar(12)", kNotNull | kUnique),
                col("description", "text", kNull), timestamp("created_at"),
                col("created_by_id", "integer", kIndex, "", "lamindb_user")},
               {}, {},
               {"CREATE UNIQUE INDEX IF NOT EXISTS \"unique_space_name_lower\" ON \"lamindb_space\" ((LOWER(\"name\")))"}});
  t.push_back({"lamindb_branch",
               {pk(), col("name", "varchar(100)", kNotNull | kIndex), col("uid", "varchar(12)", kNotNull | kUnique),
                col("description", "text", kNull), timestamp("created_at"), space(), created_by(),
                col("_status_code", "smallint", kNotNull | kIndex, "0"), aux()},
               {}, {},
               {"CREATE UNIQUE INDEX IF NOT EXISTS \"unique_branch_name_lower\" ON \"lamindb_branch\" ((LOWER(\"name\")))"}});
  t.push_back({"lamindb_storage",
               {is_locked(), aux(), timestamp("created_at"), timestamp("updated_at"), pk(),
                col("uid", "varchar(12)", kNotNull | kUnique), col("root", "varchar(255)", kNotNull | kUnique),
                col("description", "text", kNull), col("type", "varchar(30)", kNotNull | kIndex),
                col("region", "varchar(64)", kIndex), col("instance_uid", "varchar(12)", kIndex), branch(),
                created_on(), run_fk(), space(), created_by()},
               {}, {}, {}});
}

/// Lineage: transforms and their runs.
void lineage_tables(std::vector<TableDef>& t) {
  t.push_back({"lamindb_transform",
               {col("version_tag", "varchar(30)", kIndex), col("is_latest", "bool", kNotNull | kIndex), is_locked(),
                aux(), pk(), col("uid", "varchar(16)", kNotNull | kUnique),
                col("key", "varchar(1024)", kNotNull | kIndex), col("description", "text", kIndex),
                col("kind", "varchar(20)", kNotNull | kIndex), col("source_code", "text", kNull),
                col("hash", "varchar(22)", kIndex), col("reference", "varchar(255)", kIndex),
                col("reference_type", "varchar(25)", kIndex), timestamp("created_at"), timestamp("updated_at"),
                branch(), created_on(), artifact_fk("environment_id"), artifact_fk("plan_id"), space(),
                created_by(), run_fk()},
               {{"key", "hash"}}, {}, {}});
  t.push_back({"lamindb_run",
               {is_locked(), aux(), timestamp("updated_at"), pk(), col("uid", "varchar(20)", kNotNull | kUnique),
                col("name", "varchar(150)", kIndex), col("description", "text", kNull),
                col("entrypoint", "varchar(255)", kIndex), timestamp("started_at"),
                col("finished_at", "datetime", kIndex), col("params", "text", kJson),
                col("reference", "varchar(255)", kIndex), col("reference_type", "varchar(25)", kIndex),
                col("cli_args", "varchar(1024)", kNull), timestamp("created_at"),
                col("_is_consecutive", "bool", kNull), col("_status_code", "smallint", kNotNull | kIndex, "-3"),
                branch(), created_on(), artifact_fk("environment_id"), artifact_fk("plan_id"),
                artifact_fk("report_id"), space(),
                col("transform_id", "integer", kNotNull | kIndex, "", "lamindb_transform"), created_by(),
                col("initiated_by_run_id", "bigint", kIndex, "", "lamindb_run"), col("extra_data", "text", kJson)},
               {}, {}, {}});
}

/// Artifacts and the schemas they may reference.
void artifact_tables(std::vector<TableDef>& t) {
  // Artifacts reference a schema (validated datasets); lamin-cpp never writes one, but the foreign key needs it.
  t.push_back({"lamindb_schema",
               {col("is_type", "bool", kNotNull | kIndex, "0"), is_locked(), aux(), timestamp("created_at"),
                timestamp("updated_at"), pk(), col("uid", "varchar(16)", kNotNull | kUnique),
                col("name", "varchar(150)", kIndex), col("description", "text", kNull),
                col("n_members", "integer", kNull), col("coerce", "bool", kNull), col("flexible", "bool", kNull),
                col("itype", "varchar(120)", kIndex), col("otype", "varchar(64)", kIndex),
                col("_dtype_str", "varchar(64)", kNull), col("hash", "varchar(22)", kIndex),
                col("minimal_set", "bool", kNotNull | kIndex), col("ordered_set", "bool", kNotNull | kIndex),
                col("maximal_set", "bool", kNotNull | kIndex), branch(), created_on(), run_fk(), space(),
                created_by(), col("type_id", "integer", kIndex, "", "lamindb_schema")},
               {}, {}, {}});
  t.push_back({"lamindb_artifact",
               {col("version_tag", "varchar(30)", kIndex), col("is_latest", "bool", kNotNull | kIndex), is_locked(),
                aux(), timestamp("created_at"), timestamp("updated_at"), pk(),
                col("uid", "varchar(20)", kNotNull | kUnique), col("key", "varchar(1024)", kIndex),
                col("_real_key", "varchar(1024)", kIndex), col("description", "text", kIndex),
                col("suffix", "varchar(30)", kNotNull | kIndex), col("kind", "varchar(20)", kIndex),
                col("otype", "varchar(64)", kIndex), col("size", "bigint", kIndex),
                col("hash", "varchar(22)", kIndex), col("n_files", "bigint", kIndex),
                col("n_observations", "bigint", kIndex), col("_hash_type", "varchar(30)", kIndex),
                col("_key_is_virtual", "bool", kNotNull), col("_overwrite_versions", "bool", kNotNull), branch(),
                created_on(), run_fk(), col("schema_id", "integer", kIndex, "", "lamindb_schema"), space(),
                col("storage_id", "integer", kNotNull | kIndex, "", "lamindb_storage"), created_by(),
                col("extra_data", "text", kJson)},
               {}, {},
               {"CREATE UNIQUE INDEX IF NOT EXISTS \"unique_artifact_storage_key_hash_not_null\" ON \"lamindb_artifact\" "
                "(\"storage_id\", \"key\", \"hash\") WHERE \"key\" IS NOT NULL",
                "CREATE UNIQUE INDEX IF NOT EXISTS \"unique_artifact_storage_hash_null_key\" ON \"lamindb_artifact\" "
                "(\"storage_id\", \"hash\") WHERE \"key\" IS NULL"}});
}

/// Features and their values (deduplicated per feature by hash).
void feature_tables(std::vector<TableDef>& t) {
  t.push_back({"lamindb_feature",
               {col("is_type", "bool", kNotNull | kIndex, "0"), is_locked(), aux(), timestamp("created_at"),
                timestamp("updated_at"), pk(), col("uid", "varchar(12)", kNotNull | kUnique),
                col("name", "varchar(150)", kNotNull | kIndex), col("_dtype_str", "varchar(255)", kIndex),
                col("unit", "varchar(30)", kIndex), col("description", "text", kNull),
                col("array_rank", "smallint", kNotNull | kIndex), col("array_size", "integer", kNotNull | kIndex),
                col("array_shape", "text", kJson, "'null'"), col("synonyms", "text", kNull),
                col("default_value", "text", kJson), col("nullable", "bool", kNull), col("coerce", "bool", kNull),
                branch(), created_on(), run_fk(), space(), created_by(),
                col("type_id", "integer", kIndex, "", "lamindb_feature"), col("_ounit_str", "varchar(255)", kIndex)},
               {},
               {"CONSTRAINT \"feature_dtype_str_not_null_when_is_type_false\" CHECK ((\"is_type\" OR \"_dtype_str\" IS NOT NULL))"},
               {}});
  t.push_back({"lamindb_jsonvalue",
               {pk(), is_locked(), aux(), timestamp("created_at"), col("value", "text", kNotNull | kJson),
                col("hash", "varchar(22)", kIndex), branch(), created_on(),
                col("feature_id", "integer", kIndex, "", "lamindb_feature"), run_fk(), space(), created_by()},
               {{"feature_id", "hash"}}, {}, {}});
}

/// Links: values on artifacts and runs, artifacts as run inputs.
void link_tables(std::vector<TableDef>& t) {
  t.push_back({"lamindb_artifactjsonvalue",
               {timestamp("created_at"), pk(),
                col("artifact_id", "integer", kNotNull | kIndex, "", "lamindb_artifact"),
                col("jsonvalue_id", "bigint", kNotNull | kIndex, "", "lamindb_jsonvalue"), run_fk(), created_by()},
               {{"artifact_id", "jsonvalue_id"}}, {}, {}});
  t.push_back({"lamindb_runjsonvalue",
               {pk(), timestamp("created_at"),
                col("jsonvalue_id", "bigint", kNotNull | kIndex, "", "lamindb_jsonvalue"), run_fk(kNotNull),
                created_by()},
               {{"run_id", "jsonvalue_id"}}, {}, {}});
  t.push_back({"lamindb_artifact_input_of_runs",
               {pk(), col("artifact_id", "integer", kNotNull | kIndex, "", "lamindb_artifact"), run_fk(kNotNull)},
               {{"artifact_id", "run_id"}}, {}, {}});
}

/// LaminDB's tables in creation order (a table comes after those its foreign keys name).
const std::vector<TableDef>& tables() {
  static const std::vector<TableDef> defs = [] {
    std::vector<TableDef> t;
    instance_tables(t);
    lineage_tables(t);
    artifact_tables(t);
    feature_tables(t);
    link_tables(t);
    return t;
  }();
  return defs;
}

std::string quote(const std::string& identifier) { return "\"" + identifier + "\""; }

std::string column_sql(const Column& c) {
  std::string s = quote(c.name) + " " + c.type;
  if (!c.default_sql.empty()) s += " DEFAULT " + c.default_sql;
  s += (c.flags & kNotNull) ? " NOT NULL" : " NULL";
  if (c.flags & kPk) s += " PRIMARY KEY AUTOINCREMENT";
  if (c.flags & kUnique) s += " UNIQUE";
  if (!c.references.empty()) s += " REFERENCES " + quote(c.references) + " (\"id\") DEFERRABLE INITIALLY DEFERRED";
  if (c.flags & kJson) s += " CHECK ((JSON_VALID(" + quote(c.name) + ") OR " + quote(c.name) + " IS NULL))";
  return s;
}

}  // namespace

std::string django_index_name(const std::string& table, const std::vector<std::string>& columns,
                              const std::string& suffix) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_md5(), nullptr);
  EVP_DigestUpdate(ctx, table.data(), table.size());
  std::string joined;
  for (const auto& c : columns) {
    EVP_DigestUpdate(ctx, c.data(), c.size());
    joined += (joined.empty() ? "" : "_") + c;
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx, digest, &len);
  EVP_MD_CTX_free(ctx);
  char hex[9];
  for (int i = 0; i < 4; ++i) std::snprintf(hex + 2 * i, 3, "%02x", digest[i]);
  return table + "_" + joined + "_" + std::string(hex, 8) + suffix;
}

const std::vector<std::string>& table_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n;
    for (const auto& t : tables()) n.push_back(t.name);
    return n;
  }();
  return names;
}

std::vector<std::string> ddl() {
  std::vector<std::string> out;
  for (const auto& t : tables()) {
    std::string sql = "CREATE TABLE IF NOT EXISTS " + quote(t.name) + " (";
    for (std::size_t i = 0; i < t.columns.size(); ++i) sql += (i ? ", " : "") + column_sql(t.columns[i]);
    for (const auto& e : t.extra) sql += ", " + e;
    sql += ")";
    out.push_back(sql);
    for (const auto& c : t.columns) {
      if (!(c.flags & kIndex)) continue;
      out.push_back("CREATE INDEX IF NOT EXISTS " + quote(django_index_name(t.name, {c.name})) + " ON " +
                    quote(t.name) + " (" + quote(c.name) + ")");
    }
    for (const auto& u : t.unique_together) {
      std::string cols;
      for (const auto& c : u) cols += (cols.empty() ? "" : ", ") + quote(c);
      out.push_back("CREATE UNIQUE INDEX IF NOT EXISTS " + quote(django_index_name(t.name, u, "_uniq")) + " ON " +
                    quote(t.name) + " (" + cols + ")");
    }
    for (const auto& e : t.extra_indexes) out.push_back(e);
  }
  return out;
}

const std::vector<std::string>& extra_index_names() {
  static const std::vector<std::string> names = {"lamin_cpp_jsonvalue_feature_id_real_value",
                                                 "lamin_cpp_artifactjsonvalue_jsonvalue_id_artifact_id",
                                                 "lamin_cpp_artifact_id_branch_id_aux"};
  return names;
}

std::vector<std::string> extra_index_ddl() {
  // Feature queries (`val_loss < 0.05`) range-scan the first index instead of parsing every value, reach the
  // artifacts through the covering second one, and check branch and storage marker in the compact third one.
  return {"CREATE INDEX IF NOT EXISTS \"lamin_cpp_jsonvalue_feature_id_real_value\" ON \"lamindb_jsonvalue\" "
          "(\"feature_id\", CAST(\"value\" AS REAL))",
          "CREATE INDEX IF NOT EXISTS \"lamin_cpp_artifactjsonvalue_jsonvalue_id_artifact_id\" ON "
          "\"lamindb_artifactjsonvalue\" (\"jsonvalue_id\", \"artifact_id\")",
          "CREATE INDEX IF NOT EXISTS \"lamin_cpp_artifact_id_branch_id_aux\" ON \"lamindb_artifact\" "
          "(\"id\", \"branch_id\", \"_aux\")"};
}

}  // namespace lamin::db_schema
