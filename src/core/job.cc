#include "jobgate/job.h"

#include <algorithm>

#include <fmt/format.h>

namespace jobgate {

const char* JobStatusName(JobStatus s) {
  switch (s) {
    case JobStatus::kIdle: return "IDLE";
    case JobStatus::kRunning: return "RUNNING";
    case JobStatus::kPaused: return "PAUSED";
  }
  return "IDLE";
}

Result<JobStatus> ParseJobStatus(const std::string& text) {
  if (text == "IDLE") return JobStatus::kIdle;
  if (text == "RUNNING") return JobStatus::kRunning;
  if (text == "PAUSED") return JobStatus::kPaused;
  return Status::Corrupt(fmt::format("field 'status' must be IDLE, RUNNING or PAUSED, got \"{}\"", text));
}

bool CountersConsistent(const JobState& s) {
  return s.success_count + s.failure_count + s.abandoned_count + (s.status == JobStatus::kRunning ? 1 : 0) ==
         s.run_count;
}

std::optional<EpochMs> DueAt(const JobState& s) {
  switch (s.status) {
    case JobStatus::kPaused: return std::nullopt;
    case JobStatus::kRunning: return s.next_fire_ts == 0 ? std::nullopt : std::optional<EpochMs>(s.next_fire_ts);
    case JobStatus::kIdle:
      if (s.next_fire_ts == 0) return std::nullopt;
      return std::max(s.next_allowed_run, s.next_fire_ts);
  }
  return std::nullopt;
}

Status ValidateDefinition(const JobDefinition& d) {
  auto bad = [&](const char* field, int64_t v, const char* why) {
    return Status::InvalidArgument(fmt::format("job '{}': {} = {} {}", d.job, field, v, why));
  };
  if (d.job.empty()) return Status::InvalidArgument("job name must not be empty");
  if (d.job.size() > 200) return Status::InvalidArgument(fmt::format("job name '{}...' is longer than 200 bytes", d.job.substr(0, 40)));
  for (unsigned char c : d.job) {
    if (c < 0x21 || c == 0x7f || c == '#') {
      return Status::InvalidArgument(
          fmt::format("job name '{}' may not contain spaces, control characters or '#'", d.job));
    }
  }
  if (d.lease_ms < 1000) return bad("lease", d.lease_ms, "ms is below the minimum of 1s");
  if (d.cooldown_ms < 0) return bad("cooldown", d.cooldown_ms, "must not be negative");
  if (d.timeout_ms < 0) return bad("timeout", d.timeout_ms, "must not be negative");
  if (d.max_clock_skew_ms < 0) return bad("max_clock_skew", d.max_clock_skew_ms, "must not be negative");
  if (d.backoff_base_ms < 0) return bad("backoff_base", d.backoff_base_ms, "must not be negative");
  if (d.backoff_cap_ms < d.backoff_base_ms) return bad("backoff_cap", d.backoff_cap_ms, "is below backoff_base");
  if (d.park_after < 0) return bad("park_after", d.park_after, "must not be negative");
  if (d.rate_limit_count < 0 || d.rate_limit_count > 1000)
    return bad("rate_limit count", d.rate_limit_count, "must be between 0 and 1000");
  if (d.rate_limit_count > 0 && d.rate_limit_window_ms <= 0)
    return bad("rate_limit window", d.rate_limit_window_ms, "must be positive");
  if (d.starting_deadline_ms < 0) return bad("starting_deadline", d.starting_deadline_ms, "must not be negative");
  if (d.kill_grace_ms < 0) return bad("kill_grace", d.kill_grace_ms, "must not be negative");
  if (d.request_ttl_ms <= 0) return bad("request_ttl", d.request_ttl_ms, "must be positive");
  if (d.keep_runs < 0) return bad("keep_runs", d.keep_runs, "must not be negative");
  if (d.catch_up_limit < 1 || d.catch_up_limit > 10000)
    return bad("catch_up_limit", d.catch_up_limit, "must be between 1 and 10000");
  return Status::Ok();
}

const char* RecordedOutcomeName(RecordedOutcome o) {
  switch (o) {
    case RecordedOutcome::kSucceeded: return "succeeded";
    case RecordedOutcome::kFailed: return "failed";
    case RecordedOutcome::kTimedOut: return "timed_out";
    case RecordedOutcome::kLeaseLost: return "lease_lost";
    case RecordedOutcome::kAbandoned: return "abandoned";
    case RecordedOutcome::kContended: return "contended";
    case RecordedOutcome::kMissed: return "missed";
    case RecordedOutcome::kSkipped: return "skipped";
    case RecordedOutcome::kDeduplicated: return "deduplicated";
  }
  return "unknown";
}

const char* RecordedOutcomeName(const std::optional<RecordedOutcome>& o) {
  return o ? RecordedOutcomeName(*o) : "";
}

std::optional<RecordedOutcome> ParseRecordedOutcome(std::string_view name) {
  for (RecordedOutcome o : {RecordedOutcome::kSucceeded, RecordedOutcome::kFailed, RecordedOutcome::kTimedOut,
                            RecordedOutcome::kLeaseLost, RecordedOutcome::kAbandoned, RecordedOutcome::kContended,
                            RecordedOutcome::kMissed, RecordedOutcome::kSkipped, RecordedOutcome::kDeduplicated}) {
    if (name == RecordedOutcomeName(o)) return o;
  }
  return std::nullopt;
}

const char* CatchUpName(CatchUp c) {
  switch (c) {
    case CatchUp::kLatest: return "latest";
    case CatchUp::kAll: return "all";
    case CatchUp::kNone: return "none";
  }
  return "unknown";
}

std::optional<CatchUp> ParseCatchUp(std::string_view name) {
  for (CatchUp c : {CatchUp::kLatest, CatchUp::kAll, CatchUp::kNone}) {
    if (name == CatchUpName(c)) return c;
  }
  return std::nullopt;
}

const char* OverlapName(Overlap o) {
  switch (o) {
    case Overlap::kSkip: return "skip";
    case Overlap::kReplace: return "replace";
  }
  return "unknown";
}

std::optional<Overlap> ParseOverlap(std::string_view name) {
  for (Overlap o : {Overlap::kSkip, Overlap::kReplace}) {
    if (name == OverlapName(o)) return o;
  }
  return std::nullopt;
}

const char* RunOutcomeName(RunOutcomeKind k) {
  switch (k) {
    case RunOutcomeKind::kSucceeded: return "succeeded";
    case RunOutcomeKind::kFailed: return "failed";
    case RunOutcomeKind::kTimedOut: return "timed_out";
    case RunOutcomeKind::kSkipped: return "skipped";
    case RunOutcomeKind::kLeaseLost: return "lease_lost";
  }
  return "unknown";
}

const char* TakeoverCauseName(TakeoverCause c) {
  switch (c) {
    case TakeoverCause::kNone: return "";
    case TakeoverCause::kLeaseExpired: return "lease_expired";
    case TakeoverCause::kReplaced: return "replaced";
  }
  return "unknown";
}

Result<RunOutcomeKind> ParseRunOutcome(const std::string& text) {
  for (auto k : {RunOutcomeKind::kSucceeded, RunOutcomeKind::kFailed, RunOutcomeKind::kTimedOut,
                 RunOutcomeKind::kSkipped, RunOutcomeKind::kLeaseLost}) {
    if (text == RunOutcomeName(k)) return k;
  }
  return Status::Corrupt(fmt::format("field 'outcome' has unknown value \"{}\"", text));
}

const char* SkipReasonName(SkipReason r) {
  switch (r) {
    case SkipReason::kNone: return "";
    case SkipReason::kRunning: return "running";
    case SkipReason::kPaused: return "paused";
    case SkipReason::kCooldown: return "cooldown";
    case SkipReason::kRateLimited: return "rate_limited";
    case SkipReason::kSlotDone: return "slot_done";
    case SkipReason::kDuplicate: return "duplicate";
    case SkipReason::kLostRace: return "lost_race";
    case SkipReason::kMissed: return "missed";
  }
  return "";
}

const char* RequestStatusName(RequestStatus s) {
  return s == RequestStatus::kCompleted ? "COMPLETED" : "INPROGRESS";
}

Result<RequestStatus> ParseRequestStatus(const std::string& text) {
  if (text == "INPROGRESS") return RequestStatus::kInProgress;
  if (text == "COMPLETED") return RequestStatus::kCompleted;
  return Status::Corrupt(fmt::format("field 'status' of a request must be INPROGRESS or COMPLETED, got \"{}\"", text));
}

}  // namespace jobgate
