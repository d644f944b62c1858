// jobgate's command line: argument parsing and output only. Every decision
// is made by the library (controller, stores, runner); this file turns its
// Status and Outcome values into messages and exit codes.
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/exit_codes.h"
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

int Main(int argc, char** argv) {
  CLI::App app{"jobgate: decides whether a scheduled job runs, across hosts, with state", "jobgate"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "jobgate 0.1.0");
  GlobalOptions global;
  app.add_option("--store", global.store_url,
                 "store URL (sqlite:PATH, memory:); default $JOBGATE_STORE, else sqlite:jobgate.db");
  app.add_option("--log-level", global.log_level, "trace, debug, info, warn (default), error, off");
  app.add_option("--log-format", global.log_format, "text (default) or json");

  auto* init = app.add_subcommand("init", "create tables / schema (idempotent)");

  RunArgs run;
  DurationFlag cooldown{"", "--cooldown"}, timeout{"", "--timeout"}, lease{"", "--lease"},
      skew{"", "--max-clock-skew"};
  std::string slot_text;
  auto* run_cmd = app.add_subcommand("run", "one invocation: read, gate, lock, execute, commit");
  run_cmd->add_option("name", run.job, "job name")->required();
  run_cmd->add_option("command", run.command, "the command to run (after --)");
  run_cmd->add_option("--request-id", run.request_id, "idempotency key (e.g. the scheduler's execution id)");
  run_cmd->add_option("--slot", slot_text, "the schedule slot this invocation claims (RFC 3339 or epoch ms)");
  run_cmd->add_option("--cooldown", cooldown.text, "minimum time between a success and the next start");
  run_cmd->add_option("--timeout", timeout.text, "stop the command after this long (exit 124)");
  run_cmd->add_option("--lease", lease.text, "lease length; the heartbeat renews it every lease/3");
  run_cmd->add_option("--max-clock-skew", skew.text, "allowance for clock differences between hosts");
  run_cmd->add_option("--skip-exit-code", run.skip_exit_code, "exit code when gated (default 0)")
      ->check(CLI::Range(0, 255));
  run_cmd->add_flag("--json", run.json, "print the outcome as one JSON object");

  StatusArgs status;
  auto* status_cmd = app.add_subcommand("status", "jobs at a glance");
  status_cmd->add_option("name", status.job, "one job");
  status_cmd->add_flag("--json", status.json, "JSON output");

  HistoryArgs history;
  auto* history_cmd = app.add_subcommand("history", "the last runs of a job");
  history_cmd->add_option("name", history.job, "job name")->required();
  history_cmd->add_option("--limit", history.limit, "how many runs (default 20)")->check(CLI::Range(1, 100000));
  history_cmd->add_flag("--json", history.json, "JSON output (one array)");

  OperatorArgs op;
  auto* pause_cmd = app.add_subcommand("pause", "stop new runs (a running holder still commits)");
  pause_cmd->add_option("name", op.job, "job name")->required();
  pause_cmd->add_option("--reason", op.reason, "why, shown in status");
  auto* resume_cmd = app.add_subcommand("resume", "allow runs again (clears a failure streak)");
  resume_cmd->add_option("name", op.job, "job name")->required();
  auto* trigger_cmd = app.add_subcommand("trigger", "let the next invocation run now (clears cooldown/backoff)");
  trigger_cmd->add_option("name", op.job, "job name")->required();
  auto* unlock_cmd = app.add_subcommand("unlock", "release a running job whose holder is gone");
  unlock_cmd->add_option("name", op.job, "job name")->required();
  unlock_cmd->add_option("--fence", op.fence, "only if this run (fence) still holds it")->check(CLI::PositiveNumber);


  ApplyArgs apply;
  auto* apply_cmd = app.add_subcommand("apply", "create or update job definitions from a TOML file");
  apply_cmd->add_option("file", apply.file, "FILE.toml")->required();
  apply_cmd->add_flag("--dry-run", apply.dry_run, "only check the file");

  auto* demo_cmd = app.add_subcommand("demo", "a self-contained demonstration on a temporary store");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "jobgate: " << e.what() << "\n";
    return kExitUsage;
  }
  if (global.store_url.empty()) {
    const char* env = std::getenv("JOBGATE_STORE");
    global.store_url = env && *env ? env : kDefaultStoreUrl;
  }
  Status flags = ConfigureLogging(global);
  if (flags.ok() && *run_cmd) flags = cooldown.Into(run.overrides.cooldown_ms);
  if (flags.ok() && *run_cmd) flags = timeout.Into(run.overrides.timeout_ms);
  if (flags.ok() && *run_cmd) flags = lease.Into(run.overrides.lease_ms);
  if (flags.ok() && *run_cmd) flags = skew.Into(run.overrides.max_clock_skew_ms);
  if (flags.ok() && *run_cmd && !slot_text.empty()) {
    auto t = ParseTime(slot_text, "--slot");
    if (t.ok()) run.slot = *t;
    flags = t.status();
  }
  if (!flags.ok()) {
    std::cerr << "jobgate: " << flags.message() << "\n";
    return kExitUsage;
  }

  if (*init) return CmdInit(global);
  if (*run_cmd) return CmdRun(global, run);
  if (*status_cmd) return CmdStatus(global, status);
  if (*history_cmd) return CmdHistory(global, history);
  if (*pause_cmd) return CmdOperator(global, OperatorAction::kPause, op);
  if (*resume_cmd) return CmdOperator(global, OperatorAction::kResume, op);
  if (*trigger_cmd) return CmdOperator(global, OperatorAction::kTrigger, op);
  if (*unlock_cmd) return CmdOperator(global, OperatorAction::kUnlock, op);
  if (*apply_cmd) return CmdApply(global, apply);
  if (*demo_cmd) return CmdDemo(global, argv[0]);
  return kExitUsage;
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
