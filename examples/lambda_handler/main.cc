// A Lambda function whose job runs in-process: jobgate's runtime loop
// (include/jobgate/lambda.h) reads, gates and locks the job in the store for
// each invocation, and calls this handler only when the invocation holds the
// lease. The handler works in steps and checks between them whether it must
// stop: its lease was lost, or the invocation's deadline (less the margin
// the commit and the answer need) has come. Build it with the project
// (`cmake --build build --target lambda_handler_example`) and package it as
// `bootstrap` the way scripts/package-lambda.sh packages `jobgate`.
//
// Usage: lambda_handler_example [STEPS [STEP_MS [MARGIN_MS]]]
// Environment: AWS_LAMBDA_RUNTIME_API (set by Lambda), JOBGATE_STORE,
// JOBGATE_JOB (the job of events that name none), AWS credentials.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "jobgate/lambda.h"

namespace {

long Arg(int argc, char** argv, int i, long fallback) { return argc > i ? std::strtol(argv[i], nullptr, 10) : fallback; }

}  // namespace

int main(int argc, char** argv) {
  const long steps = Arg(argc, argv, 1, 10);
  const long step_ms = Arg(argc, argv, 2, 100);
  jobgate::lambda::RuntimeOptions options;
  options.deadline_margin_ms = Arg(argc, argv, 3, options.deadline_margin_ms);

  return jobgate::lambda::RunHandler(options, [&](const jobgate::lambda::RunContext& ctx) {
    // The fence orders this run against any other of the same job: pass it
    // to whatever the job writes, so that a write of a stale holder can be
    // refused.
    std::printf("job %s: run %s, fence %lld, %lld ms to go\n", ctx.lease.job().c_str(), ctx.lease.run_id().c_str(),
                static_cast<long long>(ctx.lease.fence()), static_cast<long long>(ctx.RemainingMs()));
    for (long done = 0; done < steps; ++done) {
      if (ctx.ShouldStop()) {
        return jobgate::WorkResult{jobgate::WorkResult::Kind::kTimedOut, 124,
                                   "stopped after " + std::to_string(done) + " of " + std::to_string(steps) +
                                       " steps"};
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(step_ms));  // one step of the job's work
    }
    std::fflush(stdout);
    return jobgate::WorkResult{jobgate::WorkResult::Kind::kSucceeded, 0, ""};
  });
}
