// The process runner behind `jobgate run NAME -- CMD...`: spawns the workload
// in its own process group, passes its output through, enforces the timeout,
// drives the lease heartbeat, forwards termination signals, and makes sure
// nothing of the workload outlives jobgate. It knows nothing about stores:
// the controller plugs in through the heartbeat callback.
//
// Process tree while a workload runs:
//
//   jobgate ── sentinel (no exec; leader of group G; waits for jobgate to die)
//          └── workload (exec'd; in group G) ── its children, also in G
//
// When the workload's main process exits, or jobgate dies in any way
// (`kill -9` included), every process left in G is SIGKILLed. Processes that
// leave G on purpose (setsid, setpgid) escape; only a cgroup would catch them.
//
// Caveats the caller should know:
// - Not thread-safe, and the calling process must be single-threaded while
//   RunProcess runs: it forks, and it takes SIGCHLD/SIGTERM/SIGINT/SIGHUP
//   through a signalfd, which only sees signals no other thread accepts.
// - The workload's group is not the terminal's foreground group, so a
//   workload that reads from a terminal stops (SIGTTIN), as under timeout(1).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/beat_thread.h"
#include "core/lease_keeper.h"
#include "jobgate/clock.h"
#include "jobgate/status.h"

namespace jobgate {

// Test seam: called with a system call's name ("spawn (workload)",
// "signalfd", ...) before the runner makes it; a non-zero errno makes the
// call fail with it, so every error path is reached without hope.
using SyscallFault = std::function<int(std::string_view call)>;

// What to run and the limits to run it under.
struct ProcessSpec {
  std::vector<std::string> argv;  // argv[0] is looked up in PATH, like a shell
  // Added to / overriding the inherited environment (JOBGATE_FENCE, ...).
  std::vector<std::pair<std::string, std::string>> env;
  int64_t timeout_ms = 0;              // 0 = no timeout
  int64_t kill_grace_ms = 10000;       // SIGTERM -> SIGKILL when stopping it
  // The lease the heartbeat renews (0 = no lease, no heartbeat): the
  // workload is dead by the end of it unless a beat renews it. `lease_left_ms`
  // is what is left of it at the start; `lease_ms` its full length, which
  // sets the beat cadence and how early a lease that is not being renewed
  // starts a graceful stop (LeaseKeeper).
  int64_t lease_ms = 0;
  int64_t lease_left_ms = 0;
  size_t stderr_tail_bytes = 1024;     // budget of ProcessResult::stderr_tail
  // Every deadline's time (Clock::MonotonicMs); nullptr: the system's.
  Clock* clock = nullptr;
  // Starts the heartbeat thread; empty: std::thread (tests inject failures).
  ThreadStarter start_thread;
  SyscallFault fail_syscall;  // empty: no faults
};

// How a workload ended.
struct ProcessResult {
  enum class Kind {
    kExited,       // exited by itself; exit_code is its status
    kSignaled,     // killed by a signal nobody in jobgate sent
    kTimedOut,     // stopped by jobgate after timeout_ms (CLI exit 124)
    kLeaseLost,    // stopped because the heartbeat reported the lease lost
    kInterrupted,  // stopped because jobgate got SIGTERM/SIGINT/SIGHUP
    kSpawnFailed,  // never ran: not found (127) or not executable (126)
  };
  Kind kind = Kind::kExited;
  int exit_code = 0;        // shell convention: exit status, or 128 + signal
  int signal = 0;           // kInterrupted: the signal jobgate got; else the one that killed it
  std::string stderr_tail;  // last bytes of its stderr (or the spawn error), UTF-8-clean
  int64_t duration_ms = 0;
};

const char* ProcessResultKindName(ProcessResult::Kind kind);  // "exited", "timed_out", ...

// Called when the LeaseKeeper says a beat is due (every lease_ms / 3) while
// the workload runs, on a thread of the runner's (a beat that blocks in the
// store cannot hold up the deadline). Never called twice at once.
using HeartbeatFn = std::function<HeartbeatReply()>;

// Runs the workload to completion. stdout (and stdin) are inherited; stderr
// is copied to jobgate's stderr and its tail kept. Signal mask and
// dispositions are restored before returning. An error Status means jobgate
// itself failed (fork, pipe); everything the workload does is a result.
Result<ProcessResult> RunProcess(const ProcessSpec& spec, const HeartbeatFn& heartbeat);

}  // namespace jobgate
