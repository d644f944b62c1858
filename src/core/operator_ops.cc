// The operator's transitions of DESIGN.md: pause, resume, trigger, unlock,
// and the schedule's placement by `apply`. Each is a CAS on the state,
// retried by re-reading on a conflict.
#include <fmt/format.h>

#include "core/controller_impl.h"
#include "core/run_records.h"
#include "core/slots.h"

namespace jobgate {

Status ControllerImpl::Mutate(const std::string& job, const Mutation& change) {
  for (int attempt = 0; attempt < opts_.cas_attempts; ++attempt) {
    JOBGATE_ASSIGN_OR_RETURN(std::optional<JobState> current, ReRead(job));
    const EpochMs now = clocks_.Now().best;  // only recorded, never tested
    std::optional<JobState> next = current;
    std::optional<RunRecord> history;
    JOBGATE_RETURN_IF_ERROR(change(next, now, history));
    if (next == current) return Status::Ok();  // nothing to write
    next->job = job;
    next->version = current ? current->version + 1 : 1;
    next->updated_at = now;
    ++counts_.writes;
    auto w = current ? store_.ReplaceState(*next, current->version) : store_.CreateState(*next);
    if (!w.ok() && !IsUnavailable(w.status())) return w.status();
    if (w.ok() && *w == WriteOutcome::kApplied) {
      if (history) {
        ++counts_.writes;
        (void)store_.AppendRun(*history);
      }
      return Status::Ok();
    }
  }
  return Status::Contended(fmt::format("job '{}': the state kept changing; try again", job));
}

Status ControllerImpl::Pause(const std::string& job, const std::string& reason) {
  const std::string why = reason.empty() ? "paused by operator" : reason;
  return Mutate(job, [&](std::optional<JobState>& s, EpochMs, std::optional<RunRecord>&) {
    if (!s) s = JobState{};
    // A running holder keeps its lease and commits; the job then stays PAUSED.
    if (s->status != JobStatus::kRunning) s->status = JobStatus::kPaused;
    s->paused_reason = why;
    return Status::Ok();
  });
}

Status ControllerImpl::Resume(const std::string& job) {
  return Mutate(job, [&](std::optional<JobState>& s, EpochMs, std::optional<RunRecord>&) {
    if (!s) return Status::NotFound(fmt::format("job '{}' has no state", job));
    if (s->status == JobStatus::kPaused) s->status = JobStatus::kIdle;
    if (!s->paused_reason.empty()) s->consecutive_failures = 0;  // a fresh start after parking
    s->paused_reason.clear();
    return Status::Ok();
  });
}

Status ControllerImpl::Trigger(const std::string& job) {
  return Mutate(job, [&](std::optional<JobState>& s, EpochMs, std::optional<RunRecord>&) {
    if (!s) return Status::NotFound(fmt::format("job '{}' has no state", job));
    s->next_allowed_run = 0;
    return Status::Ok();
  });
}

Result<EpochMs> ControllerImpl::Apply(const JobDefinition& def) {
  JOBGATE_RETURN_IF_ERROR(ValidateDefinition(def));
  std::optional<Schedule> schedule;
  if (!def.schedule.empty()) {
    auto parsed = Schedule::Parse(def.schedule, def.time_zone);
    if (!parsed.ok()) return Status::InvalidArgument(fmt::format("job '{}': {}", def.job, parsed.status().message()));
    schedule = std::move(*parsed);
  }
  ++counts_.reads;
  JOBGATE_ASSIGN_OR_RETURN(std::optional<JobDefinition> before, store_.ReadDefinition(def.job));
  ++counts_.writes;
  JOBGATE_RETURN_IF_ERROR(store_.PutDefinition(def));
  const bool moved = !before || before->schedule != def.schedule || before->time_zone != def.time_zone;
  EpochMs next_fire = 0;
  Status st = Mutate(def.job, [&](std::optional<JobState>& s, EpochMs, std::optional<RunRecord>&) {
    if (!schedule) {
      if (s) s->next_fire_ts = 0;  // unscheduled: out of the due index
      return Status::Ok();
    }
    if (!s) s = JobState{};
    // A new or changed schedule starts from its next fire time after now:
    // slots of the old one are not owed. An unchanged one keeps its place.
    if (moved || s->next_fire_ts == 0) s->next_fire_ts = FirstFireAfter(*schedule, clocks_.Now().latest);
    next_fire = s->next_fire_ts;
    return Status::Ok();
  });
  if (!st.ok()) return st;
  return next_fire;
}

Result<int64_t> ControllerImpl::Unlock(const std::string& job, std::optional<int64_t> fence) {
  int64_t released = 0;
  Status st = Mutate(job, [&](std::optional<JobState>& s, EpochMs now, std::optional<RunRecord>& history) {
    if (!s) return Status::NotFound(fmt::format("job '{}' has no state", job));
    if (s->status != JobStatus::kRunning) return Status::Ok();
    if (!fence) fence = s->fence;  // the run this unlock means, fixed on the first read
    if (s->fence != *fence) return Status::Ok();
    history = AbandonedRunRecord(*s, now, "released by `jobgate unlock`");
    history->job = job;
    s->status = s->paused_reason.empty() ? JobStatus::kIdle : JobStatus::kPaused;
    s->owner.clear();
    s->holder.clear();
    s->abandoned_count += 1;
    released = *fence;
    return Status::Ok();
  });
  if (!st.ok()) return st;
  return released;
}

}  // namespace jobgate
