// The events a jobgate Lambda function is invoked with, and what each means
// for the run: which job, which schedule slot it claims, and the request id
// that makes a repeated delivery of the same event a duplicate
// (docs/deploy/lambda.md, "Events and responses").
//
//  - a classic EventBridge scheduled rule event ("source": "aws.events",
//    "detail-type": "Scheduled Event"): the slot is its `time`, the request
//    id its `id`;
//  - an EventBridge Scheduler target with the input template the stack
//    passes, or a direct invoke: {"job": ..., "slot": ..., "request_id": ...},
//    each field optional.
//
// The job is the event's `job`, else the runtime's --job / JOBGATE_JOB, else
// the rule or schedule name at the end of the first `resources` ARN.
// Pure: no clock, no store.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "jobgate/clock.h"
#include "jobgate/status.h"

namespace jobgate::lambda {

struct Event {
  std::string job;
  std::optional<EpochMs> slot;
  std::string request_id;  // empty: none (a direct invoke without one)
  const char* kind = "direct";  // "scheduled_rule" or "direct" (Scheduler targets are direct invokes)
};

// kInvalidArgument naming what is wrong (not JSON, no job, a bad slot, a
// field of the wrong type or one a direct invoke does not take); nothing
// must run then.
Result<Event> ParseEvent(std::string_view body, const std::string& default_job);

// "my-rule" from "arn:aws:events:eu-west-1:123456789012:rule/my-rule",
// "nightly" from "arn:aws:scheduler:eu-west-1:123456789012:schedule/default/nightly";
// nullopt when `arn` names neither.
std::optional<std::string> JobFromResourceArn(std::string_view arn);

}  // namespace jobgate::lambda
