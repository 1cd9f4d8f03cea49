#include "sqlite.hpp"

#include <new>

#include "lamin/error.hpp"

namespace lamin::sqlite {

Param param_of(const nlohmann::json& value) {
  switch (value.type()) {
    case nlohmann::json::value_t::null: return nullptr;
    case nlohmann::json::value_t::boolean: return static_cast<std::int64_t>(value.get<bool>() ? 1 : 0);
    case nlohmann::json::value_t::number_integer: return value.get<std::int64_t>();
    case nlohmann::json::value_t::number_unsigned: return static_cast<std::int64_t>(value.get<std::uint64_t>());
    case nlohmann::json::value_t::number_float: return value.get<double>();
    case nlohmann::json::value_t::string: return value.get<std::string>();
    default: throw ValidationError("cannot compare a field with a JSON " + std::string(value.type_name()));
  }
}

void throw_error(sqlite3* db, int rc, const std::string& context) {
  const std::string msg = context + ": " + (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  switch (rc & 0xff) {
    case SQLITE_CONSTRAINT: throw IntegrityError(msg);
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB: throw IntegrityError(msg);
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_FULL:
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PERM: throw StorageError(msg);
    default: throw StorageError(msg);  // the engine failed (SQLITE_ERROR, SQLITE_MISUSE, ...)
  }
}

// --- lamin_ints(?): IntRows as a table -----------------------------------------------------------------------------

namespace {

constexpr const char* kIntRowsTag = "lamin_ints";

struct IntRowsCursor {
  sqlite3_vtab_cursor base{};  // first: SQLite passes a pointer to it
  const IntRows* rows = nullptr;
  std::size_t row = 0;
};

int int_rows_connect(sqlite3* db, void*, int, const char* const*, sqlite3_vtab** out, char**) {
  const int rc = sqlite3_declare_vtab(db, "CREATE TABLE x(a INTEGER, b INTEGER, rows HIDDEN)");
  if (rc != SQLITE_OK) return rc;
  auto* table = static_cast<sqlite3_vtab*>(sqlite3_malloc(sizeof(sqlite3_vtab)));
  if (!table) return SQLITE_NOMEM;
  *table = sqlite3_vtab{};
  *out = table;
  return SQLITE_OK;
}

int int_rows_disconnect(sqlite3_vtab* table) {
  sqlite3_free(table);
  return SQLITE_OK;
}

// Usable only with its argument: lamin_ints(?) is a function, never a scan of nothing.
int int_rows_best_index(sqlite3_vtab*, sqlite3_index_info* info) {
  for (int i = 0; i < info->nConstraint; ++i) {
    const auto& c = info->aConstraint[i];
    if (c.iColumn != 2 || c.op != SQLITE_INDEX_CONSTRAINT_EQ) continue;
    if (!c.usable) return SQLITE_CONSTRAINT;
    info->aConstraintUsage[i].argvIndex = 1;
    info->aConstraintUsage[i].omit = 1;
    info->estimatedCost = 10;
    info->estimatedRows = 100;
    return SQLITE_OK;
  }
  return SQLITE_CONSTRAINT;
}

int int_rows_open(sqlite3_vtab*, sqlite3_vtab_cursor** out) {
  auto* cursor = new (std::nothrow) IntRowsCursor();
  if (!cursor) return SQLITE_NOMEM;
  *out = &cursor->base;
  return SQLITE_OK;
}

int int_rows_close(sqlite3_vtab_cursor* cursor) {
  delete reinterpret_cast<IntRowsCursor*>(cursor);
  return SQLITE_OK;
}

int int_rows_filter(sqlite3_vtab_cursor* base, int, const char*, int argc, sqlite3_value** argv) {
  auto* cursor = reinterpret_cast<IntRowsCursor*>(base);
  // Anything but a pointer bound with the tag (a number, text, NULL) reads as no rows.
  cursor->rows = argc > 0 ? static_cast<const IntRows*>(sqlite3_value_pointer(argv[0], kIntRowsTag)) : nullptr;
  cursor->row = 0;
  return SQLITE_OK;
}

int int_rows_next(sqlite3_vtab_cursor* base) {
  ++reinterpret_cast<IntRowsCursor*>(base)->row;
  return SQLITE_OK;
}

int int_rows_eof(sqlite3_vtab_cursor* base) {
  const auto* cursor = reinterpret_cast<IntRowsCursor*>(base);
  return !cursor->rows || cursor->row >= cursor->rows->size();
}

int int_rows_column(sqlite3_vtab_cursor* base, sqlite3_context* ctx, int col) {
  const auto* cursor = reinterpret_cast<IntRowsCursor*>(base);
  if (col < cursor->rows->width()) {
    sqlite3_result_int64(ctx, cursor->rows->at(cursor->row, col));
  } else {
    sqlite3_result_null(ctx);
  }
  return SQLITE_OK;
}

int int_rows_rowid(sqlite3_vtab_cursor* base, sqlite3_int64* rowid) {
  *rowid = static_cast<sqlite3_int64>(reinterpret_cast<IntRowsCursor*>(base)->row);
  return SQLITE_OK;
}

sqlite3_module int_rows_module() {
  sqlite3_module m{};
  m.xConnect = int_rows_connect;  // no xCreate: eponymous only, usable as lamin_ints(?) without CREATE
  m.xBestIndex = int_rows_best_index;
  m.xDisconnect = int_rows_disconnect;
  m.xOpen = int_rows_open;
  m.xClose = int_rows_close;
  m.xFilter = int_rows_filter;
  m.xNext = int_rows_next;
  m.xEof = int_rows_eof;
  m.xColumn = int_rows_column;
  m.xRowid = int_rows_rowid;
  return m;
}

const sqlite3_module kIntRowsModule = int_rows_module();

}  // namespace

Database::Database(const std::string& path, bool create) : path_(path) {
  const int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0) | SQLITE_OPEN_NOMUTEX;
  const int rc = sqlite3_open_v2(path.c_str(), &db_, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = "cannot open database '" + path + "': " + (db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc));
    sqlite3_close(db_);
    db_ = nullptr;
    throw StorageError(msg);
  }
  sqlite3_extended_result_codes(db_, 1);
  sqlite3_busy_timeout(db_, 60000);
  const int module_rc = sqlite3_create_module(db_, kIntRowsTag, &kIntRowsModule, nullptr);
  if (module_rc != SQLITE_OK) {
    const std::string msg = "cannot register lamin_ints on '" + path + "': " + sqlite3_errmsg(db_);
    sqlite3_close(db_);
    db_ = nullptr;
    throw StorageError(msg);
  }
}

Database::~Database() {
  for (auto& [sql, stmts] : idle_) {
    for (sqlite3_stmt* stmt : stmts) sqlite3_finalize(stmt);
  }
  sqlite3_close_v2(db_);
}

namespace {
// Idle compiled statements kept per connection; beyond this, released statements are finalized (texts built with a
// varying number of placeholders would otherwise accumulate).
constexpr std::size_t kMaxIdleStatements = 256;
}  // namespace

sqlite3_stmt* Database::acquire(const std::string& sql) {
  {
    std::lock_guard<std::mutex> lock(idle_mutex_);
    auto it = idle_.find(sql);
    if (it != idle_.end() && !it->second.empty()) {
      sqlite3_stmt* stmt = it->second.back();
      it->second.pop_back();
      --idle_count_;
      return stmt;
    }
  }
  sqlite3_stmt* stmt = nullptr;
  const int rc = sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT,
                                    &stmt, nullptr);
  if (rc != SQLITE_OK) {
    sqlite3_finalize(stmt);
    throw_error(db_, rc, "cannot prepare statement");
  }
  return stmt;
}

void Database::release(const std::string& sql, sqlite3_stmt* stmt) noexcept {
  // A reset statement holds no locks and no row; its bindings are cleared so no data outlives the call.
  sqlite3_reset(stmt);
  sqlite3_clear_bindings(stmt);
  try {
    std::lock_guard<std::mutex> lock(idle_mutex_);
    if (idle_count_ < kMaxIdleStatements) {
      idle_[sql].push_back(stmt);
      ++idle_count_;
      return;
    }
  } catch (...) {
  }
  sqlite3_finalize(stmt);
}

void Database::exec(const std::string& sql) {
  char* err = nullptr;
  const int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    const std::string msg = err ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    throw_error(nullptr, rc, "SQL failed: " + msg);
  }
}

void Database::set_pragma(const std::string& name, const std::string& value) {
  if (in_transaction())
    throw IntegrityError("PRAGMA " + name + " cannot change inside an open transaction on " + path_);
  exec("PRAGMA " + name + "=" + value);  // fixed names and values from lamin-cpp's own code, never user input
}

Statement Database::prepare(const std::string& sql) { return Statement(*this, sql); }

Statement::Statement(Database& db, const std::string& sql) : db_(&db), stmt_(db.acquire(sql)), sql_(sql) {}

Statement::~Statement() {
  if (stmt_) db_->release(sql_, stmt_);
}

Statement::Statement(Statement&& other) noexcept
    : db_(other.db_), stmt_(other.stmt_), sql_(std::move(other.sql_)) {
  other.stmt_ = nullptr;
}

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    if (stmt_) db_->release(sql_, stmt_);
    db_ = other.db_;
    stmt_ = other.stmt_;
    sql_ = std::move(other.sql_);
    other.stmt_ = nullptr;
  }
  return *this;
}

Statement& Statement::bind(int index, const Param& value) {
  int rc = SQLITE_OK;
  if (std::holds_alternative<std::nullptr_t>(value)) {
    rc = sqlite3_bind_null(stmt_, index);
  } else if (const auto* i = std::get_if<std::int64_t>(&value)) {
    rc = sqlite3_bind_int64(stmt_, index, *i);
  } else if (const auto* d = std::get_if<double>(&value)) {
    rc = sqlite3_bind_double(stmt_, index, *d);
  } else {
    const auto& s = std::get<std::string>(value);
    rc = sqlite3_bind_text(stmt_, index, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
  }
  if (rc != SQLITE_OK) throw_error(db_->handle(), rc, "cannot bind parameter");
  return *this;
}

Statement& Statement::bind_all(const std::vector<Param>& values) {
  for (std::size_t i = 0; i < values.size(); ++i) bind(static_cast<int>(i + 1), values[i]);
  return *this;
}

Statement& Statement::bind(int index, const std::optional<std::string>& v) {
  return v ? bind(index, Param(*v)) : bind(index, Param(nullptr));
}
Statement& Statement::bind(int index, const std::optional<std::int64_t>& v) {
  return v ? bind(index, Param(*v)) : bind(index, Param(nullptr));
}

Statement& Statement::bind(int index, const IntRows& rows) {
  const int rc = sqlite3_bind_pointer(stmt_, index, const_cast<IntRows*>(&rows), kIntRowsTag, nullptr);
  if (rc != SQLITE_OK) throw_error(db_->handle(), rc, "cannot bind parameter");
  return *this;
}

bool Statement::step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  throw_error(db_->handle(), rc, "SQL failed");
}

void Statement::run() {
  while (step()) {
  }
}

void Statement::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

bool Statement::is_null(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
std::int64_t Statement::int64(int col) const { return sqlite3_column_int64(stmt_, col); }
double Statement::real(int col) const { return sqlite3_column_double(stmt_, col); }
std::string Statement::text(int col) const {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
  if (!p) return {};
  return std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col)));
}
std::optional<std::string> Statement::opt_text(int col) const {
  if (is_null(col)) return std::nullopt;
  return text(col);
}
std::optional<std::int64_t> Statement::opt_int64(int col) const {
  if (is_null(col)) return std::nullopt;
  return int64(col);
}
int Statement::column_count() const { return sqlite3_column_count(stmt_); }
std::string Statement::column_name(int col) const { return sqlite3_column_name(stmt_, col); }

}  // namespace lamin::sqlite
