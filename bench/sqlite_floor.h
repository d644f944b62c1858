// The floor of the SQLite benchmarks: jobgate's store work done directly on
// the SQLite C API, with no jobgate logic. The same tables and indexes (the
// database is created by SqliteStore), the same row width (every column of
// the state row is read and written back, as SqliteStore does), the same
// query shapes, the same pragmas, statements prepared once per connection.
//
// One guarded attempt is what a `jobgate run` with cooldown 0 writes:
//   1. SELECT state row + definition (the store's ReadJob query shape);
//   2. UPDATE to RUNNING ... WHERE job = ? AND version = ?, check changes();
//   3. BEGIN IMMEDIATE; UPDATE back to IDLE with counters WHERE version = ?;
//      INSERT the run record; COMMIT.
// jobgate additionally deletes old run records every 16th commit
// (Controller::kTrimEvery); the floor does not.
//
// Header-only, C library only: floor_cli.cc must start like a minimal C
// program, and sqlite_bench.cc measures the same code on a kept connection.
// sqlite_bench checks the column lists below against SqliteStore's layout.
#pragma once

#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

namespace floor_sql {

// job_state columns after (job, status), in the store's order; due_at follows.
enum StateCol {
  kVersion, kOwner, kHolder, kFence, kLeaseUntil, kLastRunTs, kLastSuccessTs, kLastFailureTs, kLastError,
  kLastExitCode, kLastDurationMs, kLastOutcome, kLastFence, kLastRequestId, kUnsettledRequests, kRunCount,
  kSuccessCount, kFailureCount, kAbandonedCount, kConsecutiveFailures, kNextAllowedRun, kLastSlot, kRateHistory,
  kPausedReason, kNextFireTs, kSlotsMissed, kSlotsSkipped, kSlotsDeduplicated, kUpdatedAt,
  kNumStateCols,
};
inline constexpr const char* kStateColNames[kNumStateCols] = {
    "version", "owner", "holder", "fence", "lease_until", "last_run_ts", "last_success_ts", "last_failure_ts",
    "last_error", "last_exit_code", "last_duration_ms", "last_outcome", "last_fence", "last_request_id",
    "unsettled_requests", "run_count", "success_count", "failure_count", "abandoned_count", "consecutive_failures",
    "next_allowed_run", "last_slot", "rate_history", "paused_reason", "next_fire_ts", "slots_missed", "slots_skipped",
    "slots_deduplicated", "updated_at",
};
inline constexpr bool IsText(int c) {
  return c == kOwner || c == kHolder || c == kLastError || c == kLastOutcome || c == kLastRequestId ||
         c == kUnsettledRequests || c == kRateHistory || c == kPausedReason;
}
// job_run columns after job.
inline constexpr const char* kRunColNames[] = {"run_id", "fence", "slot", "start_ms", "end_ms",
                                               "outcome", "exit_code", "error", "holder"};

// The store's ReadJob shape: one SELECT, two primary-key lookups.
inline constexpr const char* kReadSql =
    "SELECT s.job IS NOT NULL, d.job IS NOT NULL, d.definition, s.status, s.version, s.owner, s.holder, "
    "s.fence, s.lease_until, s.last_run_ts, s.last_success_ts, s.last_failure_ts, s.last_error, "
    "s.last_exit_code, s.last_duration_ms, s.last_outcome, s.last_fence, s.last_request_id, s.unsettled_requests, "
    "s.run_count, s.success_count, s.failure_count, s.abandoned_count, s.consecutive_failures, s.next_allowed_run, "
    "s.last_slot, s.rate_history, s.paused_reason, s.next_fire_ts, s.slots_missed, s.slots_skipped, "
    "s.slots_deduplicated, s.updated_at FROM (SELECT ?1 AS job) AS k "
    "LEFT JOIN job_state AS s ON s.job = k.job LEFT JOIN job_definition AS d ON d.job = k.job";
inline constexpr int kReadFirstStateCol = 4;  // status is column 3
// The whole row, as SqliteStore writes it; the plain version condition.
inline constexpr const char* kWriteSql =
    "UPDATE job_state SET status = ?2, version = ?3, owner = ?4, holder = ?5, fence = ?6, lease_until = ?7, "
    "last_run_ts = ?8, last_success_ts = ?9, last_failure_ts = ?10, last_error = ?11, last_exit_code = ?12, "
    "last_duration_ms = ?13, last_outcome = ?14, last_fence = ?15, last_request_id = ?16, "
    "unsettled_requests = ?17, run_count = ?18, success_count = ?19, failure_count = ?20, abandoned_count = ?21, "
    "consecutive_failures = ?22, next_allowed_run = ?23, last_slot = ?24, rate_history = ?25, paused_reason = ?26, "
    "next_fire_ts = ?27, slots_missed = ?28, slots_skipped = ?29, slots_deduplicated = ?30, updated_at = ?31, "
    "due_at = ?32 WHERE job = ?1 AND version = ?33";
inline constexpr const char* kInsertRunSql =
    "INSERT OR REPLACE INTO job_run (job, run_id, fence, slot, start_ms, end_ms, outcome, exit_code, error, "
    "holder) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";

inline constexpr int kTextCap = 1280;  // last_error is at most 1 KiB

// One state row as read: the values the next write needs.
struct Row {
  bool exists;
  char status[16];
  int64_t ints[kNumStateCols];
  char text[kNumStateCols][kTextCap];
  int text_len[kNumStateCols];
};

enum class Close { kJobgatePolicy, kSqliteDefault };

struct Conn {
  sqlite3* db = nullptr;
  sqlite3_stmt* read = nullptr;
  sqlite3_stmt* write = nullptr;
  sqlite3_stmt* insert_run = nullptr;
  sqlite3_stmt* begin = nullptr;
  sqlite3_stmt* commit = nullptr;
  sqlite3_stmt* rollback = nullptr;
  Close close_policy = Close::kJobgatePolicy;
  int wal_frames = 0;
  uint64_t rng = 0x9e3779b97f4a7c15ULL;
  char error[256] = {};
};

inline int64_t NowMs() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

inline int Fail(Conn* c, const char* what, int rc) {
  snprintf(c->error, sizeof(c->error), "%s: %s (rc %d)", what, sqlite3_errmsg(c->db), rc);
  return -1;
}

// Installing a WAL hook turns SQLite's autocheckpoint off; like SqliteStore,
// checkpoint (PASSIVE) at SQLite's default of 1000 frames instead.
inline int OnWalCommit(void* self, sqlite3* db, const char* db_name, int frames) {
  static_cast<Conn*>(self)->wal_frames = frames;
  if (frames >= 1000) sqlite3_wal_checkpoint_v2(db, db_name, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
  return SQLITE_OK;
}

// Opens with SqliteStore's settings: WAL, synchronous NORMAL or FULL, busy
// timeout 10 s; with kJobgatePolicy also its checkpoint policy (no
// checkpoint on close unless the WAL reached 64 frames, then TRUNCATE).
// kSqliteDefault keeps SQLite's checkpoint-and-delete on the last close.
inline int Open(Conn* c, const char* path, bool synchronous_full, Close close_policy) {
  c->close_policy = close_policy;
  int rc = sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) return Fail(c, "open", rc);
  sqlite3_busy_timeout(c->db, 10000);
  if (close_policy == Close::kJobgatePolicy) {
    sqlite3_db_config(c->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr);
    sqlite3_wal_hook(c->db, &OnWalCommit, c);
  }
  rc = sqlite3_exec(c->db, "PRAGMA journal_mode = WAL", nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return Fail(c, "journal_mode", rc);
  rc = sqlite3_exec(c->db, synchronous_full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL", nullptr,
                    nullptr, nullptr);
  if (rc != SQLITE_OK) return Fail(c, "synchronous", rc);
  struct {
    sqlite3_stmt** stmt;
    const char* sql;
  } prepare[] = {{&c->read, kReadSql},   {&c->write, kWriteSql},   {&c->insert_run, kInsertRunSql},
                 {&c->begin, "BEGIN IMMEDIATE"}, {&c->commit, "COMMIT"}, {&c->rollback, "ROLLBACK"}};
  for (auto& p : prepare) {
    rc = sqlite3_prepare_v3(c->db, p.sql, -1, SQLITE_PREPARE_PERSISTENT, p.stmt, nullptr);
    if (rc != SQLITE_OK) return Fail(c, p.sql, rc);
  }
  return 0;
}

inline void CloseConn(Conn* c) {
  sqlite3_stmt* all[] = {c->read, c->write, c->insert_run, c->begin, c->commit, c->rollback};
  for (sqlite3_stmt* s : all) sqlite3_finalize(s);
  if (c->db == nullptr) return;
  if (c->close_policy == Close::kJobgatePolicy && c->wal_frames >= 64) {
    sqlite3_busy_timeout(c->db, 0);
    sqlite3_wal_checkpoint_v2(c->db, "main", SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr);
  }
  sqlite3_close_v2(c->db);
  c->db = nullptr;
}

// Steps a statement that returns no row, then resets it.
inline int Exec(Conn* c, sqlite3_stmt* s, const char* what) {
  int rc = sqlite3_step(s);
  sqlite3_reset(s);
  return rc == SQLITE_DONE ? 0 : Fail(c, what, rc);
}

// Step 1: the state row (and the definition, which is only touched).
inline int Read(Conn* c, const char* job, Row* row) {
  sqlite3_bind_text(c->read, 1, job, -1, SQLITE_STATIC);
  int rc = sqlite3_step(c->read);
  if (rc != SQLITE_ROW) {
    sqlite3_reset(c->read);
    return Fail(c, "read", rc);
  }
  row->exists = sqlite3_column_int(c->read, 0) != 0;
  (void)sqlite3_column_bytes(c->read, 2);  // the definition text, unparsed
  const unsigned char* status = sqlite3_column_text(c->read, 3);
  snprintf(row->status, sizeof(row->status), "%s", status ? reinterpret_cast<const char*>(status) : "");
  for (int i = 0; i < kNumStateCols; ++i) {
    const int col = kReadFirstStateCol + i;
    if (!IsText(i)) {
      row->ints[i] = sqlite3_column_int64(c->read, col);
      continue;
    }
    const unsigned char* t = sqlite3_column_text(c->read, col);
    const int n = sqlite3_column_bytes(c->read, col);
    if (n >= kTextCap) {
      sqlite3_reset(c->read);
      return Fail(c, "a text column is longer than the floor's buffer", SQLITE_TOOBIG);
    }
    if (n > 0) memcpy(row->text[i], t, static_cast<size_t>(n));
    row->text[i][n] = '\0';
    row->text_len[i] = n;
  }
  sqlite3_reset(c->read);  // ends the read transaction, as SqliteStore does
  return 0;
}

inline void SetText(Row* row, int col, const char* text) {
  const int n = static_cast<int>(strlen(text));
  memcpy(row->text[col], text, static_cast<size_t>(n) + 1);
  row->text_len[col] = n;
}

// UPDATE ... WHERE version = expected; 1 applied, 0 condition failed, -1 error.
inline int WriteRow(Conn* c, const char* job, const Row* row, int64_t due_at, int64_t expected_version) {
  sqlite3_stmt* s = c->write;
  sqlite3_bind_text(s, 1, job, -1, SQLITE_STATIC);
  sqlite3_bind_text(s, 2, row->status, -1, SQLITE_STATIC);
  for (int i = 0; i < kNumStateCols; ++i) {
    if (IsText(i)) {
      sqlite3_bind_text(s, 3 + i, row->text[i], row->text_len[i], SQLITE_STATIC);
    } else {
      sqlite3_bind_int64(s, 3 + i, row->ints[i]);
    }
  }
  sqlite3_bind_int64(s, 3 + kNumStateCols, due_at);
  sqlite3_bind_int64(s, 4 + kNumStateCols, expected_version);
  if (Exec(c, s, "update state") != 0) return -1;
  return sqlite3_changes(c->db) == 1 ? 1 : 0;
}

inline int InsertRun(Conn* c, const char* job, const Row* done, const char* run_id, int64_t start_ms,
                     const char* holder) {
  sqlite3_stmt* s = c->insert_run;
  sqlite3_bind_text(s, 1, job, -1, SQLITE_STATIC);
  sqlite3_bind_text(s, 2, run_id, -1, SQLITE_STATIC);
  sqlite3_bind_int64(s, 3, done->ints[kFence]);
  sqlite3_bind_int64(s, 4, 0);
  sqlite3_bind_int64(s, 5, start_ms);
  sqlite3_bind_int64(s, 6, done->ints[kUpdatedAt]);
  sqlite3_bind_text(s, 7, "succeeded", -1, SQLITE_STATIC);
  sqlite3_bind_int64(s, 8, 0);
  sqlite3_bind_text(s, 9, "", 0, SQLITE_STATIC);
  sqlite3_bind_text(s, 10, holder, -1, SQLITE_STATIC);
  return Exec(c, s, "insert run");
}

enum Attempt { kError = -1, kSkipped = 0, kRan = 1, kLost = 2 };

// Only steps 1 (the skip path): kSkipped when the row is RUNNING under a
// live lease or in cooldown, else kRan (meaning "would acquire").
inline Attempt SkipCheck(Conn* c, const char* job, Row* row) {
  if (Read(c, job, row) != 0) return kError;
  const int64_t now = NowMs();
  if (!row->exists) return kRan;
  if (strcmp(row->status, "RUNNING") == 0 && now <= row->ints[kLeaseUntil] + 2000) return kSkipped;
  if (strcmp(row->status, "PAUSED") == 0 || now < row->ints[kNextAllowedRun]) return kSkipped;
  return kRan;
}

// Steps 1-3 with a no-op workload that succeeds. The row must exist.
// `workload`, when given, runs between the acquire and the commit; its
// result is the run's exit code.
inline Attempt GuardedAttempt(Conn* c, const char* job, const char* holder, int64_t cooldown_ms, Row* row,
                              int (*workload)(void*) = nullptr, void* workload_arg = nullptr) {
  Attempt gate = SkipCheck(c, job, row);
  if (gate != kRan) return gate;
  if (!row->exists) {
    Fail(c, "the floor needs an existing state row", SQLITE_NOTFOUND);
    return kError;
  }
  // Acquire: version + 1, RUNNING under a new run id and fence.
  const int64_t start = NowMs();
  c->rng ^= c->rng << 13;
  c->rng ^= c->rng >> 7;
  c->rng ^= c->rng << 17;
  char run_id[40];
  snprintf(run_id, sizeof(run_id), "%012llx-%016llx", static_cast<unsigned long long>(start),
           static_cast<unsigned long long>(c->rng));
  const int64_t read_version = row->ints[kVersion];
  snprintf(row->status, sizeof(row->status), "RUNNING");
  SetText(row, kOwner, run_id);
  SetText(row, kHolder, holder);
  row->ints[kVersion] += 1;
  row->ints[kFence] += 1;
  row->ints[kLeaseUntil] = start + 60000;
  row->ints[kRunCount] += 1;
  row->ints[kLastRunTs] = start;
  row->ints[kUpdatedAt] = start;
  int w = WriteRow(c, job, row, row->ints[kLeaseUntil], read_version);
  if (w != 1) return w < 0 ? kError : kLost;

  // The workload (by default nothing). Commit: back to IDLE with counters + run record.
  const int exit_code = workload != nullptr ? workload(workload_arg) : 0;
  const int64_t end = NowMs();
  const int64_t running_version = row->ints[kVersion];
  snprintf(row->status, sizeof(row->status), "IDLE");
  SetText(row, kOwner, "");
  SetText(row, kHolder, "");
  row->ints[kVersion] += 1;
  row->ints[kLastExitCode] = exit_code;
  row->ints[kLastDurationMs] = end - start;
  SetText(row, kLastOutcome, "succeeded");  // the commit names its run, as Controller::Commit does
  row->ints[kLastFence] = row->ints[kFence];
  row->ints[kSuccessCount] += 1;
  row->ints[kConsecutiveFailures] = 0;
  row->ints[kLastSuccessTs] = end;
  row->ints[kNextAllowedRun] = end + cooldown_ms;
  row->ints[kUpdatedAt] = end;
  const int64_t due = row->ints[kNextAllowedRun] > row->ints[kNextFireTs] ? row->ints[kNextAllowedRun]
                                                                           : row->ints[kNextFireTs];
  if (Exec(c, c->begin, "begin") != 0) return kError;
  w = WriteRow(c, job, row, due, running_version);
  if (w == 1 && InsertRun(c, job, row, run_id, start, holder) == 0 && Exec(c, c->commit, "commit") == 0) {
    return kRan;
  }
  Exec(c, c->rollback, "rollback");
  if (w == 0) return kLost;
  return kError;
}

}  // namespace floor_sql
