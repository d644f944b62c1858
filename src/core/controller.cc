// Read -> Gate -> Lock -> (Execute) -> Commit. Every write is a CAS on
// `version`; a lost CAS is answered by re-reading and re-deciding, never by
// a blind rewrite. A write that failed with an error may have been applied
// (DynamoDB 500s, timeouts), so after one we re-read and recognise our own
// owner/fence before deciding anything.
#include "jobgate/controller.h"

#include <algorithm>
#include <limits>
#include <vector>

#include <fmt/format.h>

#include "core/controller_impl.h"
#include "core/duration.h"
#include "core/gate.h"
#include "core/keeper_thread.h"
#include "core/lease_keeper.h"
#include "core/run_records.h"

namespace jobgate {

namespace {

constexpr int64_t kTrimEvery = 16;  // trim run history every N runs

// Why a due slot was skipped, for its run record.
std::string SkippedWhy(const JobState& s, const JobDefinition& def, const GateDecision& gate) {
  if (gate.skip == SkipReason::kRateLimited) {
    return fmt::format("rate limit of {} starts per {} reached", def.rate_limit_count,
                       FormatDuration(def.rate_limit_window_ms));
  }
  return fmt::format("overlap = skip: run {} (fence {}, {}) is still running", s.owner, s.fence,
                     s.holder.empty() ? "holder unknown" : s.holder);
}

RunOutcomeKind WorkOutcomeKind(WorkResult::Kind k) {
  switch (k) {
    case WorkResult::Kind::kSucceeded: return RunOutcomeKind::kSucceeded;
    case WorkResult::Kind::kFailed: return RunOutcomeKind::kFailed;
    case WorkResult::Kind::kTimedOut: return RunOutcomeKind::kTimedOut;
  }
  return RunOutcomeKind::kFailed;
}

Outcome NewOutcome(const RunRequest& req) {
  Outcome o;
  o.job = req.job;
  o.slot = req.slot.value_or(0);
  return o;
}

// The outcome of the run `lease` holds, as of `now`; the caller sets its kind.
std::optional<int64_t> VersionOf(const std::optional<JobState>& s) {
  return s ? std::optional<int64_t>(s->version) : std::nullopt;
}

Outcome RunOutcome(const Lease& lease, const WorkResult& work, EpochMs now) {
  Outcome out;
  out.job = lease.job();
  out.run_id = lease.run_id();
  out.fence = lease.fence();
  out.slot = lease.slot();
  out.exit_code = work.exit_code;
  out.duration_ms = std::max<int64_t>(0, now - lease.started_ms());
  out.took_over_fence = lease.took_over_fence();
  out.took_over_cause = lease.took_over_cause();
  return out;
}

}  // namespace

bool IsUnavailable(const Status& s) { return s.code() == StatusCode::kUnavailable; }

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

JobDefinition ApplyOverrides(std::optional<JobDefinition> stored, const std::string& job, const RunOverrides& o) {
  JobDefinition def = std::move(stored).value_or(JobDefinition{});
  def.job = job;
  if (o.cooldown_ms) def.cooldown_ms = *o.cooldown_ms;
  if (o.timeout_ms) def.timeout_ms = *o.timeout_ms;
  if (o.lease_ms) def.lease_ms = *o.lease_ms;
  if (o.max_clock_skew_ms) def.max_clock_skew_ms = *o.max_clock_skew_ms;
  return def;
}

// The schedule a scheduled invocation follows.
Result<Schedule> ScheduleOf(const JobDefinition& def, const RunRequest& req) {
  if (req.slot) return Status::InvalidArgument("a scheduled invocation claims the due slot: it takes no --slot");
  if (def.schedule.empty()) {
    return Status::InvalidArgument(
        fmt::format("job '{}' has no schedule (set `schedule` and `jobgate apply`)", def.job));
  }
  auto schedule = Schedule::Parse(def.schedule, def.time_zone);
  if (!schedule.ok()) return Status::InvalidArgument(fmt::format("job '{}': {}", def.job, schedule.status().message()));
  return schedule;
}

// --------------------------------------------------------------- Controller

Controller::Controller(Store& store, Clock& clock, Random& random, ControllerOptions opts)
    : impl_(std::make_unique<ControllerImpl>(store, clock, random, opts)) {}
Controller::~Controller() = default;

Result<Acquisition> Controller::Acquire(const RunRequest& req) { return impl_->Acquire(req); }
Result<HeartbeatResult> Controller::Heartbeat(Lease& lease) { return impl_->Heartbeat(lease); }
Result<Outcome> Controller::Commit(Lease& lease, const WorkResult& work) { return impl_->Commit(lease, work); }
Result<Outcome> Controller::Run(const RunRequest& req, const Work& work) { return impl_->Run(req, work); }
Status Controller::Pause(const std::string& job, const std::string& reason) { return impl_->Pause(job, reason); }
Status Controller::Resume(const std::string& job) { return impl_->Resume(job); }
Status Controller::Trigger(const std::string& job) { return impl_->Trigger(job); }
Result<int64_t> Controller::Unlock(const std::string& job, std::optional<int64_t> fence) {
  return impl_->Unlock(job, fence);
}
Result<JobDefinition> Controller::EffectiveDefinition(const std::string& job, const RunOverrides& o) {
  return impl_->EffectiveDefinition(job, o);
}
Result<EpochMs> Controller::Apply(const JobDefinition& def) { return impl_->Apply(def); }
int64_t Controller::reads() const { return impl_->counts().reads; }
int64_t Controller::writes() const { return impl_->counts().writes; }

// ----------------------------------------------------------- ControllerImpl

Result<JobDefinition> ControllerImpl::EffectiveDefinition(const std::string& job, const RunOverrides& o) {
  ++counts_.reads;
  JOBGATE_ASSIGN_OR_RETURN(std::optional<JobDefinition> stored, store_.ReadDefinition(job));
  JobDefinition def = ApplyOverrides(std::move(stored), job, o);
  JOBGATE_RETURN_IF_ERROR(ValidateDefinition(def));
  return def;
}

Outcome ControllerImpl::Skipped(Outcome o, SkipReason reason, EpochMs next_allowed_run) const {
  o.kind = RunOutcomeKind::kSkipped;
  o.clock_offset_ms = clocks_.OffsetMs();
  o.clock_uncertainty_ms = clocks_.UncertaintyMs();
  o.reason = reason;
  o.next_allowed_run = next_allowed_run;
  o.store_reads = counts_.reads;
  o.store_writes = counts_.writes;
  return o;
}

ControllerImpl::Verdict ControllerImpl::Skip(const Attempt& a, SkipReason reason, EpochMs next_allowed_run) const {
  Acquisition skipped;
  skipped.outcome = Skipped(a.out, reason, next_allowed_run);
  if (a.slot) skipped.outcome.slot = *a.slot;
  skipped.outcome.clock_skew_exceeded = clocks_.BeyondShare(a.def);
  return Result<Acquisition>(std::move(skipped));
}

Result<std::optional<JobState>> ControllerImpl::ReRead(const std::string& job) {
  ++counts_.reads;
  return store_.ReadState(job);
}

// The state item after our conditional write: ours if it applied; else the
// item we lost to when the store's answer carried it (DynamoDB's ALL_OLD:
// what a re-read would show, without the round trip); else a re-read.
Result<std::optional<JobState>> ControllerImpl::AfterWrite(const Result<WriteOutcome>& w, const JobState& ours,
                                                           const std::string& job) {
  if (w.ok() && *w == WriteOutcome::kApplied) return std::optional<JobState>(ours);
  if (w.ok() && store_.ConflictingState()) return store_.ConflictingState();
  return ReRead(job);
}

Result<Acquisition> ControllerImpl::Acquire(const RunRequest& req) {
  counts_ = {};
  ++counts_.reads;
  // The request record comes with the state: a repeated delivery costs the
  // same one read as any skip.
  JOBGATE_ASSIGN_OR_RETURN(JobRecord record, store_.ReadJob(req.job, req.request_id));
  Attempt a{req, ApplyOverrides(std::move(record.definition), req.job, req.overrides), std::move(record.state),
            std::move(record.request), "", NewOutcome(req), std::nullopt, SlotPlan{}, std::nullopt, false};
  JOBGATE_RETURN_IF_ERROR(ValidateDefinition(a.def));
  if (req.scheduled) {
    JOBGATE_ASSIGN_OR_RETURN(Schedule schedule, ScheduleOf(a.def, req));
    a.schedule = std::move(schedule);
  }
  // Placed against the store's clock by the read's answer, or refusing.
  JOBGATE_RETURN_IF_ERROR(clocks_.Usable(a.def));
  a.run_id = NewRunId(clock_, random_);
  if (Verdict v = GateRequest(a)) return std::move(*v);
  Won won;
  if (Verdict v = Lock(a, won)) return std::move(*v);
  Lease lease = MakeLease(a, won);
  if (Verdict v = HoldOrGiveBack(a, won, lease)) return std::move(*v);
  a.out.run_id = a.run_id;
  a.out.fence = lease.fence();
  a.out.slot = lease.slot();
  a.out.took_over_fence = lease.took_over_fence();
  a.out.took_over_cause = lease.took_over_cause();
  a.out.clock_offset_ms = clocks_.OffsetMs();
  a.out.clock_uncertainty_ms = clocks_.UncertaintyMs();
  a.out.clock_skew_exceeded = clocks_.BeyondShare(a.def);
  a.out.store_reads = counts_.reads;
  a.out.store_writes = counts_.writes;
  return Acquisition{std::move(lease), a.out};
}

// A request id already done (or running under a live holder) skips before
// any write.
ControllerImpl::Verdict ControllerImpl::GateRequest(Attempt& a) {
  if (a.req.request_id.empty()) return std::nullopt;
  // Read with the state, as stored: expired is judged here, as ReadRequest
  // would with the same time.
  if (a.request && a.request->expires_at_ms <= RequestExpiryNow(a.def, clocks_.Now().earliest)) a.request.reset();
  const EpochMs now = clocks_.Now().earliest;  // "has the record expired?"
  if (!RequestBlocks(a.req.request_id, a.request, a.state, a.def, now)) return std::nullopt;
  a.out.previous = PreviousOutcome(a.req.request_id, a.request, a.state, a.def, now);
  return Skip(a, SkipReason::kDuplicate, a.state ? a.state->next_allowed_run : 0);
}

// Gate and the acquiring CAS, re-read and re-decided on every conflict. A
// round that does not acquire may still write: what became of the due
// slots (SlotBookkeeping), by the same CAS.
ControllerImpl::Verdict ControllerImpl::Lock(Attempt& a, Won& won) {
  int errors = 0;
  bool changed = false;  // a re-read showed another version: somebody wrote
  for (int attempt = 0; attempt < opts_.cas_attempts; ++attempt) {
    const StoreTime now = clocks_.Now();
    won.gate = GateRound(a, now);
    std::vector<RunRecord> history;
    std::optional<JobState> next;
    if (won.gate.skip == SkipReason::kNone) {
      next = AcquiredState(a.state, a.req.job, a.def, won.gate, {a.run_id, a.req.holder, a.slot, now});
      if (a.schedule) {
        next->next_fire_ts = a.plan.next_fire;
        next->slots_missed += a.plan.missed;
        if (a.plan.missed > 0) history.push_back(MissedRunRecord(a.req.job, a.plan, now.best));
      }
    } else {
      next = SlotBookkeeping(a, won.gate, now, history);
      if (!next) return Skip(a, won.gate.skip, won.gate.retry_at);
    }
    // Our deadline counts from the first attempt: the write a re-read
    // recognises below may be any attempt's (a late one, a re-sent one),
    // and the first is the earliest.
    if (attempt == 0) won.local_ms = now.local;
    ++counts_.writes;
    // Applied only once the store's clock, where it checks one, has reached
    // the time this gate was decided at (Store::ReplaceState's not_before).
    auto w = a.state ? store_.ReplaceState(*next, a.state->version, now.earliest)
                     : store_.CreateState(*next, now.earliest);
    if (!w.ok() && !IsUnavailable(w.status())) return Result<Acquisition>(w.status());
    auto again = AfterWrite(w, *next, a.req.job);
    // Fail closed: if our write did apply, nobody runs and the lease expires.
    if (!again.ok()) return Result<Acquisition>(again.status());
    // Our write may have landed even when the answer was a conflict: an HTTP
    // client that silently re-sends a request whose connection died (libcurl
    // does, on a reused connection) turns "applied, response lost" into
    // "applied, then the copy lost the CAS against it". Recognise our own
    // write after every failed attempt, not only after errors.
    if (*again && **again == *next) {
      AppendHistory(history);
      if (won.gate.skip != SkipReason::kNone) return Skip(a, won.gate.skip, won.gate.retry_at);
      won.before = a.state;
      won.acquired = **again;
      return std::nullopt;
    }
    if (*again && won.gate.skip == SkipReason::kNone && (*again)->owner == a.run_id &&
        (*again)->fence == next->fence) {
      won.before = a.state;
      won.acquired = **again;
      return std::nullopt;
    }
    if (!w.ok() && ++errors >= opts_.store_error_attempts) return Result<Acquisition>(w.status());
    changed = changed || VersionOf(*again) != VersionOf(a.state);
    a.state = std::move(*again);
  }
  if (!changed) return LostToNobody(a, errors);
  return Skip(a, SkipReason::kLostRace, a.state ? a.state->next_allowed_run : 0);
}

// This round's gate. A scheduled invocation first plans its slot: none
// to claim skips (missed, or dealt with already); overlap = replace takes
// the job from a live holder as from a dead one.
GateDecision ControllerImpl::GateRound(Attempt& a, const StoreTime& now) {
  a.slot = a.req.slot;
  if (!a.schedule) return Gate(a.state, a.def, a.slot, now);
  a.plan = PlanSlots(a.state.value_or(JobState{}), a.def, *a.schedule, now.earliest);
  a.slot = a.plan.run;
  GateDecision d;
  if (!a.slot) {
    // Nothing due. A duplicate if the latest fire time by now was claimed
    // (by another scheduler); else simply early: the next fire time may
    // already be due by the clock that fired it (a scheduler's, up to
    // max_clock_skew ahead, or the store's, within our uncertainty), and
    // that firing duplicates nothing.
    const EpochMs last_slot = a.state ? a.state->last_slot : 0;
    const bool early = a.plan.next_fire != 0 && a.plan.next_fire <= now.latest + a.def.max_clock_skew_ms;
    a.claimed_already = last_slot != 0 && !early && a.schedule->LatestAtOrBefore(now.earliest) == last_slot;
    d.skip = a.plan.missed > 0 ? SkipReason::kMissed : SkipReason::kSlotDone;
    d.retry_at = a.plan.next_fire;
    return d;
  }
  if (a.def.overlap == Overlap::kReplace && a.state && a.state->status == JobStatus::kRunning &&
      a.state->paused_reason.empty()) {
    JobState lapsed = *a.state;  // the live holder, judged as one whose lease is over
    lapsed.lease_until = std::numeric_limits<EpochMs>::min() / 2;
    d = Gate(lapsed, a.def, a.slot, now);
    a.replacing = d.skip == SkipReason::kNone && !LeaseExpired(*a.state, a.def, now.earliest);
    return d;
  }
  return Gate(a.state, a.def, a.slot, now);
}

// A scheduled round that skips, and what it records of the slots: the
// state to write (with `history` to append once it applied), or nullopt
// when nothing is to be recorded. Recorded: a slot fired again after it was
// claimed (deduplicated), due slots passed over (missed), and a due slot
// that cannot run now: a run still going (overlap = skip) or the rate limit
// (skipped; it would otherwise stay due and be fired again and again).
std::optional<JobState> ControllerImpl::SlotBookkeeping(const Attempt& a, const GateDecision& gate,
                                                        const StoreTime& now, std::vector<RunRecord>& history) const {
  JobState next = a.state.value_or(JobState{});
  next.job = a.req.job;
  const SlotPlan& plan = a.plan;
  const bool due = a.schedule && plan.run;
  // Scheduled invocations only: an explicit `run --slot` that finds its
  // slot claimed (a duplicate delivery) stays the one-read skip path, and
  // its outcome says slot_done.
  if (!a.schedule) return std::nullopt;
  if (a.claimed_already && !plan.Changes(next)) {
    next.slots_deduplicated += 1;
    history.push_back(NotRunRecord(a.req.job, a.run_id, a.req.holder, 0, next.last_slot, now.best, RecordedOutcome::kDeduplicated,
                                   fmt::format("slot {} was claimed already", FormatRfc3339(next.last_slot))));
  } else if (!plan.Changes(next)) {
    return std::nullopt;
  } else if (due && gate.skip != SkipReason::kRunning && gate.skip != SkipReason::kRateLimited) {
    return std::nullopt;  // paused, cooldown: the slot waits (a paused job is out of the due index)
  } else {
    next.next_fire_ts = plan.next_fire;
    next.slots_missed += plan.missed;
    if (plan.missed > 0) history.push_back(MissedRunRecord(a.req.job, plan, now.best));
    if (due) {
      next.slots_skipped += 1;
      history.push_back(NotRunRecord(a.req.job, a.run_id, a.req.holder, 0, *plan.run, now.best, RecordedOutcome::kSkipped,
                                     SkippedWhy(next, a.def, gate)));
    }
  }
  next.version += 1;
  next.updated_at = now.best;
  return next;
}

void ControllerImpl::AppendHistory(const std::vector<RunRecord>& history) {
  for (const RunRecord& r : history) {
    ++counts_.writes;
    (void)store_.AppendRun(r);  // best effort: the counters already say it
  }
}

// Every round lost, and every re-read showed the very version the CAS was
// conditioned on: nobody won. Versions only grow, so that is no race but a
// store or item that refuses the condition (a version attribute of another
// type, a read that is not strongly consistent, a trigger...). It is
// reported (`contended`, exit 75), not passed off as a normal skip, so a job
// that can never be acquired does not look healthy.
ControllerImpl::Verdict ControllerImpl::LostToNobody(Attempt& a, int errors) {
  const std::string version = a.state ? std::to_string(a.state->version) : std::string("(no state item)");
  a.out.contended = true;
  a.out.error = fmt::format("every CAS round lost to nobody: {} attempts, state version {} never matched{}",
                            opts_.cas_attempts, version,
                            errors > 0 ? fmt::format(" ({} of them failed with a store error)", errors) : "");
  // The state item is what cannot be written; a run record is no CAS, so
  // `jobgate status` and `history` can show that the job is stuck (best
  // effort).
  ++counts_.writes;
  (void)store_.AppendRun(ContendedRunRecord(a.req.job, a.run_id, a.req.holder, a.state ? a.state->fence : 0,
                                            clocks_.Now().best, a.out.error));
  return Skip(a, SkipReason::kLostRace, a.state ? a.state->next_allowed_run : 0);
}

Lease ControllerImpl::MakeLease(const Attempt& a, const Won& won) const {
  LeaseAccess::Fields f;
  f.job = a.req.job;
  f.run_id = a.run_id;
  f.holder = a.req.holder;
  f.fence = won.acquired.fence;
  // A scheduled lease's slot is the one the store holds as claimed: the
  // write that applied may be an earlier round's (a late one, recognised
  // by our owner and fence) whose plan claimed another slot than this one.
  f.slot = a.schedule ? won.acquired.last_slot : a.slot.value_or(0);
  f.started_ms = won.acquired.last_run_ts;
  // Ours, by our own clock from when we stamped the lease: the published
  // one counts from the latest the store's clock could read then.
  f.lease_until = won.local_ms + a.def.lease_ms;
  f.lease_ms = a.def.lease_ms;
  f.timeout_ms = a.def.timeout_ms;
  f.kill_grace_ms = a.def.kill_grace_ms;
  f.request_id = a.req.request_id;
  f.last_written = won.acquired;
  f.def = a.def;
  return LeaseAccess::Make(std::move(f));
}

// After the lock: the dead run's history, the request claim, and a lease
// that took too long to get. Gives the job back when we must not run.
ControllerImpl::Verdict ControllerImpl::HoldOrGiveBack(Attempt& a, const Won& won, Lease& lease) {
  if (won.gate.takeover && won.before) {
    LeaseAccess::Fields& f = LeaseAccess::Of(lease);
    f.took_over_fence = won.before->fence;
    f.took_over_cause = a.replacing ? TakeoverCause::kReplaced : TakeoverCause::kLeaseExpired;
    // History of the dead run; best effort (the counters already say it).
    ++counts_.writes;
    (void)store_.AppendRun(AbandonedRunRecord(
        *won.before, lease.started_ms(),
        a.replacing ? fmt::format("replaced by fence {}, the run of slot {} (overlap = replace)", lease.fence(),
                                  FormatRfc3339(lease.slot()))
                    : fmt::format("lease expired, taken over by fence {}", lease.fence())));
  }
  if (!a.req.request_id.empty()) {
    auto claimed = ledger_.ClaimFor(lease, a.request, a.out.previous);
    if (!claimed.ok() || *claimed != RequestLedger::Claim::kClaimed) {
      // We hold the job (or held it) but must not run: give the acquisition
      // back. If it was taken from us meanwhile, the rollback's CAS fails.
      Rollback(lease, won.before);
      if (!claimed.ok()) return Result<Acquisition>(claimed.status());
      const bool done = *claimed == RequestLedger::Claim::kDone;
      return Skip(a, done ? SkipReason::kDuplicate : SkipReason::kLostRace, won.acquired.next_allowed_run);
    }
  }
  if (clock_.NowMs() >= lease.lease_until() - lease.lease_ms() + HeartbeatIntervalMs(lease.lease_ms())) {
    // A store call hung for a heartbeat interval or more (a frozen
    // connection, a stalled host): the lease may be over or nearly so, the
    // job taken over and our request run by another holder while we
    // waited. Do not start the work on what is left of it. Renew it with a
    // CAS on the version we wrote: that applies only if nobody acquired the
    // job since (so nobody ran it or our request), else we lost.
    auto renewed = Heartbeat(lease);
    if (!renewed.ok()) {
      Rollback(lease, won.before);  // best effort: nothing will run under it
      return Result<Acquisition>(renewed.status());
    }
    if (*renewed == HeartbeatResult::kLost) return Skip(a, SkipReason::kLostRace, won.acquired.next_allowed_run);
  }
  return std::nullopt;
}

// Undoes an acquisition that must not run: the state before it, with the
// new fence kept (fences never go back) and version + 1.
void ControllerImpl::Rollback(const Lease& lease, const std::optional<JobState>& before) {
  const LeaseAccess::Fields& f = LeaseAccess::Of(lease);
  JobState back = before.value_or(JobState{});
  back.job = f.job;
  back.fence = f.fence;
  back.version = f.last_written.version + 1;
  back.updated_at = clocks_.Now().best;
  ++counts_.writes;
  // If this fails the lease simply expires and the job is taken over.
  (void)store_.ReplaceState(back, f.last_written.version);
}

Result<HeartbeatResult> ControllerImpl::Heartbeat(Lease& lease) {
  LeaseAccess::Fields& f = LeaseAccess::Of(lease);
  int errors = 0;
  for (int attempt = 0; attempt < opts_.cas_attempts; ++attempt) {
    const StoreTime now = clocks_.Now();
    JobState next = f.last_written;
    next.lease_until = now.latest + f.lease_ms;
    next.version += 1;
    next.updated_at = now.best;
    ++counts_.writes;
    auto w = store_.ReplaceState(next, f.last_written.version);
    if (w.ok() && *w == WriteOutcome::kApplied) {
      f.last_written = next;
      f.lease_until = now.local + f.lease_ms;
      return HeartbeatResult::kExtended;
    }
    if (!w.ok() && !IsUnavailable(w.status())) return w.status();
    JOBGATE_ASSIGN_OR_RETURN(std::optional<JobState> s, ReRead(f.job));
    if (!s || s->status != JobStatus::kRunning || s->owner != f.run_id || s->fence != f.fence) {
      return HeartbeatResult::kLost;
    }
    f.last_written = *s;  // an operator wrote (pause), or our write applied
    if (*s == next) {
      f.lease_until = now.local + f.lease_ms;
      return HeartbeatResult::kExtended;
    }
    if (!w.ok() && ++errors >= opts_.store_error_attempts) return w.status();
  }
  return Status::Contended(fmt::format("job '{}': heartbeat kept conflicting", f.job));
}

Result<Outcome> ControllerImpl::Commit(Lease& lease, const WorkResult& work) {
  const LeaseAccess::Fields& f = LeaseAccess::Of(lease);
  const EpochMs started_commit = clocks_.Now().best;
  // Our commit replaces last_request_id: the request it names must be
  // completed first, or a duplicate of it could run again. One whose record
  // cannot be completed now (corrupt, the store failing) our commit keeps
  // naming instead, so this run's commit never depends on another's record.
  const std::string unsettled = ledger_.SettlePending(f.last_written, f.def);
  JOBGATE_ASSIGN_OR_RETURN(std::optional<JobState> next, WriteCommit(lease, work, unsettled));
  if (!next) {
    Outcome out = RunOutcome(lease, work, started_commit);
    out.kind = RunOutcomeKind::kLeaseLost;
    out.store_reads = counts_.reads;
    out.store_writes = counts_.writes;
    return out;
  }
  return Committed(lease, work, *next);
}

// The commit's CAS, re-read and re-decided on every conflict.
Result<std::optional<JobState>> ControllerImpl::WriteCommit(Lease& lease, const WorkResult& work,
                                                            const std::string& unsettled) {
  const LeaseAccess::Fields& f = LeaseAccess::Of(lease);
  const int64_t backoff = BackoffMs(f.last_written.consecutive_failures + 1, f.def.backoff_base_ms,
                                    f.def.backoff_cap_ms, random_);
  JobState base = f.last_written;
  int errors = 0;
  bool unanswered = false;  // a write whose answer does not say whether it applied
  for (int attempt = 0; attempt < opts_.cas_attempts; ++attempt) {
    const StoreTime now = clocks_.Now();
    JobState next = FinishedState(base, f.def, work, f.request_id, f.started_ms, now, backoff);
    next.unsettled_requests = unsettled;
    const RunRecord run = FinishedRunRecord(lease, now.best, OutcomeOf(work.kind), work.exit_code,
                                            work.kind == WorkResult::Kind::kSucceeded ? "" : next.last_error);
    ++counts_.writes;
    auto w = store_.ReplaceStateAndAppendRun(next, base.version, run);
    if (!w.ok() && !IsUnavailable(w.status())) return w.status();
    if (w.ok() && *w == WriteOutcome::kApplied) return std::optional<JobState>(next);
    // A conflict may hide an applied write too: an HTTP client re-sends a
    // request whose connection died, and the copy loses the CAS to the
    // original. Sent while our lease was live by our own clock, nobody can
    // have taken the job from us before it landed, so a later commit seen
    // below means ours applied, or an operator unlocked us: unknown.
    unanswered = unanswered || !w.ok() || now.local < f.lease_until;
    JOBGATE_ASSIGN_OR_RETURN(std::optional<JobState> s, ReRead(f.job));
    // Only this run's commit writes last_fence = our fence; it stays until
    // the next commit, so an applied commit is recognised even after others
    // acquired, paused or triggered the job in between.
    if (s && s->last_fence == f.fence) {
      // Recognised on the re-read, so the store answered an error or a
      // conflict: a backend that appends the run record after the CAS
      // (DynamoDB without transactions, Store's default) stopped before
      // it. Append it now, best effort like the backends' own append: a
      // run record is keyed by (start, run id), so where the first write
      // did append it this one replaces it (the conformance suite checks).
      ++counts_.writes;
      (void)store_.AppendRun(run);
      return std::optional<JobState>(next);
    }
    if (!s || s->status != JobStatus::kRunning || s->owner != f.run_id || s->fence != f.fence) {
      if (s && s->last_fence > f.fence) return LaterCommitOver(f, *s, next, unanswered);
      return std::optional<JobState>();  // the lease was lost: nothing counted
    }
    base = *s;
    if (!w.ok() && ++errors >= opts_.store_error_attempts) return w.status();
  }
  return Status::Contended(fmt::format("job '{}': commit kept conflicting", f.job));
}

// Our commit's CAS failed or went unanswered, and a later run has committed
// since (last_fence is past ours): was ours counted before it? Our run's own
// record may tell: the commit's (ours applied; atomic backends write both at
// once) or "abandoned" (an operator released us first). Without one, an
// `unanswered` commit is unknown; another lost its lease.
Result<std::optional<JobState>> ControllerImpl::LaterCommitOver(const LeaseAccess::Fields& f, const JobState& s,
                                                                const JobState& next, bool unanswered) {
  const std::optional<RunRecord> mine = FindOwnRun(f, s.run_count - f.last_written.run_count);
  if (mine && mine->outcome == RecordedOutcome::kAbandoned) return std::optional<JobState>();
  if (mine) return std::optional<JobState>(next);
  if (!unanswered) return std::optional<JobState>();
  return Status::Unavailable(fmt::format(
      "job '{}': the store's answer to the commit of run {} (fence {}) does not say whether it applied, and a "
      "later run has committed since; whether this run was counted is unknown (see `jobgate history {}`)",
      f.job, f.run_id, f.fence, f.job));
}

// The run record of the run `f` holds, among the newest `later` + 2 (it is
// followed by `later` runs at most); nullopt when not found or unreadable.
std::optional<RunRecord> ControllerImpl::FindOwnRun(const LeaseAccess::Fields& f, int64_t later) {
  ++counts_.reads;
  auto runs = store_.ListRuns(f.job, static_cast<size_t>(std::max<int64_t>(0, later) + 2));
  if (!runs.ok()) return std::nullopt;
  for (const RunRecord& r : *runs) {
    if (r.run_id == f.run_id && r.fence == f.fence) return r;
  }
  return std::nullopt;
}

// After the commit's CAS: the request's completion, history trimming, the
// outcome.
Outcome ControllerImpl::Committed(Lease& lease, const WorkResult& work, const JobState& next) {
  LeaseAccess::Fields& f = LeaseAccess::Of(lease);
  const EpochMs now = next.updated_at;
  f.last_written = next;
  if (!f.request_id.empty()) ledger_.Complete(lease, work);
  Outcome out = RunOutcome(lease, work, now);
  out.kind = WorkOutcomeKind(work.kind);
  out.next_allowed_run = next.next_allowed_run;
  out.error = work.kind == WorkResult::Kind::kSucceeded ? "" : next.last_error;
  out.clock_offset_ms = clocks_.OffsetMs();
  out.clock_uncertainty_ms = clocks_.UncertaintyMs();
  out.clock_skew_exceeded = clocks_.BeyondShare(f.def);
  if (f.def.keep_runs > 0 && next.run_count % kTrimEvery == 0) {
    ++counts_.writes;
    (void)store_.TrimRuns(f.job, static_cast<size_t>(f.def.keep_runs));
  }
  out.store_reads = counts_.reads;
  out.store_writes = counts_.writes;
  return out;
}

Result<Outcome> ControllerImpl::Run(const RunRequest& req, const Controller::Work& work) {
  auto acq = Acquire(req);
  if (!acq.ok()) return acq.status();
  if (!acq->lease) return acq->outcome;
  Lease& lease = *acq->lease;
  const Lease snapshot = lease;  // the work reads this; the beats own `lease` until Finish

  // The same keeper as `jobgate run`'s: beats every lease / 3 off this
  // thread, and `stop` turns true by the end of our own lease whatever the
  // store does, even while a beat hangs in it.
  std::atomic<bool> stop{false};
  const LeaseTerms terms{lease.lease_ms(), lease.lease_until() - clock_.NowMs(), 0, lease.kill_grace_ms()};
  auto beat = [this, &lease]() -> HeartbeatReply {
    auto hb = Heartbeat(lease);
    // A store error is retried at the next beat, against the same deadline.
    const bool held = !hb.ok() || *hb == HeartbeatResult::kExtended;
    return HeartbeatReply{held, lease.lease_until() - clock_.NowMs()};
  };
  auto keeper = KeeperThread::Start(terms, clock_.MonotonicMs(), beat, clock_, stop);
  if (!keeper.ok()) {
    // Nothing ran: give the job back rather than hold it to its lease's end.
    WorkResult not_run{WorkResult::Kind::kFailed, 70, keeper.status().message()};
    (void)Commit(lease, not_run);
    return keeper.status();
  }
  WorkResult result = work(snapshot, stop);
  (*keeper)->Finish();
  return Commit(lease, result);
}

}  // namespace jobgate
