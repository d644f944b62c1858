// jobgate as an AWS Lambda custom runtime, for C++ programs that run their
// job in-process (the `jobgate lambda` command runs it as a child process
// instead). Link against the library, and make `main` call RunHandler:
//
//   int main() {
//     return jobgate::lambda::RunHandler({}, [](const jobgate::lambda::RunContext& ctx) {
//       // ... the job's work; poll ctx.ShouldStop() in long loops ...
//       return jobgate::WorkResult{jobgate::WorkResult::Kind::kSucceeded, 0, ""};
//     });
//   }
//
// RunHandler is the loop of aws-lambda-cpp's run_handler: it fetches each
// invocation from the Runtime API (AWS_LAMBDA_RUNTIME_API), reads the event
// (docs/deploy/lambda.md, "Events and responses"), reads, gates and locks
// the job in the store, calls the handler only when this invocation holds
// the lease (a heartbeat thread renews it meanwhile), commits the result and
// answers with the outcome. Nothing another invocation needs is kept in
// memory between invocations.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

#include "jobgate/clock.h"
#include "jobgate/controller.h"
#include "jobgate/logger.h"

namespace jobgate::lambda {

struct RuntimeOptions {
  // The store URL; empty: $JOBGATE_STORE. No store is a configuration error
  // reported to the Runtime API's init/error.
  std::string store_url;
  // The job of events that do not name one; empty: $JOBGATE_JOB.
  std::string default_job;
  // Left of the invocation's deadline for the commit and the answer: the
  // work is stopped this long before Lambda would stop the sandbox.
  int64_t deadline_margin_ms = 2'000;
  // A failed, timed-out or lost run answers with an error (so the
  // function's Errors metric and its alarm see it); false: with a success
  // whose body still says what happened.
  bool failed_run_is_error = true;
  // Also print a CloudWatch Embedded Metric Format line per invocation.
  bool emf_metrics = false;
  std::string metrics_namespace = "jobgate";
  // Warnings and errors of the library (stderr by default).
  Logger* logger = nullptr;
};

// What the handler gets for the run it holds the lease for.
struct RunContext {
  const Lease& lease;
  std::string aws_request_id;
  std::string function_arn;
  std::string trace_id;        // X-Ray: Lambda-Runtime-Trace-Id
  EpochMs deadline_ms = 0;     // wall clock: when Lambda stops the sandbox
  // True once the work must stop as soon as it can: the lease was lost or
  // could not be renewed, or the invocation's deadline less the margin has
  // come. An in-process handler cannot be killed: it must poll this.
  std::function<bool()> ShouldStop;
  // Milliseconds left before the work must be done (deadline less margin).
  std::function<int64_t()> RemainingMs;
};

using Handler = std::function<WorkResult(const RunContext&)>;

// Runs invocations until the Runtime API goes away or the process is told
// to stop. Returns the process exit code: 2 for bad configuration (after
// reporting it to init/error), 69 when the Runtime API cannot be reached.
int RunHandler(const RuntimeOptions& options, const Handler& handler);

}  // namespace jobgate::lambda
