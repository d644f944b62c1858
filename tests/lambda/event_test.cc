#include "lambda/event.h"

#include <gtest/gtest.h>

namespace jobgate::lambda {
namespace {

// The example of the EventBridge documentation ("Amazon EventBridge events
// from AWS services", scheduled events), rule name changed.
constexpr const char* kScheduledRuleEvent = R"({
  "version": "0",
  "id": "89d1a02d-5ec7-412e-82f5-13505f849b41",
  "detail-type": "Scheduled Event",
  "source": "aws.events",
  "account": "123456789012",
  "time": "2016-12-30T18:44:49Z",
  "region": "us-east-1",
  "resources": ["arn:aws:events:us-east-1:123456789012:rule/SampleRule"],
  "detail": {}
})";

TEST(LambdaEvent, AScheduledRuleEventClaimsItsTimeWithItsIdAndNamesTheJobByTheRule) {
  auto e = ParseEvent(kScheduledRuleEvent, "");
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(e->job, "SampleRule");
  ASSERT_TRUE(e->slot.has_value());
  EXPECT_EQ(*e->slot, 1483123489000);
  EXPECT_EQ(e->request_id, "89d1a02d-5ec7-412e-82f5-13505f849b41");
  EXPECT_STREQ(e->kind, "scheduled_rule");
}

TEST(LambdaEvent, TheRuntimesJobBeatsTheRuleName) {
  auto e = ParseEvent(kScheduledRuleEvent, "nightly");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->job, "nightly");
}

TEST(LambdaEvent, ASchedulerTargetWithTheStacksInputTemplate) {
  auto e = ParseEvent(
      R"({"job": "report", "slot": "2026-12-02T09:00:00Z", "request_id": "f9cbd8b5-3b3e-4d4e-9a2e-3b4f1e2d0c11"})",
      "other");
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(e->job, "report");  // the event's job beats the runtime's
  EXPECT_EQ(*e->slot, 1796202000000);
  EXPECT_EQ(e->request_id, "f9cbd8b5-3b3e-4d4e-9a2e-3b4f1e2d0c11");
  EXPECT_STREQ(e->kind, "direct");
}

TEST(LambdaEvent, EveryDirectFieldIsOptionalWhenTheRuntimeNamesTheJob) {
  for (const char* body : {"{}", "null", R"({"job": null, "slot": null, "request_id": null})"}) {
    auto e = ParseEvent(body, "default-job");
    ASSERT_TRUE(e.ok()) << body << ": " << e.status().ToString();
    EXPECT_EQ(e->job, "default-job");
    EXPECT_FALSE(e->slot.has_value());
    EXPECT_EQ(e->request_id, "");
  }
}

TEST(LambdaEvent, ASlotMayBeEpochMilliseconds) {
  auto e = ParseEvent(R"({"job": "j", "slot": 1796202000000})", "");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(*e->slot, 1796202000000);
}

struct BadCase {
  const char* body;
  const char* expected;  // in the message
};

TEST(LambdaEvent, WhatIsWrongIsNamed) {
  const BadCase cases[] = {
      {"", "not JSON"},
      {"{\"job\": ", "not JSON"},
      {"[1, 2]", "not a JSON object but array"},
      {"\"job\"", "not a JSON object but string"},
      {"{}", "no job: give \"job\" in the event, or --job / JOBGATE_JOB"},
      {R"({"job": ""})", "\"job\" is empty"},
      {R"({"job": 7})", "\"job\" must be a string, not 7"},
      {R"({"job": "j", "slot": "tomorrow"})", "tomorrow"},
      {R"({"job": "j", "slot": -5})", "\"slot\" must be an RFC 3339 time or epoch milliseconds, not -5"},
      {R"({"job": "j", "slot": true})", "not true"},
      {R"({"job": "j", "request_id": 12})", "\"request_id\" must be a string, not 12"},
      {R"({"job": "j", "jobb": "k"})", "unknown field \"jobb\""},
      {R"({"source": "aws.s3", "detail-type": "Object Created"})", "does not take (source \"aws.s3\""},
      {R"({"source": "aws.events", "detail-type": "Scheduled Event", "resources": []})", "no job"},
      {R"({"source": "aws.events", "detail-type": "Scheduled Event", "resources": ["arn:aws:sqs:eu-west-1:1:q"]})",
       "names no rule or schedule"},
      {R"({"source": "aws.events", "detail-type": "Scheduled Event", "id": "x", "resources": ["arn:aws:events:eu-west-1:1:rule/r"]})",
       "without \"time\""},
  };
  for (const BadCase& c : cases) {
    auto e = ParseEvent(c.body, "");
    ASSERT_FALSE(e.ok()) << c.body;
    EXPECT_EQ(e.status().code(), StatusCode::kInvalidArgument) << c.body;
    EXPECT_NE(e.status().message().find(c.expected), std::string::npos)
        << c.body << " -> " << e.status().message();
    EXPECT_EQ(e.status().message().rfind("event: ", 0), 0u) << e.status().message();
  }
}

TEST(LambdaEvent, JobFromResourceArn) {
  EXPECT_EQ(JobFromResourceArn("arn:aws:events:eu-west-1:123456789012:rule/my-rule").value_or(""), "my-rule");
  EXPECT_EQ(JobFromResourceArn("arn:aws:events:eu-west-1:123456789012:rule/bus-name/my-rule").value_or(""),
            "my-rule");
  EXPECT_EQ(JobFromResourceArn("arn:aws:scheduler:eu-west-1:123456789012:schedule/default/nightly").value_or(""),
            "nightly");
  EXPECT_EQ(JobFromResourceArn("arn:aws-cn:events:cn-north-1:123456789012:rule/r").value_or(""), "r");
  EXPECT_FALSE(JobFromResourceArn("arn:aws:events:eu-west-1:123456789012:rule/"));
  EXPECT_FALSE(JobFromResourceArn("arn:aws:sqs:eu-west-1:123456789012:queue"));
  EXPECT_FALSE(JobFromResourceArn("arn:aws:events:eu-west-1"));
  EXPECT_FALSE(JobFromResourceArn("urn:aws:events:eu-west-1:1:rule/r"));
  EXPECT_FALSE(JobFromResourceArn(""));
}

}  // namespace
}  // namespace jobgate::lambda
