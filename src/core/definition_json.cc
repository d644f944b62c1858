#include "core/definition_json.h"

#include <array>
#include <limits>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace jobgate {

namespace {

using Json = nlohmann::json;

struct IntKey {
  const char* name;
  int64_t JobDefinition::*member;
};
struct StringKey {
  const char* name;
  std::string JobDefinition::*member;
};

// Every member but `command` (an array), by its name in the struct.
constexpr std::array kIntKeys = {
    IntKey{"cooldown_ms", &JobDefinition::cooldown_ms},
    IntKey{"timeout_ms", &JobDefinition::timeout_ms},
    IntKey{"lease_ms", &JobDefinition::lease_ms},
    IntKey{"max_clock_skew_ms", &JobDefinition::max_clock_skew_ms},
    IntKey{"backoff_base_ms", &JobDefinition::backoff_base_ms},
    IntKey{"backoff_cap_ms", &JobDefinition::backoff_cap_ms},
    IntKey{"park_after", &JobDefinition::park_after},
    IntKey{"rate_limit_count", &JobDefinition::rate_limit_count},
    IntKey{"rate_limit_window_ms", &JobDefinition::rate_limit_window_ms},
    IntKey{"starting_deadline_ms", &JobDefinition::starting_deadline_ms},
    IntKey{"kill_grace_ms", &JobDefinition::kill_grace_ms},
    IntKey{"request_ttl_ms", &JobDefinition::request_ttl_ms},
    IntKey{"keep_runs", &JobDefinition::keep_runs},
};
constexpr std::array kStringKeys = {
    StringKey{"job", &JobDefinition::job},
    StringKey{"schedule", &JobDefinition::schedule},
    StringKey{"time_zone", &JobDefinition::time_zone},
    StringKey{"overlap", &JobDefinition::overlap},
};
constexpr const char* kCommandKey = "command";

std::string Dump(const Json& j) {
  std::string s = j.dump(-1, ' ', false, Json::error_handler_t::replace);
  return s.size() > 64 ? s.substr(0, 64) + "..." : s;
}

Status WrongType(const std::string& where, const char* field, const char* want, const Json& got) {
  return Status::Corrupt(fmt::format("{}: field '{}' must be {}, got {}", where, field, want, Dump(got)));
}

Status ReadInt(const Json& v, const std::string& where, const char* field, int64_t* out) {
  if (v.is_number_integer() && !v.is_number_unsigned()) {
    *out = v.get<int64_t>();
    return Status::Ok();
  }
  if (v.is_number_unsigned() && v.get<uint64_t>() <= uint64_t{std::numeric_limits<int64_t>::max()}) {
    *out = static_cast<int64_t>(v.get<uint64_t>());
    return Status::Ok();
  }
  return WrongType(where, field, "an integer", v);
}

Status ReadCommand(const Json& v, const std::string& where, std::vector<std::string>* out) {
  if (!v.is_array()) return WrongType(where, kCommandKey, "an array of strings", v);
  out->clear();
  for (const Json& arg : v) {
    if (!arg.is_string()) return WrongType(where, kCommandKey, "an array of strings", arg);
    out->push_back(arg.get<std::string>());
  }
  return Status::Ok();
}

Status ReadObject(const Json& obj, const std::string& where, JobDefinition* def) {
  for (const IntKey& k : kIntKeys) {
    auto it = obj.find(k.name);
    if (it != obj.end()) JOBGATE_RETURN_IF_ERROR(ReadInt(*it, where, k.name, &(def->*k.member)));
  }
  for (const StringKey& k : kStringKeys) {
    auto it = obj.find(k.name);
    if (it == obj.end()) continue;
    if (!it->is_string()) return WrongType(where, k.name, "a string", *it);
    def->*k.member = it->get<std::string>();
  }
  auto it = obj.find(kCommandKey);
  if (it != obj.end()) JOBGATE_RETURN_IF_ERROR(ReadCommand(*it, where, &def->command));
  return Status::Ok();
}

}  // namespace

std::string DefinitionToJson(const JobDefinition& def) {
  Json j = Json::object();
  for (const StringKey& k : kStringKeys) j[k.name] = def.*k.member;
  j[kCommandKey] = def.command;
  for (const IntKey& k : kIntKeys) j[k.name] = def.*k.member;
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

Result<JobDefinition> DefinitionFromJson(std::string_view json, const std::string& where) {
  // nlohmann reports errors by exception; they stop at this edge.
  try {
    Json obj = Json::parse(json, nullptr, /*allow_exceptions=*/false);
    if (obj.is_discarded()) return Status::Corrupt(fmt::format("{}: not valid JSON", where));
    if (!obj.is_object()) return Status::Corrupt(fmt::format("{}: must be a JSON object, got {}", where, Dump(obj)));
    JobDefinition def;
    JOBGATE_RETURN_IF_ERROR(ReadObject(obj, where, &def));
    return def;
  } catch (const Json::exception& e) {
    return Status::Corrupt(fmt::format("{}: {}", where, e.what()));
  }
}

}  // namespace jobgate
