// `jobgate run NAME -- CMD`: the controller's steps around a child process.
// Acquire; spawn the command with the fencing environment; heartbeat every
// lease/3 (LeaseKeeper) while it runs; commit what it did.
#pragma once

#include <string>
#include <vector>

#include "jobgate/controller.h"
#include "jobgate/logger.h"

namespace jobgate {

// Runs `command` (or, when empty, the definition's command) under the job's
// lease. An error Status means the store failed (nothing ran if it failed
// before the lock) or the process could not be managed.
// `logger` hears of heartbeats that failed (and were retried).
Result<Outcome> GuardedRun(Controller& controller, Clock& clock, Logger& logger, const RunRequest& req,
                           const std::vector<std::string>& command);

// What a finished process means for the job (pure; tested on its own).
struct ProcessResult;
WorkResult ToWorkResult(const ProcessResult& result);

}  // namespace jobgate
