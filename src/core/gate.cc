#include "core/gate.h"

#include <algorithm>
#include <charconv>
#include <vector>

#include <fmt/format.h>

#include "util/text.h"

namespace jobgate {

namespace {

// next_allowed_run for a wait of `delay_ms` from now: counted from the
// latest the store's clock may read, so no host's earliest reading passes
// it before the wait is truly over. No wait is 0, "any time": from `best`
// it would hold back, for up to twice the uncertainty, a host whose
// estimate errs low.
EpochMs NotBefore(const StoreTime& now, int64_t delay_ms) { return delay_ms > 0 ? now.latest + delay_ms : 0; }

}  // namespace

bool LeaseExpired(const JobState& s, const JobDefinition& def, EpochMs now) {
  // The allowance covers a holder whose clock is behind ours by up to
  // max_clock_skew: it still believes its lease is live until then.
  return now > s.lease_until + def.max_clock_skew_ms;
}

int64_t AcquisitionsInWindow(const std::vector<EpochMs>& history, EpochMs now, int64_t window_ms) {
  int64_t n = 0;
  for (EpochMs t : history) {
    if (t > now - window_ms) ++n;
  }
  return n;
}

std::vector<EpochMs> AppendToHistory(std::vector<EpochMs> times, EpochMs now, int64_t keep) {
  times.push_back(now);
  // Invokers' clocks differ, so stamps arrive out of order: keep the newest
  // `keep` by time, not the last appended, or a start still inside the
  // window could be dropped and one start too many let in.
  std::sort(times.begin(), times.end());
  if (static_cast<int64_t>(times.size()) > keep) times.erase(times.begin(), times.end() - keep);
  return times;
}

EpochMs RateLimitRetryAt(const std::vector<EpochMs>& history, EpochMs now, const JobDefinition& def) {
  if (def.rate_limit_count <= 0) return 0;
  std::vector<EpochMs> in_window;
  for (EpochMs t : history) {
    if (t > now - def.rate_limit_window_ms) in_window.push_back(t);
  }
  if (static_cast<int64_t>(in_window.size()) < def.rate_limit_count) return 0;
  std::sort(in_window.begin(), in_window.end());
  // Allowed again once only count-1 of them remain in the window.
  EpochMs pivot = in_window[in_window.size() - static_cast<size_t>(def.rate_limit_count)];
  return pivot + def.rate_limit_window_ms;
}

GateDecision Gate(const std::optional<JobState>& state, const JobDefinition& def,
                  std::optional<EpochMs> slot, const StoreTime& store_now) {
  const EpochMs now = store_now.earliest;
  GateDecision d;
  if (!state) return d;
  const JobState& s = *state;
  if (s.status == JobStatus::kPaused) {
    d.skip = SkipReason::kPaused;
    return d;
  }
  if (s.status == JobStatus::kRunning) {
    if (!LeaseExpired(s, def, now)) {
      d.skip = SkipReason::kRunning;
      d.retry_at = s.lease_until + def.max_clock_skew_ms + 1;
      return d;
    }
    // A pause was requested while the dead holder ran: the job is to stay
    // paused, so nobody takes it over; `unlock` settles it.
    if (!s.paused_reason.empty()) {
      d.skip = SkipReason::kPaused;
      return d;
    }
    d.takeover = true;
  }
  if (slot && *slot <= s.last_slot) {
    d.skip = SkipReason::kSlotDone;
    return d;
  }
  if (now < s.next_allowed_run) {
    d.skip = SkipReason::kCooldown;
    d.retry_at = s.next_allowed_run;
    return d;
  }
  if (def.rate_limit_count > 0 &&
      AcquisitionsInWindow(s.rate_history, now, def.rate_limit_window_ms) >= def.rate_limit_count) {
    d.skip = SkipReason::kRateLimited;
    d.retry_at = RateLimitRetryAt(s.rate_history, now, def);
    return d;
  }
  return d;
}

JobState AcquiredState(const std::optional<JobState>& state, const std::string& job, const JobDefinition& def,
                       const GateDecision& gate, const AcquireParams& p) {
  JobState n = state.value_or(JobState{});
  n.job = job;
  if (gate.takeover) n.abandoned_count += 1;
  n.status = JobStatus::kRunning;
  n.owner = p.run_id;
  n.holder = p.holder;
  n.fence += 1;
  // The lease counts from the latest the store's clock may read: the holder
  // stops `lease` after now by its own clock, which is then before it.
  n.lease_until = p.now.latest + def.lease_ms;
  n.run_count += 1;
  n.last_run_ts = p.now.best;
  if (p.slot) n.last_slot = *p.slot;
  if (def.rate_limit_count > 0) {
    // Stamped late, the start stays in others' windows at least as long as
    // it truly is.
    n.rate_history = AppendToHistory(n.rate_history, p.now.latest, def.rate_limit_count);
  }
  n.version += 1;
  n.updated_at = p.now.best;
  return n;
}

RecordedOutcome OutcomeOf(WorkResult::Kind k) {
  switch (k) {
    case WorkResult::Kind::kSucceeded: return RecordedOutcome::kSucceeded;
    case WorkResult::Kind::kFailed: return RecordedOutcome::kFailed;
    case WorkResult::Kind::kTimedOut: return RecordedOutcome::kTimedOut;
  }
  return RecordedOutcome::kFailed;
}

JobState FinishedState(const JobState& running, const JobDefinition& def, const WorkResult& work,
                       const std::string& request_id, EpochMs started_ms, const StoreTime& store_now,
                       int64_t backoff_ms) {
  const EpochMs now = store_now.best;
  JobState n = running;
  n.status = running.paused_reason.empty() ? JobStatus::kIdle : JobStatus::kPaused;
  n.owner.clear();
  n.holder.clear();
  n.last_outcome = OutcomeOf(work.kind);
  n.last_fence = running.fence;
  n.last_request_id = request_id;
  n.last_exit_code = work.exit_code;
  n.last_duration_ms = std::max<int64_t>(0, now - started_ms);
  if (work.kind == WorkResult::Kind::kSucceeded) {
    n.success_count += 1;
    n.consecutive_failures = 0;
    n.last_success_ts = now;
    n.next_allowed_run = NotBefore(store_now, def.cooldown_ms);
  } else {
    n.failure_count += 1;
    n.consecutive_failures += 1;
    n.last_failure_ts = now;
    std::string why = work.error;
    if (work.kind == WorkResult::Kind::kTimedOut) {
      why = fmt::format("timed out after {} ms{}{}", def.timeout_ms, why.empty() ? "" : ": ", why);
    } else if (why.empty()) {
      why = fmt::format("exit code {}", work.exit_code);
    }
    n.last_error = CleanTail(why, kMaxErrorBytes);
    n.next_allowed_run = NotBefore(store_now, backoff_ms);
    if (def.park_after > 0 && n.consecutive_failures >= def.park_after) {
      n.status = JobStatus::kPaused;
      n.paused_reason = fmt::format("parked after {} consecutive failures", n.consecutive_failures);
    }
  }
  n.version += 1;
  n.updated_at = now;
  return n;
}

}  // namespace jobgate
