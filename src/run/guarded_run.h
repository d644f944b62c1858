// `jobgate run NAME -- CMD`: the controller's steps around a child process.
// Acquire; spawn the command with the fencing environment; heartbeat every
// lease/3 (LeaseKeeper) while it runs; commit what it did.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "jobgate/controller.h"
#include "jobgate/logger.h"

namespace jobgate {

// What a caller adds to a guarded run beyond the job's definition.
struct GuardedRunOptions {
  // Added to the workload's environment after jobgate's own variables
  // (the Lambda runtime passes _X_AMZN_TRACE_ID).
  std::vector<std::pair<std::string, std::string>> env;
  // A time (Clock::MonotonicMs) by which the workload must be gone, kill
  // grace included, whatever its definition's timeout says: the Lambda
  // runtime's invocation deadline less the time the commit and the answer
  // need. The grace is cut to a quarter of what is left, the timeout to the
  // rest; a run stopped by it is timed_out, and its error says so.
  std::optional<int64_t> stop_by_ms;
};

// Runs `command` (or, when empty, the definition's command) under the job's
// lease. An error Status means the store failed (nothing ran if it failed
// before the lock) or the process could not be managed.
// `logger` hears of heartbeats that failed (and were retried).
Result<Outcome> GuardedRun(Controller& controller, Clock& clock, Logger& logger, const RunRequest& req,
                           const std::vector<std::string>& command, const GuardedRunOptions& options = {});

// What a finished process means for the job (pure; tested on its own).
struct ProcessResult;
WorkResult ToWorkResult(const ProcessResult& result);

}  // namespace jobgate
