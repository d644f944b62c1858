#include "lambda/runtime.h"


#include <cstdio>
#include <memory>
#include <utility>

#include <fmt/format.h>

#include "aws/socket_http.h"
#include "core/log.h"
#include "run/exit_codes.h"
#include "run/guarded_run.h"

namespace jobgate::lambda {

namespace {

void PrintLine(const std::string& line) {
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

std::string FromEnv(const Environment& env, const char* name) {
  auto it = env.find(name);
  return it == env.end() ? "" : it->second;
}

// The store, or the configuration error that init/error must hear of.
Result<std::unique_ptr<Store>> OpenConfiguredStore(const RuntimeOptions& options, Logger& logger) {
  if (options.store_url.empty()) {
    return Status::InvalidArgument(
        "no store: set JOBGATE_STORE (e.g. dynamodb://job_control?region=eu-west-1) or pass --store");
  }
  StoreOptions store_options;
  store_options.logger = &logger;
  auto store = OpenStore(options.store_url, store_options);
  if (!store.ok()) {
    return Status(store.status().code(), fmt::format("store \"{}\" (--store / JOBGATE_STORE): {}",
                                                     options.store_url, store.status().message()));
  }
  return store;
}

// Answers until Next() fails: the sandbox is being shut down.
int Serve(RuntimeApi& api, const InvocationDeps& deps, Logger& logger) {
  for (;;) {
    auto inv = api.Next();
    if (!inv.ok()) {
      Log(logger, LogLevel::kError, "{}", inv.status().message());
      return kExitStoreDown;
    }
    // Held while an invocation is handled, as `jobgate run` holds them: one
    // that comes is forwarded to the workload, which is stopped and
    // committed, and takes effect once the answer is sent. Between
    // invocations the defaults apply: the process just ends.
    HoldTerminationSignals(true);
    const Answer answer = HandleInvocation(deps, *inv);
    const Status sent = answer.is_error ? api.RespondError(inv->aws_request_id, answer.error)
                                        : api.Respond(inv->aws_request_id, answer.body);
    if (!sent.ok()) Log(logger, LogLevel::kError, "invocation {}: {}", inv->aws_request_id, sent.message());
    HoldTerminationSignals(false);
  }
}

}  // namespace

int RunRuntime(const RuntimeOptions& given, const Environment& env, const Executor& execute, const Status& config) {
  Logger& logger = given.logger != nullptr ? *given.logger : DefaultLogger();
  const std::string address = FromEnv(env, "AWS_LAMBDA_RUNTIME_API");
  Status valid = address.empty() ? Status::InvalidArgument(
                                       "AWS_LAMBDA_RUNTIME_API is not set: `jobgate lambda` runs inside AWS "
                                       "Lambda, or against a Runtime API emulator (docs/deploy/lambda.md)")
                                 : ValidateRuntimeApiAddress(address);
  if (!valid.ok()) {
    Log(logger, LogLevel::kError, "{}", valid.message());
    return kExitUsage;
  }
  // No total timeout: invocation/next waits for as long as Lambda has no work.
  // Plain HTTP on a local address: no libcurl to load (aws/socket_http.h).
  SocketHttpClient http(HttpClientOptions{2'000, 0, ""});
  RuntimeApi api(http, address);
  RuntimeOptions options = given;
  if (options.store_url.empty()) options.store_url = FromEnv(env, "JOBGATE_STORE");
  if (options.default_job.empty()) options.default_job = FromEnv(env, "JOBGATE_JOB");
  auto store = config.ok() ? OpenConfiguredStore(options, logger) : Result<std::unique_ptr<Store>>(config);
  if (!store.ok()) {
    Log(logger, LogLevel::kError, "{}", store.status().message());
    const Status reported = api.InitError(ErrorReply{"jobgate.InvalidConfiguration", store.status().message(), ""});
    if (!reported.ok()) Log(logger, LogLevel::kError, "{}", reported.message());
    return ExitCodeFor(store.status());
  }
  SystemClock clock;
  auto random = MakeOsRandom();
  InvocationDeps deps{**store, clock, *random, options, ProcessHolder(), execute, PrintLine};
  return Serve(api, deps, logger);
}

Executor ProcessExecutor(std::vector<std::string> command, Clock& clock, Logger& logger) {
  return [command = std::move(command), &clock, &logger](Controller& controller, const RunRequest& req,
                                                        const Invocation& inv, int64_t stop_by_ms) {
    GuardedRunOptions options;
    if (!inv.trace_id.empty()) options.env.emplace_back("_X_AMZN_TRACE_ID", inv.trace_id);
    options.stop_by_ms = stop_by_ms;
    return GuardedRun(controller, clock, logger, req, command, options);
  };
}

int RunHandler(const RuntimeOptions& options, const Handler& handler) {
  SystemClock clock;
  Executor execute = [&](Controller& controller, const RunRequest& req, const Invocation& inv,
                         int64_t stop_by_ms) {
    return controller.Run(req, [&](const Lease& lease, const std::atomic<bool>& stop) {
      RunContext ctx{lease, inv.aws_request_id, inv.function_arn, inv.trace_id, inv.deadline_ms, {}, {}};
      ctx.RemainingMs = [&clock, stop_by_ms] { return stop_by_ms - clock.MonotonicMs(); };
      ctx.ShouldStop = [&stop, &ctx] { return stop.load() || ctx.RemainingMs() <= 0; };
      return handler(ctx);
    });
  };
  return RunRuntime(options, ProcessEnvironment(), execute);
}

}  // namespace jobgate::lambda
