#include "run/guarded_run.h"

#include "core/log.h"

#include <algorithm>

#include <fmt/format.h>

#include "run/process_runner.h"
#include "util/text.h"

namespace jobgate {

WorkResult ToWorkResult(const ProcessResult& r) {
  WorkResult w;
  w.exit_code = r.exit_code;
  w.error = r.stderr_tail;
  auto with_tail = [&](std::string head) {
    return r.stderr_tail.empty() ? head : head + ": " + r.stderr_tail;
  };
  switch (r.kind) {
    case ProcessResult::Kind::kExited:
      w.kind = r.exit_code == 0 ? WorkResult::Kind::kSucceeded : WorkResult::Kind::kFailed;
      if (r.exit_code != 0 && w.error.empty()) w.error = fmt::format("exit code {}", r.exit_code);
      break;
    case ProcessResult::Kind::kSignaled:
      w.kind = WorkResult::Kind::kFailed;
      w.error = with_tail(fmt::format("killed by signal {}", r.signal));
      break;
    case ProcessResult::Kind::kTimedOut:
      w.kind = WorkResult::Kind::kTimedOut;
      w.exit_code = 124;
      break;
    case ProcessResult::Kind::kLeaseLost:
      // Reached only when the heartbeat could not renew the lease before it
      // ran out (store down): if nobody took the job over, this is recorded
      // as a failure; if somebody did, the commit reports lease_lost.
      w.kind = WorkResult::Kind::kFailed;
      w.exit_code = 75;
      w.error = with_tail("stopped: the lease could not be renewed");
      break;
    case ProcessResult::Kind::kInterrupted:
      w.kind = WorkResult::Kind::kFailed;
      w.exit_code = 128 + r.signal;
      w.error = with_tail(fmt::format("stopped: jobgate received signal {}", r.signal));
      break;
    case ProcessResult::Kind::kSpawnFailed:
      w.kind = WorkResult::Kind::kFailed;
      break;
  }
  w.error = CleanTail(w.error, kMaxErrorBytes);
  return w;
}

namespace {

// Cuts the spec's timeout and grace so that the workload is gone by
// `stop_by_ms`. True when the cut timeout is the one that binds.
bool StopBy(ProcessSpec& spec, int64_t stop_by_ms, Clock& clock) {
  const int64_t left = std::max<int64_t>(stop_by_ms - clock.MonotonicMs(), 2);
  spec.kill_grace_ms = std::min(spec.kill_grace_ms, left / 4);
  const int64_t cap = left - spec.kill_grace_ms;
  if (spec.timeout_ms != 0 && spec.timeout_ms <= cap) return false;
  spec.timeout_ms = cap;
  return true;
}

}  // namespace

Result<Outcome> GuardedRun(Controller& controller, Clock& clock, Logger& logger, const RunRequest& req,
                           const std::vector<std::string>& command, const GuardedRunOptions& options) {
  auto acquisition = controller.Acquire(req);
  if (!acquisition.ok()) return acquisition.status();
  if (!acquisition->lease) return acquisition->outcome;
  Lease& lease = *acquisition->lease;

  ProcessSpec spec;
  spec.argv = command.empty() ? lease.definition().command : command;
  spec.env = {{"JOBGATE_FENCE", std::to_string(lease.fence())},
              {"JOBGATE_RUN_ID", lease.run_id()},
              {"JOBGATE_JOB", lease.job()},
              {"JOBGATE_SLOT", lease.slot() == 0 ? "" : FormatRfc3339(lease.slot())}};
  spec.env.insert(spec.env.end(), options.env.begin(), options.env.end());
  spec.timeout_ms = lease.timeout_ms();
  spec.kill_grace_ms = lease.kill_grace_ms();
  const bool deadline_binds = options.stop_by_ms && StopBy(spec, *options.stop_by_ms, clock);
  spec.lease_ms = lease.lease_ms();
  spec.lease_left_ms = lease.lease_until() - clock.NowMs();
  spec.clock = &clock;

  // Runs on the runner's heartbeat thread; `lease` is the worker's alone
  // until RunProcess returns. The runner stops the workload by the end of
  // the lease left, whether the beats keep failing or hang in the store.
  auto heartbeat = [&]() -> HeartbeatReply {
    auto hb = controller.Heartbeat(lease);
    // A store hiccup is retried at the next beat, against the same deadline.
    if (!hb.ok()) Log(logger, LogLevel::kWarn, "job '{}': heartbeat failed: {}", lease.job(), hb.status().ToString());
    const bool held = !hb.ok() || *hb == HeartbeatResult::kExtended;
    return HeartbeatReply{held, lease.lease_until() - clock.NowMs()};
  };
  // Checked here, not before the lock: the definition comes with the read
  // the lock needs anyway. A job without a command fails visibly.
  auto result = spec.argv.empty() ? Result<ProcessResult>(Status::InvalidArgument(
                                        "no command: give one after -- or set 'command' in the job's definition"))
                                  : RunProcess(spec, heartbeat);
  WorkResult work;
  if (result.ok()) {
    work = ToWorkResult(*result);
    if (deadline_binds && result->kind == ProcessResult::Kind::kTimedOut) {
      work.error = CleanTail(fmt::format("stopped {} ms into the run, before the invocation's deadline",
                                         result->duration_ms),
                             kMaxErrorBytes);
    }
  } else {
    work = {WorkResult::Kind::kFailed, 70, CleanTail(result.status().message(), kMaxErrorBytes)};
  }
  auto outcome = controller.Commit(lease, work);
  if (!outcome.ok()) {
    return Status(outcome.status().code(),
                  fmt::format("job '{}': the run finished ({}) but its result could not be recorded: {}", lease.job(),
                              work.kind == WorkResult::Kind::kSucceeded ? "succeeded" : "failed",
                              outcome.status().message()));
  }
  return outcome;
}

}  // namespace jobgate
