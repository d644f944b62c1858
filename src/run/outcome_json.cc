#include "run/outcome_json.h"

#include "core/request_ledger.h"

namespace jobgate {

namespace {

nlohmann::ordered_json Time(EpochMs t) {
  if (t == 0) return nullptr;
  return FormatRfc3339(t);
}

}  // namespace

nlohmann::ordered_json OutcomeJson(const Outcome& o) {
  nlohmann::ordered_json j;
  j["job"] = o.job;
  j["outcome"] = RunOutcomeName(o.kind);
  j["reason"] = o.reason == SkipReason::kNone ? nlohmann::ordered_json(nullptr) : SkipReasonName(o.reason);
  j["run_id"] = o.run_id.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(o.run_id);
  j["fence"] = o.fence;
  j["slot"] = Time(o.slot);
  j["duration_ms"] = o.duration_ms;
  j["exit_code"] = o.exit_code;
  j["next_allowed_run"] = Time(o.next_allowed_run);
  j["store_reads"] = o.store_reads;
  j["store_writes"] = o.store_writes;
  if (o.contended) j["contended"] = true;  // lost_race to nobody: see Outcome::contended
  if (!o.error.empty()) j["error"] = o.error;
  if (o.clock_offset_ms) {
    j["clock_offset_ms"] = *o.clock_offset_ms;
    j["clock_uncertainty_ms"] = o.clock_uncertainty_ms.value_or(0);
    j["clock_skew_exceeded"] = o.clock_skew_exceeded;
  }
  if (o.previous) {
    j["previous"] = {{"request_id", o.previous->key},
                     {"status", RequestStatusName(o.previous->status)},
                     {"outcome", o.previous->outcome.empty() ? nlohmann::ordered_json(nullptr)
                                                             : nlohmann::ordered_json(o.previous->outcome)},
                     {"exit_code", o.previous->exit_code},
                     {"fence", o.previous->fence},
                     {"run_id", o.previous->owner}};
  }
  return j;
}

}  // namespace jobgate
