#include "sim/state_text.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "sim/sim_world.h"

namespace jobgate::sim {

int64_t StampsAfter(const std::vector<EpochMs>& history, EpochMs after) {
  int64_t n = 0;
  for (EpochMs t : history) n += t > after ? 1 : 0;
  return n;
}

std::string Diff(const JobState& want, const JobState& got) {
  std::string out;
  auto field = [&](const char* name, const auto& a, const auto& b) {
    if (a != b) out += fmt::format("{}: want {}, got {}; ", name, a, b);
  };
  field("status", JobStatusName(want.status), JobStatusName(got.status));
  field("version", want.version, got.version);
  field("owner", want.owner, got.owner);
  field("holder", want.holder, got.holder);
  field("fence", want.fence, got.fence);
  field("lease_until", want.lease_until, got.lease_until);
  field("last_run_ts", want.last_run_ts, got.last_run_ts);
  field("last_success_ts", want.last_success_ts, got.last_success_ts);
  field("last_failure_ts", want.last_failure_ts, got.last_failure_ts);
  field("last_error", want.last_error, got.last_error);
  field("last_exit_code", want.last_exit_code, got.last_exit_code);
  field("last_duration_ms", want.last_duration_ms, got.last_duration_ms);
  field("last_outcome", RecordedOutcomeName(want.last_outcome), RecordedOutcomeName(got.last_outcome));
  field("last_fence", want.last_fence, got.last_fence);
  field("last_request_id", want.last_request_id, got.last_request_id);
  field("unsettled_requests", want.unsettled_requests, got.unsettled_requests);
  field("run_count", want.run_count, got.run_count);
  field("success_count", want.success_count, got.success_count);
  field("failure_count", want.failure_count, got.failure_count);
  field("abandoned_count", want.abandoned_count, got.abandoned_count);
  field("consecutive_failures", want.consecutive_failures, got.consecutive_failures);
  field("next_allowed_run", want.next_allowed_run, got.next_allowed_run);
  field("last_slot", want.last_slot, got.last_slot);
  field("rate_history", want.rate_history, got.rate_history);
  field("paused_reason", want.paused_reason, got.paused_reason);
  field("next_fire_ts", want.next_fire_ts, got.next_fire_ts);
  field("updated_at", want.updated_at, got.updated_at);
  return out;
}

std::string Brief(const std::optional<JobState>& s) {
  if (!s) return "absent";
  std::string rate;
  for (EpochMs t : s->rate_history) rate += fmt::format("{}{}", rate.empty() ? " rate=" : ",", t - kSimEpochMs);
  return fmt::format("{} v{} owner={} fence={} lease_until={} next_allowed={} runs={}/{}s/{}f/{}a{}",
                     JobStatusName(s->status), s->version, s->owner.empty() ? "-" : s->owner.substr(s->owner.size() - 6),
                     s->fence, s->lease_until - kSimEpochMs,
                     s->next_allowed_run ? s->next_allowed_run - kSimEpochMs : 0, s->run_count, s->success_count,
                     s->failure_count, s->abandoned_count, rate);
}

}  // namespace jobgate::sim
