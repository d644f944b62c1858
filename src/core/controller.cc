// Read -> Gate -> Lock -> (Execute) -> Commit. Every write is a CAS on
// `version`; a lost CAS is answered by re-reading and re-deciding, never by
// a blind rewrite. A write that failed with an error may have been applied
// (DynamoDB 500s, timeouts), so after one we re-read and recognise our own
// owner/fence before deciding anything.
#include "jobgate/controller.h"

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include "core/gate.h"

namespace jobgate {

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
  }
  return "";
}

namespace {

class OsRandom final : public Random {
 public:
  OsRandom() : gen_(std::random_device{}() ^ (static_cast<uint64_t>(std::random_device{}()) << 32)) {}
  uint64_t Next() override { return gen_(); }

 private:
  std::mt19937_64 gen_;
};

bool IsUnavailable(const Status& s) { return s.code() == StatusCode::kUnavailable; }

}  // namespace

std::unique_ptr<Random> MakeOsRandom() { return std::make_unique<OsRandom>(); }

int64_t BackoffMs(int64_t consecutive_failures, int64_t base_ms, int64_t cap_ms, Random& random) {
  if (consecutive_failures <= 0 || base_ms <= 0 || cap_ms <= 0) return 0;
  // min(cap, base * 2^(n-1)) without overflow, then full jitter like the
  // AWS SDK standard retry mode: uniform in [0, ceiling].
  int64_t ceiling = base_ms;
  for (int64_t i = 1; i < consecutive_failures && ceiling < cap_ms; ++i) ceiling *= 2;
  ceiling = std::min(ceiling, cap_ms);
  return static_cast<int64_t>(random.Next() % static_cast<uint64_t>(ceiling + 1));
}

std::string NewRunId(Clock& clock, Random& random) {
  // Time first so ids sort by start; 64 random bits make collisions between
  // concurrent invocations negligible.
  return fmt::format("{:012x}-{:016x}", static_cast<uint64_t>(clock.NowMs()), random.Next());
}

Controller::Controller(Store& store, Clock& clock, Random& random, ControllerOptions opts)
    : store_(store), clock_(clock), random_(random), opts_(opts) {}

namespace {

JobDefinition ApplyOverrides(std::optional<JobDefinition> stored, const std::string& job, const RunOverrides& o) {
  JobDefinition def = std::move(stored).value_or(JobDefinition{});
  def.job = job;
  if (o.cooldown_ms) def.cooldown_ms = *o.cooldown_ms;
  if (o.timeout_ms) def.timeout_ms = *o.timeout_ms;
  if (o.lease_ms) def.lease_ms = *o.lease_ms;
  if (o.max_clock_skew_ms) def.max_clock_skew_ms = *o.max_clock_skew_ms;
  return def;
}

// A request record blocks a new run when it is completed, or when it is in
// progress under the job's live holder. An INPROGRESS record whose owner no
// longer holds the job belongs to a run that died before completing: it may
// be taken over.
bool RequestBlocks(const RequestRecord& r, const std::optional<JobState>& state, const JobDefinition& def,
                   EpochMs now) {
  if (r.status == RequestStatus::kCompleted) return true;
  return state && state->status == JobStatus::kRunning && state->owner == r.owner &&
         !LeaseExpired(*state, def, now);
}

RunRecord MakeRunRecord(const Lease& lease, EpochMs now, const std::string& outcome, int64_t exit_code,
                        const std::string& error) {
  RunRecord r;
  r.job = lease.job;
  r.run_id = lease.run_id;
  r.fence = lease.fence;
  r.slot = lease.slot;
  r.start_ms = lease.started_ms;
  r.end_ms = now;
  r.outcome = outcome;
  r.exit_code = exit_code;
  r.error = error;
  r.holder = lease.holder;
  return r;
}

RunRecord AbandonedRunRecord(const JobState& dead, EpochMs now) {
  RunRecord r;
  r.job = dead.job;
  r.run_id = dead.owner;
  r.fence = dead.fence;
  r.slot = dead.last_slot;
  r.start_ms = dead.last_run_ts;
  r.end_ms = now;
  r.outcome = "abandoned";
  r.holder = dead.holder;
  return r;
}

const char* WorkOutcomeName(WorkResult::Kind k) {
  switch (k) {
    case WorkResult::Kind::kSucceeded: return "succeeded";
    case WorkResult::Kind::kFailed: return "failed";
    case WorkResult::Kind::kTimedOut: return "timed_out";
  }
  return "failed";
}

RunOutcomeKind WorkOutcomeKind(WorkResult::Kind k) {
  switch (k) {
    case WorkResult::Kind::kSucceeded: return RunOutcomeKind::kSucceeded;
    case WorkResult::Kind::kFailed: return RunOutcomeKind::kFailed;
    case WorkResult::Kind::kTimedOut: return RunOutcomeKind::kTimedOut;
  }
  return RunOutcomeKind::kFailed;
}

}  // namespace

Result<JobDefinition> Controller::EffectiveDefinition(const std::string& job, const RunOverrides& o) {
  ++reads_;
  auto stored = store_.ReadDefinition(job);
  if (!stored.ok()) return stored.status();
  JobDefinition def = ApplyOverrides(std::move(*stored), job, o);
  JOBGATE_RETURN_IF_ERROR(ValidateDefinition(def));
  return def;
}

Outcome Controller::NewOutcome(const RunRequest& req) const {
  Outcome o;
  o.job = req.job;
  o.slot = req.slot.value_or(0);
  return o;
}

Outcome Controller::Skipped(Outcome o, SkipReason reason, EpochMs next_allowed_run) const {
  o.kind = RunOutcomeKind::kSkipped;
  o.clock_offset_ms = store_.ObservedClockOffsetMs();
  o.reason = reason;
  o.next_allowed_run = next_allowed_run;
  o.store_reads = reads_;
  o.store_writes = writes_;
  return o;
}

bool Controller::ClockAheadOfStore(const JobDefinition& def) const {
  auto offset = store_.ObservedClockOffsetMs();
  return offset && *offset > def.max_clock_skew_ms;
}

Result<std::optional<JobState>> Controller::ReRead(const std::string& job) {
  ++reads_;
  return store_.ReadState(job);
}

Result<Acquisition> Controller::Acquire(const RunRequest& req) {
  reads_ = writes_ = 0;
  Outcome out = NewOutcome(req);
  ++reads_;
  auto record = store_.ReadJob(req.job);
  if (!record.ok()) return record.status();
  JobDefinition def = ApplyOverrides(std::move(record->definition), req.job, req.overrides);
  JOBGATE_RETURN_IF_ERROR(ValidateDefinition(def));
  std::optional<JobState> state = std::move(record->state);
  std::string run_id = NewRunId(clock_, random_);

  std::optional<RequestRecord> request;
  if (!req.request_id.empty()) {
    ++reads_;
    auto r = store_.ReadRequest(req.job, req.request_id, clock_.NowMs());
    if (!r.ok()) return r.status();
    request = std::move(*r);
    if (request && RequestBlocks(*request, state, def, clock_.NowMs())) {
      out = Skipped(out, SkipReason::kDuplicate, state ? state->next_allowed_run : 0);
      out.previous = request;
      return Acquisition{std::nullopt, out};
    }
  }

  std::optional<JobState> before;  // the state our CAS replaced, for a rollback
  std::optional<JobState> acquired;
  GateDecision gate;
  int errors = 0;
  for (int attempt = 0; attempt < opts_.cas_attempts && !acquired; ++attempt) {
    EpochMs now = clock_.NowMs();
    gate = Gate(state, def, req.slot, now);
    if (gate.takeover && ClockAheadOfStore(def)) {
      // Our clock runs ahead of the store's by more than the allowance, so
      // "the lease has expired" may only be our clock's opinion: never take
      // over on it (the holder may be alive and within its lease).
      gate.skip = SkipReason::kRunning;
      out.clock_skew_exceeded = true;
    }
    if (gate.skip != SkipReason::kNone) {
      return Acquisition{std::nullopt, Skipped(out, gate.skip, gate.retry_at)};
    }
    JobState next = AcquiredState(state, req.job, def, gate, {run_id, req.holder, req.slot, now});
    ++writes_;
    auto w = state ? store_.ReplaceState(next, state->version) : store_.CreateState(next);
    if (w.ok() && *w == WriteOutcome::kApplied) {
      before = state;
      acquired = next;
      break;
    }
    if (!w.ok() && !IsUnavailable(w.status())) return w.status();
    auto again = ReRead(req.job);
    // Fail closed: if our write did apply, nobody runs and the lease expires.
    if (!again.ok()) return again.status();
    // Our write may have landed even when the answer was a conflict: an HTTP
    // client that silently re-sends a request whose connection died (libcurl
    // does, on a reused connection) turns "applied, response lost" into
    // "applied, then the copy lost the CAS against it". Recognise our own
    // owner and fence after every failed attempt, not only after errors.
    if (*again && (*again)->owner == run_id && (*again)->fence == next.fence) {
      before = state;
      acquired = **again;
      break;
    }
    if (!w.ok() && ++errors >= opts_.store_error_attempts) return w.status();
    state = std::move(*again);
  }
  if (!acquired) {
    return Acquisition{std::nullopt, Skipped(out, SkipReason::kLostRace, state ? state->next_allowed_run : 0)};
  }

  EpochMs now = acquired->last_run_ts;
  Lease lease;
  lease.job = req.job;
  lease.run_id = run_id;
  lease.holder = req.holder;
  lease.fence = acquired->fence;
  lease.slot = req.slot.value_or(0);
  lease.started_ms = now;
  lease.lease_until = acquired->lease_until;
  lease.lease_ms = def.lease_ms;
  lease.timeout_ms = def.timeout_ms;
  lease.kill_grace_ms = def.kill_grace_ms;
  lease.request_id = req.request_id;
  lease.last_written = *acquired;
  lease.def = def;

  if (gate.takeover && before) {
    // History of the dead run; best effort (the counters already say it).
    ++writes_;
    (void)store_.AppendRun(AbandonedRunRecord(*before, now));
  }
  if (!req.request_id.empty()) {
    auto claimed = ClaimRequest(lease, request, out);
    if (!claimed.ok() || !*claimed) {
      // We hold the job but must not run: give the acquisition back.
      Rollback(lease, before);
      if (!claimed.ok()) return claimed.status();
      return Acquisition{std::nullopt, Skipped(out, SkipReason::kDuplicate, acquired->next_allowed_run)};
    }
  }
  out.run_id = run_id;
  out.fence = lease.fence;
  out.clock_offset_ms = store_.ObservedClockOffsetMs();
  out.store_reads = reads_;
  out.store_writes = writes_;
  return Acquisition{std::move(lease), out};
}

// Claims the request record for the run we hold. Returns false (and sets
// out.previous) when the request turned out to be completed already.
Result<bool> Controller::ClaimRequest(Lease& lease, std::optional<RequestRecord> current, Outcome& out) {
  EpochMs now = clock_.NowMs();
  int errors = 0;
  for (int attempt = 0; attempt < opts_.cas_attempts; ++attempt) {
    RequestRecord claim;
    claim.job = lease.job;
    claim.key = lease.request_id;
    claim.status = RequestStatus::kInProgress;
    claim.version = current ? current->version + 1 : 1;
    claim.owner = lease.run_id;
    claim.lease_until = lease.lease_until;
    claim.fence = lease.fence;
    claim.created_at = current ? current->created_at : now;
    claim.expires_at_ms = now + lease.def.request_ttl_ms;
    ++writes_;
    auto w = current ? store_.ReplaceRequest(claim, current->version) : store_.CreateRequest(claim, now);
    if (w.ok() && *w == WriteOutcome::kApplied) {
      lease.request_version = claim.version;
      return true;
    }
    if (!w.ok() && !IsUnavailable(w.status())) return w.status();
    ++reads_;
    auto again = store_.ReadRequest(lease.job, lease.request_id, now);
    if (!again.ok()) return again.status();
    if (*again && (*again)->owner == lease.run_id && (*again)->status == RequestStatus::kInProgress) {
      lease.request_version = (*again)->version;
      return true;
    }
    if (*again && (*again)->status == RequestStatus::kCompleted) {
      out.previous = *again;
      return false;
    }
    // Any other INPROGRESS owner is dead: we hold the job's lease now.
    if (!w.ok() && ++errors >= opts_.store_error_attempts) return w.status();
    current = std::move(*again);
  }
  return Status::Unavailable(fmt::format("job '{}': request '{}' kept changing under us", lease.job,
                                         lease.request_id));
}

// Undoes an acquisition that must not run: the state before it, with the
// new fence kept (fences never go back) and version + 1.
void Controller::Rollback(const Lease& lease, const std::optional<JobState>& before) {
  JobState back = before.value_or(JobState{});
  back.job = lease.job;
  back.fence = lease.fence;
  back.version = lease.last_written.version + 1;
  back.updated_at = clock_.NowMs();
  ++writes_;
  // If this fails the lease simply expires and the job is taken over.
  (void)store_.ReplaceState(back, lease.last_written.version);
}

Result<HeartbeatResult> Controller::Heartbeat(Lease& lease) {
  int errors = 0;
  for (int attempt = 0; attempt < opts_.cas_attempts; ++attempt) {
    EpochMs now = clock_.NowMs();
    JobState next = lease.last_written;
    next.lease_until = now + lease.lease_ms;
    next.version += 1;
    next.updated_at = now;
    ++writes_;
    auto w = store_.ReplaceState(next, lease.last_written.version);
    if (w.ok() && *w == WriteOutcome::kApplied) {
      lease.last_written = next;
      lease.lease_until = next.lease_until;
      return HeartbeatResult::kExtended;
    }
    if (!w.ok() && !IsUnavailable(w.status())) return w.status();
    auto again = ReRead(lease.job);
    if (!again.ok()) return again.status();
    const auto& s = *again;
    if (!s || s->status != JobStatus::kRunning || s->owner != lease.run_id || s->fence != lease.fence) {
      return HeartbeatResult::kLost;
    }
    lease.last_written = *s;  // an operator wrote (pause), or our write applied
    if (*s == next) {
      lease.lease_until = next.lease_until;
      return HeartbeatResult::kExtended;
    }
    if (!w.ok() && ++errors >= opts_.store_error_attempts) return w.status();
  }
  return Status::Unavailable(fmt::format("job '{}': heartbeat kept conflicting", lease.job));
}

Result<Outcome> Controller::Commit(Lease& lease, const WorkResult& work) {
  Outcome out;
  out.job = lease.job;
  out.run_id = lease.run_id;
  out.fence = lease.fence;
  out.slot = lease.slot;
  out.exit_code = work.exit_code;
  EpochMs now = clock_.NowMs();
  out.duration_ms = std::max<int64_t>(0, now - lease.started_ms);

  if (!lease.request_id.empty()) {
    // Completed before the state is released: a duplicate that arrives once
    // the job is IDLE must already find the request done (invariant 6).
    RequestRecord done;
    done.job = lease.job;
    done.key = lease.request_id;
    done.status = RequestStatus::kCompleted;
    done.version = lease.request_version + 1;
    done.owner = lease.run_id;
    done.lease_until = lease.lease_until;
    done.outcome = WorkOutcomeName(work.kind);
    done.exit_code = work.exit_code;
    done.fence = lease.fence;
    done.created_at = lease.started_ms;
    done.expires_at_ms = now + lease.def.request_ttl_ms;
    ++writes_;
    auto w = store_.ReplaceRequest(done, lease.request_version);
    // A conflict means our lease was lost; the state CAS below says so.
    if (!w.ok()) return w.status();
  }

  int64_t backoff = BackoffMs(lease.last_written.consecutive_failures + 1, lease.def.backoff_base_ms,
                              lease.def.backoff_cap_ms, random_);
  JobState base = lease.last_written;
  int errors = 0;
  for (int attempt = 0; attempt < opts_.cas_attempts; ++attempt) {
    now = clock_.NowMs();
    JobState next = FinishedState(base, lease.def, work, lease.started_ms, now, backoff);
    RunRecord run = MakeRunRecord(lease, now, WorkOutcomeName(work.kind), work.exit_code,
                                  work.kind == WorkResult::Kind::kSucceeded ? "" : next.last_error);
    ++writes_;
    auto w = store_.ReplaceStateAndAppendRun(next, base.version, run);
    bool applied = w.ok() && *w == WriteOutcome::kApplied;
    if (!w.ok() && !IsUnavailable(w.status())) return w.status();
    if (!applied) {
      auto again = ReRead(lease.job);
      if (!again.ok()) return again.status();
      const auto& s = *again;
      applied = s && *s == next;  // a "failed" write that was applied
      if (!applied) {
        if (!s || s->status != JobStatus::kRunning || s->owner != lease.run_id || s->fence != lease.fence) {
          out.kind = RunOutcomeKind::kLeaseLost;
          out.store_reads = reads_;
          out.store_writes = writes_;
          return out;
        }
        base = *s;
        if (!w.ok() && ++errors >= opts_.store_error_attempts) return w.status();
        continue;
      }
    }
    lease.last_written = next;
    out.kind = WorkOutcomeKind(work.kind);
    out.duration_ms = std::max<int64_t>(0, now - lease.started_ms);
    out.next_allowed_run = next.next_allowed_run;
    out.error = work.kind == WorkResult::Kind::kSucceeded ? "" : next.last_error;
    out.clock_offset_ms = store_.ObservedClockOffsetMs();
    out.clock_skew_exceeded = out.clock_offset_ms && std::abs(*out.clock_offset_ms) > lease.def.max_clock_skew_ms;
    if (lease.def.keep_runs > 0 && next.run_count % kTrimEvery == 0) {
      ++writes_;
      (void)store_.TrimRuns(lease.job, static_cast<size_t>(lease.def.keep_runs));
    }
    out.store_reads = reads_;
    out.store_writes = writes_;
    return out;
  }
  return Status::Unavailable(fmt::format("job '{}': commit kept conflicting", lease.job));
}

Result<Outcome> Controller::Run(const RunRequest& req, const Work& work) {
  auto acq = Acquire(req);
  if (!acq.ok()) return acq.status();
  if (!acq->lease) return acq->outcome;
  Lease& lease = *acq->lease;
  const Lease snapshot = lease;  // the work reads this; the heartbeat thread owns `lease`

  std::atomic<bool> lost{false};
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  std::thread heartbeat([&] {
    const auto interval = std::chrono::milliseconds(std::max<int64_t>(1, lease.lease_ms / 3));
    std::unique_lock<std::mutex> lock(mu);
    while (!cv.wait_for(lock, interval, [&] { return done; })) {
      auto hb = Heartbeat(lease);
      if (hb.ok() && *hb == HeartbeatResult::kLost) lost = true;
      // A store error is retried next interval, but once our own clock says
      // the lease has run out we must assume someone else may take over.
      if (!hb.ok() && clock_.NowMs() >= lease.lease_until) lost = true;
      if (lost) return;
    }
  });
  WorkResult result = work(snapshot, lost);
  {
    std::lock_guard<std::mutex> lock(mu);
    done = true;
  }
  cv.notify_all();
  heartbeat.join();
  return Commit(lease, result);
}

Status Controller::Mutate(const std::string& job, const Mutation& change) {
  for (int attempt = 0; attempt < opts_.cas_attempts; ++attempt) {
    auto current = ReRead(job);
    if (!current.ok()) return current.status();
    EpochMs now = clock_.NowMs();
    std::optional<JobState> next = *current;
    std::optional<RunRecord> history;
    JOBGATE_RETURN_IF_ERROR(change(next, now, history));
    if (next == *current) return Status::Ok();  // nothing to write
    next->job = job;
    next->version = *current ? (*current)->version + 1 : 1;
    next->updated_at = now;
    ++writes_;
    auto w = *current ? store_.ReplaceState(*next, (*current)->version) : store_.CreateState(*next);
    if (!w.ok() && !IsUnavailable(w.status())) return w.status();
    if (w.ok() && *w == WriteOutcome::kApplied) {
      if (history) {
        ++writes_;
        (void)store_.AppendRun(*history);
      }
      return Status::Ok();
    }
  }
  return Status::Unavailable(fmt::format("job '{}': the state kept changing; try again", job));
}

Status Controller::Pause(const std::string& job, const std::string& reason) {
  const std::string why = reason.empty() ? "paused by operator" : reason;
  return Mutate(job, [&](std::optional<JobState>& s, EpochMs, std::optional<RunRecord>&) {
    if (!s) s = JobState{};
    // A running holder keeps its lease and commits; the job then stays PAUSED.
    if (s->status != JobStatus::kRunning) s->status = JobStatus::kPaused;
    s->paused_reason = why;
    return Status::Ok();
  });
}

Status Controller::Resume(const std::string& job) {
  return Mutate(job, [&](std::optional<JobState>& s, EpochMs, std::optional<RunRecord>&) {
    if (!s) return Status::NotFound(fmt::format("job '{}' has no state", job));
    if (s->status == JobStatus::kPaused) s->status = JobStatus::kIdle;
    if (!s->paused_reason.empty()) s->consecutive_failures = 0;  // a fresh start after parking
    s->paused_reason.clear();
    return Status::Ok();
  });
}

Status Controller::Trigger(const std::string& job) {
  return Mutate(job, [&](std::optional<JobState>& s, EpochMs, std::optional<RunRecord>&) {
    if (!s) return Status::NotFound(fmt::format("job '{}' has no state", job));
    s->next_allowed_run = 0;
    return Status::Ok();
  });
}

Status Controller::Unlock(const std::string& job) {
  return Mutate(job, [&](std::optional<JobState>& s, EpochMs now, std::optional<RunRecord>& history) {
    if (!s) return Status::NotFound(fmt::format("job '{}' has no state", job));
    if (s->status != JobStatus::kRunning) return Status::Ok();
    history = AbandonedRunRecord(*s, now);
    history->job = job;
    s->status = s->paused_reason.empty() ? JobStatus::kIdle : JobStatus::kPaused;
    s->owner.clear();
    s->holder.clear();
    s->abandoned_count += 1;
    return Status::Ok();
  });
}

}  // namespace jobgate
