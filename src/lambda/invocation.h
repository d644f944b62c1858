// One Lambda invocation, from its event to its answer: parse the event,
// check there is time for a run, read-gate-lock-run-commit through an
// executor (a child process, or a C++ handler), and say what happened in the
// answer, in one JSON log line on stdout and, opted in, in an Embedded
// Metric Format line. Nothing survives the invocation but what the store
// holds (the store's connection and its clock estimate aside).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "jobgate/controller.h"
#include "jobgate/lambda.h"
#include "jobgate/logger.h"
#include "jobgate/store.h"
#include "lambda/runtime_api.h"

namespace jobgate::lambda {

// Runs the job once the event is understood: Acquire, the work, Commit.
// `stop_by_ms` (Clock::MonotonicMs) is when the work must be over, kill
// grace included.
using Executor =
    std::function<Result<Outcome>(Controller& controller, const RunRequest& req, const Invocation& inv,
                                  int64_t stop_by_ms)>;

// Below this, an invocation does not take the lock: the run could not even
// start before the margin is reached.
inline constexpr int64_t kMinRunMs = 200;

// What the runtime sends back.
struct Answer {
  bool is_error = false;
  std::string body;   // success: the --json outcome
  ErrorReply error;   // is_error
};

struct InvocationDeps {
  Store& store;
  Clock& clock;
  Random& random;
  const RuntimeOptions& options;  // store_url and default_job already resolved
  std::string holder;             // "sandbox-host:pid"
  Executor execute;
  // One line of stdout (the log line, the EMF line); flushed by the caller.
  std::function<void(const std::string&)> print;
};

Answer HandleInvocation(const InvocationDeps& deps, const Invocation& inv);

}  // namespace jobgate::lambda
