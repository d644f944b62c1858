#include "run/guarded_run.h"

#include "core/log.h"

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

Result<Outcome> GuardedRun(Controller& controller, Clock& clock, Logger& logger, const RunRequest& req,
                           const std::vector<std::string>& command) {
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
  spec.timeout_ms = lease.timeout_ms();
  spec.kill_grace_ms = lease.kill_grace_ms();
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
  auto result = RunProcess(spec, heartbeat);
  WorkResult work;
  if (result.ok()) {
    work = ToWorkResult(*result);
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
