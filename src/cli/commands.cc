#include "cli/commands.h"


#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include <fmt/format.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "run/exit_codes.h"
#include "cli/output.h"
#include "core/duration.h"
#include "core/jobs_file.h"
#include "lambda/runtime.h"
#include "run/guarded_run.h"

namespace jobgate::cli {

namespace {

// The library's Logger onto the CLI's log (spdlog's default logger, text or
// JSON as --log-format says). Stateless.
class CliLogger final : public Logger {
 public:
  bool Enabled(LogLevel level) const override { return spdlog::should_log(Level(level)); }
  void Log(LogLevel level, std::string_view message) override { spdlog::log(Level(level), "{}", message); }

 private:
  static spdlog::level::level_enum Level(LogLevel level) {
    switch (level) {
      case LogLevel::kDebug: return spdlog::level::debug;
      case LogLevel::kInfo: return spdlog::level::info;
      case LogLevel::kWarn: return spdlog::level::warn;
      case LogLevel::kError: return spdlog::level::err;
    }
    return spdlog::level::err;
  }
};

CliLogger& TheLogger() {
  static CliLogger logger;
  return logger;
}

void PrintJson(const nlohmann::ordered_json& j) {
  // Output from workloads and users is cleaned before it is stored, but a
  // hand-edited store may still hold invalid UTF-8: replace, never throw.
  fmt::print(stdout, "{}\n", j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace));
  std::fflush(stdout);
}

// The outcome to a descriptor of the caller's (a scheduler's pipe).
void WriteJson(int fd, const nlohmann::ordered_json& j) {
  std::string line = j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
  for (size_t off = 0; off < line.size();) {
    ssize_t n = write(fd, line.data() + off, line.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // the scheduler is gone: the outcome is in the store
    off += static_cast<size_t>(n);
  }
}

}  // namespace

Result<std::unique_ptr<Store>> Open(const GlobalOptions& g) {
  StoreOptions options;
  options.logger = &TheLogger();
  auto store = OpenStore(g.store_url, options);
  if (!store.ok()) {
    return Status(store.status().code(),
                  fmt::format("--store {}: {}", RedactStoreUrl(g.store_url), store.status().message()));
  }
  return store;
}

int Fail(const Status& s) {
  fmt::print(stderr, "jobgate: {}\n", s.message());
  return ExitCodeFor(s);
}

Status ConfigureLogging(const GlobalOptions& g) {
  auto level = spdlog::level::from_str(g.log_level);
  if (level == spdlog::level::off && g.log_level != "off") {
    return Status::InvalidArgument(fmt::format("--log-level: \"{}\" is not one of trace, debug, info, warn, error, off",
                                               g.log_level));
  }
  if (g.log_format != "text" && g.log_format != "json") {
    return Status::InvalidArgument(fmt::format("--log-format: \"{}\" is not text or json", g.log_format));
  }
  auto logger = spdlog::stderr_logger_st("jobgate");
  logger->set_level(level);
  if (g.log_format == "json") {
    logger->set_pattern(R"({"ts":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l","msg":"%v"})", spdlog::pattern_time_type::utc);
  } else {
    logger->set_pattern("jobgate: %l: %v");
  }
  spdlog::set_default_logger(logger);
  return Status::Ok();
}

int CmdInit(const GlobalOptions& g) {
  auto store = Open(g);
  if (!store.ok()) return Fail(store.status());
  Status st = (*store)->Init();
  if (!st.ok()) return Fail(st);
  fmt::print(stdout, "initialised {}\n", RedactStoreUrl(g.store_url));
  return kExitOk;
}

int CmdRun(const GlobalOptions& g, const RunArgs& a) {
  // Held from before the lock (guarded_run.h).
  HoldTerminationSignals(true);
  if (a.json_fd >= 0 && fcntl(a.json_fd, F_SETFD, FD_CLOEXEC) != 0) {
    return Fail(Status::InvalidArgument(fmt::format("--json-fd {}: not an open file descriptor", a.json_fd)));
  }
  auto store = Open(g);
  if (!store.ok()) return Fail(store.status());
  SystemClock clock;
  auto random = MakeOsRandom();
  Controller controller(**store, clock, *random);
  RunRequest req;
  req.job = a.job;
  req.request_id = a.request_id;
  req.slot = a.slot;
  req.scheduled = a.scheduled;
  req.holder = ProcessHolder();
  req.overrides = a.overrides;
  if (a.command.empty()) {
    // Only this case costs a definition read before the gate.
    auto def = controller.EffectiveDefinition(a.job, a.overrides);
    if (!def.ok()) return Fail(def.status());
    if (def->command.empty()) {
      return Fail(Status::InvalidArgument(fmt::format(
          "run {}: no command: give one after -- or set 'command' in the job's definition", a.job)));
    }
  }
  auto outcome = GuardedRun(controller, clock, TheLogger(), req, a.command);
  if (!outcome.ok()) return Fail(outcome.status());
  if (a.json_fd >= 0) {
    WriteJson(a.json_fd, OutcomeJson(*outcome));
  } else if (a.json) {
    PrintJson(OutcomeJson(*outcome));
  }
  if (outcome->clock_skew_exceeded) {
    spdlog::warn("this host's clock is {} ms off the store's (+-{} ms), more than half of max_clock_skew: "
                 "fix NTP (meanwhile this host works in the store's time, as its answers place it)",
                 outcome->clock_offset_ms.value_or(0), outcome->clock_uncertainty_ms.value_or(0));
  }
  if (outcome->contended) {
    spdlog::error("job '{}' could not be acquired: {}", a.job, outcome->error);
  } else if (outcome->kind == RunOutcomeKind::kSkipped) {
    spdlog::info("job '{}' skipped: {}", a.job, SkipReasonName(outcome->reason));
  } else if (outcome->kind == RunOutcomeKind::kLeaseLost) {
    spdlog::error("job '{}': lease lost; another invocation holds the job now", a.job);
  }
  return ExitCodeFor(*outcome, a.skip_exit_code);
}

namespace {

// The newest run record, when it is an invocation that could not acquire
// the job at all (lost every CAS round to nobody) after the state was last
// written: the job is stuck, whatever the state says.
std::optional<RunRecord> LastContended(Store& store, const std::string& job, EpochMs state_updated_at) {
  auto runs = store.ListRuns(job, 1);
  if (!runs.ok() || runs->empty()) return std::nullopt;
  const RunRecord& last = runs->front();
  if (last.outcome != RecordedOutcome::kContended || last.end_ms < state_updated_at) return std::nullopt;
  return last;
}

std::string ContendedLine(const RunRecord& r) {
  return fmt::format("{:<22} {}: the last invocation could not acquire the job: {}\n", "CONTENDED",
                     FormatRfc3339(r.end_ms), r.error);
}

}  // namespace

int CmdStatus(const GlobalOptions& g, const StatusArgs& a) {
  auto store = Open(g);
  if (!store.ok()) return Fail(store.status());
  EpochMs now = SystemClock().NowMs();
  if (!a.job.empty()) {
    auto s = (*store)->ReadState(a.job);
    if (!s.ok()) return Fail(s.status());
    const std::optional<RunRecord> stuck = LastContended(**store, a.job, *s ? (*s)->updated_at : 0);
    if (!*s) {
      if (stuck) fmt::print(stderr, "{}", ContendedLine(*stuck));
      return Fail(Status::NotFound(fmt::format("job '{}' has no state in {}", a.job, RedactStoreUrl(g.store_url))));
    }
    auto clock = (*store)->ObservedClock();
    if (a.json) {
      auto j = StateJson(**s);
      if (clock) {
        j["clock_offset_ms"] = clock->offset_ms;
        j["clock_uncertainty_ms"] = clock->uncertainty_ms;
      }
      if (stuck) j["contended"] = {{"at", FormatRfc3339(stuck->end_ms)}, {"error", stuck->error}};
      PrintJson(j);
    } else {
      fmt::print(stdout, "{}", StatusDetail(**s, now));
      if (stuck) fmt::print(stdout, "{}", ContendedLine(*stuck));
      if (clock) {
        fmt::print(stdout, "{:<22} {} ms +- {} ms (this host minus the store)\n", "clock_offset", clock->offset_ms,
                   clock->uncertainty_ms);
      }
    }
    return kExitOk;
  }
  auto all = (*store)->ListStates();
  if (!all.ok()) return Fail(all.status());
  if (a.json) {
    auto arr = nlohmann::ordered_json::array();
    for (const auto& s : *all) arr.push_back(StateJson(s));
    PrintJson(arr);
  } else {
    fmt::print(stdout, "{}", StatusTable(*all, now));
    if (auto clock = (*store)->ObservedClock()) {
      fmt::print(stdout, "This host's clock is {} ms {} the store's (+- {} ms).\n", std::abs(clock->offset_ms),
                 clock->offset_ms >= 0 ? "ahead of" : "behind", clock->uncertainty_ms);
    }
  }
  return kExitOk;
}

int CmdHistory(const GlobalOptions& g, const HistoryArgs& a) {
  auto store = Open(g);
  if (!store.ok()) return Fail(store.status());
  auto runs = (*store)->ListRuns(a.job, static_cast<size_t>(a.limit));
  if (!runs.ok()) return Fail(runs.status());
  if (a.json) {
    auto arr = nlohmann::ordered_json::array();
    for (const auto& r : *runs) arr.push_back(RunJson(r));
    PrintJson(arr);
  } else {
    fmt::print(stdout, "{}", HistoryTable(*runs));
  }
  return kExitOk;
}

int CmdApply(const GlobalOptions& g, const ApplyArgs& a) {
  // Parse and validate every job before writing any: a bad file changes nothing.
  auto defs = LoadJobsFile(a.file);
  if (!defs.ok()) return Fail(defs.status());
  if (a.dry_run) {
    fmt::print(stdout, "{}: {} job(s) valid\n", a.file, defs->size());
    return kExitOk;
  }
  auto store = Open(g);
  if (!store.ok()) return Fail(store.status());
  SystemClock clock;
  auto random = MakeOsRandom();
  Controller controller(**store, clock, *random);
  for (const auto& def : *defs) {
    auto next_fire = controller.Apply(def);
    if (!next_fire.ok()) return Fail(next_fire.status());
    fmt::print(stdout, "applied {}", def.job);
    if (!def.schedule.empty()) {
      fmt::print(stdout, " ({}; next fire {})", def.schedule,
                 *next_fire == 0 ? std::string("none") : FormatRfc3339(*next_fire));
    }
    fmt::print(stdout, "\n");
  }
  return kExitOk;
}

int CmdOperator(const GlobalOptions& g, OperatorAction action, const OperatorArgs& a) {
  auto store = Open(g);
  if (!store.ok()) return Fail(store.status());
  SystemClock clock;
  auto random = MakeOsRandom();
  Controller controller(**store, clock, *random);
  Status st;
  const char* done = "";
  switch (action) {
    case OperatorAction::kPause: st = controller.Pause(a.job, a.reason); done = "paused"; break;
    case OperatorAction::kResume: st = controller.Resume(a.job); done = "resumed"; break;
    case OperatorAction::kTrigger: st = controller.Trigger(a.job); done = "triggered"; break;
    case OperatorAction::kUnlock: {
      auto released = controller.Unlock(a.job, a.fence);
      if (!released.ok()) return Fail(released.status());
      if (*released == 0) {
        fmt::print(stdout, "{}: not running{}; nothing to unlock\n", a.job,
                   a.fence ? fmt::format(" under fence {}", *a.fence) : "");
      } else {
        fmt::print(stdout, "{}: unlocked (fence {} released, counted as abandoned)\n", a.job, *released);
      }
      return kExitOk;
    }
  }
  if (!st.ok()) return Fail(st);
  fmt::print(stdout, "{}: {}\n", a.job, done);
  return kExitOk;
}

namespace {

// A lambda setting: the flag, else the environment variable, else the default.
std::string Setting(const std::string& flag, const Environment& env, const char* var, const char* fallback) {
  if (!flag.empty()) return flag;
  auto it = env.find(var);
  return it != env.end() && !it->second.empty() ? it->second : fallback;
}

// The runtime's options from flags and environment; an error names the
// flag or variable and its value.
Status LambdaOptions(const LambdaArgs& a, const Environment& env, lambda::RuntimeOptions& o) {
  const std::string margin = Setting(a.deadline_margin, env, "JOBGATE_LAMBDA_DEADLINE_MARGIN", "2s");
  auto ms = ParseDurationMs(margin, a.deadline_margin.empty() ? "JOBGATE_LAMBDA_DEADLINE_MARGIN" : "--deadline-margin");
  if (!ms.ok()) return ms.status();
  o.deadline_margin_ms = *ms;
  const std::string failed = Setting(a.failed_run_response, env, "JOBGATE_LAMBDA_FAILED_RUN_RESPONSE", "error");
  if (failed != "error" && failed != "success") {
    return Status::InvalidArgument(fmt::format(
        "--failed-run-response / JOBGATE_LAMBDA_FAILED_RUN_RESPONSE: \"{}\" is not error or success", failed));
  }
  o.failed_run_is_error = failed == "error";
  const std::string metrics = Setting(a.metrics, env, "JOBGATE_LAMBDA_METRICS", "none");
  if (metrics != "none" && metrics != "emf") {
    return Status::InvalidArgument(
        fmt::format("--metrics / JOBGATE_LAMBDA_METRICS: \"{}\" is not none or emf", metrics));
  }
  o.emf_metrics = metrics == "emf";
  return Status::Ok();
}

}  // namespace

int CmdLambda(const GlobalOptions& g, const LambdaArgs& a) {
  const Environment env = ProcessEnvironment();
  lambda::RuntimeOptions options;
  options.store_url = g.store_url;
  options.default_job = a.job;
  options.logger = &TheLogger();
  const Status config = LambdaOptions(a, env, options);
  std::vector<std::string> command = a.command;
  auto inline_command = env.find("JOBGATE_LAMBDA_COMMAND");
  if (command.empty() && inline_command != env.end() && !inline_command->second.empty()) {
    command = {"/bin/sh", "-c", inline_command->second};
  }
  SystemClock clock;
  return lambda::RunRuntime(options, env, lambda::ProcessExecutor(std::move(command), clock, TheLogger()), config);
}

}  // namespace jobgate::cli
