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
//   floor_cli DB JOB --supervise CMD [ARG...]
//       the guarded attempt with CMD run between the acquire and the commit,
//       supervised as little as jobgate's guarantees allow (Supervise below)
//   floor_cli --hold DB
//       keeps a connection open (no transaction) until killed, so that the
//       measured processes are not the last connection to the file
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
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

// The workload's start, as cheap as it gets: clone(CLONE_VM | CLONE_VFORK),
// the child on a stack in the parent's frame (the parent is suspended until
// it execs), the exec error handed back through the shared memory, no pipe.
// The floor installs no signal handler, so none needs resetting.
struct Start {
  char* const* argv;
  pid_t group;
  int exec_error;
};

int StartMain(void* arg) {
  Start* start = static_cast<Start*>(arg);
  setpgid(0, start->group);
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  execvp(start->argv[0], start->argv);
  start->exec_error = errno;
  _exit(127);
}

// The sentinel: leads the workload's group, and kills it when the
// supervisor's end of the pipe closes. Started with clone(CLONE_VM) on a
// stack of its own, as jobgate does: no page tables copied, no page of the
// supervisor write-protected. Its calls succeed (and so leave errno, which
// it shares with the supervisor's thread, alone) but for the read, which
// the supervisor does not race (it only waits).
struct Sentinel {
  int life_read;
  int life_write;
};

int SentinelMain(void* arg) {
  const Sentinel* s = static_cast<const Sentinel*>(arg);
  setpgid(0, 0);
  close(s->life_write);
  char byte;
  while (read(s->life_read, &byte, 1) < 0 && errno == EINTR) {
  }
  kill(0, SIGKILL);
  _exit(0);
}

// The least supervision that keeps jobgate's guarantees about the process
// tree: a sentinel process leads the workload's process group and kills
// the whole group (grandchildren too) when the supervisor's end of a pipe
// closes, whether at the end or because the supervisor died; the workload
// joins that group and dies with its parent (PR_SET_PDEATHSIG); an exec
// that fails is told apart from the command's own exit 127. No signal
// handling, stderr capture or lease loop: what jobgate adds to this is its
// own cost.
int Supervise(void* arg) {
  char* const* argv = static_cast<char* const*>(arg);
  int life[2];
  if (pipe2(life, O_CLOEXEC) != 0) return 126;
  constexpr size_t kStack = 64 * 1024;
  void* sentinel_stack = mmap(nullptr, kStack, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (sentinel_stack == MAP_FAILED) return 126;
  static Sentinel sentinel_args;
  sentinel_args = {life[0], life[1]};
  const pid_t sentinel = clone(SentinelMain, static_cast<char*>(sentinel_stack) + kStack, CLONE_VM | SIGCHLD,
                               &sentinel_args);
  if (sentinel < 0) return 126;
  setpgid(sentinel, sentinel);
  close(life[0]);
  alignas(64) char stack[32 * 1024];
  Start start{argv, sentinel, 0};
  const pid_t child = clone(StartMain, stack + sizeof stack, CLONE_VM | CLONE_VFORK | SIGCHLD, &start);
  int status = 0;
  if (child > 0) waitpid(child, &status, 0);
  close(life[1]);
  waitpid(sentinel, nullptr, 0);
  munmap(sentinel_stack, kStack);
  if (child < 0 || start.exec_error != 0) return 127;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && strcmp(argv[1], "--hold") == 0) return Hold(argv[2]);
  if (argc < 3) {
    fprintf(stderr, "usage: floor_cli DB JOB [--full] [--sqlite-default-close] [--skip-check] [--supervise CMD...] | "
                    "floor_cli --hold DB\n");
    return 2;
  }
  bool full = false;
  bool skip_check = false;
  char** command = nullptr;
  floor_sql::Close close_policy = floor_sql::Close::kJobgatePolicy;
  for (int i = 3; i < argc && command == nullptr; ++i) {
    if (strcmp(argv[i], "--supervise") == 0 && i + 1 < argc) {
      command = argv + i + 1;
    } else if (strcmp(argv[i], "--full") == 0) {
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
                                                  : floor_sql::GuardedAttempt(&conn, argv[2], holder, 0, &row,
                                                                              command ? Supervise : nullptr, command);
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
