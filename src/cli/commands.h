// One function a subcommand. Each returns the process exit code.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "jobgate/controller.h"

namespace jobgate::cli {

struct GlobalOptions {
  std::string store_url;
  std::string log_level = "warn";
  std::string log_format = "text";
};

struct RunArgs {
  std::string job;
  std::vector<std::string> command;
  std::string request_id;
  std::optional<EpochMs> slot;
  RunOverrides overrides;
  int skip_exit_code = 0;
  bool json = false;
  bool scheduled = false;  // claim the due slot of the job's schedule (tick, serve)
  int json_fd = -1;        // >= 0: the --json outcome goes to this descriptor instead of stdout
};

struct StatusArgs {
  std::string job;
  bool json = false;
};

struct HistoryArgs {
  std::string job;
  int limit = 20;
  bool json = false;
};

struct ApplyArgs {
  std::string file;
  bool dry_run = false;
};

struct LambdaArgs {
  std::string job;
  std::vector<std::string> command;
  std::string deadline_margin;  // duration text; empty: $JOBGATE_LAMBDA_DEADLINE_MARGIN, else 2s
  std::string failed_run_response;  // error|success; empty: $JOBGATE_LAMBDA_FAILED_RUN_RESPONSE, else error
  std::string metrics;              // none|emf; empty: $JOBGATE_LAMBDA_METRICS, else none
};

// tick and serve.
// `jobgate --version`, and serve's jobgate_build_info metric.
inline constexpr const char* kJobgateVersion = "0.1.0";

struct SchedulerArgs {
  int max_concurrent = 8;
  int64_t poll_ms = 1'000;
  int64_t grace_ms = 30'000;
  std::string listen;           // serve: HOST:PORT of the HTTP API, dashboard and metrics; empty: none
  std::string http_token_file;  // serve: the bearer token of changes (and of reads from other hosts)
};

enum class OperatorAction { kPause, kResume, kTrigger, kUnlock };
struct OperatorArgs {
  std::string job;
  std::string reason;
  std::optional<int64_t> fence;  // unlock: only this run
};

struct NextArgs {
  std::string expression;
  std::string time_zone = "UTC";
  std::string from;  // RFC 3339 or epoch ms; empty: now
  int count = 5;
};

Status ConfigureLogging(const GlobalOptions& g);

int CmdInit(const GlobalOptions& g);
int CmdRun(const GlobalOptions& g, const RunArgs& a);
int CmdStatus(const GlobalOptions& g, const StatusArgs& a);
int CmdHistory(const GlobalOptions& g, const HistoryArgs& a);
int CmdOperator(const GlobalOptions& g, OperatorAction action, const OperatorArgs& a);
int CmdApply(const GlobalOptions& g, const ApplyArgs& a);
int CmdLambda(const GlobalOptions& g, const LambdaArgs& a);
int CmdDemo(const GlobalOptions& g, const char* argv0);
int CmdTick(const GlobalOptions& g, const SchedulerArgs& a);
int CmdServe(const GlobalOptions& g, const SchedulerArgs& a);

// The store the global options name, its errors naming --store.
Result<std::unique_ptr<Store>> Open(const GlobalOptions& g);
// Needs no store: the schedule's arithmetic only.
int CmdNext(const NextArgs& a);

// Prints "jobgate: <message>" and returns the exit code for the status.
int Fail(const Status& s);

}  // namespace jobgate::cli
