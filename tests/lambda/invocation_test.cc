// One invocation from event to answer, with a scripted executor: what is
// answered, logged and measured for each way an invocation can end.
#include "lambda/invocation.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/random.h"
#include "store/memory_store.h"

namespace jobgate::lambda {
namespace {

using nlohmann::json;

class InvocationTest : public ::testing::Test {
 protected:
  // Handles `body` with `deadline_in_ms` left; the executor answers `result`.
  Answer Handle(const std::string& body, Result<Outcome> result, int64_t deadline_in_ms = 60'000) {
    Invocation inv;
    inv.aws_request_id = "8476a536-e9f4-11e8-9739-2dfe598c3fcd";
    inv.deadline_ms = clock_.NowMs() + deadline_in_ms;
    inv.trace_id = "Root=1-abc";
    inv.body = body;
    InvocationDeps deps{store_, clock_, random_, options_, "host:1",
                        [&](Controller&, const RunRequest& req, const Invocation&, int64_t stop_by_ms) {
                          calls_.push_back(req);
                          stop_by_.push_back(stop_by_ms);
                          return result;
                        },
                        [&](const std::string& line) { lines_.push_back(json::parse(line)); }};
    return HandleInvocation(deps, inv);
  }

  static Outcome Of(RunOutcomeKind kind, SkipReason reason = SkipReason::kNone) {
    Outcome o;
    o.job = "j";
    o.kind = kind;
    o.reason = reason;
    o.fence = 4;
    o.store_reads = 1;
    return o;
  }

  MemoryStore store_;
  ManualClock clock_;
  SeededRandom random_{1};
  RuntimeOptions options_;
  std::vector<RunRequest> calls_;
  std::vector<int64_t> stop_by_;
  std::vector<json> lines_;
};

TEST_F(InvocationTest, ASkipIsASuccessWithItsOutcome) {
  Answer a = Handle(R"({"job": "j", "request_id": "r1"})", Of(RunOutcomeKind::kSkipped, SkipReason::kCooldown));
  EXPECT_FALSE(a.is_error);
  json body = json::parse(a.body);
  EXPECT_EQ(body["outcome"], "skipped");
  EXPECT_EQ(body["reason"], "cooldown");
  ASSERT_EQ(lines_.size(), 1u);
  EXPECT_EQ(lines_[0]["level"], "info");
  EXPECT_EQ(lines_[0]["aws_request_id"], "8476a536-e9f4-11e8-9739-2dfe598c3fcd");
  EXPECT_EQ(lines_[0]["reason"], "cooldown");
  EXPECT_EQ(lines_[0]["request_id"], "r1");
  EXPECT_EQ(lines_[0]["store_reads"], 1);
}

TEST_F(InvocationTest, TheRunMustBeOverByTheDeadlineLessTheMargin) {
  options_.deadline_margin_ms = 1'500;
  Handle(R"({"job": "j"})", Of(RunOutcomeKind::kSucceeded), 10'000);
  ASSERT_EQ(stop_by_.size(), 1u);
  EXPECT_EQ(stop_by_[0], clock_.MonotonicMs() + 10'000 - 1'500);
  ASSERT_EQ(calls_.size(), 1u);
  EXPECT_EQ(calls_[0].job, "j");
  EXPECT_EQ(calls_[0].holder, "host:1");
  EXPECT_EQ(calls_[0].request_id, "lambda:8476a536-e9f4-11e8-9739-2dfe598c3fcd");  // Lambda's own id
}

TEST_F(InvocationTest, TooLittleTimeLeftRunsNothing) {
  options_.deadline_margin_ms = 2'000;
  Answer a = Handle(R"({"job": "j"})", Of(RunOutcomeKind::kSucceeded), 2'000 + kMinRunMs - 1);
  EXPECT_TRUE(a.is_error);
  EXPECT_EQ(a.error.type, "jobgate.NoTimeLeft");
  EXPECT_TRUE(calls_.empty());
  EXPECT_EQ(lines_[0]["outcome"], "rejected");
  EXPECT_EQ(lines_[0]["level"], "error");
}

TEST_F(InvocationTest, ABadEventRunsNothing) {
  Answer a = Handle("{", Of(RunOutcomeKind::kSucceeded));
  EXPECT_TRUE(a.is_error);
  EXPECT_EQ(a.error.type, "jobgate.BadEvent");
  EXPECT_TRUE(calls_.empty());
  EXPECT_TRUE(lines_[0]["job"].is_null());
  EXPECT_EQ(lines_[0]["reason"], "jobgate.BadEvent");
}

TEST_F(InvocationTest, AStoreErrorIsAnErrorNamedByItsKind) {
  Answer a = Handle(R"({"job": "j"})", Status::Unavailable("DynamoDB GetItem: connection refused"));
  EXPECT_TRUE(a.is_error);
  EXPECT_EQ(a.error.type, "jobgate.StoreUnavailable");
  EXPECT_EQ(a.error.message, "DynamoDB GetItem: connection refused");
  EXPECT_EQ(a.error.outcome_json, "");
  EXPECT_EQ(lines_[0]["outcome"], "error");
  Answer bad = Handle(R"({"job": "j"})", Status::Corrupt("job 'j': field \"version\" is \"x\""));
  EXPECT_EQ(bad.error.type, "jobgate.InvalidArgument");
}

TEST_F(InvocationTest, FailedTimedOutAndLostRunsAreErrorsByDefault) {
  const std::pair<RunOutcomeKind, const char*> cases[] = {{RunOutcomeKind::kFailed, "jobgate.RunFailed"},
                                                          {RunOutcomeKind::kTimedOut, "jobgate.RunTimedOut"},
                                                          {RunOutcomeKind::kLeaseLost, "jobgate.LeaseLost"}};
  for (const auto& [kind, type] : cases) {
    Outcome o = Of(kind);
    o.error = "exit code 3";
    Answer a = Handle(R"({"job": "j"})", o);
    EXPECT_TRUE(a.is_error);
    EXPECT_EQ(a.error.type, type);
    EXPECT_NE(a.error.message.find("exit code 3"), std::string::npos) << a.error.message;
    EXPECT_EQ(json::parse(a.error.outcome_json)["outcome"], RunOutcomeName(kind));
  }
}

TEST_F(InvocationTest, FailedRunsCanAnswerWithASuccessButContentionNeverDoes) {
  options_.failed_run_is_error = false;
  Answer failed = Handle(R"({"job": "j"})", Of(RunOutcomeKind::kFailed));
  EXPECT_FALSE(failed.is_error);
  EXPECT_EQ(json::parse(failed.body)["outcome"], "failed");
  Outcome stuck = Of(RunOutcomeKind::kSkipped, SkipReason::kLostRace);
  stuck.contended = true;
  stuck.error = "the state item never changed";
  Answer contended = Handle(R"({"job": "j"})", stuck);
  EXPECT_TRUE(contended.is_error);
  EXPECT_EQ(contended.error.type, "jobgate.Contended");
}

TEST_F(InvocationTest, EmbeddedMetricFormatLinesCarryTheOutcomeAndTheSkipReason) {
  options_.emf_metrics = true;
  Handle(R"({"job": "j"})", Of(RunOutcomeKind::kSkipped, SkipReason::kRunning));
  ASSERT_EQ(lines_.size(), 2u);
  const json& emf = lines_[1];
  EXPECT_EQ(emf["_aws"]["Timestamp"], clock_.NowMs());
  const json& directive = emf["_aws"]["CloudWatchMetrics"][0];
  EXPECT_EQ(directive["Namespace"], "jobgate");
  EXPECT_EQ(directive["Dimensions"], json::parse(R"([["Job", "Outcome"], ["Job", "Outcome", "Reason"]])"));
  EXPECT_EQ(directive["Metrics"][0]["Name"], "Invocations");
  EXPECT_EQ(directive["Metrics"][1]["Unit"], "Milliseconds");
  EXPECT_EQ(emf["Job"], "j");
  EXPECT_EQ(emf["Outcome"], "skipped");
  EXPECT_EQ(emf["Reason"], "running");
  EXPECT_EQ(emf["Invocations"], 1);

  lines_.clear();
  Handle(R"({"job": "j"})", Of(RunOutcomeKind::kSucceeded));
  EXPECT_EQ(lines_[1]["_aws"]["CloudWatchMetrics"][0]["Dimensions"], json::parse(R"([["Job", "Outcome"]])"));
  EXPECT_FALSE(lines_[1].contains("Reason"));
}

}  // namespace
}  // namespace jobgate::lambda
