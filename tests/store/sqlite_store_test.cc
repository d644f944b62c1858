// SQLite-specific behaviour beyond the conformance suite: rows made or
// damaged by hand, several connections and threads on one file, the schema
// lifecycle, error paths, and the checkpoint policy of
// docs/backends/sqlite.md.
#include "store/sqlite_store.h"

#include <signal.h>
#include <sqlite3.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "store/conformance.h"

namespace jobgate {
namespace {

using ::jobgate::testing::TempDir;

// A second, plain SQLite connection: what a person with the sqlite3 shell
// (or another tool) does to the file.
class RawDb {
 public:
  explicit RawDb(const std::string& path) { sqlite3_open(path.c_str(), &db_); }
  ~RawDb() { sqlite3_close(db_); }
  RawDb(const RawDb&) = delete;
  RawDb& operator=(const RawDb&) = delete;

  // Runs `sql`; returns SQLite's error message, or "" on success.
  std::string Exec(const std::string& sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) == SQLITE_OK) return "";
    std::string msg = err != nullptr ? err : "error";
    sqlite3_free(err);
    return msg;
  }
  // All rows of `sql`, columns joined by '|', rows by '\n'.
  std::string Query(const std::string& sql) {
    std::string out;
    sqlite3_exec(
        db_, sql.c_str(),
        [](void* p, int n, char** values, char**) {
          auto* s = static_cast<std::string*>(p);
          for (int i = 0; i < n; ++i) *s += std::string(i > 0 ? "|" : "") + (values[i] != nullptr ? values[i] : "NULL");
          *s += "\n";
          return 0;
        },
        &out, nullptr);
    return out;
  }

 private:
  sqlite3* db_ = nullptr;
};

class SqliteStoreTest : public ::testing::Test {
 protected:
  std::unique_ptr<SqliteStore> Open(const SqliteOptions& options = {}) {
    auto store = SqliteStore::Open(path_, options);
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return store.ok() ? std::move(store.value()) : nullptr;
  }

  TempDir dir_;
  const std::string path_ = dir_.File("jobgate.db");
};

JobState Idle(const std::string& job, int64_t version) {
  JobState s;
  s.job = job;
  s.version = version;
  return s;
}

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// ---- rows made or damaged by hand ----------------------------------------------

TEST_F(SqliteStoreTest, HandMadeRowsReadAsZeroValues) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  RawDb raw(path_);
  ASSERT_EQ(raw.Exec("INSERT INTO job_state (job, status) VALUES ('x', 'IDLE');"
                     "INSERT INTO job_state (job) VALUES ('y');"
                     "INSERT INTO job_definition (job) VALUES ('x');"
                     "INSERT INTO job_run (job, start_ms, run_id) VALUES ('x', 5, 'r');"
                     "INSERT INTO job_request (job, key, expires_at_ms) VALUES ('x', 'k', 100);"),
            "");

  ASSERT_OK_AND_ASSIGN(auto x, store->ReadState("x"));
  EXPECT_EQ(x, Idle("x", 0));
  ASSERT_OK_AND_ASSIGN(auto y, store->ReadState("y"));
  EXPECT_EQ(y, Idle("y", 0));
  ASSERT_OK_AND_ASSIGN(auto outcome, store->ReplaceState(Idle("x", 1), 0));
  EXPECT_EQ(outcome, WriteOutcome::kApplied);

  ASSERT_OK_AND_ASSIGN(auto def, store->ReadDefinition("x"));
  JobDefinition defaults;
  defaults.job = "x";
  EXPECT_EQ(def, defaults);
  ASSERT_OK_AND_ASSIGN(auto runs, store->ListRuns("x", 10));
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].run_id, "r");
  EXPECT_EQ(runs[0].start_ms, 5);
  ASSERT_OK_AND_ASSIGN(auto req, store->ReadRequest("x", "k", 50));
  ASSERT_TRUE(req.has_value());
  EXPECT_EQ(req->status, RequestStatus::kInProgress);
  EXPECT_EQ(req->version, 0);
}

TEST_F(SqliteStoreTest, HandMadeRowIsNotDueUntilJobgateWritesIt) {
  // due_at is jobgate's index column, not a state field: documented in
  // docs/backends/sqlite.md.
  auto store = Open();
  ASSERT_NE(store, nullptr);
  RawDb raw(path_);
  ASSERT_EQ(raw.Exec("INSERT INTO job_state (job, status) VALUES ('x', 'IDLE')"), "");
  ASSERT_OK_AND_ASSIGN(auto due, store->ListDue(1'000, 10));
  EXPECT_TRUE(due.empty());
  JobState x = Idle("x", 1);
  x.next_fire_ts = 500;
  ASSERT_OK_AND_ASSIGN(auto outcome, store->ReplaceState(x, 0));
  ASSERT_EQ(outcome, WriteOutcome::kApplied);
  ASSERT_OK_AND_ASSIGN(due, store->ListDue(1'000, 10));
  EXPECT_EQ(due, (std::vector<DueJob>{{"x", 500}}));
}

struct Damage {
  const char* sql;    // applied to the row of job 'x'
  const char* field;  // must be named in the error
  const char* value;  // must be quoted in the error
};

TEST_F(SqliteStoreTest, DamagedStateRowIsCorruptNamingJobFieldAndValue) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  RawDb raw(path_);
  for (const Damage& d : {Damage{"run_count = 'abc'", "run_count", "abc"},
                          Damage{"status = 'BANANA'", "status", "BANANA"},
                          Damage{"status = 7", "status", "7"},
                          Damage{"fence = 2.5", "fence", "2.5"},
                          Damage{"version = -3", "version", "-3"},
                          Damage{"owner = x'00ff'", "owner", "BLOB"},
                          Damage{"last_slot = '12abc'", "last_slot", "12abc"}}) {
    SCOPED_TRACE(d.sql);
    ASSERT_EQ(raw.Exec(std::string("DELETE FROM job_state; INSERT INTO job_state (job, status) VALUES ('x', 'IDLE');"
                                   "UPDATE job_state SET ") + d.sql),
              "");
    auto read = store->ReadState("x");
    ASSERT_FALSE(read.ok());
    EXPECT_EQ(read.status().code(), StatusCode::kCorrupt);
    const std::string& msg = read.status().message();
    EXPECT_TRUE(Contains(msg, "'x'")) << msg;
    EXPECT_TRUE(Contains(msg, d.field)) << msg;
    EXPECT_TRUE(Contains(msg, d.value)) << msg;
    EXPECT_EQ(store->ListStates().status().code(), StatusCode::kCorrupt);
    EXPECT_EQ(store->ReadJob("x", "").status().code(), StatusCode::kCorrupt);
  }
}

TEST_F(SqliteStoreTest, DamagedOtherRowsAreCorruptNamingTheField) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  RawDb raw(path_);
  ASSERT_EQ(raw.Exec("INSERT INTO job_definition (job, definition) VALUES ('d1', '{not json');"
                     "INSERT INTO job_definition (job, definition) VALUES ('d2', '{\"lease_ms\": \"abc\"}');"
                     "INSERT INTO job_run (job, start_ms, run_id, exit_code) VALUES ('r', 1, 'a', 'zz');"
                     "INSERT INTO job_request (job, key, status, expires_at_ms) VALUES ('q', 'k', 'DONE', 100);"),
            "");
  auto d1 = store->ReadDefinition("d1");
  EXPECT_EQ(d1.status().code(), StatusCode::kCorrupt);
  EXPECT_TRUE(Contains(d1.status().message(), "d1")) << d1.status().message();
  auto d2 = store->ReadDefinition("d2");
  EXPECT_EQ(d2.status().code(), StatusCode::kCorrupt);
  EXPECT_TRUE(Contains(d2.status().message(), "lease_ms")) << d2.status().message();
  EXPECT_TRUE(Contains(d2.status().message(), "abc")) << d2.status().message();
  EXPECT_EQ(store->ListDefinitions().status().code(), StatusCode::kCorrupt);
  auto runs = store->ListRuns("r", 10);
  EXPECT_EQ(runs.status().code(), StatusCode::kCorrupt);
  EXPECT_TRUE(Contains(runs.status().message(), "exit_code")) << runs.status().message();
  EXPECT_TRUE(Contains(runs.status().message(), "zz")) << runs.status().message();
  auto req = store->ReadRequest("q", "k", 0);
  EXPECT_EQ(req.status().code(), StatusCode::kCorrupt);
  EXPECT_TRUE(Contains(req.status().message(), "DONE")) << req.status().message();
}

// Job 'x' of a hand-made table reads RUNNING at version 3 with 7 runs, and
// a CAS at that version applies and reads back as written.
void ExpectRunningAtVersion3AndWritable(Store& store) {
  ASSERT_OK_AND_ASSIGN(auto x, store.ReadState("x"));
  ASSERT_TRUE(x.has_value());
  EXPECT_EQ(x->status, JobStatus::kRunning);
  EXPECT_EQ(x->version, 3);
  EXPECT_EQ(x->run_count, 7);
  JobState next = *x;
  next.version = 4;
  next.status = JobStatus::kIdle;
  next.success_count = 7;
  ASSERT_OK_AND_ASSIGN(auto outcome, store.ReplaceState(next, 3));
  EXPECT_EQ(outcome, WriteOutcome::kApplied);
  ASSERT_OK_AND_ASSIGN(x, store.ReadState("x"));
  EXPECT_EQ(x, next);
}

TEST_F(SqliteStoreTest, TableMadeByHandWithTextColumnsWorks) {
  {
    RawDb raw(path_);
    // Integers in TEXT columns come back as TEXT: they must parse, and the
    // version condition must still match.
    ASSERT_EQ(raw.Exec("CREATE TABLE job_state (job TEXT PRIMARY KEY, status TEXT, version TEXT, run_count TEXT);"
                       "INSERT INTO job_state VALUES ('x', 'RUNNING', '3', '7');"),
              "");
  }
  auto store = Open();  // adds the missing columns
  ASSERT_NE(store, nullptr);
  ExpectRunningAtVersion3AndWritable(*store);
}

// A column declared without a type converts nothing: '3' stays text, and
// `version = 3` is false for it. The decoder accepts the text '3', so the
// CAS must match it too, or the job could never be written (lost_race
// forever).
TEST_F(SqliteStoreTest, TableMadeByHandWithoutColumnTypesWorks) {
  {
    RawDb raw(path_);
    ASSERT_EQ(raw.Exec("CREATE TABLE job_state (job PRIMARY KEY, status, version, run_count);"
                       "INSERT INTO job_state VALUES ('x', 'running', '3', '7');"
                       "INSERT INTO job_state VALUES ('y', 'IDLE', '03', 0);"),
              "");
  }
  auto store = Open();
  ASSERT_NE(store, nullptr);
  ExpectRunningAtVersion3AndWritable(*store);

  // Not the decimal form of a number: '03' = '3' is false as text.
  auto y = store->ReadState("y");
  ASSERT_FALSE(y.ok());
  EXPECT_EQ(y.status().code(), StatusCode::kCorrupt);
  EXPECT_TRUE(Contains(y.status().message(), "'version'")) << y.status().message();
  EXPECT_TRUE(Contains(y.status().message(), "\"03\"")) << y.status().message();
}

// ---- several connections on one file -------------------------------------------------

TEST_F(SqliteStoreTest, TwoConnectionsSeeEachOthersWritesAndOneCasWins) {
  auto a = Open();
  auto b = Open();
  ASSERT_TRUE(a && b);
  ASSERT_OK_AND_ASSIGN(auto created, a->CreateState(Idle("j", 1)));
  ASSERT_EQ(created, WriteOutcome::kApplied);
  ASSERT_OK_AND_ASSIGN(auto seen, b->ReadState("j"));
  EXPECT_EQ(seen, Idle("j", 1));
  ASSERT_OK_AND_ASSIGN(auto again, b->CreateState(Idle("j", 1)));
  EXPECT_EQ(again, WriteOutcome::kConditionFailed);

  JobState from_b = Idle("j", 2);
  from_b.owner = "b";
  JobState from_a = Idle("j", 2);
  from_a.owner = "a";
  ASSERT_OK_AND_ASSIGN(auto b_won, b->ReplaceState(from_b, 1));
  ASSERT_OK_AND_ASSIGN(auto a_lost, a->ReplaceState(from_a, 1));
  EXPECT_EQ(b_won, WriteOutcome::kApplied);
  EXPECT_EQ(a_lost, WriteOutcome::kConditionFailed);
  ASSERT_OK_AND_ASSIGN(seen, a->ReadState("j"));
  EXPECT_EQ(seen, from_b);
}

TEST_F(SqliteStoreTest, ThreadsWithOwnConnectionsOnAFreshFileLoseNoUpdates) {
  // Every thread opens the not-yet-existing file at once, so auto-init races
  // too; then read + CAS loops on one row.
  constexpr int kThreads = 6;
  constexpr int kAttempts = 50;
  std::atomic<int> applied{0}, errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      auto store = SqliteStore::Open(path_);
      if (!store.ok()) {
        ADD_FAILURE() << store.status().ToString();
        ++errors;
        return;
      }
      if (!(*store)->CreateState(Idle("counter", 1)).ok()) ++errors;
      for (int i = 0; i < kAttempts; ++i) {
        auto read = (*store)->ReadState("counter");
        if (!read.ok() || !read->has_value()) {
          ++errors;
          continue;
        }
        JobState next = **read;
        ++next.version;
        ++next.run_count;
        ++next.success_count;
        auto outcome = (*store)->ReplaceState(next, (*read)->version);
        if (!outcome.ok()) ADD_FAILURE() << outcome.status().ToString();
        if (outcome.ok() && *outcome == WriteOutcome::kApplied) ++applied;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(errors.load(), 0);
  auto store = Open();
  ASSERT_NE(store, nullptr);
  ASSERT_OK_AND_ASSIGN(auto final_state, store->ReadState("counter"));
  ASSERT_TRUE(final_state.has_value());
  EXPECT_GE(applied.load(), kAttempts);  // at least one thread's worth
  EXPECT_EQ(final_state->run_count, applied.load());
  EXPECT_EQ(final_state->version, 1 + applied.load());
}

TEST_F(SqliteStoreTest, WriterBlockedPastTheBusyTimeoutIsUnavailable) {
  SqliteOptions options;
  options.busy_timeout_ms = 50;
  auto store = Open(options);
  ASSERT_NE(store, nullptr);
  ASSERT_OK_AND_ASSIGN(auto created, store->CreateState(Idle("j", 1)));
  ASSERT_EQ(created, WriteOutcome::kApplied);
  RawDb holder(path_);
  ASSERT_EQ(holder.Exec("BEGIN IMMEDIATE"), "");

  // WAL: readers are not blocked by the writer.
  ASSERT_OK_AND_ASSIGN(auto read, store->ReadState("j"));
  EXPECT_EQ(read, Idle("j", 1));
  auto write = store->ReplaceState(Idle("j", 2), 1);
  EXPECT_EQ(write.status().code(), StatusCode::kUnavailable);
  EXPECT_TRUE(Contains(write.status().message(), "locked")) << write.status().message();
  EXPECT_TRUE(Contains(write.status().message(), path_)) << write.status().message();
  RunRecord run;
  run.job = "j";
  auto both = store->ReplaceStateAndAppendRun(Idle("j", 2), 1, run);
  EXPECT_EQ(both.status().code(), StatusCode::kUnavailable);

  ASSERT_EQ(holder.Exec("ROLLBACK"), "");
  ASSERT_OK_AND_ASSIGN(auto outcome, store->ReplaceState(Idle("j", 2), 1));
  EXPECT_EQ(outcome, WriteOutcome::kApplied);
}

// ---- opening, schema -------------------------------------------------------------------

TEST_F(SqliteStoreTest, UnopenablePathsAreUnavailableNamingThePath) {
  const std::string missing_dir = dir_.File("no/such/dir/jobgate.db");
  auto no_dir = SqliteStore::Open(missing_dir);
  EXPECT_EQ(no_dir.status().code(), StatusCode::kUnavailable);
  EXPECT_TRUE(Contains(no_dir.status().message(), missing_dir)) << no_dir.status().message();

  auto a_dir = SqliteStore::Open(dir_.path());
  EXPECT_EQ(a_dir.status().code(), StatusCode::kUnavailable) << a_dir.status().ToString();

  const std::string text_file = dir_.File("notes.txt");
  std::ofstream(text_file) << std::string(4096, 'n');
  auto not_db = SqliteStore::Open(text_file);
  EXPECT_EQ(not_db.status().code(), StatusCode::kUnavailable);
  EXPECT_TRUE(Contains(not_db.status().message(), "not a database")) << not_db.status().message();
  EXPECT_TRUE(Contains(not_db.status().message(), text_file)) << not_db.status().message();
}

TEST_F(SqliteStoreTest, OpeningCreatesAMissingSchema) {
  std::ofstream(path_).flush();  // an empty file is an empty database
  auto store = Open();
  ASSERT_NE(store, nullptr);
  RawDb raw(path_);
  EXPECT_EQ(raw.Query("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name"),
            "job_definition\njob_request\njob_run\njob_state\nschema_meta\n");
  EXPECT_EQ(raw.Query("SELECT value FROM schema_meta WHERE key = 'schema_version'"), "1\n");
}

TEST_F(SqliteStoreTest, InitIsIdempotent) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  ASSERT_OK_AND_ASSIGN(auto created, store->CreateState(Idle("j", 1)));
  ASSERT_EQ(created, WriteOutcome::kApplied);
  ASSERT_OK(store->Init());
  ASSERT_OK(store->Init());
  auto reopened = Open();
  ASSERT_NE(reopened, nullptr);
  ASSERT_OK(reopened->Init());
  ASSERT_OK_AND_ASSIGN(auto read, reopened->ReadState("j"));
  EXPECT_EQ(read, Idle("j", 1));
  RawDb raw(path_);
  EXPECT_EQ(raw.Query("SELECT count(*) FROM schema_meta WHERE key = 'schema_version'"), "1\n");
}

TEST_F(SqliteStoreTest, NewerSchemaVersionIsRefused) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  {
    RawDb raw(path_);
    ASSERT_EQ(raw.Exec("UPDATE schema_meta SET value = '2' WHERE key = 'schema_version'"), "");
  }
  auto reopened = SqliteStore::Open(path_);
  ASSERT_FALSE(reopened.ok());
  EXPECT_EQ(reopened.status().code(), StatusCode::kUnavailable);
  EXPECT_TRUE(Contains(reopened.status().message(), "schema_version 2 is newer")) << reopened.status().message();
  Status init = store->Init();
  EXPECT_EQ(init.code(), StatusCode::kUnavailable);
  EXPECT_TRUE(Contains(init.message(), "schema_version 2")) << init.message();
}

TEST_F(SqliteStoreTest, PragmasFollowTheOptions) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(*store->Pragma("journal_mode"), "wal");
  EXPECT_EQ(*store->Pragma("synchronous"), "1");  // NORMAL
  EXPECT_EQ(*store->Pragma("busy_timeout"), "10000");
  EXPECT_EQ(store->Pragma("user_version; DROP TABLE job_state").status().code(), StatusCode::kInvalidArgument);
  SqliteOptions full;
  full.synchronous_full = true;
  auto durable = Open(full);
  ASSERT_NE(durable, nullptr);
  EXPECT_EQ(*durable->Pragma("synchronous"), "2");  // FULL
}

TEST_F(SqliteStoreTest, ListDueIsAnIndexRange) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  RawDb raw(path_);
  std::string sql = SqliteStore::ListDueSql();
  for (const char* param : {"?1", "?2"}) sql.replace(sql.find(param), 2, "10");
  const std::string plan = raw.Query("EXPLAIN QUERY PLAN " + sql);
  EXPECT_TRUE(Contains(plan, "job_state_due (due_at<?)")) << plan;
  EXPECT_FALSE(Contains(plan, "TEMP B-TREE")) << plan;  // no sort of all rows
}

// ---- I/O errors and the checkpoint policy ----------------------------------------------

TEST_F(SqliteStoreTest, DiskFullIsUnavailable) {
  // A file-size limit makes SQLite's write() fail like a full disk. SIGXFSZ
  // would kill the test, so it is ignored for the duration.
  auto store = Open();
  ASSERT_NE(store, nullptr);
  ASSERT_OK_AND_ASSIGN(auto created, store->CreateState(Idle("j", 1)));
  ASSERT_EQ(created, WriteOutcome::kApplied);
  rlimit old_limit{};
  getrlimit(RLIMIT_FSIZE, &old_limit);
  auto old_handler = signal(SIGXFSZ, SIG_IGN);
  rlimit small = old_limit;
  small.rlim_cur = 64 * 1024;
  setrlimit(RLIMIT_FSIZE, &small);
  Status failure;
  for (int64_t v = 1; v < 200 && failure.ok(); ++v) {
    JobState next = Idle("j", v + 1);
    next.last_error = std::string(4000, 'e') + std::to_string(v);  // a new page each write
    next.holder = std::string(4000, 'h');
    auto outcome = store->ReplaceState(next, v);
    if (!outcome.ok()) failure = outcome.status();
  }
  setrlimit(RLIMIT_FSIZE, &old_limit);
  signal(SIGXFSZ, old_handler);
  EXPECT_EQ(failure.code(), StatusCode::kUnavailable) << failure.ToString();
  EXPECT_TRUE(Contains(failure.message(), path_)) << failure.message();
}

off_t FileSize(const std::string& path) {
  std::error_code ec;
  auto size = std::filesystem::file_size(path, ec);
  return ec ? -1 : static_cast<off_t>(size);
}

// One CLI-like invocation: open, read, CAS, close.
void Invocation(const std::string& path, const SqliteOptions& options) {
  auto store = SqliteStore::Open(path, options);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  ASSERT_OK_AND_ASSIGN(auto state, (*store)->ReadState("j"));
  JobState next = state.value_or(Idle("j", 0));
  ++next.version;
  ++next.run_count;
  ++next.success_count;
  auto outcome = state ? (*store)->ReplaceState(next, state->version) : (*store)->CreateState(next);
  ASSERT_TRUE(outcome.ok() && *outcome == WriteOutcome::kApplied);
}

TEST_F(SqliteStoreTest, ShortLivedConnectionsKeepTheWalBoundedAndTheData) {
  SqliteOptions options;
  options.checkpoint_frames = 16;
  const off_t frame = 4096 + 24;
  off_t largest = 0;
  bool truncated = false;
  for (int i = 0; i < 100; ++i) {
    Invocation(path_, options);
    const off_t wal = FileSize(path_ + "-wal");
    largest = std::max(largest, wal);
    truncated = truncated || (i > 0 && wal == 0);
  }
  EXPECT_TRUE(truncated);  // the closer that saw 16 frames checkpointed
  EXPECT_LE(largest, 32 + frame * (16 + 8)) << "WAL grows without bound";
  auto store = Open(options);
  ASSERT_NE(store, nullptr);
  ASSERT_OK_AND_ASSIGN(auto state, store->ReadState("j"));
  ASSERT_TRUE(state.has_value());
  EXPECT_EQ(state->run_count, 100);
}

TEST_F(SqliteStoreTest, SqliteDefaultCheckpointDeletesTheWalOnLastClose) {
  SqliteOptions options;
  options.checkpoint_frames = 0;
  Invocation(path_, options);
  Invocation(path_, options);
  EXPECT_EQ(FileSize(path_ + "-wal"), -1);
}

// ---- OpenStore URLs -------------------------------------------------------------------

TEST(OpenStore, MemoryAndSqliteUrlsOpen) {
  ASSERT_OK_AND_ASSIGN(auto memory, OpenStore("memory:"));
  ASSERT_OK_AND_ASSIGN(auto state, memory->ReadState("j"));
  EXPECT_EQ(state, std::nullopt);
  TempDir dir;
  for (const std::string query :
       {"", "?synchronous=normal", "?synchronous=full", "?checkpoint_frames=0&synchronous=full", "?checkpoint_frames=500"}) {
    ASSERT_OK_AND_ASSIGN(auto sqlite, OpenStore("sqlite:" + dir.File("a.db") + query));
    ASSERT_OK_AND_ASSIGN(state, sqlite->ReadState("j"));
    EXPECT_EQ(state, std::nullopt);
  }
}

TEST(OpenStore, BadUrlsAreInvalidArgumentsNamingTheProblem) {
  struct Case {
    std::string url;
    std::string named;
  };
  for (const Case& c : {Case{"", "unknown scheme"}, Case{"redis://localhost", "redis://localhost"},
                        Case{"memory:extra", "memory:extra"}, Case{"sqlite:", "needs a path"},
                        Case{"sqlite:x.db?synchronous=sometimes", "sometimes"},
                        Case{"sqlite:x.db?journal=delete", "journal"},
                        Case{"sqlite:x.db?checkpoint_frames=-1", "-1"},
                        Case{"sqlite:x.db?checkpoint_frames=lots", "lots"},
                        Case{"postgres://localhost/jobgate?schema=Bad", "Bad"}}) {
    auto store = OpenStore(c.url);
    ASSERT_FALSE(store.ok()) << c.url;
    EXPECT_EQ(store.status().code(), StatusCode::kInvalidArgument) << c.url;
    EXPECT_TRUE(Contains(store.status().message(), c.named)) << store.status().message();
    EXPECT_TRUE(Contains(store.status().message(), "'" + c.url + "'")) << store.status().message();
  }
}

TEST(OpenStore, UnopenableSqlitePathIsUnavailable) {
  auto store = OpenStore("sqlite:/nonexistent-jobgate-dir/x.db");
  EXPECT_EQ(store.status().code(), StatusCode::kUnavailable) << store.status().ToString();
}

}  // namespace
}  // namespace jobgate
