// The scheduler: `jobgate tick` (one pass) and `jobgate serve` (the loop).
// It decides nothing about a job: it lists the due index and starts one
// scheduled invocation per due job (`jobgate run NAME --scheduled`, whose
// acquiring CAS claims the slot), so any number of schedulers on one store
// share the work without a leader, and a scheduler that dies leaves its
// runs going: each is its own process, heartbeating and committing its
// lease (docs/schedules.md, docs/operations.md).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "jobgate/clock.h"
#include "jobgate/status.h"
#include "jobgate/store.h"

namespace jobgate {

// A scheduled invocation that ended.
struct EndedRun {
  std::string job;
  int exit_code = 0;         // the invocation's (`jobgate run`'s exit codes)
  std::string outcome_json;  // its --json outcome, when it printed one
  int64_t duration_ms = 0;
};

// Starts scheduled invocations and reports their ends. The real one spawns
// `jobgate run`; tests pass their own.
class Launcher {
 public:
  virtual ~Launcher() = default;
  // Starts the scheduled invocation of `job`; its process id (or any id).
  virtual Result<int64_t> Start(const std::string& job) = 0;
  // The invocations that ended, waiting up to `wait_ms` for one (the whole
  // `wait_ms` when none is running: a caller may loop on it while idle).
  virtual std::vector<EndedRun> Reap(int64_t wait_ms) = 0;
  // Sends `signal` to every running invocation (shutdown after the grace).
  virtual void SignalAll(int signal) = 0;
  virtual size_t running() const = 0;
};

struct LauncherOptions {
  std::string jobgate;                 // the jobgate executable (/proc/self/exe)
  std::vector<std::string> global_args;  // --log-format ..., before `run`
  // NAME=VALUE set in every invocation's environment, over the scheduler's
  // own. Secrets go here, not in global_args: any user of the host can read
  // a command line (ps, /proc/PID/cmdline), only the owner an environment.
  std::vector<std::string> env;
  // Names removed from it (NOTIFY_SOCKET: the scheduler talks to systemd,
  // its jobs do not).
  std::vector<std::string> unset_env;
};
std::unique_ptr<Launcher> MakeProcessLauncher(LauncherOptions options);

// What a scheduler does, as it does it (serve's metrics): every call on the
// scheduler's thread.
class SchedulerObserver {
 public:
  virtual ~SchedulerObserver() = default;
  // A pass of the loop: the due index read at `now` (or the read failed),
  // with `running` invocations of this scheduler going.
  virtual void Pass(EpochMs now, bool due_read, size_t running) = 0;
  // `job`, due at `due_at`, started at `now`.
  virtual void Started(const std::string& job, EpochMs due_at, EpochMs now) = 0;
  virtual void Ended(const EndedRun& run) = 0;
};

// One line per start and end, text or JSON.
using EventSink = std::function<void(const std::string& line)>;

struct SchedulerOptions {
  int max_concurrent = 8;      // invocations running at once from this scheduler
  int64_t poll_ms = 1'000;     // the due index is read at least this often
  int64_t grace_ms = 30'000;   // serve, on stop: how long running jobs get to finish
  int64_t kill_after_ms = 15'000;  // after SIGTERM at the grace's end: SIGKILL
  size_t batch = 256;          // due jobs read per pass
  bool json = false;           // event lines as JSON
};

struct TickReport {
  int started = 0;
  int succeeded = 0;   // exit 0, ran or skipped
  int failed = 0;      // any other exit
  int unavailable = 0; // exit 69: the store was down for it
};

class Scheduler {
 public:
  Scheduler(Store& store, Clock& clock, Launcher& launcher, SchedulerOptions options, EventSink events);

  // Starts every job due now, at most max_concurrent at a time, and waits
  // for them. An error when the due index cannot be read (nothing started).
  Result<TickReport> Tick();

  // Until `stop`: sleeps until the next due time (or poll_ms), starts the
  // due jobs, reaps the ended. Then starts nothing more, gives running jobs
  // grace_ms to finish, SIGTERMs them (they stop their workloads and
  // commit), and SIGKILLs what is left after kill_after_ms. `heartbeat` is
  // called every loop (the systemd watchdog); `stopping` once `stop` is
  // seen, before the grace (systemd's STOPPING=1, which ends the watchdog:
  // the grace sends no heartbeat).
  Status Serve(const std::atomic<bool>& stop, const std::function<void()>& heartbeat = {},
               const std::function<void()>& stopping = {});

  // Told of every pass, start and end from now on (nullptr: nobody).
  void set_observer(SchedulerObserver* observer) { observer_ = observer; }

  // An event line of the process, in the scheduler's format (e.g. serve's
  // "listening address=127.0.0.1:8080").
  void Note(const std::string& what, const std::map<std::string, std::string>& fields) { Event(what, "", fields); }

 private:
  // Starts what is due of `due` (listed at `now`); returns the soonest
  // later due time seen.
  std::optional<EpochMs> StartDue(const std::vector<DueJob>& due, EpochMs now);
  void Ended(const std::vector<EndedRun>& ended, TickReport* report);
  void Shutdown();
  void Event(const std::string& what, const std::string& job, const std::map<std::string, std::string>& fields);

  Store& store_;
  Clock& clock_;
  Launcher& launcher_;
  const SchedulerOptions options_;
  EventSink events_;
  SchedulerObserver* observer_ = nullptr;
  // This scheduler's running invocations by job, and when a job's last
  // one ended with the due time it was started for: a job is not started
  // twice at once here, nor again for the same due time at once (another
  // host's clock may still place it in the future).
  std::map<std::string, std::pair<int, EpochMs>> running_;  // job -> (count, latest due time started)
  std::map<std::string, std::pair<EpochMs, EpochMs>> last_end_;  // job -> (due_at, ended at)
  // Jobs whose invocations ended without an outcome (a bad definition, a
  // store that refused, a corrupt item): held back, doubling up to a
  // minute, so a broken job is not started every second.
  struct HoldOff {
    int failures = 0;
    EpochMs until = 0;
  };
  std::map<std::string, HoldOff> hold_off_;
};

}  // namespace jobgate
