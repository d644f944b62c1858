#include "lambda/invocation.h"

#include <optional>
#include <utility>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "lambda/event.h"
#include "run/outcome_json.h"

namespace jobgate::lambda {

namespace {

using Json = nlohmann::ordered_json;

std::string Dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

const char* ErrorTypeFor(const Status& s) {
  switch (s.code()) {
    case StatusCode::kUnavailable: return "jobgate.StoreUnavailable";
    case StatusCode::kContended: return "jobgate.Contended";
    case StatusCode::kInternal: return "jobgate.Internal";
    default: return "jobgate.InvalidArgument";
  }
}

// The error type of an outcome that answers with an error, or nullptr.
const char* ErrorTypeFor(const Outcome& o) {
  if (o.contended) return "jobgate.Contended";
  switch (o.kind) {
    case RunOutcomeKind::kFailed: return "jobgate.RunFailed";
    case RunOutcomeKind::kTimedOut: return "jobgate.RunTimedOut";
    case RunOutcomeKind::kLeaseLost: return "jobgate.LeaseLost";
    default: return nullptr;
  }
}

// What the invocation amounted to, for the log and metric lines.
struct Summary {
  std::string job;
  std::string outcome;  // run outcome, or "rejected" / "error" when nothing was decided
  std::string reason;   // skip reason, or the error type
  std::string request_id;
  std::optional<Outcome> run;  // when the controller decided
  std::string error;
};

Json LogLine(const Invocation& inv, const Summary& s, int64_t duration_ms) {
  Json j;
  j["level"] = s.run && ErrorTypeFor(*s.run) == nullptr ? "info" : "error";
  j["msg"] = "invocation";
  j["aws_request_id"] = inv.aws_request_id;
  j["job"] = s.job.empty() ? Json(nullptr) : Json(s.job);
  j["outcome"] = s.outcome;
  j["reason"] = s.reason.empty() ? Json(nullptr) : Json(s.reason);
  j["fence"] = s.run ? s.run->fence : 0;
  j["slot"] = s.run && s.run->slot != 0 ? Json(FormatRfc3339(s.run->slot)) : Json(nullptr);
  j["duration_ms"] = duration_ms;
  j["run_duration_ms"] = s.run ? s.run->duration_ms : 0;
  j["store_reads"] = s.run ? s.run->store_reads : 0;
  j["store_writes"] = s.run ? s.run->store_writes : 0;
  j["request_id"] = s.request_id.empty() ? Json(nullptr) : Json(s.request_id);
  if (!s.error.empty()) j["error"] = s.error;
  return j;
}

// CloudWatch Embedded Metric Format: a count per outcome (and skip
// reason) and the invocation's duration, by job.
Json EmfLine(const RuntimeOptions& options, const Summary& s, int64_t duration_ms, EpochMs now) {
  Json dimensions = Json::array({Json::array({"Job", "Outcome"})});
  if (!s.reason.empty()) dimensions.push_back(Json::array({"Job", "Outcome", "Reason"}));
  Json j;
  j["_aws"] = {{"Timestamp", now},
               {"CloudWatchMetrics",
                Json::array({{{"Namespace", options.metrics_namespace},
                              {"Dimensions", dimensions},
                              {"Metrics", Json::array({{{"Name", "Invocations"}, {"Unit", "Count"}},
                                                       {{"Name", "Duration"}, {"Unit", "Milliseconds"}}})}}})}};
  j["Job"] = s.job.empty() ? "-" : s.job;
  j["Outcome"] = s.outcome;
  if (!s.reason.empty()) j["Reason"] = s.reason;
  j["Invocations"] = 1;
  j["Duration"] = duration_ms;
  return j;
}

Answer Rejected(Summary& s, const char* type, const std::string& message) {
  s.outcome = "rejected";
  s.reason = type;
  s.error = message;
  return Answer{true, "", ErrorReply{type, message, ""}};
}

Answer FromOutcome(const RuntimeOptions& options, Outcome outcome, Summary& s) {
  const Outcome& o = s.run.emplace(std::move(outcome));
  s.outcome = RunOutcomeName(o.kind);
  s.reason = o.reason == SkipReason::kNone ? "" : SkipReasonName(o.reason);
  s.error = o.error;
  std::string body = Dump(OutcomeJson(o));
  const char* type = ErrorTypeFor(o);
  const bool as_error = type != nullptr && (o.contended || options.failed_run_is_error);
  if (!as_error) return Answer{false, std::move(body), {}};
  std::string message = o.contended ? fmt::format("job '{}' could not be acquired: {}", o.job, o.error)
                                    : fmt::format("job '{}' {}{}{}", o.job, s.outcome, o.error.empty() ? "" : ": ",
                                                  o.error);
  return Answer{true, "", ErrorReply{type, std::move(message), std::move(body)}};
}

Answer Decide(const InvocationDeps& deps, const Invocation& inv, Summary& s) {
  auto event = ParseEvent(inv.body, deps.options.default_job);
  if (!event.ok()) return Rejected(s, "jobgate.BadEvent", event.status().message());
  s.job = event->job;
  // A direct invoke without a request id is keyed by Lambda's own: an
  // asynchronous retry of the same invocation carries the same one.
  s.request_id = event->request_id.empty() ? "lambda:" + inv.aws_request_id : event->request_id;
  const int64_t left = inv.deadline_ms - deps.clock.NowMs() - deps.options.deadline_margin_ms;
  if (left < kMinRunMs) {
    return Rejected(s, "jobgate.NoTimeLeft",
                    fmt::format("{} ms left before the deadline margin ({} ms): nothing ran; raise the "
                                "function's timeout or lower --deadline-margin",
                                left, deps.options.deadline_margin_ms));
  }
  Controller controller(deps.store, deps.clock, deps.random);
  RunRequest req;
  req.job = event->job;
  req.request_id = s.request_id;
  req.slot = event->slot;
  req.holder = deps.holder;
  auto outcome = deps.execute(controller, req, inv, deps.clock.MonotonicMs() + left);
  if (!outcome.ok()) {
    s.outcome = "error";
    s.reason = ErrorTypeFor(outcome.status());
    s.error = outcome.status().message();
    return Answer{true, "", ErrorReply{s.reason, s.error, ""}};
  }
  return FromOutcome(deps.options, std::move(*outcome), s);
}

}  // namespace

Answer HandleInvocation(const InvocationDeps& deps, const Invocation& inv) {
  const int64_t start = deps.clock.MonotonicMs();
  Summary summary;
  Answer answer = Decide(deps, inv, summary);
  const int64_t duration = deps.clock.MonotonicMs() - start;
  if (deps.print) {
    deps.print(Dump(LogLine(inv, summary, duration)));
    if (deps.options.emf_metrics) deps.print(Dump(EmfLine(deps.options, summary, duration, deps.clock.NowMs())));
  }
  return answer;
}

}  // namespace jobgate::lambda
