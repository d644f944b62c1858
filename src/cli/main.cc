// jobgate's command line: argument parsing and output only. Every decision
// is made by the library (controller, stores, runner); this file turns its
// Status and Outcome values into messages and exit codes.
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "cli/cli11.h"
#include "cli/commands.h"
#include "run/exit_codes.h"
#include "core/duration.h"

namespace jobgate::cli {
namespace {

// Collects a duration flag as text and parses it after CLI11 is done, so the
// error names the flag and the value the way every other input error does.
struct DurationFlag {
  std::string text;
  const char* name;
  Status Into(std::optional<int64_t>& out) const {
    if (text.empty()) return Status::Ok();
    auto ms = ParseDurationMs(text, name);
    if (!ms.ok()) return ms.status();
    out = *ms;
    return Status::Ok();
  }
};

// `run`'s arguments, with the flags CLI11 collects as text and Finish()
// parses (durations, the slot).
struct RunFlags {
  RunArgs args;
  DurationFlag cooldown{"", "--cooldown"}, timeout{"", "--timeout"}, lease{"", "--lease"},
      skew{"", "--max-clock-skew"};
  std::string slot_text;

  Status Finish() {
    JOBGATE_RETURN_IF_ERROR(cooldown.Into(args.overrides.cooldown_ms));
    JOBGATE_RETURN_IF_ERROR(timeout.Into(args.overrides.timeout_ms));
    JOBGATE_RETURN_IF_ERROR(lease.Into(args.overrides.lease_ms));
    JOBGATE_RETURN_IF_ERROR(skew.Into(args.overrides.max_clock_skew_ms));
    if (slot_text.empty()) return Status::Ok();
    JOBGATE_ASSIGN_OR_RETURN(args.slot, ParseTime(slot_text, "--slot"));
    return Status::Ok();
  }
};

void AddGlobalOptions(CLI::App& app, GlobalOptions& global) {
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("jobgate ") + kJobgateVersion);
  app.add_option("--store", global.store_url,
                 "store URL (sqlite:PATH, memory:); default $JOBGATE_STORE, else sqlite:jobgate.db");
  app.add_option("--log-level", global.log_level, "trace, debug, info, warn (default), error, off");
  app.add_option("--log-format", global.log_format, "text (default) or json");
}

CLI::App* AddRunCommand(CLI::App& app, RunFlags& f) {
  auto* cmd = app.add_subcommand("run", "one invocation: read, gate, lock, execute, commit");
  cmd->add_option("name", f.args.job, "job name")->required();
  cmd->add_option("command", f.args.command, "the command to run (after --)");
  cmd->add_option("--request-id", f.args.request_id, "idempotency key (e.g. the scheduler's execution id)");
  cmd->add_option("--slot", f.slot_text, "the schedule slot this invocation claims (RFC 3339 or epoch ms)");
  cmd->add_option("--cooldown", f.cooldown.text, "minimum time between a success and the next start");
  cmd->add_option("--timeout", f.timeout.text, "stop the command after this long (exit 124)");
  cmd->add_option("--lease", f.lease.text, "lease length; the heartbeat renews it every lease/3");
  cmd->add_option("--max-clock-skew", f.skew.text, "allowance for clock differences between hosts");
  cmd->add_option("--skip-exit-code", f.args.skip_exit_code, "exit code when gated (default 0)")
      ->check(CLI::Range(0, 255));
  cmd->add_flag("--json", f.args.json, "print the outcome as one JSON object");
  cmd->add_flag("--scheduled", f.args.scheduled,
                "claim the slot the job's schedule has due now, by its catch_up and overlap policies (what tick "
                "and serve start)")
      ->excludes("--slot");
  cmd->add_option("--json-fd", f.args.json_fd, "write the --json outcome to this file descriptor instead of stdout")
      ->check(CLI::Range(3, 1 << 20));
  return cmd;
}

// tick and serve: the scheduler's flags, durations parsed after CLI11.
struct SchedulerFlags {
  SchedulerArgs args;
  std::string poll, grace;
  Status Finish() {
    if (!poll.empty()) {
      JOBGATE_ASSIGN_OR_RETURN(args.poll_ms, ParseDurationMs(poll, "--poll"));
      if (args.poll_ms < 100) return Status::InvalidArgument(fmt::format("--poll: \"{}\" is below 100ms", poll));
    }
    if (!grace.empty()) {
      JOBGATE_ASSIGN_OR_RETURN(args.grace_ms, ParseDurationMs(grace, "--grace"));
    }
    return Status::Ok();
  }
};

template <typename Want>
std::pair<CLI::App*, CLI::App*> AddSchedulerCommands(CLI::App& app, SchedulerFlags& f, const Want& want) {
  CLI::App* tick = want("tick") ? app.add_subcommand(
                                      "tick", "one scheduler pass: start every due job once and wait for them")
                                : nullptr;
  CLI::App* serve =
      want("serve") ? app.add_subcommand("serve", "the scheduler loop: start jobs at their scheduled times") : nullptr;
  for (CLI::App* cmd : {tick, serve}) {
    if (cmd == nullptr) continue;
    cmd->add_option("--max-concurrent", f.args.max_concurrent, "jobs running at once from this process (default 8)")
        ->check(CLI::Range(1, 10000));
  }
  if (serve == nullptr) return {tick, serve};
  serve->add_option("--poll", f.poll, "read the due index at least this often (default 1s)");
  serve->add_option("--grace", f.grace, "on SIGTERM: how long running jobs get to finish (default 30s)");
  serve->add_option("--listen", f.args.listen,
                    "serve the HTTP API, dashboard and /metrics on HOST:PORT (e.g. 127.0.0.1:8080)");
  serve->add_option("--http-token-file", f.args.http_token_file,
                    "a file holding the bearer token that changes need (and reads from other hosts)");
  return {tick, serve};
}

CLI::App* AddStatusCommand(CLI::App& app, StatusArgs& status) {
  auto* cmd = app.add_subcommand("status", "jobs at a glance");
  cmd->add_option("name", status.job, "one job");
  cmd->add_flag("--json", status.json, "JSON output");
  return cmd;
}

CLI::App* AddHistoryCommand(CLI::App& app, HistoryArgs& history) {
  auto* cmd = app.add_subcommand("history", "the last runs of a job");
  cmd->add_option("name", history.job, "job name")->required();
  cmd->add_option("--limit", history.limit, "how many runs (default 20)")->check(CLI::Range(1, 100000));
  cmd->add_flag("--json", history.json, "JSON output (one array)");
  return cmd;
}

// pause, resume, trigger, unlock: each takes a job name.
template <typename Want>
std::vector<std::pair<CLI::App*, OperatorAction>> AddOperatorCommands(CLI::App& app, OperatorArgs& op,
                                                                      const Want& want) {
  std::vector<std::pair<CLI::App*, OperatorAction>> built;
  auto named = [&](const char* name, const char* what, OperatorAction action) -> CLI::App* {
    if (!want(name)) return nullptr;
    auto* cmd = app.add_subcommand(name, what);
    cmd->add_option("name", op.job, "job name")->required();
    built.emplace_back(cmd, action);
    return cmd;
  };
  if (auto* pause = named("pause", "stop new runs (a running holder still commits)", OperatorAction::kPause)) {
    pause->add_option("--reason", op.reason, "why, shown in status");
  }
  named("resume", "allow runs again (clears a failure streak)", OperatorAction::kResume);
  named("trigger", "let the next invocation run now (clears cooldown/backoff)", OperatorAction::kTrigger);
  if (auto* unlock = named("unlock", "release a running job whose holder is gone", OperatorAction::kUnlock)) {
    unlock->add_option("--fence", op.fence, "only if this run (fence) still holds it")->check(CLI::PositiveNumber);
  }
  return built;
}

CLI::App* AddLambdaCommand(CLI::App& app, LambdaArgs& a) {
  auto* cmd = app.add_subcommand("lambda", "an AWS Lambda custom runtime: one guarded run per invocation");
  cmd->add_option("--job", a.job, "the job of events that name none (default $JOBGATE_JOB)");
  cmd->add_option("command", a.command,
                  "the command to run (after --); default $JOBGATE_LAMBDA_COMMAND (via /bin/sh -c), else the "
                  "job's definition");
  cmd->add_option("--deadline-margin", a.deadline_margin,
                  "stop the run this long before the invocation's deadline (default 2s)");
  cmd->add_option("--failed-run-response", a.failed_run_response,
                  "error (default): a failed run answers with an error; success: with its outcome");
  cmd->add_option("--metrics", a.metrics, "none (default) or emf: a CloudWatch Embedded Metric Format line");
  return cmd;
}

CLI::App* AddApplyCommand(CLI::App& app, ApplyArgs& apply) {
  auto* cmd = app.add_subcommand("apply", "create or update job definitions from a TOML file");
  cmd->add_option("file", apply.file, "FILE.toml")->required();
  cmd->add_flag("--dry-run", apply.dry_run, "only check the file");
  return cmd;
}

CLI::App* AddNextCommand(CLI::App& app, NextArgs& next) {
  auto* cmd = app.add_subcommand("next", "print the upcoming fire times of a schedule expression");
  cmd->add_option("expression", next.expression, "cron(...), rate(...), at(...) or a crontab line")->required();
  cmd->add_option("--tz", next.time_zone, "IANA time zone of the expression (default UTC)");
  cmd->add_option("--from", next.from, "after this time (RFC 3339 or epoch ms; default now)");
  cmd->add_option("--count", next.count, "how many (default 5, at most 10000)")->check(CLI::Range(1, 10000));
  return cmd;
}

// nullopt when the command line parsed; else the exit code (help, version,
// a usage error).
std::optional<int> Parse(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {  // --help, --version
    UseStreams();                      // CLI11 prints on std::cout
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    fmt::print(stderr, "jobgate: {}\n", e.what());
    return kExitUsage;
  }
  return std::nullopt;
}

// Which subcommands to set up. Building a CLI11 subcommand and its options
// costs a process more instructions than a skip's store work
// (docs/benchmarks.md, "Process start-up"), so when the command line plainly
// names one (after global options only), only that one is built;
// `--version` is answered without CLI11; anything else (--help, no subcommand, a name that is not
// one) builds all, and CLI11 answers as it always does.
class Wanted {
 public:
  enum class Scope { kAll, kNamed, kNone };

  Wanted(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
      const std::string_view arg = argv[i];
      if (arg == "--store" || arg == "--log-level" || arg == "--log-format") {
        ++i;  // its value
      } else if (arg.starts_with("--store=") || arg.starts_with("--log-level=") || arg.starts_with("--log-format=")) {
      } else if (arg == "--version") {
        scope_ = Scope::kNone;
        return;
      } else if (arg.starts_with("-")) {
        return;  // --help, or something CLI11 should see the whole of
      } else {
        scope_ = Scope::kNamed;
        name_ = arg;
        return;
      }
    }
  }
  static Wanted All() { return Wanted(0, nullptr); }

  bool operator()(std::string_view subcommand) const {
    return scope_ == Scope::kAll || (scope_ == Scope::kNamed && name_ == subcommand);
  }
  Scope scope() const { return scope_; }

 private:
  Scope scope_ = Scope::kAll;
  std::string_view name_;
};

// The command line as CLI11 parses it: the flags, and the subcommands built
// (nullptr for those not built).
struct CommandLine {
  explicit CommandLine(const Wanted& want) {
    AddGlobalOptions(app, global);
    if (want("init")) init = app.add_subcommand("init", "create tables / schema (idempotent)");
    if (want("run")) run_cmd = AddRunCommand(app, run);
    if (want("status")) status_cmd = AddStatusCommand(app, status);
    if (want("history")) history_cmd = AddHistoryCommand(app, history);
    operators = AddOperatorCommands(app, op, want);
    if (want("apply")) apply_cmd = AddApplyCommand(app, apply);
    if (want("lambda")) lambda_cmd = AddLambdaCommand(app, lambda);
    if (want("next")) next_cmd = AddNextCommand(app, next);
    if (want("demo")) demo_cmd = app.add_subcommand("demo", "a self-contained demonstration on a temporary store");
    std::tie(tick_cmd, serve_cmd) = AddSchedulerCommands(app, sched, want);
  }
  bool BuiltAny() { return !app.get_subcommands({}).empty(); }

  CLI::App app{"jobgate: decides whether a scheduled job runs, across hosts, with state", "jobgate"};
  GlobalOptions global;
  RunFlags run;
  StatusArgs status;
  HistoryArgs history;
  OperatorArgs op;
  ApplyArgs apply;
  LambdaArgs lambda;
  NextArgs next;
  SchedulerFlags sched;
  CLI::App *init = nullptr, *run_cmd = nullptr, *status_cmd = nullptr, *history_cmd = nullptr, *apply_cmd = nullptr,
           *lambda_cmd = nullptr, *next_cmd = nullptr, *demo_cmd = nullptr, *tick_cmd = nullptr, *serve_cmd = nullptr;
  std::vector<std::pair<CLI::App*, OperatorAction>> operators;
};

// Whether the command line chose this subcommand (one that was built).
bool Chosen(const CLI::App* cmd) { return cmd != nullptr && cmd->parsed(); }

int Dispatch(CommandLine& c, const char* argv0) {
  if (Chosen(c.init)) return CmdInit(c.global);
  if (Chosen(c.run_cmd)) return CmdRun(c.global, c.run.args);
  if (Chosen(c.status_cmd)) return CmdStatus(c.global, c.status);
  if (Chosen(c.history_cmd)) return CmdHistory(c.global, c.history);
  for (const auto& [cmd, action] : c.operators) {
    if (Chosen(cmd)) return CmdOperator(c.global, action, c.op);
  }
  if (Chosen(c.apply_cmd)) return CmdApply(c.global, c.apply);
  if (Chosen(c.lambda_cmd)) return CmdLambda(c.global, c.lambda);
  if (Chosen(c.demo_cmd)) return CmdDemo(c.global, argv0);
  if (Chosen(c.tick_cmd)) return CmdTick(c.global, c.sched.args);
  if (Chosen(c.serve_cmd)) return CmdServe(c.global, c.sched.args);
  return kExitUsage;
}

int Main(int argc, char** argv) {
  const Wanted want(argc, argv);
  if (want.scope() == Wanted::Scope::kNone) {  // --version, as CLI11 would print it, without unwinding its exception
    fmt::print(stdout, "jobgate {}\n", kJobgateVersion);
    return 0;
  }
  auto c = std::make_unique<CommandLine>(want);
  // Not a subcommand after all: build them all, for CLI11's own message.
  if (want.scope() == Wanted::Scope::kNamed && !c->BuiltAny()) c = std::make_unique<CommandLine>(Wanted::All());

  if (auto code = Parse(c->app, argc, argv)) return *code;
  if (Chosen(c->next_cmd)) return CmdNext(c->next);  // no store, no logging to set up
  if (c->global.store_url.empty()) {
    const char* env = std::getenv("JOBGATE_STORE");
    // A Lambda function has no local store worth a default: it must be told.
    c->global.store_url = env && *env ? env : (Chosen(c->lambda_cmd) ? "" : kDefaultStoreUrl);
  }
  Status flags = ConfigureLogging(c->global);
  if (flags.ok() && Chosen(c->run_cmd)) flags = c->run.Finish();
  if (flags.ok() && (Chosen(c->tick_cmd) || Chosen(c->serve_cmd))) flags = c->sched.Finish();
  if (!flags.ok()) {
    fmt::print(stderr, "jobgate: {}\n", flags.message());
    return kExitUsage;
  }
  return Dispatch(*c, argv[0]);
}

}  // namespace
}  // namespace jobgate::cli

int main(int argc, char** argv) {
  // A closed stdin/stdout/stderr (some cron and supervisor setups) would let
  // the store's database file or a pipe take fd 0-2, and a stray write would
  // land in it. Park /dev/null there first.
  for (int fd = 0; fd <= 2; ++fd) {
    if (fcntl(fd, F_GETFD) == -1 && open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY) != fd) return 70;
  }
  return jobgate::cli::Main(argc, argv);
}
