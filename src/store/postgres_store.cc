#include "store/postgres_store.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <span>
#include <string_view>

#include "store/item_codec.h"
#include "store/sql_text.h"
#include "util/numbers.h"

namespace jobgate {

namespace {

// The server's clock, epoch milliseconds: the first column of every
// statement that places this host's clock (PgConnection::Exec), and what
// the statements that judge time compare with. Without the server's clock
// (PostgresOptions), the end of time: every guard holds, LEAST picks the
// host's time.
constexpr const char* kServerNow = "floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint";
constexpr const char* kNoServerNow = "9223372036854775807::bigint";

enum Query : int {
  kReadJob,
  kCreateState,
  kReplaceState,
  kReplaceStateAndAppendRun,
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
  kQueryCount,
};

const char* SqlType(FieldType t) { return t == FieldType::kInt ? "bigint" : "text"; }

using sql::Assign;
using sql::Concat;
using sql::Excluded;
using sql::Join;
using sql::Names;

// "$first::type, ..." for the fields, in order.
template <typename Item>
std::vector<std::string> TypedParams(std::span<const FieldSpec<Item>> fields, int first) {
  std::vector<std::string> out;
  for (const auto& f : fields) out.push_back(fmt::format("${}::{}", first++, SqlType(f.type)));
  return out;
}


// Parameter layout of state writes: $1 job, $2 status, StateFields(), due_at,
// the expected version; a run record's fields follow.
int StateFieldCount() { return static_cast<int>(StateFields().size()); }
int DueParam() { return 3 + StateFieldCount(); }
int ExpectedParam() { return DueParam() + 1; }
// The time guard (Store::ReplaceState's not_before) follows the expected
// version; a create's takes the expected version's place.
int NotBeforeParam() { return ExpectedParam() + 1; }
int RunParam() { return ExpectedParam() + 1; }
// Request writes: $1 job, $2 key, $3 status, RequestFields(), then the extra
// parameter (now for create, the expected version for replace).
int RequestExtraParam() { return 4 + static_cast<int>(RequestFields().size()); }

// A version condition that also matches a row whose version is NULL when
// the expected version is 0 (DESIGN.md: a hand-made item has no version).
std::string VersionMatches(const std::string& column, int param) {
  return fmt::format("({0} = ${1}::bigint OR ({0} IS NULL AND ${1}::bigint = 0))", column, param);
}

// The store's clock has reached the time in parameter n: what the writer's
// gate relied on has also passed here (Store::ReplaceState's not_before).
std::string ServerClockReached(const char* now, int param) { return fmt::format("${}::bigint <= {}", param, now); }

// A write, its count of changed rows returned with the server's clock.
std::string Counted(const char* now, const std::string& ctes) {
  return fmt::format("WITH {} SELECT {} AS jg_now, (SELECT count(*) FROM w)", ctes, now);
}


// The state statements; `s` is the quoted schema and a dot, `now` the
// server's clock (kServerNow or kNoServerNow).
void AddStateSql(std::vector<std::string>& sql, const std::string& s, const char* now) {
  const auto state_cols = Concat(Concat({"status"}, Names(StateFields())), {"due_at"});
  const auto state_vals =
      Concat(Concat({"$2::text"}, TypedParams(StateFields(), 3)), {fmt::format("${}::bigint", DueParam())});
  auto update_state = [&](const std::string& guard) {
    return fmt::format("UPDATE {}job_state SET {} WHERE job = $1::text AND {}{} RETURNING 1", s,
                       Join(Assign(state_cols, state_vals)), VersionMatches("version", ExpectedParam()), guard);
  };
  sql[kReadJob] = fmt::format(
      "SELECT {0} AS jg_now, (SELECT value FROM {1}schema_meta WHERE key = 'schema_version'), s.job IS NOT NULL, "
      "d.job IS NOT NULL, d.definition, r.job IS NOT NULL, s.status, {2}, r.status, {3} "
      "FROM (SELECT $1::text AS job, $2::text AS key) AS k LEFT JOIN {1}job_state AS s ON s.job = k.job "
      "LEFT JOIN {1}job_definition AS d ON d.job = k.job LEFT JOIN {1}job_request AS r ON r.job = k.job AND r.key = "
      "k.key",
      now, s, Join(Names(StateFields(), "s.")), Join(Names(RequestFields(), "r.")));
  sql[kCreateState] =
      Counted(now, fmt::format("w AS (INSERT INTO {}job_state (job, {}) SELECT $1::text, {} WHERE {} ON CONFLICT (job) "
                               "DO NOTHING RETURNING 1)",
                               s, Join(state_cols), Join(state_vals), ServerClockReached(now, ExpectedParam())));
  sql[kReplaceState] =
      Counted(now, fmt::format("w AS ({})", update_state(" AND " + ServerClockReached(now, NotBeforeParam()))));
  // Both or neither, in one statement: the run record only if the CAS applied.
  sql[kReplaceStateAndAppendRun] = Counted(
      now,
      fmt::format(
          "w AS ({0}), r AS (INSERT INTO {1}job_run (job, {2}) SELECT $1::text, {3} WHERE EXISTS (SELECT 1 FROM w) "
          "ON CONFLICT (job, start_ms, run_id) DO UPDATE SET {4})",
          update_state(""), s, Join(Names(RunFields())), Join(TypedParams(RunFields(), RunParam())),
          Join(Excluded(Names(RunFields())))));
  // The due index (job_state_due) in order, LIMIT rows read; the outer row
  // carries the clock when nothing is due.
  sql[kListDue] = fmt::format(
      "SELECT {} AS jg_now, d.job, d.due_at FROM (SELECT 1) AS o LEFT JOIN LATERAL (SELECT job, due_at FROM "
      "{}job_state WHERE due_at <= $1::bigint ORDER BY due_at, job LIMIT $2::bigint) AS d ON true ORDER BY d.due_at, "
      "d.job",
      now, s);
  sql[kListStates] = fmt::format("SELECT job, status, {} FROM {}job_state ORDER BY job", Join(Names(StateFields())), s);
}

// Definitions, run and request records.
void AddRecordSql(std::vector<std::string>& sql, const std::string& s, const char* now) {
  const auto run_cols = Names(RunFields());
  const auto run_vals = TypedParams(RunFields(), 2);
  const auto req_cols = Concat({"status"}, Names(RequestFields()));
  const auto req_vals = Concat({"$3::text"}, TypedParams(RequestFields(), 4));
  const std::string newest_first = "ORDER BY start_ms DESC, run_id DESC";
  const std::string server_or_host_now = fmt::format("LEAST(${{}}::bigint, {})", now);
  sql[kReadDefinition] = fmt::format("SELECT definition FROM {}job_definition WHERE job = $1::text", s);
  sql[kPutDefinition] = fmt::format(
      "INSERT INTO {}job_definition (job, definition) VALUES ($1::text, $2::text) "
      "ON CONFLICT (job) DO UPDATE SET definition = excluded.definition",
      s);
  sql[kListDefinitions] = fmt::format("SELECT job, definition FROM {}job_definition ORDER BY job", s);
  // Same key as DynamoDB's RUN#<start>#<run id>: re-appending replaces.
  sql[kAppendRun] = fmt::format(
      "INSERT INTO {}job_run (job, {}) VALUES ($1::text, {}) ON CONFLICT (job, start_ms, run_id) DO UPDATE SET {}", s,
      Join(run_cols), Join(run_vals), Join(Excluded(Names(RunFields()))));
  sql[kListRuns] =
      fmt::format("SELECT {} FROM {}job_run WHERE job = $1::text {} LIMIT $2::bigint", Join(run_cols), s, newest_first);
  // Everything older than the keep-th newest run (the key is unique).
  sql[kTrimRuns] = fmt::format(
      "DELETE FROM {0}job_run WHERE job = $1::text AND ($2::bigint <= 0 OR (start_ms, run_id) < "
      "(SELECT start_ms, run_id FROM {0}job_run WHERE job = $1::text {1} LIMIT 1 OFFSET $2::bigint - 1))",
      s, newest_first);
  // Expired (expires_at_ms at or before now, NULL meaning 0) counts as absent.
  sql[kReadRequest] = fmt::format(
      "SELECT {0} AS jg_now, r.job IS NOT NULL, r.status, {1} FROM (SELECT 1) AS o LEFT JOIN {2}job_request AS r "
      "ON r.job = $1::text AND r.key = $2::text AND r.expires_at_ms > {3}",
      now, Join(Names(RequestFields(), "r.")), s, fmt::format(fmt::runtime(server_or_host_now), 3));
  // With the bounded cleanup of request records (item_codec.h,
  // kRequestSweepBatch), at no extra round trip. Never the row this
  // statement writes: one statement must not change a row twice.
  const std::string expiry_now = fmt::format(fmt::runtime(server_or_host_now), RequestExtraParam());
  sql[kCreateRequest] = Counted(
      now, fmt::format("w AS (INSERT INTO {0}job_request AS t (job, key, {1}) VALUES ($1::text, $2::text, {2}) "
                       "ON CONFLICT (job, key) "
                       "DO UPDATE SET {3} WHERE t.expires_at_ms IS NULL OR t.expires_at_ms <= {4} RETURNING 1), "
                       "sweep AS (DELETE FROM {0}job_request WHERE (job, key) IN (SELECT job, key FROM {0}job_request "
                       "WHERE expires_at_ms < {4} - {5} AND NOT (job = $1::text AND key = $2::text) LIMIT {6}))",
                       s, Join(req_cols), Join(req_vals), Join(Excluded(req_cols)), expiry_now,
                       Store::kRequestSweepMarginMs, Store::kRequestSweepBatch));
  sql[kReplaceRequest] = Counted(
      now, fmt::format("w AS (UPDATE {}job_request SET {} WHERE job = $1::text AND key = $2::text AND {} RETURNING 1)",
                       s, Join(Assign(req_cols, req_vals)), VersionMatches("version", RequestExtraParam())));
  sql[kExpireRequests] = Counted(
      now,
      fmt::format("w AS (DELETE FROM {0}job_request WHERE (job, key) IN (SELECT job, key FROM {0}job_request WHERE "
                  "expires_at_ms IS NULL OR expires_at_ms <= {1} LIMIT {2}) RETURNING 1)",
                  s, fmt::format(fmt::runtime(server_or_host_now), 1), PostgresStore::kExpireBatch));
}

std::vector<std::string> BuildSql(const std::string& schema, bool server_clock) {
  const char* now = server_clock ? kServerNow : kNoServerNow;
  const std::string s = "\"" + schema + "\".";
  std::vector<std::string> sql(kQueryCount);
  AddStateSql(sql, s, now);
  AddRecordSql(sql, s, now);
  return sql;
}

// The schema, created in one transaction (a simple-protocol script is one
// implicit transaction), serialised against concurrent inits by a
// transaction-scoped advisory lock: CREATE ... IF NOT EXISTS alone can fail
// when two run at once. A schema_version newer than this build's stops it
// before anything changes.
std::string InitScript(const std::string& schema) {
  const std::string s = "\"" + schema + "\".";
  std::vector<std::string> stmts = {
      fmt::format("SELECT pg_advisory_xact_lock(hashtext('jobgate.init.{}'))", schema),
      fmt::format("CREATE SCHEMA IF NOT EXISTS \"{}\"", schema),
      fmt::format("CREATE TABLE IF NOT EXISTS {}schema_meta (key text COLLATE \"C\" PRIMARY KEY, value text NOT NULL)",
                  s),
      fmt::format(
          "DO $jg$ BEGIN IF (SELECT value::bigint FROM {0}schema_meta WHERE key = 'schema_version') > {1} THEN "
          "RAISE EXCEPTION 'schema \"{2}\" has schema_version %, newer than this jobgate understands ({1}); use a "
          "newer jobgate', (SELECT value FROM {0}schema_meta WHERE key = 'schema_version'); END IF; END $jg$",
          s, kPostgresSchemaVersion, schema),
  };
  auto columns = [](auto fields) {
    std::vector<std::string> out;
    for (const auto& f : fields) out.push_back(fmt::format("{} {}", f.name, SqlType(f.type)));
    return out;
  };
  struct Table {
    const char* name;
    std::vector<std::string> columns;  // beyond the key
    std::vector<std::string> key;      // "name type"
  };
  const std::vector<Table> tables = {
      {"job_state",
       Concat(Concat({"status text"}, columns(StateFields())), {"due_at bigint"}),
       {"job text COLLATE \"C\""}},
      {"job_definition", {"definition text"}, {"job text COLLATE \"C\""}},
      {"job_run", columns(RunFields()), {"job text COLLATE \"C\""}},
      {"job_request",
       Concat({"status text"}, columns(RequestFields())),
       {"job text COLLATE \"C\"", "key text COLLATE \"C\""}},
  };
  for (const Table& t : tables) {
    std::vector<std::string> key_names;
    for (const auto& k : t.key) key_names.push_back(k.substr(0, k.find(' ')));
    if (std::string_view(t.name) == "job_run") key_names = {"job", "start_ms", "run_id"};
    // Columns carry no NOT NULL: a NULL column reads as the zero value.
    stmts.push_back(fmt::format("CREATE TABLE IF NOT EXISTS {}{} ({}, {}, PRIMARY KEY ({}))", s, t.name, Join(t.key),
                                Join(t.columns), Join(key_names)));
    // A field added to the field table later gets its column here.
    for (const auto& c : t.columns)
      stmts.push_back(fmt::format("ALTER TABLE {}{} ADD COLUMN IF NOT EXISTS {}", s, t.name, c));
  }
  // Partial: PAUSED and unscheduled jobs (NULL due_at) cost ListDue nothing.
  stmts.push_back(
      fmt::format("CREATE INDEX IF NOT EXISTS job_state_due ON {}job_state (due_at, job) WHERE due_at IS NOT NULL", s));
  stmts.push_back(fmt::format("CREATE INDEX IF NOT EXISTS job_request_expiry ON {}job_request (expires_at_ms)", s));
  stmts.push_back(
      fmt::format("INSERT INTO {}schema_meta (key, value) VALUES ('schema_version', '{}') ON CONFLICT (key) DO NOTHING",
                  s, kPostgresSchemaVersion));
  return Join(stmts, ";\n") + ";";
}

// ---- parameters and decoding --------------------------------------------------------

template <typename Item>
void AddFields(PgParams& params, std::span<const FieldSpec<Item>> fields, const Item& item) {
  for (const auto& f : fields) {
    params.push_back(FieldText(item, f));
  }
}

PgParams StateParams(const JobState& state, std::optional<EpochMs> due_at, int64_t expected_version) {
  PgParams p = {state.job, JobStatusName(state.status)};
  AddFields(p, StateFields(), state);
  p.push_back(due_at ? std::optional<std::string>(std::to_string(*due_at)) : std::nullopt);
  p.push_back(std::to_string(expected_version));
  return p;
}

PgParams RequestParams(const RequestRecord& rec, int64_t extra) {
  PgParams p = {rec.job, rec.key, RequestStatusName(rec.status)};
  AddFields(p, RequestFields(), rec);
  p.push_back(std::to_string(extra));
  return p;
}

bool True(const PgResult& r, int row, int col) { return !r.IsNull(row, col) && r.Text(row, col) == "t"; }

template <typename Item>
Status DecodeFields(const PgResult& r, int row, int first_col, std::span<const FieldSpec<Item>> fields,
                    const std::string& where, Item* item) {
  for (size_t i = 0; i < fields.size(); ++i) {
    const int col = first_col + static_cast<int>(i);
    if (r.IsNull(row, col)) continue;  // the zero value
    FieldValue v = std::string(r.Text(row, col));
    if (fields[i].type == FieldType::kInt) {
      auto n = r.Int(row, col);
      if (!n.ok())
        return Status::Corrupt(fmt::format("{}: field '{}': {}", where, fields[i].name, n.status().message()));
      v = *n;
    }
    JOBGATE_RETURN_IF_ERROR(SetField(*item, fields[i], v, where));
  }
  return Status::Ok();
}

template <typename Enum>
Status DecodeStatus(const PgResult& r, int row, int col, const std::string& where,
                    Result<Enum> (*parse)(const std::string&), Enum* out) {
  if (r.IsNull(row, col)) return Status::Ok();
  return SetStatus(*out, FieldValue(std::string(r.Text(row, col))), parse, where);
}

// A state row: `first_col` is its status column, StateFields() follow.
Result<JobState> DecodeState(const PgResult& r, int row, int first_col, const std::string& job) {
  JobState st;
  st.job = job;
  const std::string where = fmt::format("job '{}'", job);
  JOBGATE_RETURN_IF_ERROR(DecodeStatus(r, row, first_col, where, &ParseJobStatus, &st.status));
  JOBGATE_RETURN_IF_ERROR(DecodeFields(r, row, first_col + 1, StateFields(), where, &st));
  return st;
}

Result<RequestRecord> DecodeRequest(const PgResult& r, int row, int first_col, const std::string& job,
                                    const std::string& key) {
  RequestRecord rec;
  rec.job = job;
  rec.key = key;
  const std::string where = fmt::format("request '{}' of job '{}'", key, job);
  JOBGATE_RETURN_IF_ERROR(DecodeStatus(r, row, first_col, where, &ParseRequestStatus, &rec.status));
  JOBGATE_RETURN_IF_ERROR(DecodeFields(r, row, first_col + 1, RequestFields(), where, &rec));
  return rec;
}

Result<JobDefinition> DecodeDefinition(const PgResult& r, int row, int col, const std::string& job) {
  JobDefinition def;
  if (!r.IsNull(row, col)) {
    auto parsed = DefinitionFromJson(r.Text(row, col), fmt::format("definition of job '{}'", job));
    if (!parsed.ok()) return parsed.status();
    def = std::move(parsed.value());
  }
  def.job = job;  // the key is authoritative
  return def;
}

std::string Limit(size_t n) {
  return std::to_string(std::min<size_t>(n, static_cast<size_t>(std::numeric_limits<int64_t>::max())));
}

}  // namespace

// ---- connection -----------------------------------------------------------------------

PostgresStore::PostgresStore(std::unique_ptr<Clock> owned_clock, std::unique_ptr<PgConnection> conn,
                             const PostgresOptions& pg_options)
    : owned_clock_(std::move(owned_clock)),
      pg_options_(pg_options),
      conn_(std::move(conn)),
      sql_(BuildSql(conn_->url().schema, pg_options.server_clock)) {
  conn_->set_sample_clock(pg_options.server_clock);
}

PostgresStore::~PostgresStore() = default;

Result<std::unique_ptr<PostgresStore>> PostgresStore::Open(const std::string& url, const StoreOptions& options,
                                                           const PostgresOptions& pg_options) {
  auto parsed = ParsePostgresUrl(url);
  if (!parsed.ok()) return parsed.status();
  std::unique_ptr<Clock> owned = options.clock == nullptr ? std::make_unique<SystemClock>() : nullptr;
  Clock& clock = options.clock != nullptr ? *options.clock : *owned;
  auto conn = PgConnection::Connect(*parsed, clock);
  if (!conn.ok()) return conn.status();
  return std::unique_ptr<PostgresStore>(new PostgresStore(std::move(owned), std::move(conn.value()), pg_options));
}

const std::string& PostgresStore::schema() const { return conn_->url().schema; }
std::string PostgresStore::ListDueSql() const { return sql_[kListDue]; }
PostgresStore::GuardedRunSql PostgresStore::SqlForBench() const {
  return {sql_[kReadJob], sql_[kReplaceState], sql_[kReplaceStateAndAppendRun]};
}

std::optional<ClockEstimate> PostgresStore::ObservedClock() const {
  if (!pg_options_.server_clock) return std::nullopt;
  std::lock_guard lock(mu_);
  return conn_->ObservedClock();
}

Status PostgresStore::Init() {
  std::lock_guard lock(mu_);
  return conn_->ExecScript("init", InitScript(schema()));
}

Result<WriteOutcome> PostgresStore::Write(int q, const char* what, const PgParams& params) {
  // A CAS or an insert-if-absent is not sent twice: the first may have
  // applied, and the copy would report a lost condition (the controller
  // recognises its own write on re-read either way).
  auto r = conn_->Exec(what, sql_[q], params, PgConnection::Resend::kUnsafe);
  if (!r.ok()) return r.status();
  auto n = r->Int(0, 1);
  if (!n.ok()) return n.status();
  return *n > 0 ? WriteOutcome::kApplied : WriteOutcome::kConditionFailed;
}

// ---- job state --------------------------------------------------------------------------

Result<std::optional<JobState>> PostgresStore::ReadState(const std::string& job) {
  std::lock_guard lock(mu_);
  auto record = ReadJobLocked(job, "");
  if (!record.ok()) return record.status();
  return std::move(record->state);
}

Result<JobRecord> PostgresStore::ReadJob(const std::string& job, const std::string& request_key) {
  std::lock_guard lock(mu_);
  return ReadJobLocked(job, request_key);
}

Result<JobRecord> PostgresStore::ReadJobLocked(const std::string& job, const std::string& request_key) {
  auto r = conn_->Exec("read job", sql_[kReadJob], {job, request_key}, PgConnection::Resend::kSafe);
  if (!r.ok()) return r.status();
  if (r->rows() != 1) return Status::Internal("read job: the outer query returned no row");
  // The schema version rides along: a newer schema than this build's is
  // refused on every invocation, at no extra round trip.
  auto version = r->Int(0, 1);
  if (!version.ok() || r->IsNull(0, 1) || *version > kPostgresSchemaVersion) {
    return Status::Unavailable(fmt::format(
        "postgres '{}': schema '{}' has schema_version '{}', {}", conn_->url().display, schema(), r->Text(0, 1),
        r->IsNull(0, 1)
            ? "none: run `jobgate --store URL init`"
            : fmt::format("newer than this jobgate understands ({}); use a newer jobgate", kPostgresSchemaVersion)));
  }
  JobRecord record;
  const int state_col = 6;
  const int request_col = state_col + 1 + StateFieldCount();
  if (True(*r, 0, 3)) {
    auto def = DecodeDefinition(*r, 0, 4, job);
    if (!def.ok()) return def.status();
    record.definition = std::move(def.value());
  }
  if (True(*r, 0, 2)) {
    auto state = DecodeState(*r, 0, state_col, job);
    if (!state.ok()) return state.status();
    record.state = std::move(state.value());
  }
  if (!request_key.empty() && True(*r, 0, 5)) {
    auto req = DecodeRequest(*r, 0, request_col, job, request_key);
    if (!req.ok()) return req.status();
    record.request = std::move(req.value());
  }
  return record;
}

Result<WriteOutcome> PostgresStore::DoCreateState(const JobState& state, std::optional<EpochMs> due_at) {
  return DoCreateStateNotBefore(state, due_at, 0);
}

Result<WriteOutcome> PostgresStore::DoReplaceState(const JobState& state, int64_t expected_version,
                                                   std::optional<EpochMs> due_at) {
  return DoReplaceStateNotBefore(state, expected_version, due_at, 0);
}

Result<WriteOutcome> PostgresStore::DoCreateStateNotBefore(const JobState& state, std::optional<EpochMs> due_at,
                                                           EpochMs not_before) {
  std::lock_guard lock(mu_);
  PgParams p = StateParams(state, due_at, 0);
  p.back() = std::to_string(not_before);  // in the expected version's place
  return Write(kCreateState, "create state", p);
}

Result<WriteOutcome> PostgresStore::DoReplaceStateNotBefore(const JobState& state, int64_t expected_version,
                                                            std::optional<EpochMs> due_at, EpochMs not_before) {
  std::lock_guard lock(mu_);
  PgParams p = StateParams(state, due_at, expected_version);
  p.push_back(std::to_string(not_before));
  return Write(kReplaceState, "replace state", p);
}

Result<WriteOutcome> PostgresStore::DoReplaceStateAndAppendRun(const JobState& state, int64_t expected_version,
                                                               std::optional<EpochMs> due_at, const RunRecord& run) {
  std::lock_guard lock(mu_);
  PgParams p = StateParams(state, due_at, expected_version);
  AddFields(p, RunFields(), run);
  return Write(kReplaceStateAndAppendRun, "commit", p);
}

Result<std::vector<DueJob>> PostgresStore::ListDue(EpochMs now_ms, size_t limit) {
  std::lock_guard lock(mu_);
  auto r =
      conn_->Exec("list due jobs", sql_[kListDue], {std::to_string(now_ms), Limit(limit)}, PgConnection::Resend::kSafe);
  if (!r.ok()) return r.status();
  std::vector<DueJob> jobs;
  for (int i = 0; i < r->rows(); ++i) {
    if (r->IsNull(i, 1)) continue;  // the clock's row: nothing due
    auto due = r->Int(i, 2);
    if (!due.ok()) return due.status();
    jobs.push_back(DueJob{std::string(r->Text(i, 1)), *due});
  }
  return jobs;
}

Result<std::vector<JobState>> PostgresStore::ListStates() {
  std::lock_guard lock(mu_);
  auto r = conn_->Exec("list states", sql_[kListStates], {}, PgConnection::Resend::kSafe);
  if (!r.ok()) return r.status();
  std::vector<JobState> states;
  for (int i = 0; i < r->rows(); ++i) {
    auto state = DecodeState(*r, i, 1, std::string(r->Text(i, 0)));
    if (!state.ok()) return state.status();
    states.push_back(std::move(state.value()));
  }
  return states;
}

// ---- definitions --------------------------------------------------------------------------

Result<std::optional<JobDefinition>> PostgresStore::ReadDefinition(const std::string& job) {
  std::lock_guard lock(mu_);
  auto r = conn_->Exec("read definition", sql_[kReadDefinition], {job}, PgConnection::Resend::kSafe);
  if (!r.ok()) return r.status();
  if (r->rows() == 0) return std::optional<JobDefinition>();
  auto def = DecodeDefinition(*r, 0, 0, job);
  if (!def.ok()) return def.status();
  return std::optional<JobDefinition>(std::move(def.value()));
}

Status PostgresStore::PutDefinition(const JobDefinition& def) {
  std::lock_guard lock(mu_);
  // An upsert of the whole value: sending it again is harmless.
  return conn_
      ->Exec("put definition", sql_[kPutDefinition], {def.job, DefinitionToJson(def)}, PgConnection::Resend::kSafe)
      .status();
}

Result<std::vector<JobDefinition>> PostgresStore::ListDefinitions() {
  std::lock_guard lock(mu_);
  auto r = conn_->Exec("list definitions", sql_[kListDefinitions], {}, PgConnection::Resend::kSafe);
  if (!r.ok()) return r.status();
  std::vector<JobDefinition> defs;
  for (int i = 0; i < r->rows(); ++i) {
    auto def = DecodeDefinition(*r, i, 1, std::string(r->Text(i, 0)));
    if (!def.ok()) return def.status();
    defs.push_back(std::move(def.value()));
  }
  return defs;
}

// ---- run records ----------------------------------------------------------------------------

Status PostgresStore::AppendRun(const RunRecord& run) {
  std::lock_guard lock(mu_);
  PgParams p = {run.job};
  AddFields(p, RunFields(), run);
  // Keyed by (job, start, run id) and replacing: sending it again is harmless.
  return conn_->Exec("append run", sql_[kAppendRun], p, PgConnection::Resend::kSafe).status();
}

Result<std::vector<RunRecord>> PostgresStore::ListRuns(const std::string& job, size_t limit) {
  std::lock_guard lock(mu_);
  auto r = conn_->Exec("list runs", sql_[kListRuns], {job, Limit(limit)}, PgConnection::Resend::kSafe);
  if (!r.ok()) return r.status();
  std::vector<RunRecord> runs;
  const std::string where = fmt::format("run of job '{}'", job);
  for (int i = 0; i < r->rows(); ++i) {
    RunRecord run;
    run.job = job;
    JOBGATE_RETURN_IF_ERROR(DecodeFields(*r, i, 0, RunFields(), where, &run));
    runs.push_back(std::move(run));
  }
  return runs;
}

Status PostgresStore::TrimRuns(const std::string& job, size_t keep) {
  std::lock_guard lock(mu_);
  return conn_->Exec("trim runs", sql_[kTrimRuns], {job, Limit(keep)}, PgConnection::Resend::kSafe).status();
}

// ---- request records -------------------------------------------------------------------------

Result<std::optional<RequestRecord>> PostgresStore::ReadRequest(const std::string& job, const std::string& key,
                                                                EpochMs now_ms) {
  std::lock_guard lock(mu_);
  auto r =
      conn_->Exec("read request", sql_[kReadRequest], {job, key, std::to_string(now_ms)}, PgConnection::Resend::kSafe);
  if (!r.ok()) return r.status();
  if (r->rows() != 1 || !True(*r, 0, 1)) return std::optional<RequestRecord>();
  auto rec = DecodeRequest(*r, 0, 2, job, key);
  if (!rec.ok()) return rec.status();
  return std::optional<RequestRecord>(std::move(rec.value()));
}

Result<WriteOutcome> PostgresStore::CreateRequest(const RequestRecord& rec, EpochMs now_ms) {
  std::lock_guard lock(mu_);
  return Write(kCreateRequest, "create request", RequestParams(rec, now_ms));
}

Result<WriteOutcome> PostgresStore::ReplaceRequest(const RequestRecord& rec, int64_t expected_version) {
  std::lock_guard lock(mu_);
  return Write(kReplaceRequest, "replace request", RequestParams(rec, expected_version));
}

Result<int64_t> PostgresStore::ExpireRequests(EpochMs now_ms) {
  std::lock_guard lock(mu_);
  auto r = conn_->Exec("expire requests", sql_[kExpireRequests], {std::to_string(now_ms)}, PgConnection::Resend::kSafe);
  if (!r.ok()) return r.status();
  return r->Int(0, 1);
}

}  // namespace jobgate
