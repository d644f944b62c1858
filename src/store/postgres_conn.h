// One libpq connection as the PostgreSQL store uses it: a postgres:// URL
// split into what libpq reads and what is jobgate's own (the schema), one
// statement per round trip, the retry policy for lost connections and
// rolled-back transactions, and the server's clock read from every answer
// that carries it.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "jobgate/clock.h"
#include "jobgate/status.h"
#include "store/pq_api.h"

namespace jobgate {

inline constexpr const char* kDefaultPostgresSchema = "jobgate";
// libpq waits forever to connect unless told otherwise; a store that is
// down must fail closed within a bounded time.
inline constexpr int kDefaultPostgresConnectTimeoutS = 10;

// What a postgres:// (or postgresql://) URL says.
struct PostgresUrl {
  std::string conninfo;  // the URL as libpq reads it: jobgate's own parameters removed
  std::string schema = kDefaultPostgresSchema;
  std::string display;  // the URL for messages: a password replaced by "***"
};

// Takes jobgate's own query parameter out of the URL (`schema`, a lower-case
// SQL identifier) and leaves every other one, and the URL's form and
// environment conventions (PGHOST, PGPASSWORD, ~/.pgpass, sslmode, ...), to
// libpq. kInvalidArgument naming the URL (password hidden) and the part.
Result<PostgresUrl> ParsePostgresUrl(const std::string& url);

// The URL with the password of its user-info part and any `password`
// query parameter replaced by "***".
std::string RedactPostgresUrl(std::string_view url);

// A statement's parameters, as text; nullopt is SQL NULL.
using PgParams = std::vector<std::optional<std::string>>;

// A statement's rows; the PGresult is cleared with it. Values are libpq's
// text form.
class PgResult {
 public:
  PgResult(const PqApi* api, PGresult* res) : api_(api), res_(res) {}
  ~PgResult();
  PgResult(PgResult&& other) noexcept : api_(other.api_), res_(other.res_) { other.res_ = nullptr; }
  PgResult& operator=(PgResult&&) = delete;
  PgResult(const PgResult&) = delete;
  PgResult& operator=(const PgResult&) = delete;

  int rows() const;
  int columns() const;
  std::string_view ColumnName(int col) const;
  bool IsNull(int row, int col) const;
  std::string_view Text(int row, int col) const;
  // A bigint column (NULL reads as 0); kCorrupt when it is no integer.
  Result<int64_t> Int(int row, int col) const;

 private:
  const PqApi* api_;
  PGresult* res_;
};

class PgConnection {
 public:
  // Whether a statement may be sent again after the connection was lost
  // while it was in flight, when it may or may not have been applied.
  enum class Resend { kSafe, kUnsafe };

  // Connects (libpq's connect_timeout, default kDefaultPostgresConnectTimeoutS
  // unless the URL or PGCONNECT_TIMEOUT says otherwise). kUnavailable when
  // the server cannot be reached or refuses us; the message never holds the
  // password.
  static Result<std::unique_ptr<PgConnection>> Connect(const PostgresUrl& url, Clock& clock);
  ~PgConnection();
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  // One statement, one round trip (the extended protocol's unnamed
  // statement: nothing is kept on the server between calls, as a
  // transaction-pooling PgBouncer requires). Retried, after a reconnect
  // when the connection went, when it certainly did not apply (the server
  // said so: a rolled-back transaction, a serialization failure, a
  // deadlock, a server shutting down or restarting) and, for kSafe
  // statements, when the connection was lost while it ran. A statement
  // whose first column is named jg_now (the server's clock, epoch ms)
  // places this host's clock against the server's.
  Result<PgResult> Exec(const char* what, const std::string& sql, const PgParams& params, Resend resend);
  // Several statements in one round trip, in one implicit transaction (the
  // simple protocol): all or nothing.
  Status ExecScript(const char* what, const std::string& sql);

  std::optional<ClockEstimate> ObservedClock() const;
  // Off: answers do not place the clock (a store in virtual time, whose
  // jg_now is no clock).
  void set_sample_clock(bool on) { sample_clock_ = on; }
  const PostgresUrl& url() const { return url_; }

 private:
  PgConnection(const PqApi* api, PostgresUrl url, Clock& clock, PGconn* conn);
  Status EnsureConnected();
  bool SpokeWhileIdle() const;
  Status ConnectionError(const char* what) const;
  Status ResultError(const char* what, PGresult* res) const;
  void Sample(const PgResult& result, int64_t sent_mono, int64_t received_mono);

  const PqApi* api_;
  const PostgresUrl url_;
  Clock& clock_;
  PGconn* conn_;
  ClockEstimator estimator_;
  bool sample_clock_ = true;
};

}  // namespace jobgate
