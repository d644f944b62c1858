#include "run/outcome_json.h"

#include <algorithm>

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
  if (o.took_over_fence != 0) {
    j["took_over"] = {{"fence", o.took_over_fence}, {"cause", TakeoverCauseName(o.took_over_cause)}};
  }
  if (o.clock_offset_ms) {
    j["clock_offset_ms"] = *o.clock_offset_ms;
    j["clock_uncertainty_ms"] = o.clock_uncertainty_ms.value_or(0);
    j["clock_skew_exceeded"] = o.clock_skew_exceeded;
  }
  if (o.previous) {
    j["previous"] = {{"request_id", o.previous->key},
                     {"status", RequestStatusName(o.previous->status)},
                     {"outcome", o.previous->outcome ? nlohmann::ordered_json(RecordedOutcomeName(*o.previous->outcome))
                                                     : nlohmann::ordered_json(nullptr)},
                     {"exit_code", o.previous->exit_code},
                     {"fence", o.previous->fence},
                     {"run_id", o.previous->owner}};
  }
  return j;
}

nlohmann::ordered_json StateJson(const JobState& s) {
  nlohmann::ordered_json j;
  j["job"] = s.job;
  j["status"] = JobStatusName(s.status);
  j["version"] = s.version;
  j["owner"] = s.owner;
  j["holder"] = s.holder;
  j["fence"] = s.fence;
  j["lease_until"] = Time(s.lease_until);
  j["last_run_ts"] = Time(s.last_run_ts);
  j["last_success_ts"] = Time(s.last_success_ts);
  j["last_failure_ts"] = Time(s.last_failure_ts);
  j["last_error"] = s.last_error;
  j["last_exit_code"] = s.last_exit_code;
  j["last_duration_ms"] = s.last_duration_ms;
  j["last_outcome"] = RecordedOutcomeName(s.last_outcome);
  j["last_fence"] = s.last_fence;
  j["last_request_id"] = s.last_request_id;
  j["unsettled_requests"] = nlohmann::ordered_json::array();
  for (const CommittedRun& r : ParseUnsettled(s.unsettled_requests)) {
    j["unsettled_requests"].push_back({{"request_id", r.key},
                                       {"fence", r.fence},
                                       {"outcome", RecordedOutcomeName(r.outcome)},
                                       {"exit_code", r.exit_code},
                                       {"committed", Time(r.committed_ms)}});
  }
  j["run_count"] = s.run_count;
  j["success_count"] = s.success_count;
  j["failure_count"] = s.failure_count;
  j["abandoned_count"] = s.abandoned_count;
  j["consecutive_failures"] = s.consecutive_failures;
  j["next_allowed_run"] = Time(s.next_allowed_run);
  j["last_slot"] = Time(s.last_slot);
  j["paused_reason"] = s.paused_reason;
  j["next_fire_ts"] = Time(s.next_fire_ts);
  j["slots_missed"] = s.slots_missed;
  j["slots_skipped"] = s.slots_skipped;
  j["slots_deduplicated"] = s.slots_deduplicated;
  j["updated_at"] = Time(s.updated_at);
  return j;
}

nlohmann::ordered_json RunJson(const RunRecord& r) {
  nlohmann::ordered_json j;
  j["job"] = r.job;
  j["run_id"] = r.run_id;
  j["fence"] = r.fence;
  j["slot"] = Time(r.slot);
  j["start"] = Time(r.start_ms);
  j["end"] = Time(r.end_ms);
  j["duration_ms"] = std::max<int64_t>(0, r.end_ms - r.start_ms);
  j["outcome"] = RecordedOutcomeName(r.outcome);
  // An abandoned run never reported an exit code.
  j["exit_code"] = r.outcome == RecordedOutcome::kAbandoned ? nlohmann::ordered_json() : nlohmann::ordered_json(r.exit_code);
  j["error"] = r.error;
  j["holder"] = r.holder;
  return j;
}

}  // namespace jobgate
