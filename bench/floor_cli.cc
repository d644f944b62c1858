// The floor of one CLI invocation (docs/benchmarks.md): a fresh process that
// opens the database, does one guarded attempt of sqlite_floor.h (read,
// conditional UPDATE to RUNNING, then UPDATE to IDLE + INSERT run in one
// transaction) and exits, paying the same open and close costs as
// `jobgate run` and nothing else. C library only.
//
//   floor_cli DB JOB [--full] [--sqlite-default-close] [--skip-check]
//       exit 0 when the attempt ran, 3 when it was skipped or lost, 1 on error;
//       --skip-check: only the skip path's read and decision (exit 3 on a
//       skip, 0 when it would acquire), the floor of a skipping `jobgate run`
//   floor_cli --hold DB
//       keeps a connection open (no transaction) until killed, so that the
//       measured processes are not the last connection to the file
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "sqlite_floor.h"

namespace {

int Hold(const char* path) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
    fprintf(stderr, "floor_cli: %s: %s\n", path, sqlite3_errmsg(db));
    return 1;
  }
  // One read maps the WAL index; the statement is finalized, so no read
  // transaction stays open to block checkpoints.
  if (sqlite3_exec(db, "SELECT count(*) FROM job_state", nullptr, nullptr, nullptr) != SQLITE_OK) {
    fprintf(stderr, "floor_cli: %s: %s\n", path, sqlite3_errmsg(db));
    return 1;
  }
  puts("holding");
  fflush(stdout);
  for (;;) pause();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && strcmp(argv[1], "--hold") == 0) return Hold(argv[2]);
  if (argc < 3) {
    fprintf(stderr, "usage: floor_cli DB JOB [--full] [--sqlite-default-close] [--skip-check] | floor_cli --hold DB\n");
    return 2;
  }
  bool full = false;
  bool skip_check = false;
  floor_sql::Close close_policy = floor_sql::Close::kJobgatePolicy;
  for (int i = 3; i < argc; ++i) {
    if (strcmp(argv[i], "--full") == 0) {
      full = true;
    } else if (strcmp(argv[i], "--skip-check") == 0) {
      skip_check = true;
    } else if (strcmp(argv[i], "--sqlite-default-close") == 0) {
      close_policy = floor_sql::Close::kSqliteDefault;
    } else {
      fprintf(stderr, "floor_cli: unknown flag %s\n", argv[i]);
      return 2;
    }
  }
  static floor_sql::Conn conn;
  static floor_sql::Row row;
  char holder[300];
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  snprintf(holder, sizeof(holder), "%s:%d", host, static_cast<int>(getpid()));
  conn.rng ^= static_cast<uint64_t>(getpid()) * 0x100000001b3ULL;
  int rc = 1;
  if (floor_sql::Open(&conn, argv[1], full, close_policy) == 0) {
    const floor_sql::Attempt attempt = skip_check ? floor_sql::SkipCheck(&conn, argv[2], &row)
                                                  : floor_sql::GuardedAttempt(&conn, argv[2], holder, 0, &row);
    switch (attempt) {
      case floor_sql::kRan: rc = 0; break;
      case floor_sql::kSkipped:
      case floor_sql::kLost: rc = 3; break;
      case floor_sql::kError: rc = 1; break;
    }
  }
  if (rc == 1) fprintf(stderr, "floor_cli: %s\n", conn.error);
  floor_sql::CloseConn(&conn);
  return rc;
}
