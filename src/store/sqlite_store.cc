#include "store/sqlite_store.h"

#include <sqlite3.h>

#include <algorithm>
#include <limits>
#include <span>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "store/item_codec.h"
#include "store/sql_text.h"
#include "store/sqlite_api.h"
#include "util/numbers.h"

namespace jobgate {

namespace {

// libsqlite3's functions. SqliteStore::Open loads them (or fails) before
// anything here calls one.
const SqliteApi& Sq() {
  static const SqliteApi* const api = LoadSqliteApi().value();
  return *api;
}

using QF = FieldSpec<RequestRecord>;

// A SQLite connection saw at least this many WAL frames: checkpoint now, as
// SQLite's own autocheckpoint would (installing a WAL hook turns it off).
constexpr int kLongLivedCheckpointFrames = 1000;

// ---- SQL text, generated from the field tables -------------------------

using sql::Concat;
using sql::Join;
using sql::Names;

template <typename Item>
std::vector<std::string> ColumnDefs(std::span<const FieldSpec<Item>> fields) {
  return sql::ColumnDefs(fields, "INTEGER", "TEXT");
}

// "?first, ?first+1, ..." for n parameters.
std::vector<std::string> ParamList(int first, size_t n) {
  std::vector<std::string> out;
  for (size_t i = 0; i < n; ++i) out.push_back(fmt::format("?{}", first + static_cast<int>(i)));
  return out;
}
std::string Params(int first, size_t n) { return Join(ParamList(first, n)); }

// "a = ?first, b = ?first+1, ..."
std::string Assignments(const std::vector<std::string>& names, int first) {
  return Join(sql::Assign(names, ParamList(first, names.size())));
}

// "a = excluded.a, ..."
std::string FromExcluded(const std::vector<std::string>& names) { return Join(sql::Excluded(names)); }

// Parameter layout of state writes: ?1 job, ?2 status, then StateFields(),
// then due_at, then the expected version.
int StateDueParam() { return 3 + static_cast<int>(StateFields().size()); }
int StateExpectedParam() { return StateDueParam() + 1; }
// Request writes: ?1 job, ?2 key, ?3 status, then RequestFields(), then the
// extra parameter (now for create, expected version for replace).
int RequestExtraParam() { return 4 + static_cast<int>(RequestFields().size()); }

std::vector<std::string> StateWriteColumns() {
  return Concat(Concat({"status"}, Names(StateFields())), {"due_at"});
}
std::vector<std::string> RequestWriteColumns() { return Concat({"status"}, Names(RequestFields())); }

// A version condition that also matches a row whose version is NULL when
// the expected version is 0 (DESIGN.md: a hand-made item has no version).
// The comparison keeps the column's affinity (COALESCE would drop it). The
// decoder accepts a version held as its decimal text (SetField); in a
// column declared TEXT `version = ?` compares it as text, but in a column
// declared without a type nothing converts, and '3' = 3 is false: the CAS
// could never match. Comparing with the text as well covers both.
std::string VersionMatches(int param) {
  return fmt::format("(version = ?{0} OR version = CAST(?{0} AS TEXT) OR (version IS NULL AND ?{0} = 0))", param);
}

// One table of the layout: its columns in order and its primary key.
struct TableLayout {
  std::string name;
  std::vector<std::string> columns;  // "name TYPE"
  std::string key;
};

const std::vector<TableLayout>& Layout() {
  static const auto* layout = new std::vector<TableLayout>{
      {"job_state",
       Concat(Concat({"job TEXT", "status TEXT"}, ColumnDefs(StateFields())), {"due_at INTEGER"}), "job"},
      {"job_definition", {"job TEXT", "definition TEXT"}, "job"},
      {"job_run", Concat({"job TEXT"}, ColumnDefs(RunFields())), "job, start_ms, run_id"},
      {"job_request", Concat({"job TEXT", "key TEXT", "status TEXT"}, ColumnDefs(RequestFields())), "job, key"},
  };
  return *layout;
}

constexpr const char* kIndexesSql =
    // Partial: PAUSED jobs (NULL due_at) are never due and cost ListDue nothing.
    "CREATE INDEX IF NOT EXISTS job_state_due ON job_state (due_at) WHERE due_at IS NOT NULL;"
    "CREATE INDEX IF NOT EXISTS job_request_expiry ON job_request (expires_at_ms);";

// A fingerprint of Layout(): when the stored one differs (a field was added
// to a table), opening re-runs Init, which adds the missing columns.
std::string LayoutFingerprint() {
  std::string out;
  for (const auto& t : Layout()) {
    if (!out.empty()) out += ';';
    out += t.name;
    out += '(';
    out += Join(t.columns);
    out += ')';
  }
  return out;
}

}  // namespace

// ---- prepared statements -------------------------------------------------

namespace {

// Statements cached per connection, prepared on first use: a CLI call that
// only reads pays for one.
enum Query : int {
  kReadState,
  kCreateState,
  kReplaceState,
  kListDue,
  kListStates,
  kReadDefinition,
  kPutDefinition,
  kListDefinitions,
  kAppendRun,
  kListRuns,
  kTrimRuns,
  kReadRequest,
  kCreateRequest,
  kReplaceRequest,
  kExpireRequests,
  kSchemaMeta,
  kReadJob,
  kSweepRequests,
  kQueryCount,
};

std::string StateCols() { return Join(Names(StateFields())); }
std::string RunCols() { return Join(Names(RunFields())); }
std::string RequestCols() { return Join(RequestWriteColumns()); }
constexpr const char* kNewestFirst = "ORDER BY start_ms DESC, run_id DESC";

// The statements of run and request records.
std::string BuildRecordSql(Query q) {
  switch (q) {
    // Same key as DynamoDB's RUN#<start>#<run id>: re-appending replaces.
    case kAppendRun:
      return fmt::format("INSERT OR REPLACE INTO job_run (job, {}) VALUES (?1, {})", RunCols(),
                         Params(2, RunFields().size()));
    case kListRuns:
      return fmt::format("SELECT {} FROM job_run WHERE job = ?1 {} LIMIT ?2", RunCols(), kNewestFirst);
    // Everything older than the keep-th newest run, found by one scalar
    // subquery on the key: a NOT IN (SELECT ... LIMIT keep) list cost the
    // guarded run 30% of its instructions (docs/benchmarks.md). The key is
    // unique, so "older than the keep-th newest" keeps exactly keep runs.
    case kTrimRuns:
      return fmt::format(
          "DELETE FROM job_run WHERE job = ?1 AND (?2 <= 0 OR (start_ms, run_id) < "
          "(SELECT start_ms, run_id FROM job_run WHERE job = ?1 {} LIMIT 1 OFFSET ?2 - 1))",
          kNewestFirst);
    // An expired record (expires_at_ms <= now, NULL meaning 0) counts as absent.
    case kReadRequest:
      return fmt::format("SELECT {} FROM job_request WHERE job = ?1 AND key = ?2 AND expires_at_ms > ?3",
                         RequestCols());
    case kCreateRequest:
      return fmt::format(
          "INSERT INTO job_request (job, key, {}) VALUES (?1, ?2, {}) ON CONFLICT (job, key) DO UPDATE SET {} "
          "WHERE job_request.expires_at_ms IS NULL OR job_request.expires_at_ms <= ?{}",
          RequestCols(), Params(3, RequestWriteColumns().size()), FromExcluded(RequestWriteColumns()),
          RequestExtraParam());
    case kReplaceRequest:
      return fmt::format("UPDATE job_request SET {} WHERE job = ?1 AND key = ?2 AND {}",
                         Assignments(RequestWriteColumns(), 3), VersionMatches(RequestExtraParam()));
    case kExpireRequests:
      return "DELETE FROM job_request WHERE expires_at_ms <= ?1 OR expires_at_ms IS NULL";
    // The bounded cleanup that follows a new request record (Store::CreateRequest).
    case kSweepRequests:
      return fmt::format(
          "DELETE FROM job_request WHERE (job, key) IN (SELECT job, key FROM job_request WHERE expires_at_ms < ?3 - {} "
          "AND NOT (job = ?1 AND key = ?2) LIMIT {})",
          Store::kRequestSweepMarginMs, Store::kRequestSweepBatch);
    default:
      return "";
  }
}

// The text of one statement. Built on first use, one at a time: a process
// that only skips builds two of them (docs/benchmarks.md, process start-up).
std::string BuildSql(Query q) {
  switch (q) {
    case kReadState:
      return fmt::format("SELECT status, {} FROM job_state WHERE job = ?1", StateCols());
    case kCreateState:
      return fmt::format("INSERT INTO job_state (job, {}) VALUES (?1, {}) ON CONFLICT (job) DO NOTHING",
                         Join(StateWriteColumns()), Params(2, StateWriteColumns().size()));
    case kReplaceState:
      return fmt::format("UPDATE job_state SET {} WHERE job = ?1 AND {}", Assignments(StateWriteColumns(), 2),
                         VersionMatches(StateExpectedParam()));
    case kListDue:
      return "SELECT job, due_at FROM job_state WHERE due_at <= ?1 ORDER BY due_at, job LIMIT ?2";
    case kListStates:
      return fmt::format("SELECT job, status, {} FROM job_state ORDER BY job", StateCols());
    case kReadDefinition:
      return "SELECT definition FROM job_definition WHERE job = ?1";
    case kPutDefinition:
      return "INSERT INTO job_definition (job, definition) VALUES (?1, ?2) "
             "ON CONFLICT (job) DO UPDATE SET definition = excluded.definition";
    case kListDefinitions:
      return "SELECT job, definition FROM job_definition ORDER BY job";
    case kSchemaMeta:
      return "SELECT key, value FROM schema_meta";
    case kReadJob: {
      // One SELECT, two primary-key lookups: state and definition may each be absent.
      std::vector<std::string> s_cols;
      for (const auto& name : Names(StateFields())) s_cols.push_back("s." + name);
      return fmt::format(
          "SELECT s.job IS NOT NULL, d.job IS NOT NULL, d.definition, s.status, {} FROM (SELECT ?1 AS job) AS k "
          "LEFT JOIN job_state AS s ON s.job = k.job LEFT JOIN job_definition AS d ON d.job = k.job",
          Join(s_cols));
    }
    default:
      return BuildRecordSql(q);
  }
}

const std::string& Sql(Query q) {
  static std::array<std::once_flag, kQueryCount> built;
  static auto* sql = new std::array<std::string, kQueryCount>();
  std::call_once(built[q], [q] { (*sql)[q] = BuildSql(q); });
  return (*sql)[q];
}

// Resets a statement when leaving scope, which ends its read transaction
// (an un-reset SELECT would pin a WAL snapshot and block checkpoints).
class ResetOnExit {
 public:
  explicit ResetOnExit(sqlite3_stmt* stmt) : stmt_(stmt) {}
  ~ResetOnExit() {
    Sq().reset(stmt_);
    Sq().clear_bindings(stmt_);
  }
  ResetOnExit(const ResetOnExit&) = delete;
  ResetOnExit& operator=(const ResetOnExit&) = delete;

 private:
  sqlite3_stmt* stmt_;
};

// Binds parameters and remembers the first failure, so that a failed bind
// (which would store NULL, i.e. a zero value) can never go unnoticed.
class Binder {
 public:
  explicit Binder(sqlite3_stmt* stmt) : stmt_(stmt) {}
  void Int(int i, int64_t v) { Keep(Sq().bind_int64(stmt_, i, v)); }
  void Text(int i, const std::string& v) {
    // SQLITE_STATIC: the caller's string outlives the statement's use
    // (ResetOnExit clears the bindings before the caller returns).
    Keep(Sq().bind_text64(stmt_, i, v.data(), v.size(), SQLITE_STATIC, SQLITE_UTF8));
  }
  // A temporary would dangle before sqlite3_step reads it.
  void Text(int i, std::string&& v) = delete;
  // A value made for this bind (a typed field's text): SQLite copies it.
  void CopiedText(int i, const std::string& v) {
    Keep(Sq().bind_text64(stmt_, i, v.data(), v.size(), SQLITE_TRANSIENT, SQLITE_UTF8));
  }
  // For names that live forever (JobStatusName and the like).
  void StaticText(int i, const char* literal) { Keep(Sq().bind_text(stmt_, i, literal, -1, SQLITE_STATIC)); }
  void Null(int i) { Keep(Sq().bind_null(stmt_, i)); }
  template <typename Item>
  void Fields(int first, std::span<const FieldSpec<Item>> fields, const Item& item) {
    for (const auto& f : fields) {
      if (f.type == FieldType::kInt) {
        Int(first++, item.*f.int_member);
      } else if (f.format != nullptr) {
        CopiedText(first++, f.format(item));
      } else {
        Text(first++, item.*f.string_member);
      }
    }
  }
  int rc() const { return rc_; }

 private:
  void Keep(int rc) {
    if (rc_ == SQLITE_OK) rc_ = rc;
  }
  sqlite3_stmt* stmt_;
  int rc_ = SQLITE_OK;
};

std::string ColumnText(sqlite3_stmt* stmt, int col) {
  const auto* p = reinterpret_cast<const char*>(Sq().column_text(stmt, col));
  return p == nullptr ? std::string() : std::string(p, static_cast<size_t>(Sq().column_bytes(stmt, col)));
}

// A column as a stored field value; nullopt for NULL, which means the zero
// value. Type affinity can leave any storage class in any column of a
// hand-made table, so each is mapped explicitly.
Result<std::optional<FieldValue>> ColumnValue(sqlite3_stmt* stmt, int col, const std::string& where,
                                              const char* field) {
  switch (Sq().column_type(stmt, col)) {
    case SQLITE_NULL: return std::optional<FieldValue>();
    case SQLITE_INTEGER: return std::optional<FieldValue>(int64_t{Sq().column_int64(stmt, col)});
    case SQLITE_FLOAT:  // only a string can carry it to SetField, which refuses it for an integer field
      return std::optional<FieldValue>(fmt::format("{}", Sq().column_double(stmt, col)));
    case SQLITE_TEXT: return std::optional<FieldValue>(ColumnText(stmt, col));
    default:
      return Status::Corrupt(fmt::format("{}: field '{}' holds a BLOB of {} bytes", where, field,
                                         Sq().column_bytes(stmt, col)));
  }
}

// SetField (item_codec.cc) for every item kind: one set of checks for all backends.
template <typename Item>
Status DecodeField(Item& item, const FieldSpec<Item>& spec, const FieldValue& v, const std::string& where) {
  return SetField(item, spec, v, where);
}

// Decodes the columns first_col.. into `fields` of `item`.
template <typename Item>
Status DecodeFields(sqlite3_stmt* stmt, int first_col, std::span<const FieldSpec<Item>> fields,
                    const std::string& where, Item* item) {
  for (size_t i = 0; i < fields.size(); ++i) {
    auto v = ColumnValue(stmt, first_col + static_cast<int>(i), where, fields[i].name);
    if (!v.ok()) return v.status();
    if (v->has_value()) JOBGATE_RETURN_IF_ERROR(DecodeField(*item, fields[i], **v, where));
  }
  return Status::Ok();
}

// Decodes a `status` column through its enum's parser (item_codec.h: any
// case); NULL keeps the zero value.
template <typename Enum>
Status DecodeStatus(sqlite3_stmt* stmt, int col, const std::string& where, Result<Enum> (*parse)(const std::string&),
                    Enum* out) {
  auto v = ColumnValue(stmt, col, where, "status");
  if (!v.ok()) return v.status();
  if (!v->has_value()) return Status::Ok();
  return SetStatus(*out, **v, parse, where);
}

std::string StateWhere(const std::string& job) { return fmt::format("job '{}'", job); }

// A state row: `first_col` is its status column, StateFields() follow.
Result<JobState> DecodeState(sqlite3_stmt* stmt, int first_col, const std::string& job) {
  JobState s;
  s.job = job;
  const std::string where = StateWhere(job);
  JOBGATE_RETURN_IF_ERROR(DecodeStatus(stmt, first_col, where, &ParseJobStatus, &s.status));
  JOBGATE_RETURN_IF_ERROR(DecodeFields(stmt, first_col + 1, StateFields(), where, &s));
  return s;
}

Result<JobDefinition> DecodeDefinition(sqlite3_stmt* stmt, int col, const std::string& job) {
  const std::string where = fmt::format("definition of job '{}'", job);
  auto v = ColumnValue(stmt, col, where, "definition");
  if (!v.ok()) return v.status();
  JobDefinition def;
  if (v->has_value()) {
    const auto* text = std::get_if<std::string>(&**v);
    if (text == nullptr) return Status::Corrupt(fmt::format("{}: not JSON text", where));
    auto parsed = DefinitionFromJson(*text, where);
    if (!parsed.ok()) return parsed.status();
    def = std::move(parsed.value());
  }
  def.job = job;  // the key is authoritative
  return def;
}

int64_t ClampLimit(size_t n) {
  return static_cast<int64_t>(std::min<size_t>(n, static_cast<size_t>(std::numeric_limits<int64_t>::max())));
}

bool IsPragmaName(const std::string& name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) { return (c >= 'a' && c <= 'z') || c == '_'; });
}

}  // namespace

// ---- connection ------------------------------------------------------------

SqliteStore::SqliteStore(std::string path, const SqliteOptions& options, sqlite3* db)
    : path_(std::move(path)), options_(options), db_(db) {
  static_assert(kNumQueries == kQueryCount);
}

SqliteStore::~SqliteStore() {
  for (sqlite3_stmt*& stmt : stmts_) Sq().finalize(stmt);
  if (db_ == nullptr) return;
  if (options_.checkpoint_frames > 0 && wal_frames_ >= options_.checkpoint_frames) {
    // TRUNCATE leaves an empty WAL, so the next process's open recovers
    // nothing. Non-blocking: if another connection is busy, a later closer
    // does it instead of this exit waiting for busy_timeout.
    Sq().busy_timeout(db_, 0);
    Sq().wal_checkpoint_v2(db_, "main", SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr);
  }
  Sq().close_v2(db_);
}

Result<std::unique_ptr<SqliteStore>> SqliteStore::Open(const std::string& path, const SqliteOptions& options) {
  if (auto api = LoadSqliteApi(); !api.ok()) return api.status();
  sqlite3* db = nullptr;
  int rc = Sq().open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                           nullptr);
  if (db == nullptr) return Status::Unavailable(fmt::format("sqlite '{}': cannot open: out of memory", path));
  std::unique_ptr<SqliteStore> store(new SqliteStore(path, options, db));  // closes db on every path
  if (rc != SQLITE_OK) return store->Error(rc, "cannot open");
  std::lock_guard lock(store->mu_);
  JOBGATE_RETURN_IF_ERROR(store->Configure());
  JOBGATE_RETURN_IF_ERROR(store->EnsureSchema());
  return store;
}

Status SqliteStore::Configure() {
  Sq().extended_result_codes(db_, 1);
  Sq().busy_timeout(db_, static_cast<int>(std::clamp<int64_t>(options_.busy_timeout_ms, 0, INT32_MAX)));
  if (options_.checkpoint_frames > 0) {
    // See docs/backends/sqlite.md "Checkpoints": the default checkpoint (4
    // fsyncs) and WAL deletion on every last close dominate a CLI call.
    Sq().db_config(db_, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr);
    Sq().wal_hook(db_, &SqliteStore::OnWalCommit, this);
  }
  // The first statement reads the file header: a non-database fails here.
  auto mode = EnableWal();
  if (!mode.ok()) return mode.status();
  if (*mode != "wal" && *mode != "memory") {
    return Status::Unavailable(fmt::format("sqlite '{}': cannot enable WAL mode (journal_mode is {})", path_, *mode));
  }
  return Exec(options_.synchronous_full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL");
}

Result<std::string> SqliteStore::EnableWal() {
  // Switching a new file from its rollback journal to WAL needs the file to
  // itself. When another process is opening the same new file, SQLite can
  // return SQLITE_BUSY at once without calling the busy handler (it skips
  // it where waiting could deadlock: see sqlite3_busy_handler), so the
  // busy_timeout does not cover this one statement. Retry it here, within
  // the same budget, so that concurrent first opens serialise as other
  // writes do. Slept time is counted, not read from a clock: this runs
  // before anything time-dependent and needs no Clock.
  int64_t slept_ms = 0;
  int delay_ms = 1;
  for (;;) {
    auto mode = QueryText("PRAGMA journal_mode = WAL");
    const int rc = Sq().extended_errcode(db_) & 0xff;
    if (mode.ok() || (rc != SQLITE_BUSY && rc != SQLITE_LOCKED) || slept_ms >= options_.busy_timeout_ms) return mode;
    slept_ms += Sq().sleep(delay_ms);
    delay_ms = std::min(delay_ms * 2, 50);
  }
}

int SqliteStore::OnWalCommit(void* self, sqlite3* db, const char* db_name, int frames) {
  auto* store = static_cast<SqliteStore*>(self);
  store->wal_frames_ = frames;
  if (frames >= kLongLivedCheckpointFrames) {
    Sq().wal_checkpoint_v2(db, db_name, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
  }
  return SQLITE_OK;
}

Status SqliteStore::Error(int rc, const std::string& what) const {
  std::string msg = fmt::format("sqlite '{}': {}: {}", path_, what, Sq().errmsg(db_));
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Status::Unavailable(fmt::format("{} (still locked after busy_timeout of {} ms)", msg, options_.busy_timeout_ms));
    case SQLITE_MISUSE:
    case SQLITE_RANGE:
    case SQLITE_INTERNAL: return Status::Internal(msg);
    default: return Status::Unavailable(msg);  // cannot open, not a database, I/O, disk full, ...
  }
}

Status SqliteStore::Exec(const std::string& sql) {
  int rc = Sq().exec(db_, sql.c_str(), nullptr, nullptr, nullptr);
  return rc == SQLITE_OK ? Status::Ok() : Error(rc, sql.substr(0, 60));
}

Result<std::string> SqliteStore::QueryText(const std::string& sql) {
  sqlite3_stmt* stmt = nullptr;
  int rc = Sq().prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr);
  if (rc != SQLITE_OK) return Error(rc, sql);
  std::string text;
  rc = Sq().step(stmt);
  if (rc == SQLITE_ROW) text = ColumnText(stmt, 0);
  Status st = (rc == SQLITE_ROW || rc == SQLITE_DONE) ? Status::Ok() : Error(rc, sql);
  Sq().finalize(stmt);
  if (!st.ok()) return st;
  return text;
}

Result<std::string> SqliteStore::Pragma(const std::string& name) {
  if (!IsPragmaName(name)) return Status::InvalidArgument(fmt::format("'{}' is not a PRAGMA name", name));
  std::lock_guard lock(mu_);
  return QueryText("PRAGMA " + name);
}

const std::string& SqliteStore::ListDueSql() { return Sql(kListDue); }

Result<sqlite3_stmt*> SqliteStore::Prepared(int q) {
  if (stmts_[q] == nullptr) {
    int rc = Sq().prepare_v3(db_, Sql(static_cast<Query>(q)).c_str(), -1, SQLITE_PREPARE_PERSISTENT, &stmts_[q], nullptr);
    if (rc != SQLITE_OK) return Error(rc, "prepare");
  }
  return stmts_[q];
}

Result<bool> SqliteStore::Step(sqlite3_stmt* stmt, const char* what) {
  int rc = Sq().step(stmt);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return Error(rc, what);
}

Result<WriteOutcome> SqliteStore::StepWrite(sqlite3_stmt* stmt, const char* what) {
  auto row = Step(stmt, what);
  if (!row.ok()) return row.status();
  // A CAS or insert-if-absent whose condition failed changes no row.
  return Sq().changes(db_) > 0 ? WriteOutcome::kApplied : WriteOutcome::kConditionFailed;
}

// ---- schema ------------------------------------------------------------------

Status SqliteStore::EnsureSchema() {
  // Anything but an up-to-date schema_meta (missing table, missing row, an
  // older layout) runs Init, which also reports a newer schema_version.
  auto stmt = Prepared(kSchemaMeta);
  if (!stmt.ok()) return InitLocked();
  ResetOnExit reset(*stmt);
  std::string version, layout;
  for (;;) {
    auto row = Step(*stmt, "read schema_meta");
    if (!row.ok()) return row.status();
    if (!*row) break;
    std::string key = ColumnText(*stmt, 0);
    if (key == "schema_version") version = ColumnText(*stmt, 1);
    if (key == "layout") layout = ColumnText(*stmt, 1);
  }
  if (version == std::to_string(kSqliteSchemaVersion) && layout == LayoutFingerprint()) return Status::Ok();
  Sq().reset(*stmt);
  return InitLocked();
}

Status SqliteStore::Init() {
  std::lock_guard lock(mu_);
  return InitLocked();
}

Status SqliteStore::InitLocked() {
  // IMMEDIATE: many processes may auto-init one new file at once; the write
  // lock up front serialises them instead of failing one at commit.
  JOBGATE_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
  Status st = CreateSchema();
  if (!st.ok()) {
    (void)Exec("ROLLBACK");  // the error that made us roll back is the one to report
    return st;
  }
  return Exec("COMMIT");
}

Status SqliteStore::CreateSchema() {
  JOBGATE_RETURN_IF_ERROR(Exec("CREATE TABLE IF NOT EXISTS schema_meta (key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID"));
  auto version = QueryText("SELECT value FROM schema_meta WHERE key = 'schema_version'");
  if (!version.ok()) return version.status();
  int64_t stored = 0;
  if (!version->empty() && (!ParseInt64(*version, &stored) || stored > kSqliteSchemaVersion)) {
    return Status::Unavailable(fmt::format(
        "sqlite '{}': schema_version {} is newer than this jobgate understands ({}); use a newer jobgate", path_,
        *version, kSqliteSchemaVersion));
  }
  for (const TableLayout& t : Layout()) {
    // Columns carry no NOT NULL: a NULL column reads as the zero value.
    JOBGATE_RETURN_IF_ERROR(Exec(fmt::format("CREATE TABLE IF NOT EXISTS {} ({}, PRIMARY KEY ({})) WITHOUT ROWID",
                                             t.name, Join(t.columns), t.key)));
    for (const std::string& column : t.columns) JOBGATE_RETURN_IF_ERROR(AddColumnIfMissing(t.name, column));
  }
  JOBGATE_RETURN_IF_ERROR(Exec(kIndexesSql));
  JOBGATE_RETURN_IF_ERROR(Exec(fmt::format(
      "INSERT INTO schema_meta (key, value) VALUES ('schema_version', '{}') ON CONFLICT (key) DO NOTHING",
      kSqliteSchemaVersion)));
  return Exec(fmt::format(
      "INSERT INTO schema_meta (key, value) VALUES ('layout', '{}') ON CONFLICT (key) DO UPDATE SET value = excluded.value",
      LayoutFingerprint()));
}

// Adds `column_def` ("name TYPE") to `table` unless a column of that name
// exists: a field added to the field table (or a table made by hand) gets its
// column without a schema_version bump.
Status SqliteStore::AddColumnIfMissing(const std::string& table, const std::string& column_def) {
  const std::string name = column_def.substr(0, column_def.find(' '));
  auto found = QueryText(fmt::format("SELECT count(*) FROM pragma_table_info('{}') WHERE name = '{}'", table, name));
  if (!found.ok()) return found.status();
  if (*found != "0") return Status::Ok();
  return Exec(fmt::format("ALTER TABLE {} ADD COLUMN {}", table, column_def));
}

// ---- job state -----------------------------------------------------------------

Result<std::optional<JobState>> SqliteStore::ReadState(const std::string& job) {
  std::lock_guard lock(mu_);
  auto stmt = Prepared(kReadState);
  if (!stmt.ok()) return stmt.status();
  ResetOnExit reset(*stmt);
  Binder bind(*stmt);
  bind.Text(1, job);
  if (bind.rc() != SQLITE_OK) return Error(bind.rc(), "bind");
  auto row = Step(*stmt, "read state");
  if (!row.ok()) return row.status();
  if (!*row) return std::optional<JobState>();
  auto state = DecodeState(*stmt, 0, job);
  if (!state.ok()) return state.status();
  return std::optional<JobState>(std::move(state.value()));
}

Result<WriteOutcome> SqliteStore::WriteState(int q, const JobState& state, int64_t expected_version,
                                             std::optional<EpochMs> due_at) {
  auto stmt = Prepared(q);
  if (!stmt.ok()) return stmt.status();
  ResetOnExit reset(*stmt);
  Binder bind(*stmt);
  bind.Text(1, state.job);
  bind.StaticText(2, JobStatusName(state.status));
  bind.Fields(3, StateFields(), state);
  // due_at is written with every state so that ListDue is an index range.
  if (due_at) {
    bind.Int(StateDueParam(), *due_at);
  } else {
    bind.Null(StateDueParam());
  }
  if (q == kReplaceState) bind.Int(StateExpectedParam(), expected_version);
  if (bind.rc() != SQLITE_OK) return Error(bind.rc(), "bind");
  return StepWrite(*stmt, "write state");
}

Result<WriteOutcome> SqliteStore::DoCreateState(const JobState& state, std::optional<EpochMs> due_at) {
  std::lock_guard lock(mu_);
  return WriteState(kCreateState, state, 0, due_at);
}

Result<WriteOutcome> SqliteStore::DoReplaceState(const JobState& state, int64_t expected_version,
                                                 std::optional<EpochMs> due_at) {
  std::lock_guard lock(mu_);
  return WriteState(kReplaceState, state, expected_version, due_at);
}

Result<JobRecord> SqliteStore::ReadJob(const std::string& job, const std::string& request_key) {
  std::lock_guard lock(mu_);
  auto record = ReadJobLocked(job);
  if (!record.ok() || request_key.empty()) return record;
  // A second primary-key lookup in this process: no round trip to save.
  auto request = ReadRequestLocked(job, request_key, std::numeric_limits<EpochMs>::min());
  if (!request.ok()) return request.status();
  record->request = std::move(*request);
  return record;
}

Result<JobRecord> SqliteStore::ReadJobLocked(const std::string& job) {
  auto stmt = Prepared(kReadJob);
  if (!stmt.ok()) return stmt.status();
  ResetOnExit reset(*stmt);
  Binder bind(*stmt);
  bind.Text(1, job);
  if (bind.rc() != SQLITE_OK) return Error(bind.rc(), "bind");
  auto row = Step(*stmt, "read job");
  if (!row.ok()) return row.status();
  if (!*row) return Status::Internal("read job: the outer query returned no row");
  JobRecord record;
  if (Sq().column_int(*stmt, 1) != 0) {
    auto def = DecodeDefinition(*stmt, 2, job);
    if (!def.ok()) return def.status();
    record.definition = std::move(def.value());
  }
  if (Sq().column_int(*stmt, 0) != 0) {
    auto state = DecodeState(*stmt, 3, job);
    if (!state.ok()) return state.status();
    record.state = std::move(state.value());
  }
  return record;
}

Result<WriteOutcome> SqliteStore::DoReplaceStateAndAppendRun(const JobState& state, int64_t expected_version,
                                                             std::optional<EpochMs> due_at, const RunRecord& run) {
  std::lock_guard lock(mu_);
  // IMMEDIATE takes the write lock first, so the CAS cannot fail at COMMIT
  // with SQLITE_BUSY_SNAPSHOT after its condition was checked.
  JOBGATE_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
  auto outcome = WriteState(kReplaceState, state, expected_version, due_at);
  Status st = outcome.status();
  if (st.ok() && *outcome == WriteOutcome::kApplied) st = AppendRunLocked(run);
  if (st.ok()) st = Exec("COMMIT");
  if (!st.ok()) {
    (void)Exec("ROLLBACK");  // neither write happened; report the cause
    return st;
  }
  return outcome;
}

Result<std::vector<DueJob>> SqliteStore::ListDue(EpochMs now_ms, size_t limit) {
  std::lock_guard lock(mu_);
  auto stmt = Prepared(kListDue);
  if (!stmt.ok()) return stmt.status();
  ResetOnExit reset(*stmt);
  Binder bind(*stmt);
  bind.Int(1, now_ms);
  bind.Int(2, ClampLimit(limit));
  if (bind.rc() != SQLITE_OK) return Error(bind.rc(), "bind");
  std::vector<DueJob> jobs;
  for (;;) {
    auto row = Step(*stmt, "list due jobs");
    if (!row.ok()) return row.status();
    if (!*row) return jobs;
    jobs.push_back(DueJob{ColumnText(*stmt, 0), Sq().column_int64(*stmt, 1)});
  }
}

Result<std::vector<JobState>> SqliteStore::ListStates() {
  std::lock_guard lock(mu_);
  auto stmt = Prepared(kListStates);
  if (!stmt.ok()) return stmt.status();
  ResetOnExit reset(*stmt);
  std::vector<JobState> states;
  for (;;) {
    auto row = Step(*stmt, "list states");
    if (!row.ok()) return row.status();
    if (!*row) return states;
    auto state = DecodeState(*stmt, 1, ColumnText(*stmt, 0));
    if (!state.ok()) return state.status();
    states.push_back(std::move(state.value()));
  }
}

// ---- definitions -----------------------------------------------------------------

Result<std::optional<JobDefinition>> SqliteStore::ReadDefinition(const std::string& job) {
  std::lock_guard lock(mu_);
  auto stmt = Prepared(kReadDefinition);
  if (!stmt.ok()) return stmt.status();
  ResetOnExit reset(*stmt);
  Binder bind(*stmt);
  bind.Text(1, job);
  if (bind.rc() != SQLITE_OK) return Error(bind.rc(), "bind");
  auto row = Step(*stmt, "read definition");
  if (!row.ok()) return row.status();
  if (!*row) return std::optional<JobDefinition>();
  auto def = DecodeDefinition(*stmt, 0, job);
  if (!def.ok()) return def.status();
  return std::optional<JobDefinition>(std::move(def.value()));
}

Status SqliteStore::PutDefinition(const JobDefinition& def) {
  std::lock_guard lock(mu_);
  auto stmt = Prepared(kPutDefinition);
  if (!stmt.ok()) return stmt.status();
  const std::string json = DefinitionToJson(def);
  ResetOnExit reset(*stmt);
  Binder bind(*stmt);
  bind.Text(1, def.job);
  bind.Text(2, json);
  if (bind.rc() != SQLITE_OK) return Error(bind.rc(), "bind");
  return StepWrite(*stmt, "put definition").status();
}

Result<std::vector<JobDefinition>> SqliteStore::ListDefinitions() {
  std::lock_guard lock(mu_);
  auto stmt = Prepared(kListDefinitions);
  if (!stmt.ok()) return stmt.status();
  ResetOnExit reset(*stmt);
  std::vector<JobDefinition> defs;
  for (;;) {
    auto row = Step(*stmt, "list definitions");
    if (!row.ok()) return row.status();
    if (!*row) return defs;
    auto def = DecodeDefinition(*stmt, 1, ColumnText(*stmt, 0));
    if (!def.ok()) return def.status();
    defs.push_back(std::move(def.value()));
  }
}

// ---- run records -------------------------------------------------------------------

Status SqliteStore::AppendRun(const RunRecord& run) {
  std::lock_guard lock(mu_);
  return AppendRunLocked(run);
}

Status SqliteStore::AppendRunLocked(const RunRecord& run) {
  auto stmt = Prepared(kAppendRun);
  if (!stmt.ok()) return stmt.status();
  ResetOnExit reset(*stmt);
  Binder bind(*stmt);
  bind.Text(1, run.job);
  bind.Fields(2, RunFields(), run);
  if (bind.rc() != SQLITE_OK) return Error(bind.rc(), "bind");
  return StepWrite(*stmt, "append run").status();
}

Result<std::vector<RunRecord>> SqliteStore::ListRuns(const std::string& job, size_t limit) {
  std::lock_guard lock(mu_);
  auto stmt = Prepared(kListRuns);
  if (!stmt.ok()) return stmt.status();
  ResetOnExit reset(*stmt);
  Binder bind(*stmt);
  bind.Text(1, job);
  bind.Int(2, ClampLimit(limit));
  if (bind.rc() != SQLITE_OK) return Error(bind.rc(), "bind");
  std::vector<RunRecord> runs;
  for (;;) {
    auto row = Step(*stmt, "list runs");
    if (!row.ok()) return row.status();
    if (!*row) return runs;
    RunRecord run;
    run.job = job;
    JOBGATE_RETURN_IF_ERROR(DecodeFields(*stmt, 0, RunFields(), fmt::format("run of job '{}'", job), &run));
    runs.push_back(std::move(run));
  }
}

Status SqliteStore::TrimRuns(const std::string& job, size_t keep) {
  std::lock_guard lock(mu_);
  auto stmt = Prepared(kTrimRuns);
  if (!stmt.ok()) return stmt.status();
  ResetOnExit reset(*stmt);
  Binder bind(*stmt);
  bind.Text(1, job);
  bind.Int(2, ClampLimit(keep));
  if (bind.rc() != SQLITE_OK) return Error(bind.rc(), "bind");
  return StepWrite(*stmt, "trim runs").status();
}

// ---- request records -------------------------------------------------------------------

Result<std::optional<RequestRecord>> SqliteStore::ReadRequest(const std::string& job, const std::string& key,
                                                              EpochMs now_ms) {
  std::lock_guard lock(mu_);
  return ReadRequestLocked(job, key, now_ms);
}

Result<std::optional<RequestRecord>> SqliteStore::ReadRequestLocked(const std::string& job, const std::string& key,
                                                                    EpochMs now_ms) {
  auto stmt = Prepared(kReadRequest);
  if (!stmt.ok()) return stmt.status();
  ResetOnExit reset(*stmt);
  Binder bind(*stmt);
  bind.Text(1, job);
  bind.Text(2, key);
  bind.Int(3, now_ms);
  if (bind.rc() != SQLITE_OK) return Error(bind.rc(), "bind");
  auto row = Step(*stmt, "read request");
  if (!row.ok()) return row.status();
  if (!*row) return std::optional<RequestRecord>();
  RequestRecord rec;
  rec.job = job;
  rec.key = key;
  const std::string where = fmt::format("request '{}' of job '{}'", key, job);
  JOBGATE_RETURN_IF_ERROR(DecodeStatus(*stmt, 0, where, &ParseRequestStatus, &rec.status));
  JOBGATE_RETURN_IF_ERROR(DecodeFields(*stmt, 1, RequestFields(), where, &rec));
  return std::optional<RequestRecord>(std::move(rec));
}

Result<WriteOutcome> SqliteStore::WriteRequest(int q, const RequestRecord& rec, int64_t extra) {
  auto stmt = Prepared(q);
  if (!stmt.ok()) return stmt.status();
  ResetOnExit reset(*stmt);
  Binder bind(*stmt);
  bind.Text(1, rec.job);
  bind.Text(2, rec.key);
  bind.StaticText(3, RequestStatusName(rec.status));
  bind.Fields(4, RequestFields(), rec);
  bind.Int(RequestExtraParam(), extra);
  if (bind.rc() != SQLITE_OK) return Error(bind.rc(), "bind");
  return StepWrite(*stmt, "write request");
}

Result<WriteOutcome> SqliteStore::CreateRequest(const RequestRecord& rec, EpochMs now_ms) {
  std::lock_guard lock(mu_);
  auto outcome = WriteRequest(kCreateRequest, rec, now_ms);
  if (outcome.ok() && *outcome == WriteOutcome::kApplied) {
    // Best effort: the record is written; a failed sweep only leaves
    // expired rows for the next one.
    (void)SweepRequestsLocked(rec, now_ms);
  }
  return outcome;
}

Status SqliteStore::SweepRequestsLocked(const RequestRecord& rec, EpochMs now_ms) {
  auto stmt = Prepared(kSweepRequests);
  if (!stmt.ok()) return stmt.status();
  ResetOnExit reset(*stmt);
  Binder bind(*stmt);
  bind.Text(1, rec.job);
  bind.Text(2, rec.key);
  bind.Int(3, now_ms);
  if (bind.rc() != SQLITE_OK) return Error(bind.rc(), "bind");
  return StepWrite(*stmt, "sweep requests").status();
}

Result<WriteOutcome> SqliteStore::ReplaceRequest(const RequestRecord& rec, int64_t expected_version) {
  std::lock_guard lock(mu_);
  return WriteRequest(kReplaceRequest, rec, expected_version);
}

Result<int64_t> SqliteStore::ExpireRequests(EpochMs now_ms) {
  std::lock_guard lock(mu_);
  auto stmt = Prepared(kExpireRequests);
  if (!stmt.ok()) return stmt.status();
  ResetOnExit reset(*stmt);
  Binder bind(*stmt);
  bind.Int(1, now_ms);
  if (bind.rc() != SQLITE_OK) return Error(bind.rc(), "bind");
  auto done = Step(*stmt, "expire requests");
  if (!done.ok()) return done.status();
  return static_cast<int64_t>(Sq().changes64(db_));
}

}  // namespace jobgate
