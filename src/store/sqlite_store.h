// SQLite backend ("sqlite:PATH", the embedded default). WAL mode and a busy
// timeout make it safe for many processes on one host (not over NFS). The
// table layout, pragmas and the checkpoint policy are explained in
// docs/backends/sqlite.md.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "jobgate/store.h"

struct sqlite3;
struct sqlite3_stmt;

namespace jobgate {

struct SqliteOptions {
  // FULL fsyncs the WAL on every commit: a power loss then loses nothing that
  // was reported. NORMAL (the default) may lose the last commits on power
  // loss (never on a process crash) and never corrupts the file.
  bool synchronous_full = false;
  // How long a writer waits for another process's write lock before the
  // operation fails with kUnavailable.
  int64_t busy_timeout_ms = 10'000;
  // Checkpoint policy. A connection that saw the WAL reach this many frames
  // runs a non-blocking TRUNCATE checkpoint when it closes; other closes skip
  // SQLite's checkpoint-on-close. 0 keeps SQLite's default (checkpoint and
  // delete the WAL whenever the last connection closes), which costs a CLI
  // invocation about 3x more (docs/backends/sqlite.md has the figures).
  int checkpoint_frames = 64;
};

// The schema version this build writes and understands (schema_meta table).
inline constexpr int64_t kSqliteSchemaVersion = 1;

// One SQLite connection with its prepared statements. Thread-safe (one mutex
// serialises calls); for parallelism open one SqliteStore per thread.
class SqliteStore final : public Store {
 public:
  // Opens (creating if needed) the database at `path` and creates the schema
  // when it is missing. kUnavailable when the file cannot be opened or is not
  // a database, or when its schema is newer than this build.
  static Result<std::unique_ptr<SqliteStore>> Open(const std::string& path, const SqliteOptions& options = {});

  ~SqliteStore() override;
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  Status Init() override;

  Result<std::optional<JobState>> ReadState(const std::string& job) override;
  Result<JobRecord> ReadJob(const std::string& job, const std::string& request_key) override;  // one read transaction
  Result<std::vector<DueJob>> ListDue(EpochMs now_ms, size_t limit) override;
  Result<std::vector<JobState>> ListStates() override;

  Result<std::optional<JobDefinition>> ReadDefinition(const std::string& job) override;
  Status PutDefinition(const JobDefinition& def) override;
  Result<std::vector<JobDefinition>> ListDefinitions() override;

  Status AppendRun(const RunRecord& run) override;
  Result<std::vector<RunRecord>> ListRuns(const std::string& job, size_t limit) override;
  Status TrimRuns(const std::string& job, size_t keep) override;

  Result<std::optional<RequestRecord>> ReadRequest(const std::string& job, const std::string& key,
                                                   EpochMs now_ms) override;
  Result<WriteOutcome> CreateRequest(const RequestRecord& rec, EpochMs now_ms) override;
  Result<WriteOutcome> ReplaceRequest(const RequestRecord& rec, int64_t expected_version) override;
  Result<int64_t> ExpireRequests(EpochMs now_ms) override;

  // The value of one PRAGMA on this connection (e.g. "journal_mode"), for
  // diagnostics and tests. `name` must be lowercase letters and '_'.
  Result<std::string> Pragma(const std::string& name);

  // The SQL that ListDue runs, so a test can check its query plan.
  static const std::string& ListDueSql();

 protected:
  Result<WriteOutcome> DoCreateState(const JobState& state, std::optional<EpochMs> due_at) override;
  Result<WriteOutcome> DoReplaceState(const JobState& state, int64_t expected_version,
                                      std::optional<EpochMs> due_at) override;
  Result<WriteOutcome> DoReplaceStateAndAppendRun(const JobState& state, int64_t expected_version,
                                                  std::optional<EpochMs> due_at,
                                                  const RunRecord& run) override;  // one transaction

 private:
  static constexpr int kNumQueries = 18;  // the Query enum in sqlite_store.cc

  SqliteStore(std::string path, const SqliteOptions& options, sqlite3* db);
  static int OnWalCommit(void* self, sqlite3* db, const char* db_name, int frames);

  Status Configure();
  Result<std::string> EnableWal();
  Status EnsureSchema();
  Status InitLocked();
  Status CreateSchema();
  Status AddColumnIfMissing(const std::string& table, const std::string& column_def);
  Status Exec(const std::string& sql);
  Result<JobRecord> ReadJobLocked(const std::string& job);
  Result<std::optional<RequestRecord>> ReadRequestLocked(const std::string& job, const std::string& key,
                                                         EpochMs now_ms);
  Result<std::string> QueryText(const std::string& sql);

  Result<sqlite3_stmt*> Prepared(int query);
  Result<bool> Step(sqlite3_stmt* stmt, const char* what);
  Result<WriteOutcome> StepWrite(sqlite3_stmt* stmt, const char* what);
  Result<WriteOutcome> WriteState(int query, const JobState& state, int64_t expected_version,
                                  std::optional<EpochMs> due_at);
  Status AppendRunLocked(const RunRecord& run);
  Result<WriteOutcome> WriteRequest(int query, const RequestRecord& rec, int64_t extra);
  Status SweepRequestsLocked(const RequestRecord& rec, EpochMs now_ms);
  Status Error(int rc, const std::string& what) const;

  const std::string path_;
  const SqliteOptions options_;
  std::mutex mu_;
  sqlite3* db_;
  std::array<sqlite3_stmt*, kNumQueries> stmts_{};  // prepared on first use, kept for the connection
  int wal_frames_ = 0;                               // WAL size after this connection's last commit
};

}  // namespace jobgate
