#include "store/item_codec.h"

#include <algorithm>
#include <array>
#include <functional>
#include <limits>
#include <string_view>
#include <unordered_map>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "util/numbers.h"

namespace jobgate {

namespace {

// rate_history: "t1,t2,...". A damaged entry is dropped rather than making
// the state unreadable: the limiter then errs on the side of running, and
// the next write repairs the log.
std::string FormatRateHistory(const JobState& s) { return fmt::format("{}", fmt::join(s.rate_history, ",")); }

bool ParseRateHistory(const std::string& text, JobState& s) {
  s.rate_history.clear();
  size_t i = 0;
  while (i < text.size()) {
    size_t comma = text.find(',', i);
    if (comma == std::string::npos) comma = text.size();
    int64_t t = 0;
    if (ParseInt64(text.substr(i, comma - i), &t)) s.rate_history.push_back(t);
    i = comma + 1;
  }
  std::sort(s.rate_history.begin(), s.rate_history.end());
  return true;
}

// An outcome field: its name; none (optional members) is the empty text.
template <typename Item, std::optional<RecordedOutcome> Item::*member>
std::string FormatOptionalOutcome(const Item& item) {
  return RecordedOutcomeName(item.*member);
}
template <typename Item, std::optional<RecordedOutcome> Item::*member>
bool ParseOptionalOutcome(const std::string& text, Item& item) {
  item.*member = ParseRecordedOutcome(text);
  return text.empty() || item.*member;
}
std::string FormatRunOutcome(const RunRecord& r) { return RecordedOutcomeName(r.outcome); }
bool ParseRunOutcome(const std::string& text, RunRecord& r) {
  std::optional<RecordedOutcome> o = ParseRecordedOutcome(text);
  if (o) r.outcome = *o;
  return o.has_value();
}

using SF = FieldSpec<JobState>;
constexpr std::array kStateFields = {
    SF{"version", FieldType::kInt, &JobState::version},
    SF{"owner", FieldType::kString, nullptr, &JobState::owner},
    SF{"holder", FieldType::kString, nullptr, &JobState::holder},
    SF{"fence", FieldType::kInt, &JobState::fence},
    SF{"lease_until", FieldType::kInt, &JobState::lease_until},
    SF{"last_run_ts", FieldType::kInt, &JobState::last_run_ts},
    SF{"last_success_ts", FieldType::kInt, &JobState::last_success_ts},
    SF{"last_failure_ts", FieldType::kInt, &JobState::last_failure_ts},
    SF{"last_error", FieldType::kString, nullptr, &JobState::last_error},
    SF{"last_exit_code", FieldType::kInt, &JobState::last_exit_code},
    SF{"last_duration_ms", FieldType::kInt, &JobState::last_duration_ms},
    SF{"last_outcome", FieldType::kString, nullptr, nullptr, FormatOptionalOutcome<JobState, &JobState::last_outcome>,
       ParseOptionalOutcome<JobState, &JobState::last_outcome>},
    SF{"last_fence", FieldType::kInt, &JobState::last_fence},
    SF{"last_request_id", FieldType::kString, nullptr, &JobState::last_request_id},
    SF{"unsettled_requests", FieldType::kString, nullptr, &JobState::unsettled_requests},
    SF{"run_count", FieldType::kInt, &JobState::run_count},
    SF{"success_count", FieldType::kInt, &JobState::success_count},
    SF{"failure_count", FieldType::kInt, &JobState::failure_count},
    SF{"abandoned_count", FieldType::kInt, &JobState::abandoned_count},
    SF{"consecutive_failures", FieldType::kInt, &JobState::consecutive_failures},
    SF{"next_allowed_run", FieldType::kInt, &JobState::next_allowed_run},
    SF{"last_slot", FieldType::kInt, &JobState::last_slot},
    SF{"rate_history", FieldType::kString, nullptr, nullptr, FormatRateHistory, ParseRateHistory},
    SF{"paused_reason", FieldType::kString, nullptr, &JobState::paused_reason},
    SF{"next_fire_ts", FieldType::kInt, &JobState::next_fire_ts},
    SF{"slots_missed", FieldType::kInt, &JobState::slots_missed},
    SF{"slots_skipped", FieldType::kInt, &JobState::slots_skipped},
    SF{"slots_deduplicated", FieldType::kInt, &JobState::slots_deduplicated},
    SF{"updated_at", FieldType::kInt, &JobState::updated_at},
};

using RF = FieldSpec<RunRecord>;
constexpr std::array kRunFields = {
    RF{"run_id", FieldType::kString, nullptr, &RunRecord::run_id},
    RF{"fence", FieldType::kInt, &RunRecord::fence},
    RF{"slot", FieldType::kInt, &RunRecord::slot},
    RF{"start_ms", FieldType::kInt, &RunRecord::start_ms},
    RF{"end_ms", FieldType::kInt, &RunRecord::end_ms},
    RF{"outcome", FieldType::kString, nullptr, nullptr, FormatRunOutcome, ParseRunOutcome},
    RF{"exit_code", FieldType::kInt, &RunRecord::exit_code},
    RF{"error", FieldType::kString, nullptr, &RunRecord::error},
    RF{"holder", FieldType::kString, nullptr, &RunRecord::holder},
};

using QF = FieldSpec<RequestRecord>;
constexpr std::array kRequestFields = {
    QF{"version", FieldType::kInt, &RequestRecord::version},
    QF{"owner", FieldType::kString, nullptr, &RequestRecord::owner},
    QF{"lease_until", FieldType::kInt, &RequestRecord::lease_until},
    QF{"outcome", FieldType::kString, nullptr, nullptr, FormatOptionalOutcome<RequestRecord, &RequestRecord::outcome>,
       ParseOptionalOutcome<RequestRecord, &RequestRecord::outcome>},
    QF{"exit_code", FieldType::kInt, &RequestRecord::exit_code},
    QF{"fence", FieldType::kInt, &RequestRecord::fence},
    QF{"created_at", FieldType::kInt, &RequestRecord::created_at},
    QF{"expires_at_ms", FieldType::kInt, &RequestRecord::expires_at_ms},
};

std::string Describe(const FieldValue& v) {
  if (std::holds_alternative<int64_t>(v)) return std::to_string(std::get<int64_t>(v));
  const std::string& s = std::get<std::string>(v);
  return fmt::format("\"{}\"", s.size() > 64 ? s.substr(0, 64) + "..." : s);
}

}  // namespace

std::span<const FieldSpec<JobState>> StateFields() { return kStateFields; }
std::span<const FieldSpec<RunRecord>> RunFields() { return kRunFields; }
std::span<const FieldSpec<RequestRecord>> RequestFields() { return kRequestFields; }

template <typename Item>
Status SetField(Item& item, const FieldSpec<Item>& spec, const FieldValue& v, const std::string& where) {
  if (spec.type == FieldType::kInt) {
    int64_t n = 0;
    if (std::holds_alternative<int64_t>(v)) {
      n = std::get<int64_t>(v);
    } else if (!ParseInt64(std::get<std::string>(v), &n) || std::to_string(n) != std::get<std::string>(v)) {
      // Only the exact decimal form: the write conditions compare the text
      // a backend holds with the number's text (sqlite_store.cc), and "03"
      // is not "3".
      return Status::Corrupt(
          fmt::format("{}: field '{}' must be an integer, got {}", where, spec.name, Describe(v)));
    }
    // Exit codes may be negative (a library workload's own convention);
    // nothing else that is stored may.
    std::string_view name(spec.name);
    if (n < 0 && name != "last_exit_code" && name != "exit_code") {
      return Status::Corrupt(
          fmt::format("{}: field '{}' must not be negative, got {}", where, spec.name, n));
    }
    item.*spec.int_member = n;
    return Status::Ok();
  }
  if (!std::holds_alternative<std::string>(v)) {
    return Status::Corrupt(
        fmt::format("{}: field '{}' must be a string, got {}", where, spec.name, Describe(v)));
  }
  const std::string& text = std::get<std::string>(v);
  if (spec.parse == nullptr) {
    item.*spec.string_member = text;
  } else if (!spec.parse(text, item)) {
    return Status::Corrupt(fmt::format("{}: field '{}' has an unknown value {}", where, spec.name, Describe(v)));
  }
  return Status::Ok();
}

template <typename Enum>
Status SetStatus(Enum& status, const FieldValue& v, Result<Enum> (*parse)(const std::string&),
                 const std::string& where) {
  if (!std::holds_alternative<std::string>(v)) {
    return Status::Corrupt(fmt::format("{}: field 'status' must be a string, got {}", where, Describe(v)));
  }
  const std::string& stored = std::get<std::string>(v);
  std::string upper = stored;
  for (char& c : upper) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  auto parsed = parse(upper);
  // The parser's message, but with the value as it is stored.
  if (!parsed.ok()) return Status::Corrupt(fmt::format("{}: {}", where, parse(stored).status().message()));
  status = *parsed;
  return Status::Ok();
}

template Status SetStatus<JobStatus>(JobStatus&, const FieldValue&, Result<JobStatus> (*)(const std::string&),
                                     const std::string&);
template Status SetStatus<RequestStatus>(RequestStatus&, const FieldValue&,
                                         Result<RequestStatus> (*)(const std::string&), const std::string&);

template Status SetField<JobState>(JobState&, const FieldSpec<JobState>&, const FieldValue&, const std::string&);
template Status SetField<RunRecord>(RunRecord&, const FieldSpec<RunRecord>&, const FieldValue&,
                                    const std::string&);
template Status SetField<RequestRecord>(RequestRecord&, const FieldSpec<RequestRecord>&, const FieldValue&,
                                        const std::string&);

// --- JobDefinition <-> JSON ---

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
    IntKey{"catch_up_limit", &JobDefinition::catch_up_limit},
    IntKey{"kill_grace_ms", &JobDefinition::kill_grace_ms},
    IntKey{"request_ttl_ms", &JobDefinition::request_ttl_ms},
    IntKey{"keep_runs", &JobDefinition::keep_runs},
};
constexpr std::array kStringKeys = {
    StringKey{"job", &JobDefinition::job},
    StringKey{"schedule", &JobDefinition::schedule},
    StringKey{"time_zone", &JobDefinition::time_zone},
};
constexpr const char* kOverlapKey = "overlap";
constexpr const char* kCatchUpKey = "catch_up";
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

// A policy stored as its name; `names` lists them for the error.
template <typename Enum>
Status ReadPolicy(const Json& obj, const std::string& where, const char* field,
                  std::optional<Enum> (*parse)(std::string_view), const char* names, Enum* out) {
  auto it = obj.find(field);
  if (it == obj.end()) return Status::Ok();
  std::optional<Enum> policy = it->is_string() ? parse(it->get<std::string>()) : std::nullopt;
  if (!policy) return WrongType(where, field, names, *it);
  *out = *policy;
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
  JOBGATE_RETURN_IF_ERROR(ReadPolicy(obj, where, kOverlapKey, ParseOverlap, "\"skip\" or \"replace\"", &def->overlap));
  JOBGATE_RETURN_IF_ERROR(
      ReadPolicy(obj, where, kCatchUpKey, ParseCatchUp, "\"latest\", \"all\" or \"none\"", &def->catch_up));
  auto it = obj.find(kCommandKey);
  if (it != obj.end()) JOBGATE_RETURN_IF_ERROR(ReadCommand(*it, where, &def->command));
  return Status::Ok();
}

}  // namespace

std::string DefinitionToJson(const JobDefinition& def) {
  Json j = Json::object();
  for (const StringKey& k : kStringKeys) j[k.name] = def.*k.member;
  j[kOverlapKey] = OverlapName(def.overlap);
  j[kCatchUpKey] = CatchUpName(def.catch_up);
  j[kCommandKey] = def.command;
  for (const IntKey& k : kIntKeys) j[k.name] = def.*k.member;
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

namespace {

Result<JobDefinition> ParseDefinition(std::string_view json, const std::string& where) {
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

struct TextHash {
  using is_transparent = void;
  size_t operator()(std::string_view text) const { return std::hash<std::string_view>()(text); }
};

// Definitions are read with the state on every invocation and change
// rarely: a process that lives on (serve's API, a warm Lambda, a library
// user) parses each distinct text once. Keyed by the whole text, so any
// change is parsed afresh; the result is a pure function of the key, so
// nothing here can go stale. Per thread (no lock) and bounded: a flood of
// distinct texts empties it.
constexpr size_t kMemoCap = 256;
thread_local std::unordered_map<std::string, JobDefinition, TextHash, std::equal_to<>> parsed_definitions;

}  // namespace

Result<JobDefinition> DefinitionFromJson(std::string_view json, const std::string& where) {
  if (auto it = parsed_definitions.find(json); it != parsed_definitions.end()) return it->second;
  auto parsed = ParseDefinition(json, where);
  if (!parsed.ok()) return parsed;  // errors name `where`: not kept
  if (parsed_definitions.size() >= kMemoCap) parsed_definitions.clear();
  parsed_definitions.emplace(std::string(json), *parsed);
  return parsed;
}

}  // namespace jobgate
