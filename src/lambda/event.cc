#include "lambda/event.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/duration.h"

namespace jobgate::lambda {

namespace {

using Json = nlohmann::json;

Status Bad(std::string message) { return Status::InvalidArgument("event: " + std::move(message)); }

// A string field, or nullopt when absent or null.
Result<std::optional<std::string>> OptionalString(const Json& event, const char* field) {
  auto it = event.find(field);
  if (it == event.end() || it->is_null()) return std::optional<std::string>();
  if (!it->is_string()) return Bad(fmt::format("\"{}\" must be a string, not {}", field, it->dump()));
  return std::optional<std::string>(it->get<std::string>());
}

// RFC 3339 text (what EventBridge and the Scheduler send) or epoch ms.
Result<std::optional<EpochMs>> Slot(const Json& event, const char* field) {
  auto it = event.find(field);
  if (it == event.end() || it->is_null()) return std::optional<EpochMs>();
  if (it->is_number_unsigned()) return std::optional<EpochMs>(it->get<EpochMs>());
  if (!it->is_string()) {
    return Bad(fmt::format("\"{}\" must be an RFC 3339 time or epoch milliseconds, not {}", field, it->dump()));
  }
  auto t = ParseTime(it->get<std::string>(), fmt::format("event: \"{}\"", field));
  if (!t.ok()) return t.status();
  return std::optional<EpochMs>(*t);
}

// The job: the event's, else the runtime's default, else the name at the
// end of the first resources ARN.
Result<std::string> Job(const Json& event, const std::string& default_job) {
  JOBGATE_ASSIGN_OR_RETURN(std::optional<std::string> job, OptionalString(event, "job"));
  if (job) {
    if (job->empty()) return Bad("\"job\" is empty");
    return *job;
  }
  if (!default_job.empty()) return default_job;
  auto resources = event.find("resources");
  if (resources != event.end() && resources->is_array() && !resources->empty()) {
    const Json& first = resources->front();
    if (first.is_string()) {
      if (auto name = JobFromResourceArn(first.get<std::string>())) return *name;
    }
    return Bad(fmt::format("no job: \"resources\"[0] {} names no rule or schedule, and no \"job\", --job or "
                           "JOBGATE_JOB was given",
                           first.dump()));
  }
  return Bad("no job: give \"job\" in the event, or --job / JOBGATE_JOB to the runtime");
}

Result<Event> ScheduledRuleEvent(const Json& event, const std::string& default_job) {
  Event e;
  e.kind = "scheduled_rule";
  JOBGATE_ASSIGN_OR_RETURN(e.job, Job(event, default_job));
  JOBGATE_ASSIGN_OR_RETURN(e.slot, Slot(event, "time"));
  if (!e.slot) return Bad("a scheduled event without \"time\"");
  JOBGATE_ASSIGN_OR_RETURN(std::optional<std::string> id, OptionalString(event, "id"));
  e.request_id = id.value_or("");
  return e;
}

Result<Event> DirectEvent(const Json& event, const std::string& default_job) {
  for (const auto& [key, value] : event.items()) {
    if (key != "job" && key != "slot" && key != "request_id") {
      return Bad(fmt::format("unknown field \"{}\" (a direct invoke takes job, slot and request_id)", key));
    }
  }
  Event e;
  JOBGATE_ASSIGN_OR_RETURN(e.job, Job(event, default_job));
  JOBGATE_ASSIGN_OR_RETURN(e.slot, Slot(event, "slot"));
  JOBGATE_ASSIGN_OR_RETURN(std::optional<std::string> id, OptionalString(event, "request_id"));
  e.request_id = id.value_or("");
  return e;
}

}  // namespace

std::optional<std::string> JobFromResourceArn(std::string_view arn) {
  // arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE; RESOURCE may hold ':'.
  std::string_view part[6];
  for (int i = 0; i < 5; ++i) {
    const size_t colon = arn.find(':');
    if (colon == std::string_view::npos) return std::nullopt;
    part[i] = arn.substr(0, colon);
    arn.remove_prefix(colon + 1);
  }
  part[5] = arn;
  const std::string_view service = part[2], resource = part[5];
  const bool rule = service == "events" && resource.starts_with("rule/");
  const bool schedule = service == "scheduler" && resource.starts_with("schedule/");
  const size_t slash = resource.rfind('/');
  if (part[0] != "arn" || !(rule || schedule) || slash + 1 >= resource.size()) return std::nullopt;
  return std::string(resource.substr(slash + 1));
}

Result<Event> ParseEvent(std::string_view body, const std::string& default_job) {
  Json event = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (event.is_discarded()) return Bad("not JSON");
  if (event.is_null()) event = Json::object();  // an invoke without a payload
  if (!event.is_object()) return Bad(fmt::format("not a JSON object but {}", event.type_name()));
  auto source = event.find("source");
  if (source == event.end()) return DirectEvent(event, default_job);
  auto detail_type = event.find("detail-type");
  if (*source == "aws.events" && detail_type != event.end() && *detail_type == "Scheduled Event") {
    return ScheduledRuleEvent(event, default_job);
  }
  return Bad(fmt::format("an EventBridge event jobgate does not take (source {}, detail-type {}): only "
                         "\"Scheduled Event\" from \"aws.events\", or a direct invoke",
                         source->dump(), detail_type == event.end() ? "none" : detail_type->dump()));
}

}  // namespace jobgate::lambda
