// PostgreSQL backend ("postgres://USER@HOST:PORT/DB?schema=S&..."), through
// libpq (loaded at run time: pq_api.h). Tables in the URL's schema (default
// `jobgate`), created by Init; the layout, indexes, grants, pooling and the
// cost per invocation are in docs/backends/postgres.md.
//
// Every write is one statement, one round trip: the CAS is a conditional
// UPDATE ... WHERE version = $n, and no row or advisory lock is held
// between statements (the lease is the lock). Times that decide something
// are the server's: every answer carries its clock_timestamp(), which
// places the host's clock (ReportsTime), and the statements that judge
// expiry compare with it themselves.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "jobgate/store.h"
#include "store/postgres_conn.h"

namespace jobgate {

// The schema version this build writes and understands (schema_meta table).
inline constexpr int64_t kPostgresSchemaVersion = 1;

struct PostgresOptions {
  // Off only for the deterministic simulation, whose hosts live in virtual
  // time: the store then neither reports the server's clock nor checks
  // times against it (the hosts' times are taken as they come, as SQLite
  // does). Not reachable from a URL.
  bool server_clock = true;
};

// One connection. Thread-safe (one mutex serialises calls); for
// parallelism open one PostgresStore per thread.
class PostgresStore final : public Store {
 public:
  // Connects; does not create or check the schema (Init does: the role
  // that runs jobs need not be allowed to create tables). kInvalidArgument
  // for a malformed URL, kUnavailable when the server cannot be reached.
  static Result<std::unique_ptr<PostgresStore>> Open(const std::string& url, const StoreOptions& options = {},
                                                      const PostgresOptions& pg_options = {});
  ~PostgresStore() override;

  Status Init() override;  // one transaction

  Result<std::optional<JobState>> ReadState(const std::string& job) override;
  Result<JobRecord> ReadJob(const std::string& job, const std::string& request_key) override;  // one statement
  Result<std::vector<DueJob>> ListDue(EpochMs now_ms, size_t limit) override;
  Result<std::vector<JobState>> ListStates() override;

  Result<std::optional<JobDefinition>> ReadDefinition(const std::string& job) override;
  Status PutDefinition(const JobDefinition& def) override;
  Result<std::vector<JobDefinition>> ListDefinitions() override;

  Status AppendRun(const RunRecord& run) override;
  Result<std::vector<RunRecord>> ListRuns(const std::string& job, size_t limit) override;
  Status TrimRuns(const std::string& job, size_t keep) override;

  // Expiry is judged at the earlier of now_ms and the server's clock: a
  // host whose clock runs ahead cannot expire a record early.
  Result<std::optional<RequestRecord>> ReadRequest(const std::string& job, const std::string& key,
                                                   EpochMs now_ms) override;
  Result<WriteOutcome> CreateRequest(const RequestRecord& rec, EpochMs now_ms) override;
  Result<WriteOutcome> ReplaceRequest(const RequestRecord& rec, int64_t expected_version) override;
  // CreateRequest also sweeps long-expired records in the same statement
  // (Store::CreateRequest); ExpireRequests deletes at most
  // kExpireBatch per call.
  Result<int64_t> ExpireRequests(EpochMs now_ms) override;
  static constexpr int64_t kExpireBatch = 10'000;

  bool ReportsTime() const override { return pg_options_.server_clock; }
  std::optional<ClockEstimate> ObservedClock() const override;

  const std::string& schema() const;
  // The SQL of ListDue, for a test of its query plan.
  std::string ListDueSql() const;
  // The statements of a guarded run (ReadJob; the acquiring ReplaceState;
  // the commit, ReplaceStateAndAppendRun), for bench/postgres_bench.cc: its
  // pgbench floor runs this text, so that it cannot drift from the store's.
  struct GuardedRunSql {
    std::string read_job, replace_state, commit;
  };
  GuardedRunSql SqlForBench() const;

 protected:
  Result<WriteOutcome> DoCreateState(const JobState& state, std::optional<EpochMs> due_at) override;
  Result<WriteOutcome> DoReplaceState(const JobState& state, int64_t expected_version,
                                      std::optional<EpochMs> due_at) override;
  // The time guard as a condition of the same statement, on clock_timestamp().
  Result<WriteOutcome> DoCreateStateNotBefore(const JobState& state, std::optional<EpochMs> due_at,
                                              EpochMs not_before) override;
  Result<WriteOutcome> DoReplaceStateNotBefore(const JobState& state, int64_t expected_version,
                                               std::optional<EpochMs> due_at, EpochMs not_before) override;
  Result<WriteOutcome> DoReplaceStateAndAppendRun(const JobState& state, int64_t expected_version,
                                                  std::optional<EpochMs> due_at,
                                                  const RunRecord& run) override;  // one statement

 private:
  PostgresStore(std::unique_ptr<Clock> owned_clock, std::unique_ptr<PgConnection> conn,
                const PostgresOptions& pg_options);
  Result<JobRecord> ReadJobLocked(const std::string& job, const std::string& request_key);
  Result<WriteOutcome> Write(int query, const char* what, const PgParams& params);

  std::unique_ptr<Clock> owned_clock_;
  const PostgresOptions pg_options_;
  mutable std::mutex mu_;
  std::unique_ptr<PgConnection> conn_;
  std::vector<std::string> sql_;  // by the Query enum of postgres_store.cc, for this schema
};

}  // namespace jobgate
