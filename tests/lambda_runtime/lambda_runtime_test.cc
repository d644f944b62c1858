// `jobgate lambda` end to end: the real binary against a Runtime API
// emulator on 127.0.0.1 (tests/support/runtime_api_emulator.h) and a store
// in a temporary directory. (tests/dynamo/dynamo_lambda_test.cc runs the
// seed deployment, on DynamoDB through dynalite.)
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/runtime_api_emulator.h"
#include "support/subprocess.h"
#include "support/temp_dir.h"

namespace jobgate {
namespace {

using nlohmann::json;
using test::Child;
using test::RuntimeApiEmulator;

int Lines(const std::string& text) {
  int n = 0;
  for (char c : text) n += c == '\n';
  return n;
}

class LambdaRuntimeTest : public ::testing::Test {
 protected:
  void TearDown() override {
    runtime_.reset();  // kills the runtime before the emulator goes
  }

  std::string Path(const std::string& name) const { return dir_ + "/" + name; }

  // Kills the runtime once it waits for its next invocation, and ends that
  // wait, so that the next runtime gets the next invocation.
  void StopRuntime() {
    for (int i = 0; i < 500 && runtime_ && !runtime_->Poll() && api_.waiting() == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    runtime_.reset();
    api_.DropWaiting();
  }

  // `jobgate lambda ARGS...` with AWS_LAMBDA_RUNTIME_API pointing at the
  // emulator and `env` added to the environment.
  void Start(const std::vector<std::string>& args, const std::vector<std::string>& env = {},
             const std::string& store = "") {
    std::vector<std::string> argv = {"env", "AWS_LAMBDA_RUNTIME_API=" + api_.address()};
    argv.insert(argv.end(), env.begin(), env.end());
    argv.push_back(JOBGATE_BINARY);
    argv.push_back("--store=" + (store.empty() ? store_ : store));
    argv.push_back("lambda");
    argv.insert(argv.end(), args.begin(), args.end());
    runtime_ = std::make_unique<Child>(argv, Path("runtime.out"), Path("runtime.err"));
  }

  // Runs `jobgate --store STORE ARGS...` to the end.
  test::Proc Jobgate(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {JOBGATE_BINARY, "--store=" + store_};
    argv.insert(argv.end(), args.begin(), args.end());
    return test::RunToFiles(argv, Path("cli.out"), Path("cli.err"));
  }

  // Pushes `event` and waits for its answer.
  RuntimeApiEmulator::Answer Invoke(const std::string& event, int64_t timeout_ms = 30'000) {
    const std::string id = api_.Push(event, timeout_ms);
    auto answer = api_.WaitAnswer(id, timeout_ms + 10'000);
    EXPECT_TRUE(answer.has_value()) << runtime_->Describe();
    return answer.value_or(RuntimeApiEmulator::Answer{});
  }

  // The outcome an answer carries: the body of a success, the "outcome" of
  // an error.
  static json OutcomeOf(const RuntimeApiEmulator::Answer& a) {
    json body = json::parse(a.body, nullptr, false);
    if (a.is_error) return body.is_object() && body.contains("outcome") ? body["outcome"] : json();
    return body;
  }

  // The runtime's stdout lines that are invocation log lines.
  std::vector<json> LogLines() const {
    std::vector<json> lines;
    std::ifstream in(Path("runtime.out"));
    for (std::string line; std::getline(in, line);) {
      json j = json::parse(line, nullptr, false);
      if (j.is_object() && j.value("msg", "") == "invocation") lines.push_back(j);
      if (j.is_object() && j.contains("_aws")) lines.push_back(j);
    }
    return lines;
  }

  static std::string ScheduledEvent(const std::string& id, const std::string& time, const std::string& rule) {
    return json{{"version", "0"},
                {"id", id},
                {"detail-type", "Scheduled Event"},
                {"source", "aws.events"},
                {"account", "123456789012"},
                {"time", time},
                {"region", "eu-west-1"},
                {"resources", {"arn:aws:events:eu-west-1:123456789012:rule/" + rule}},
                {"detail", json::object()}}
        .dump();
  }

  jobgate::test::TempDir temp_{"jobgate-lambda"};
  std::string dir_ = temp_.path();
  std::string store_ = "sqlite:" + dir_ + "/jobgate.db";
  RuntimeApiEmulator api_;
  std::unique_ptr<Child> runtime_;
};

TEST_F(LambdaRuntimeTest, AnHourlyEventRunsOnceHoweverItIsDelivered) {
  ASSERT_EQ(Jobgate({"init"}).exit_code, 0);
  Start({"--", "sh", "-c", "echo ran >> " + Path("ran.log")});
  const std::string event = ScheduledEvent("7bf73129-1428-4cd3-a780-95db273d1602", "2026-12-02T08:00:00Z", "hourly");

  auto first = Invoke(event);
  EXPECT_FALSE(first.is_error) << first.body;
  json o = OutcomeOf(first);
  EXPECT_EQ(o["job"], "hourly");  // named by the rule in `resources`
  EXPECT_EQ(o["outcome"], "succeeded");
  EXPECT_EQ(o["slot"], "2026-12-02T08:00:00.000Z");

  // A duplicate delivery of the same event: the same id.
  auto again = Invoke(event);
  EXPECT_FALSE(again.is_error) << again.body;
  EXPECT_EQ(OutcomeOf(again)["outcome"], "skipped");
  EXPECT_EQ(OutcomeOf(again)["reason"], "duplicate");

  // The same scheduled time as a direct invoke with another request id.
  auto direct = Invoke(R"({"job": "hourly", "slot": "2026-12-02T08:00:00Z", "request_id": "manual-1"})");
  EXPECT_FALSE(direct.is_error) << direct.body;
  EXPECT_EQ(OutcomeOf(direct)["outcome"], "skipped");
  EXPECT_EQ(OutcomeOf(direct)["reason"], "slot_done");

  EXPECT_EQ(Lines(test::ReadFile(Path("ran.log"))), 1);
  auto lines = LogLines();
  ASSERT_EQ(lines.size(), 3u) << runtime_->Describe();
  EXPECT_EQ(lines[0]["job"], "hourly");
  EXPECT_EQ(lines[0]["outcome"], "succeeded");
  EXPECT_EQ(lines[0]["request_id"], "7bf73129-1428-4cd3-a780-95db273d1602");
  EXPECT_EQ(lines[0]["slot"], "2026-12-02T08:00:00.000Z");
  EXPECT_GE(lines[0]["store_writes"].get<int>(), 1);
  EXPECT_EQ(lines[1]["reason"], "duplicate");
  EXPECT_EQ(lines[2]["reason"], "slot_done");
}

TEST_F(LambdaRuntimeTest, TheStoredDefinitionRunsAndASecondEventInsideTheCooldownIsGated) {
  std::ofstream(Path("jobs.toml")) << fmt::format(
      "[jobs.report]\ncommand = [\"sh\", \"-c\", \"echo ran >> {}\"]\ncooldown = \"1h\"\n", Path("ran.log"));
  ASSERT_EQ(Jobgate({"apply", Path("jobs.toml")}).exit_code, 0) << test::ReadFile(Path("cli.err"));
  Start({}, {"JOBGATE_JOB=report"});
  auto first = Invoke(R"({"slot": "2026-12-02T08:00:00Z", "request_id": "exec-1"})");
  EXPECT_EQ(OutcomeOf(first)["outcome"], "succeeded") << first.body;
  auto second = Invoke(R"({"slot": "2026-12-02T09:00:00Z", "request_id": "exec-2"})");
  EXPECT_FALSE(second.is_error) << "a gated invocation is a success: " << second.body;
  EXPECT_EQ(OutcomeOf(second)["outcome"], "skipped");
  EXPECT_EQ(OutcomeOf(second)["reason"], "cooldown");
  EXPECT_EQ(Lines(test::ReadFile(Path("ran.log"))), 1);
}

TEST_F(LambdaRuntimeTest, AWorkloadThatOutlivesTheDeadlineIsStoppedCommittedAndAnsweredInTime) {
  Start({"--deadline-margin=1s", "--job=slow", "--", "sleep", "30"});
  auto answer = Invoke(R"({"request_id": "slow-1"})", 3'000);
  EXPECT_TRUE(answer.is_error) << answer.body;
  EXPECT_EQ(answer.error_type, "jobgate.RunTimedOut");
  EXPECT_LT(answer.arrived_ms, answer.deadline_ms) << "the answer must arrive before Lambda's deadline";
  json o = OutcomeOf(answer);
  EXPECT_EQ(o["outcome"], "timed_out");
  EXPECT_NE(o.value("error", "").find("deadline"), std::string::npos) << o;
  // Committed: the job is idle again, with the failure counted.
  auto status = Jobgate({"status", "slow", "--json"});
  json state = json::parse(status.out, nullptr, false);
  EXPECT_EQ(state["status"], "IDLE") << status.out;
  EXPECT_EQ(state["failure_count"], 1);
}

// Lambda may freeze or kill a sandbox mid-run: the lease keeps the job
// until it expires, then the next invocation takes it over.
TEST_F(LambdaRuntimeTest, ASandboxKilledMidRunHoldsTheJobUntilItsLeaseExpires) {
  std::ofstream(Path("jobs.toml")) << fmt::format(
      "[jobs.long]\ncommand = [\"sh\", \"-c\", \"echo started >> {}; sleep 30\"]\nlease = \"2s\"\n",
      Path("ran.log"));
  ASSERT_EQ(Jobgate({"apply", Path("jobs.toml")}).exit_code, 0) << test::ReadFile(Path("cli.err"));
  Start({"--job=long"});
  api_.Push(R"({"request_id": "a"})");
  for (int i = 0; i < 500 && test::ReadFile(Path("ran.log")).empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(test::ReadFile(Path("ran.log")), "started\n") << runtime_->Describe();
  runtime_->Kill();  // SIGKILL: no commit, no answer
  runtime_->Wait();
  api_.DropWaiting();

  Start({"--job=long", "--", "true"});
  auto held = Invoke(R"({"request_id": "b"})");
  EXPECT_EQ(OutcomeOf(held)["reason"], "running") << held.body;
  // The lease, plus the clock-skew allowance a takeover waits for
  // (next_allowed_run says when).
  std::this_thread::sleep_for(std::chrono::milliseconds(4'300));
  auto taken = Invoke(R"({"request_id": "c"})");
  EXPECT_EQ(OutcomeOf(taken)["outcome"], "succeeded") << taken.body;
  json state = json::parse(Jobgate({"status", "long", "--json"}).out, nullptr, false);
  EXPECT_EQ(state["abandoned_count"], 1) << state;
  EXPECT_EQ(state["run_count"], 2);
}

TEST_F(LambdaRuntimeTest, AFailedRunAnswersWithAnErrorUnlessToldOtherwise) {
  Start({"--job=fails", "--", "sh", "-c", "echo broken >&2; exit 3"});
  auto failed = Invoke(R"({"request_id": "f-1"})");
  EXPECT_TRUE(failed.is_error);
  EXPECT_EQ(failed.error_type, "jobgate.RunFailed");
  json body = json::parse(failed.body);
  EXPECT_EQ(body["errorType"], "jobgate.RunFailed");
  EXPECT_NE(body["errorMessage"].get<std::string>().find("broken"), std::string::npos) << body;
  EXPECT_EQ(body["outcome"]["exit_code"], 3);
  StopRuntime();

  Start({"--job=fails2", "--failed-run-response=success", "--", "sh", "-c", "exit 3"});
  auto answered = Invoke(R"({"request_id": "f-2"})");
  EXPECT_FALSE(answered.is_error) << answered.body;
  EXPECT_EQ(OutcomeOf(answered)["outcome"], "failed");
}

TEST_F(LambdaRuntimeTest, AMalformedEventGetsAnErrorNamingItAndRunsNothing) {
  Start({"--", "sh", "-c", "echo ran >> " + Path("ran.log")});
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"not json", "not JSON"},
      {R"({"job": 5})", "\"job\" must be a string"},
      {R"({"slot": "2026-12-02T08:00:00Z"})", "no job"},
      {R"({"job": "x", "slot": "yesterday"})", "yesterday"},
      {R"({"job": "x", "slott": "2026-12-02T08:00:00Z"})", "unknown field \"slott\""},
  };
  for (const auto& [event, expected] : cases) {
    auto answer = Invoke(event);
    EXPECT_TRUE(answer.is_error) << event;
    EXPECT_EQ(answer.error_type, "jobgate.BadEvent") << event;
    json body = json::parse(answer.body, nullptr, false);
    EXPECT_NE(body.value("errorMessage", "").find(expected), std::string::npos) << event << " -> " << answer.body;
  }
  EXPECT_FALSE(std::filesystem::exists(Path("ran.log")));
  // Still serving.
  auto ok = Invoke(R"({"job": "x"})");
  EXPECT_EQ(OutcomeOf(ok)["outcome"], "succeeded") << ok.body;
}

TEST_F(LambdaRuntimeTest, AStoreThatIsDownGetsAnErrorAndRunsNothing) {
  const std::string down = "dynamodb://job_control?region=eu-west-1&endpoint=http://127.0.0.1:1";
  Start({"--job=j", "--", "sh", "-c", "echo ran >> " + Path("ran.log")},
        {"AWS_ACCESS_KEY_ID=AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}, down);
  auto answer = Invoke(R"({"request_id": "d-1"})");
  EXPECT_TRUE(answer.is_error) << answer.body;
  EXPECT_EQ(answer.error_type, "jobgate.StoreUnavailable") << answer.body;
  EXPECT_FALSE(std::filesystem::exists(Path("ran.log")));
}

TEST_F(LambdaRuntimeTest, ABadStoreUrlAtStartGoesToInitError) {
  Start({"--job=j"}, {}, "nosuchscheme:x");
  auto body = api_.WaitInitError();
  ASSERT_TRUE(body.has_value()) << runtime_->Describe();
  json j = json::parse(*body, nullptr, false);
  EXPECT_EQ(j["errorType"], "jobgate.InvalidConfiguration");
  EXPECT_NE(j.value("errorMessage", "").find("nosuchscheme:x"), std::string::npos) << *body;
  auto code = runtime_->WaitFor(std::chrono::seconds(10));
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(*code, 2);
  EXPECT_EQ(api_.next_calls(), 0);
}

TEST_F(LambdaRuntimeTest, NoStoreAndBadSettingsGoToInitErrorNamingTheSetting) {
  runtime_ = std::make_unique<Child>(
      std::vector<std::string>{"env", "-u", "JOBGATE_STORE", "AWS_LAMBDA_RUNTIME_API=" + api_.address(),
                               JOBGATE_BINARY, "lambda"},
      Path("runtime.out"), Path("runtime.err"));
  auto body = api_.WaitInitError();
  ASSERT_TRUE(body.has_value()) << runtime_->Describe();
  EXPECT_NE(body->find("JOBGATE_STORE"), std::string::npos) << *body;
  EXPECT_EQ(runtime_->WaitFor(std::chrono::seconds(10)).value_or(-1), 2);
}

TEST_F(LambdaRuntimeTest, NoCredentialsGoToInitErrorAndNothingRuns) {
  runtime_ = std::make_unique<Child>(
      std::vector<std::string>{"env", "-i", "PATH=/usr/bin:/bin", "HOME=" + dir_, "AWS_EC2_METADATA_DISABLED=true",
                               "AWS_LAMBDA_RUNTIME_API=" + api_.address(),
                               "JOBGATE_STORE=dynamodb://job_control?region=eu-west-1", JOBGATE_BINARY, "lambda",
                               "--job=j"},
      Path("runtime.out"), Path("runtime.err"));
  auto body = api_.WaitInitError();
  ASSERT_TRUE(body.has_value()) << runtime_->Describe();
  EXPECT_NE(body->find("credentials"), std::string::npos) << *body;
  EXPECT_NE(body->find("AWS_ACCESS_KEY_ID"), std::string::npos) << *body;
  EXPECT_NE(runtime_->WaitFor(std::chrono::seconds(10)).value_or(0), 0);
  EXPECT_EQ(api_.next_calls(), 0);
}

TEST_F(LambdaRuntimeTest, ABadMetricsSettingGoesToInitError) {
  Start({"--job=j"}, {"JOBGATE_LAMBDA_METRICS=statsd"});
  auto body = api_.WaitInitError();
  ASSERT_TRUE(body.has_value()) << runtime_->Describe();
  EXPECT_NE(body->find("JOBGATE_LAMBDA_METRICS: \\\"statsd\\\""), std::string::npos) << *body;
  EXPECT_EQ(runtime_->WaitFor(std::chrono::seconds(10)).value_or(-1), 2);
}

TEST_F(LambdaRuntimeTest, TheTraceIdReachesTheWorkloadAndMetricsAreEmittedWhenAskedFor) {
  Start({"--job=traced", "--metrics=emf", "--", "sh", "-c", "printf %s \"$_X_AMZN_TRACE_ID\" > " + Path("trace")});
  auto answer = Invoke(R"({})");
  EXPECT_EQ(OutcomeOf(answer)["outcome"], "succeeded") << answer.body;
  EXPECT_EQ(test::ReadFile(Path("trace")), "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1");
  auto gated = Invoke(R"({"slot": "2026-12-02T08:00:00Z"})");
  auto lines = LogLines();
  ASSERT_EQ(lines.size(), 4u) << runtime_->Describe();
  const json& emf = lines[1];
  EXPECT_EQ(emf["_aws"]["CloudWatchMetrics"][0]["Namespace"], "jobgate");
  EXPECT_EQ(emf["Job"], "traced");
  EXPECT_EQ(emf["Outcome"], "succeeded");
  EXPECT_EQ(emf["Invocations"], 1);
  EXPECT_TRUE(emf["Duration"].is_number());
  // A direct invoke without a request id is keyed by Lambda's own.
  EXPECT_EQ(lines[0]["request_id"].get<std::string>().rfind("lambda:req-", 0), 0u) << lines[0];
  (void)gated;
}

#ifdef JOBGATE_LAMBDA_SANDBOX
// The zip of scripts/package-lambda.sh, unpacked, started as Lambda starts
// it: `bootstrap`, with `env -i` and only the variables Lambda sets (the
// unpacked directory in place of /var/task), answers an invocation and runs
// the job's command with the system's own programs.
TEST_F(LambdaRuntimeTest, ThePackagedBootstrapAnswersWithLambdasEnvironmentAlone) {
  auto packaged = test::RunToFiles({"bash", JOBGATE_LAMBDA_SANDBOX, "package", JOBGATE_BINARY, dir_},
                                   Path("package.out"), Path("package.err"));
  ASSERT_EQ(packaged.exit_code, 0) << packaged.out << packaged.err;
  const std::string task = Path("task");
  auto env = test::RunToFiles({"bash", JOBGATE_LAMBDA_SANDBOX, "env", task}, Path("env.out"), Path("env.err"));
  ASSERT_EQ(env.exit_code, 0) << env.err;
  std::vector<std::string> argv = {"env", "-i"};
  std::istringstream lines(env.out);
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty() && line.rfind("AWS_LAMBDA_RUNTIME_API=", 0) != 0) argv.push_back(line);
  }
  argv.insert(argv.end(), {"AWS_LAMBDA_RUNTIME_API=" + api_.address(), "JOBGATE_STORE=" + store_,
                           "JOBGATE_JOB=packaged", "JOBGATE_LAMBDA_COMMAND=echo \"$JOBGATE_JOB\" > " + Path("ran"),
                           task + "/bootstrap"});
  runtime_ = std::make_unique<Child>(argv, Path("runtime.out"), Path("runtime.err"));
  auto answer = Invoke(R"({"slot": "2026-12-02T08:00:00Z"})");
  EXPECT_FALSE(answer.is_error) << answer.body << runtime_->Describe();
  EXPECT_EQ(OutcomeOf(answer)["outcome"], "succeeded") << answer.body;
  EXPECT_EQ(test::ReadFile(Path("ran")), "packaged\n");
  // The runtime is the bundled loader running the bundled binary.
  const std::string maps = test::ReadFile("/proc/" + std::to_string(runtime_->pid()) + "/maps");
  EXPECT_NE(maps.find(task + "/runtime/lib/ld-linux-x86-64.so.2"), std::string::npos) << maps;
  EXPECT_NE(maps.find(task + "/bin/jobgate"), std::string::npos);
}
#endif

#ifdef JOBGATE_LAMBDA_HANDLER_EXAMPLE
// examples/lambda_handler: the job in-process, through RunHandler.
TEST_F(LambdaRuntimeTest, ACxxHandlerRunsInProcessOncePerSlotAndStopsByTheDeadline) {
  auto start = [&](const std::string& steps, const std::string& step_ms) {
    runtime_ = std::make_unique<Child>(
        std::vector<std::string>{"env", "AWS_LAMBDA_RUNTIME_API=" + api_.address(), "JOBGATE_STORE=" + store_,
                                 "JOBGATE_JOB=inproc", JOBGATE_LAMBDA_HANDLER_EXAMPLE, steps, step_ms, "1000"},
        Path("runtime.out"), Path("runtime.err"));
  };
  start("2", "10");
  const std::string event = R"({"slot": "2026-12-02T08:00:00Z", "request_id": "exec-1"})";
  auto first = Invoke(event);
  EXPECT_FALSE(first.is_error) << first.body << runtime_->Describe();
  EXPECT_EQ(OutcomeOf(first)["outcome"], "succeeded");
  EXPECT_EQ(OutcomeOf(Invoke(event))["reason"], "duplicate");
  EXPECT_NE(runtime_->Out().find("job inproc: run "), std::string::npos) << runtime_->Describe();
  StopRuntime();

  start("100000", "20");
  auto slow = Invoke(R"({"request_id": "exec-2"})", 3'000);
  EXPECT_TRUE(slow.is_error) << slow.body;
  EXPECT_EQ(slow.error_type, "jobgate.RunTimedOut");
  EXPECT_LT(slow.arrived_ms, slow.deadline_ms);
  EXPECT_NE(OutcomeOf(slow).value("error", "").find("stopped after"), std::string::npos) << slow.body;
}
#endif

}  // namespace
}  // namespace jobgate
