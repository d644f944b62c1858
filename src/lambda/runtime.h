// The runtime loop behind `jobgate lambda` and jobgate::lambda::RunHandler,
// in the style of aws-lambda-cpp's run_handler: start (open the store, or
// report why not to init/error), then for each invocation fetch it, handle
// it, answer it. Single-threaded: the process runner needs that while a
// child runs.
#pragma once

#include <string>
#include <vector>

#include "aws/aws_config.h"
#include "jobgate/lambda.h"
#include "lambda/invocation.h"

namespace jobgate::lambda {

// Runs the loop with `execute` until the Runtime API goes away. `env` is
// the process's environment (AWS_LAMBDA_RUNTIME_API, JOBGATE_STORE,
// JOBGATE_JOB). Returns the process exit code (run/exit_codes.h).
// `config` is the verdict on the caller's own settings (flags): an error
// goes to init/error, like a store that cannot be opened.
int RunRuntime(const RuntimeOptions& options, const Environment& env, const Executor& execute,
               const Status& config = Status::Ok());

// The executor of `jobgate lambda`: `command` (empty: the definition's) as
// a child process, exactly as `jobgate run` runs it, with _X_AMZN_TRACE_ID
// set and the run stopped by the invocation's deadline less the margin.
Executor ProcessExecutor(std::vector<std::string> command, Clock& clock, Logger& logger);

}  // namespace jobgate::lambda
