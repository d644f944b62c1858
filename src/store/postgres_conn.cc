#include "store/postgres_conn.h"

#include <fmt/format.h>
#include <poll.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <thread>

#include "util/numbers.h"

namespace jobgate {

namespace {

// Attempts of one statement, and the most time they may take together
// (backoff included) before the store is reported unavailable. A server
// restart (pg_ctl restart -m fast) takes about a second.
constexpr int kAttempts = 4;
constexpr int64_t kRetryBudgetMs = 5'000;
constexpr int64_t kFirstBackoffMs = 100;

bool IsIdentifier(std::string_view s) {
  if (s.empty() || s.size() > 63) return false;
  if (!(std::islower(static_cast<unsigned char>(s[0])) || s[0] == '_')) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) || c == '_';
  });
}

// A port, or a comma-separated list of them (one per host).
bool IsPortList(std::string_view s) {
  while (true) {
    const size_t comma = s.find(',');
    const std::string_view port = s.substr(0, comma);
    int64_t n = 0;
    if (!port.empty() && (!ParseInt64(std::string(port), &n) || n < 1 || n > 65535)) return false;
    if (comma == std::string_view::npos) return true;
    s = s.substr(comma + 1);
  }
}

// What the server's answer says about a statement that failed.
enum class Failure {
  kNotApplied,  // rolled back or never run, and the server is (re)starting or said so: retry
  kLost,        // the connection went while it ran: applied or not, nobody knows
  kFinal,       // an answer: report it
};

Failure Classify(const char* sqlstate) {
  const std::string_view s = sqlstate == nullptr ? std::string_view() : std::string_view(sqlstate);
  if (s.empty()) return Failure::kLost;
  // 40001 serialization_failure, 40P01 deadlock_detected: the transaction
  // was rolled back. 57P01-3: the server is shutting down or starting, and
  // ended this statement's transaction. 08: connection exceptions the
  // server reports. 53300 too_many_connections.
  if (s.starts_with("40") || s == "57P01" || s == "57P02" || s == "57P03" || s.starts_with("08") || s == "53300") {
    return Failure::kNotApplied;
  }
  return Failure::kFinal;
}

std::string Trimmed(const char* message) {
  std::string m = message == nullptr ? "" : message;
  while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
  // libpq indents continuation lines ("DETAIL:  ..."); one line reads better.
  std::replace(m.begin(), m.end(), '\n', ' ');
  return m;
}

void IgnoreNotice(void*, const char*) {}  // "schema ... already exists, skipping" and the like

}  // namespace

std::string RedactPostgresUrl(std::string_view url) {
  std::string out(url);
  // postgres://user:password@host...: the user-info part ends at the last
  // '@' before the path.
  const size_t scheme = out.find("://");
  if (scheme != std::string::npos) {
    const size_t start = scheme + 3;
    const size_t path = out.find_first_of("/?", start);
    const size_t at = out.rfind('@', path == std::string::npos ? std::string::npos : path);
    if (at != std::string::npos && at >= start) {
      const size_t colon = out.find(':', start);
      if (colon != std::string::npos && colon < at) out.replace(colon + 1, at - colon - 1, "***");
    }
  }
  // ...?password=secret&...
  size_t q = out.find('?');
  while (q != std::string::npos) {
    const size_t key = q + 1;
    const size_t end = out.find('&', key);
    if (out.compare(key, 9, "password=") == 0) {
      out.replace(key + 9, (end == std::string::npos ? out.size() : end) - key - 9, "***");
    }
    q = out.find('&', key);
  }
  return out;
}

Result<PostgresUrl> ParsePostgresUrl(const std::string& url) {
  PostgresUrl out;
  out.display = RedactPostgresUrl(url);
  auto bad = [&](const std::string& why) {
    return Status::InvalidArgument(fmt::format("store URL '{}': {}", out.display, why));
  };
  const size_t q = url.find('?');
  out.conninfo = url.substr(0, q);
  if (q != std::string::npos) {
    std::vector<std::string> kept;
    std::string_view query = std::string_view(url).substr(q + 1);
    while (!query.empty()) {
      const size_t amp = query.find('&');
      const std::string_view param = query.substr(0, amp);
      query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
      if (param.starts_with("schema=")) {
        out.schema = std::string(param.substr(7));
        if (!IsIdentifier(out.schema)) {
          return bad(fmt::format("schema must be a lower-case SQL identifier (a-z, 0-9, _; at most 63), got '{}'",
                                 out.schema));
        }
      } else if (!param.empty()) {
        kept.emplace_back(param);
      }
    }
    if (!kept.empty()) out.conninfo += fmt::format("?{}", fmt::join(kept, "&"));
  }
  return out;
}

// ---- PgResult ----------------------------------------------------------------

PgResult::~PgResult() {
  if (res_ != nullptr) api_->clear(res_);
}

int PgResult::rows() const { return api_->ntuples(res_); }
std::string_view PgResult::ColumnName(int col) const {
  const char* name = api_->fname(res_, col);
  return name == nullptr ? std::string_view() : std::string_view(name);
}
int PgResult::columns() const { return api_->nfields(res_); }
bool PgResult::IsNull(int row, int col) const { return api_->getisnull(res_, row, col) != 0; }

std::string_view PgResult::Text(int row, int col) const {
  return {api_->getvalue(res_, row, col), static_cast<size_t>(api_->getlength(res_, row, col))};
}

Result<int64_t> PgResult::Int(int row, int col) const {
  if (IsNull(row, col)) return int64_t{0};
  int64_t v = 0;
  if (!ParseInt64(std::string(Text(row, col)), &v)) {
    return Status::Corrupt(fmt::format("column {} ('{}') is not an integer", api_->fname(res_, col), Text(row, col)));
  }
  return v;
}

// ---- PgConnection -------------------------------------------------------------

PgConnection::PgConnection(const PqApi* api, PostgresUrl url, Clock& clock, PGconn* conn)
    : api_(api), url_(std::move(url)), clock_(clock), conn_(conn) {}

PgConnection::~PgConnection() {
  if (conn_ != nullptr) api_->finish(conn_);
}

Result<std::unique_ptr<PgConnection>> PgConnection::Connect(const PostgresUrl& url, Clock& clock) {
  auto api = LoadPqApi();
  if (!api.ok()) return api.status();
  // The URL is checked first, so that a malformed one is bad usage (exit 2)
  // rather than an unreachable store.
  char* error = nullptr;
  PQconninfoOption* parsed = (*api)->conninfo_parse(url.conninfo.c_str(), &error);
  if (parsed == nullptr) {
    std::string why = error != nullptr ? Trimmed(error) : "out of memory";
    if (error != nullptr) std::free(error);  // PQfreemem is free() on Unix
    return Status::InvalidArgument(fmt::format("store URL '{}': {}", url.display, why));
  }
  bool has_timeout = false;
  std::string bad_port;
  for (PQconninfoOption* o = parsed; o->keyword != nullptr; ++o) {
    const std::string_view key = o->keyword;
    if (key == "connect_timeout" && o->val != nullptr) has_timeout = true;
    // libpq checks the port only when it connects, as a failure to connect.
    if (key == "port" && o->val != nullptr && !IsPortList(o->val)) bad_port = o->val;
  }
  (*api)->conninfo_free(parsed);
  if (!bad_port.empty()) {
    return Status::InvalidArgument(
        fmt::format("store URL '{}': port must be a number from 1 to 65535, got '{}'", url.display, bad_port));
  }
  if (const char* env = std::getenv("PGCONNECT_TIMEOUT"); env != nullptr && *env != '\0') has_timeout = true;

  // Keywords before "dbname" are overridden by what the URL (expanded in its
  // place) says; fallback_application_name yields to PGAPPNAME too.
  const std::string timeout = std::to_string(kDefaultPostgresConnectTimeoutS);
  std::vector<const char*> keys = {"fallback_application_name"};
  std::vector<const char*> values = {"jobgate"};
  if (!has_timeout) {
    keys.push_back("connect_timeout");
    values.push_back(timeout.c_str());
  }
  keys.push_back("dbname");
  values.push_back(url.conninfo.c_str());
  keys.push_back(nullptr);
  values.push_back(nullptr);
  PGconn* conn = (*api)->connectdb_params(keys.data(), values.data(), /*expand_dbname=*/1);
  if (conn == nullptr) return Status::Unavailable(fmt::format("postgres '{}': out of memory", url.display));
  std::unique_ptr<PgConnection> c(new PgConnection(*api, url, clock, conn));
  (*api)->set_notice_processor(conn, &IgnoreNotice, nullptr);
  if ((*api)->status(conn) != CONNECTION_OK) return c->ConnectionError("cannot connect");
  return c;
}

Status PgConnection::ConnectionError(const char* what) const {
  return Status::Unavailable(
      fmt::format("postgres '{}': {}: {}", url_.display, what, Trimmed(api_->error_message(conn_))));
}

Status PgConnection::ResultError(const char* what, PGresult* res) const {
  const char* sqlstate = api_->result_error_field(res, PG_DIAG_SQLSTATE);
  const std::string state = sqlstate == nullptr ? "" : sqlstate;
  // The primary message (and the hint, when there is one): the full
  // message repeats the statement with a caret, which says nothing here.
  std::string message = Trimmed(api_->result_error_field(res, PG_DIAG_MESSAGE_PRIMARY));
  if (message.empty()) message = Trimmed(api_->error_message(conn_));
  if (const char* hint = api_->result_error_field(res, PG_DIAG_MESSAGE_HINT); hint != nullptr) {
    message += fmt::format(" (hint: {})", Trimmed(hint));
  }
  std::string text = fmt::format("postgres '{}': {}: {}", url_.display, what, message);
  if (!state.empty()) text += fmt::format(" (SQLSTATE {})", state);
  // 42P01 undefined_table, 3F000 invalid_schema_name: nobody ran init.
  if (state == "42P01" || state == "3F000") {
    return Status::Unavailable(
        fmt::format("{}; create the schema '{}' with `jobgate --store URL init`", text, url_.schema));
  }
  // 22: data exceptions (a value the column cannot hold, invalid UTF-8).
  if (state.starts_with("22")) return Status::InvalidArgument(text);
  // 42: syntax or access rule violations other than the above: a bug here,
  // or missing grants (42501), which the message names.
  if (state.starts_with("42") && state != "42501") return Status::Internal(text);
  return Status::Unavailable(text);
}

Status PgConnection::EnsureConnected() {
  if (api_->status(conn_) == CONNECTION_OK && !SpokeWhileIdle()) return Status::Ok();
  api_->reset(conn_);
  if (api_->status(conn_) == CONNECTION_OK) return Status::Ok();
  return ConnectionError("cannot reconnect");
}

// A server that ended the session while we were idle (a restart, an
// administrator, a pooler's timeout) has sent its reason and closed the
// socket. Finding that out costs a poll(), no round trip, and spares the
// next statement a dead connection, where whether it applied would be
// unknown. Nothing else arrives unasked (jobgate does not LISTEN), so any
// input while idle makes the connection suspect: it is made anew.
bool PgConnection::SpokeWhileIdle() const {
  pollfd p{api_->socket(conn_), POLLIN, 0};
  return p.fd >= 0 && ::poll(&p, 1, 0) > 0;
}

void PgConnection::Sample(const PgResult& result, int64_t sent_mono, int64_t received_mono) {
  // Only the statements that return the server's clock, as jg_now, and
  // only when the store runs on the server's clock: a number in another
  // first column (a job named "1000") is no time.
  if (!sample_clock_ || result.rows() < 1 || result.columns() < 1 || result.IsNull(0, 0)) return;
  if (result.ColumnName(0) != "jg_now") return;
  int64_t server_ms = 0;
  if (!ParseInt64(std::string(result.Text(0, 0)), &server_ms)) return;
  // clock_timestamp() floored to whole milliseconds.
  estimator_.AddSample(sent_mono, received_mono, server_ms, 1);
}

Result<PgResult> PgConnection::Exec(const char* what, const std::string& sql, const PgParams& params, Resend resend) {
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) {
    // Text parameters travel as C strings: a NUL would cut the value short.
    if (p && p->find('\0') != std::string::npos) {
      return Status::InvalidArgument(fmt::format("postgres: {}: a value holds a NUL byte, which text cannot", what));
    }
    values.push_back(p ? p->c_str() : nullptr);
  }
  const int64_t start = clock_.MonotonicMs();
  int64_t backoff = kFirstBackoffMs;
  Status last;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    if (attempt > 0) {
      if (clock_.MonotonicMs() - start + backoff > kRetryBudgetMs) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(backoff));
      backoff *= 3;
    }
    last = EnsureConnected();
    if (!last.ok()) continue;
    const int64_t sent = clock_.MonotonicMs();
    PGresult* raw = api_->exec_params(conn_, sql.c_str(), static_cast<int>(values.size()), nullptr, values.data(),
                                      nullptr, nullptr, 0);
    const int64_t received = clock_.MonotonicMs();
    PgResult result(api_, raw);
    if (raw == nullptr) {
      last = ConnectionError(what);
      if (resend == Resend::kUnsafe) return last;
      continue;
    }
    const ExecStatusType st = api_->result_status(raw);
    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
      Sample(result, sent, received);
      return result;
    }
    last = ResultError(what, raw);
    const Failure f = Classify(api_->result_error_field(raw, PG_DIAG_SQLSTATE));
    if (f == Failure::kFinal) return last;
    if (f == Failure::kLost && api_->status(conn_) == CONNECTION_OK) return last;  // a client-side error
    if (f == Failure::kLost && resend == Resend::kUnsafe) {
      return Status::Unavailable(fmt::format("{}; whether it applied is unknown", last.message()));
    }
  }
  return last;
}

Status PgConnection::ExecScript(const char* what, const std::string& sql) {
  JOBGATE_RETURN_IF_ERROR(EnsureConnected());
  PGresult* raw = api_->exec(conn_, sql.c_str());
  PgResult result(api_, raw);
  if (raw == nullptr) return ConnectionError(what);
  const ExecStatusType st = api_->result_status(raw);
  if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) return Status::Ok();
  return ResultError(what, raw);
}

std::optional<ClockEstimate> PgConnection::ObservedClock() const {
  return estimator_.Estimate(clock_.NowMs(), clock_.MonotonicMs());
}

}  // namespace jobgate
