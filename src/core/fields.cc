#include "core/fields.h"

#include <array>

#include <fmt/format.h>

#include "util/numbers.h"

namespace jobgate {

namespace {

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
    SF{"last_outcome", FieldType::kString, nullptr, &JobState::last_outcome},
    SF{"last_fence", FieldType::kInt, &JobState::last_fence},
    SF{"last_request_id", FieldType::kString, nullptr, &JobState::last_request_id},
    SF{"run_count", FieldType::kInt, &JobState::run_count},
    SF{"success_count", FieldType::kInt, &JobState::success_count},
    SF{"failure_count", FieldType::kInt, &JobState::failure_count},
    SF{"abandoned_count", FieldType::kInt, &JobState::abandoned_count},
    SF{"consecutive_failures", FieldType::kInt, &JobState::consecutive_failures},
    SF{"next_allowed_run", FieldType::kInt, &JobState::next_allowed_run},
    SF{"last_slot", FieldType::kInt, &JobState::last_slot},
    SF{"rate_history", FieldType::kString, nullptr, &JobState::rate_history},
    SF{"paused_reason", FieldType::kString, nullptr, &JobState::paused_reason},
    SF{"next_fire_ts", FieldType::kInt, &JobState::next_fire_ts},
    SF{"updated_at", FieldType::kInt, &JobState::updated_at},
};

using RF = FieldSpec<RunRecord>;
constexpr std::array kRunFields = {
    RF{"run_id", FieldType::kString, nullptr, &RunRecord::run_id},
    RF{"fence", FieldType::kInt, &RunRecord::fence},
    RF{"slot", FieldType::kInt, &RunRecord::slot},
    RF{"start_ms", FieldType::kInt, &RunRecord::start_ms},
    RF{"end_ms", FieldType::kInt, &RunRecord::end_ms},
    RF{"outcome", FieldType::kString, nullptr, &RunRecord::outcome},
    RF{"exit_code", FieldType::kInt, &RunRecord::exit_code},
    RF{"error", FieldType::kString, nullptr, &RunRecord::error},
    RF{"holder", FieldType::kString, nullptr, &RunRecord::holder},
};

using QF = FieldSpec<RequestRecord>;
constexpr std::array kRequestFields = {
    QF{"version", FieldType::kInt, &RequestRecord::version},
    QF{"owner", FieldType::kString, nullptr, &RequestRecord::owner},
    QF{"lease_until", FieldType::kInt, &RequestRecord::lease_until},
    QF{"outcome", FieldType::kString, nullptr, &RequestRecord::outcome},
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
    } else if (!ParseInt64(std::get<std::string>(v), &n)) {
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
  item.*spec.string_member = std::get<std::string>(v);
  return Status::Ok();
}

template Status SetField<JobState>(JobState&, const FieldSpec<JobState>&, const FieldValue&, const std::string&);
template Status SetField<RunRecord>(RunRecord&, const FieldSpec<RunRecord>&, const FieldValue&,
                                    const std::string&);
template Status SetField<RequestRecord>(RequestRecord&, const FieldSpec<RequestRecord>&, const FieldValue&,
                                        const std::string&);

}  // namespace jobgate
