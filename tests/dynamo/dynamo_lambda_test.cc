// The seed deployment on this machine: an EventBridge-style trigger ->
// `jobgate lambda` (the real binary, on a Runtime API emulator) -> DynamoDB
// (dynalite, through a proxy that counts the calls).
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "dynamo/dynamo_harness.h"
#include "support/runtime_api_emulator.h"

namespace jobgate::dynamo_test {
namespace {

using nlohmann::json;
using test::RuntimeApiEmulator;

class DynamoLambda : public DynamoTest {
 protected:
  void TearDown() override {
    runtime_.reset();
    DynamoTest::TearDown();
  }

  void Start(const std::string& endpoint, const std::vector<std::string>& args) {
    std::vector<std::string> argv = {"env", "AWS_LAMBDA_RUNTIME_API=" + api_.address(), JOBGATE_BINARY,
                                     "--store", StoreUrl(endpoint), "lambda"};
    argv.insert(argv.end(), args.begin(), args.end());
    runtime_ = std::make_unique<test::Child>(argv, Path("runtime.out"), Path("runtime.err"));
  }

  json Invoke(const std::string& event) {
    const std::string id = api_.Push(event);
    auto answer = api_.WaitAnswer(id);
    EXPECT_TRUE(answer.has_value()) << runtime_->Describe();
    if (!answer) return json();
    EXPECT_FALSE(answer->is_error) << answer->body;
    return json::parse(answer->body, nullptr, false);
  }

  RuntimeApiEmulator api_;
  std::unique_ptr<test::Child> runtime_;
};

TEST_F(DynamoLambda, OneScheduledTimeRunsOnceHoweverItIsDeliveredAndAGatedWarmInvocationReadsOnce) {
  ASSERT_EQ(Jobgate({"init"}).exit_code, 0);
  FaultProxy proxy(endpoint_, dir_, {});
  ASSERT_FALSE(proxy.endpoint().empty()) << proxy.startup_error();
  const std::string marker = Path("marker");
  Start(proxy.endpoint(), {"--", "sh", "-c", "echo ran >> " + marker});

  // The stack's EventBridge Scheduler target.
  const std::string scheduled =
      R"({"job": "hourly", "slot": "2026-12-02T08:00:00Z", "request_id": "3f6c1f4e-execution-1"})";
  json first = Invoke(scheduled);
  EXPECT_EQ(first["outcome"], "succeeded") << first;

  // Delivered again (the scheduler or Lambda's async queue delivers twice).
  json twice = Invoke(scheduled);
  EXPECT_EQ(twice["reason"], "duplicate") << twice;

  // The same time from a classic scheduled rule, and as a direct invoke.
  json rule = Invoke(json{{"id", "e1"}, {"source", "aws.events"}, {"detail-type", "Scheduled Event"},
                          {"time", "2026-12-02T08:00:00Z"},
                          {"resources", {"arn:aws:events:us-east-1:123456789012:rule/hourly"}}}
                         .dump());
  EXPECT_EQ(rule["reason"], "slot_done") << rule;
  const int before = proxy.Requests();
  json direct = Invoke(R"({"job": "hourly", "slot": "2026-12-02T08:00:00Z"})");
  EXPECT_EQ(direct["reason"], "slot_done") << direct;
  // A gated warm invocation: one read, nothing written.
  EXPECT_EQ(proxy.Requests() - before, 1) << json(proxy.Log()).dump();
  EXPECT_EQ(direct["store_reads"], 1);
  EXPECT_EQ(direct["store_writes"], 0);

  EXPECT_EQ(ReadFile(marker), "ran\n");
  auto s = StateOf("hourly");
  EXPECT_EQ(s["run_count"], 1);
  EXPECT_EQ(s["status"], "IDLE");
  EXPECT_TRUE(CountersIntact(s));
}

}  // namespace
}  // namespace jobgate::dynamo_test
