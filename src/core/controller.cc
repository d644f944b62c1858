// Read -> Gate -> Lock -> (Execute) -> Commit. Every write is a CAS on
// `version`; a lost CAS is answered by re-reading and re-deciding, never by
// a blind rewrite. A write that failed with an error may have been applied
// (DynamoDB 500s, timeouts), so after one we re-read and recognise our own
// owner/fence before deciding anything.
#include "jobgate/controller.h"

#include <fmt/format.h>

#include "core/gate.h"
#include "core/keeper_thread.h"
#include "core/lease_keeper.h"

namespace jobgate {

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

// When the state's last commit happened (on the committer's clock).
EpochMs LastCommitMs(const JobState& s) { return std::max(s.last_success_ts, s.last_failure_ts); }

// Whether the state's last commit was a run of request `key` that is still
// within request_ttl. A committed run completes its request record after its
// state commit, and the commit names the request in the state
// (last_request_id, last_fence), so the state alone says the request is done
// until the next commit, whether or not the record's completion has landed
// (or was lost with a crash), and even when the claim expired mid-run.
bool CommittedRequest(const JobState& s, const std::string& key, int64_t ttl_ms, EpochMs now) {
  return !key.empty() && s.last_request_id == key && s.last_fence > 0 && LastCommitMs(s) + ttl_ms > now;
}

// The "now" request expiry is judged by. Records and the committed state
// expire by their writer's clock (expires_at = its now + request_ttl), so a
// host whose clock is ahead would see a live record dead and run its
// request again. As with leases, every host (the writer too: it cannot
// tell its own records from others') allows max_clock_skew: a request
// counts as expired only once now - max_clock_skew passes its end.
EpochMs RequestExpiryNow(const JobDefinition& def, EpochMs now) { return now - def.max_clock_skew_ms; }

// The COMPLETED record the state's last commit stands for. `claim` is the
// run's INPROGRESS record when it can still be read (it names the run).
RequestRecord CompletedFromState(const JobState& s, const std::optional<RequestRecord>& claim, int64_t ttl_ms) {
  RequestRecord r;
  if (claim && claim->fence == s.last_fence) r = *claim;
  r.job = s.job;
  r.key = s.last_request_id;
  r.status = RequestStatus::kCompleted;
  r.version = std::max(r.version + 1, 2 * s.last_fence + 1);
  r.fence = s.last_fence;
  r.outcome = s.last_outcome;
  r.exit_code = s.last_exit_code;
  r.expires_at_ms = LastCommitMs(s) + ttl_ms;
  return r;
}

// A request blocks a new run when the last commit ran it, when its record is
// COMPLETED, or when it is in progress under the job's live holder. An
// INPROGRESS record whose owner no longer holds the job belongs to a run that
// died (or lost its lease) before committing: it may be taken over.
bool RequestBlocks(const std::string& key, const std::optional<RequestRecord>& r,
                   const std::optional<JobState>& state, const JobDefinition& def, EpochMs now) {
  if (state && CommittedRequest(*state, key, def.request_ttl_ms, RequestExpiryNow(def, now))) return true;
  if (!r) return false;
  if (r->status == RequestStatus::kCompleted) return true;
  return state && state->status == JobStatus::kRunning && state->owner == r->owner && !LeaseExpired(*state, def, now);
}

// What a duplicate is told about the request it repeats.
std::optional<RequestRecord> PreviousOutcome(const std::string& key, const std::optional<RequestRecord>& r,
                                             const std::optional<JobState>& state, const JobDefinition& def,
                                             EpochMs now) {
  if (state && CommittedRequest(*state, key, def.request_ttl_ms, RequestExpiryNow(def, now)) &&
      !(r && r->status == RequestStatus::kCompleted)) {
    return CompletedFromState(*state, r, def.request_ttl_ms);
  }
  return r;
}

// Request record versions come from the claiming run's fence (2 x fence for
// the claim, + 1 for its completion), so they never repeat for a key, even
// after a record expired and was claimed afresh: a stale run's conditional
// completion can never land on another run's claim.
int64_t ClaimVersion(int64_t fence, const std::optional<RequestRecord>& current) {
  return std::max(2 * fence, current ? current->version + 1 : 1);
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

// The run record of a run that never committed: `why` says who ended it.
RunRecord AbandonedRunRecord(const JobState& dead, EpochMs now, std::string why) {
  RunRecord r;
  r.job = dead.job;
  r.run_id = dead.owner;
  r.fence = dead.fence;
  r.slot = dead.last_slot;
  r.start_ms = dead.last_run_ts;
  r.end_ms = now;
  r.outcome = "abandoned";
  r.error = std::move(why);
  r.holder = dead.holder;
  return r;
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

// max_clock_skew bounds how far apart two hosts' clocks may be. A taker
// whose clock is ahead by `a` and a holder whose clock is behind by `d`
// (both against the store's clock) are safe while a + d <= max_clock_skew:
// the holder stops at the end of its lease on its own clock, the taker
// waits until its clock passes lease_until + max_clock_skew. When the store
// tells a host its offset, the host keeps its own side within half the
// allowance: ahead by more, it refuses takeovers (ClockAheadOfStore);
// behind by more, it publishes a lease that much longer (LeaseSlackMs).
// Any two such hosts then meet a + d <= max_clock_skew, however far off
// each clock is. Hosts whose offset nobody can observe (an embedded store
// shares the host's clock) must be kept within the allowance of each other
// by NTP: docs/operations.md, "Clocks".
bool Controller::ClockAheadOfStore(const JobDefinition& def) const {
  auto offset = store_.ObservedClockOffsetMs();
  return offset && *offset > def.max_clock_skew_ms / 2;
}

int64_t Controller::LeaseSlackMs(const JobDefinition& def) const {
  auto offset = store_.ObservedClockOffsetMs();
  if (!offset) return 0;
  return std::max<int64_t>(0, -*offset - def.max_clock_skew_ms / 2);
}

bool Controller::ClockBeyondShare(const JobDefinition& def) const {
  auto offset = store_.ObservedClockOffsetMs();
  return offset && std::abs(*offset) > def.max_clock_skew_ms / 2;
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
    auto r = store_.ReadRequest(req.job, req.request_id, RequestExpiryNow(def, clock_.NowMs()));
    if (!r.ok()) return r.status();
    request = std::move(*r);
    if (RequestBlocks(req.request_id, request, state, def, clock_.NowMs())) {
      out = Skipped(out, SkipReason::kDuplicate, state ? state->next_allowed_run : 0);
      out.previous = PreviousOutcome(req.request_id, request, state, def, clock_.NowMs());
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
      // Our clock runs ahead of the store's by more than our half of the
      // allowance, so "the lease has expired" may only be our clock's
      // opinion: never take over on it (the holder may be alive and within
      // its lease).
      gate.skip = SkipReason::kRunning;
      out.clock_skew_exceeded = true;
    }
    if (gate.skip != SkipReason::kNone) {
      return Acquisition{std::nullopt, Skipped(out, gate.skip, gate.retry_at)};
    }
    JobState next = AcquiredState(state, req.job, def, gate, {run_id, req.holder, req.slot, now, LeaseSlackMs(def)});
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
  lease.lease_until = now + def.lease_ms;  // ours; the published one may be later by the slack
  lease.lease_ms = def.lease_ms;
  lease.timeout_ms = def.timeout_ms;
  lease.kill_grace_ms = def.kill_grace_ms;
  lease.request_id = req.request_id;
  lease.last_written = *acquired;
  lease.def = def;

  if (gate.takeover && before) {
    // History of the dead run; best effort (the counters already say it).
    ++writes_;
    (void)store_.AppendRun(AbandonedRunRecord(
        *before, now, fmt::format("lease expired, taken over by fence {}", lease.fence)));
  }
  if (!req.request_id.empty()) {
    auto claimed = ClaimRequest(lease, request, out);
    if (!claimed.ok() || *claimed != Claim::kClaimed) {
      // We hold the job (or held it) but must not run: give the acquisition
      // back. If it was taken from us meanwhile, the rollback's CAS fails.
      Rollback(lease, before);
      if (!claimed.ok()) return claimed.status();
      SkipReason why = *claimed == Claim::kDone ? SkipReason::kDuplicate : SkipReason::kLostRace;
      return Acquisition{std::nullopt, Skipped(out, why, acquired->next_allowed_run)};
    }
  }
  if (clock_.NowMs() >= lease.started_ms + HeartbeatIntervalMs(lease.lease_ms)) {
    // A store call hung for a heartbeat interval or more (a frozen
    // connection, a stalled host): the lease may be over or nearly so, the
    // job taken over and our request run by another holder while we
    // waited. Do not start the work on what is left of it. Renew it with a
    // CAS on the version we wrote: that applies only if nobody acquired the
    // job since (so nobody ran it or our request), else we lost.
    auto renewed = Heartbeat(lease);
    if (!renewed.ok()) {
      Rollback(lease, before);  // best effort: nothing will run under it
      return renewed.status();
    }
    if (*renewed == HeartbeatResult::kLost) {
      return Acquisition{std::nullopt, Skipped(out, SkipReason::kLostRace, acquired->next_allowed_run)};
    }
  }
  out.run_id = run_id;
  out.fence = lease.fence;
  out.clock_offset_ms = store_.ObservedClockOffsetMs();
  out.clock_skew_exceeded = ClockBeyondShare(def);
  out.store_reads = reads_;
  out.store_writes = writes_;
  return Acquisition{std::move(lease), out};
}

// Claims the request record for the run we hold: kDone (out.previous set)
// when the request turned out to be completed, kLost when we may no longer
// hold the job. The claim is a separate item from the state, written after
// the acquisition, so a claimant that stalled in between may have been taken
// over: it never claims once its own lease has run out, and never overwrites
// a claim made under a newer fence (a later acquisition's).
Result<Controller::Claim> Controller::ClaimRequest(Lease& lease, std::optional<RequestRecord> current,
                                                   Outcome& out) {
  int errors = 0;
  for (int attempt = 0; attempt < opts_.cas_attempts; ++attempt) {
    EpochMs now = clock_.NowMs();
    if (current && current->owner == lease.run_id && current->status == RequestStatus::kInProgress) {
      lease.request_version = current->version;  // our claim landed; its response was lost
      return Claim::kClaimed;
    }
    // Our acquisition kept the last commit's fields, so they still tell
    // whether the last commit ran this request.
    if (RequestBlocks(lease.request_id, current, lease.last_written, lease.def, now)) {
      out.previous = PreviousOutcome(lease.request_id, current, lease.last_written, lease.def, now);
      return Claim::kDone;
    }
    if (current && current->fence >= lease.fence) return Claim::kLost;
    if (now >= lease.lease_until) return Claim::kLost;
    RequestRecord claim;
    claim.job = lease.job;
    claim.key = lease.request_id;
    claim.status = RequestStatus::kInProgress;
    claim.version = ClaimVersion(lease.fence, current);
    claim.owner = lease.run_id;
    claim.lease_until = lease.lease_until;
    claim.fence = lease.fence;
    claim.created_at = current ? current->created_at : now;
    claim.expires_at_ms = now + lease.def.request_ttl_ms;
    ++writes_;
    auto w = current ? store_.ReplaceRequest(claim, current->version)
                     : store_.CreateRequest(claim, RequestExpiryNow(lease.def, now));
    if (w.ok() && *w == WriteOutcome::kApplied) {
      lease.request_version = claim.version;
      return Claim::kClaimed;
    }
    if (!w.ok() && !IsUnavailable(w.status())) return w.status();
    ++reads_;
    auto again = store_.ReadRequest(lease.job, lease.request_id, RequestExpiryNow(lease.def, now));
    if (!again.ok()) return again.status();
    current = std::move(*again);
    bool ours = current && current->owner == lease.run_id;  // checked at the top of the next round
    if (!w.ok() && !ours && ++errors >= opts_.store_error_attempts) return w.status();
  }
  return Status::Unavailable(fmt::format("job '{}': request '{}' kept changing under us", lease.job,
                                         lease.request_id));
}

// Completes the request a committed run left pending (its process died
// between the state commit and the request's completion, or the completion
// failed). The next commit overwrites last_request_id, so it settles the
// previous one first: one read when the previous run had a request id, and a
// write only when the completion is missing.
Status Controller::SettlePendingRequest(const JobState& s, const JobDefinition& def) {
  const int64_t ttl_ms = def.request_ttl_ms;
  Status last = Status::Ok();
  for (int attempt = 0; attempt < opts_.store_error_attempts; ++attempt) {
    const EpochMs now = RequestExpiryNow(def, clock_.NowMs());
    if (!CommittedRequest(s, s.last_request_id, ttl_ms, now)) return Status::Ok();
    ++reads_;
    auto rec = store_.ReadRequest(s.job, s.last_request_id, now);
    if (!rec.ok()) {
      if (!IsUnavailable(rec.status())) return rec.status();
      last = rec.status();
      continue;
    }
    if (*rec && (*rec)->status == RequestStatus::kCompleted) return Status::Ok();
    // Another run's claim cannot be newer than the commit (the state blocks
    // claims of this request), so a claim of a different fence is a dead
    // one's from before it. Never overwrite a newer one all the same.
    if (*rec && (*rec)->fence > s.last_fence) return Status::Ok();
    RequestRecord done = CompletedFromState(s, *rec, ttl_ms);
    ++writes_;
    auto w = *rec ? store_.ReplaceRequest(done, (*rec)->version) : store_.CreateRequest(done, now);
    if (w.ok() && *w == WriteOutcome::kApplied) return Status::Ok();
    if (!w.ok() && !IsUnavailable(w.status())) return w.status();
    last = w.ok() ? Status::Ok() : w.status();  // a conflict: somebody else wrote it; look again
  }
  return last;
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
    next.lease_until = now + lease.lease_ms + LeaseSlackMs(lease.def);
    next.version += 1;
    next.updated_at = now;
    ++writes_;
    auto w = store_.ReplaceState(next, lease.last_written.version);
    if (w.ok() && *w == WriteOutcome::kApplied) {
      lease.last_written = next;
      lease.lease_until = now + lease.lease_ms;
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
      lease.lease_until = now + lease.lease_ms;
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

  // Our commit replaces last_request_id: the request it names must be
  // completed first, or a duplicate of it could run again.
  JOBGATE_RETURN_IF_ERROR(SettlePendingRequest(lease.last_written, lease.def));

  int64_t backoff = BackoffMs(lease.last_written.consecutive_failures + 1, lease.def.backoff_base_ms,
                              lease.def.backoff_cap_ms, random_);
  JobState base = lease.last_written;
  int errors = 0;
  bool unanswered = false;  // a write whose answer we never got (it may have applied)
  for (int attempt = 0; attempt < opts_.cas_attempts; ++attempt) {
    now = clock_.NowMs();
    JobState next = FinishedState(base, lease.def, work, lease.request_id, lease.started_ms, now, backoff);
    RunRecord run = MakeRunRecord(lease, now, WorkOutcomeName(work.kind), work.exit_code,
                                  work.kind == WorkResult::Kind::kSucceeded ? "" : next.last_error);
    ++writes_;
    auto w = store_.ReplaceStateAndAppendRun(next, base.version, run);
    bool applied = w.ok() && *w == WriteOutcome::kApplied;
    if (!w.ok() && !IsUnavailable(w.status())) return w.status();
    if (!applied) {
      unanswered = unanswered || !w.ok();
      auto again = ReRead(lease.job);
      if (!again.ok()) return again.status();
      const auto& s = *again;
      // Only this run's commit writes last_fence = our fence; it stays until
      // the next commit, so an applied commit is recognised even after
      // others acquired, paused or triggered the job in between.
      applied = s && s->last_fence == lease.fence;
      if (!applied) {
        if (!s || s->status != JobStatus::kRunning || s->owner != lease.run_id || s->fence != lease.fence) {
          if (unanswered && s && s->last_fence > lease.fence) {
            // A later run has committed over whatever we may have written.
            return Status::Unavailable(fmt::format(
                "job '{}': the store never answered the commit of run {} (fence {}), and a later run has "
                "committed since; whether this run was counted is unknown (see `jobgate history {}`)",
                lease.job, lease.run_id, lease.fence, lease.job));
          }
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
    if (!lease.request_id.empty()) {
      // Best effort: until this lands, the state's last_request_id and
      // last_fence say the request is done (CommittedRequest).
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
      (void)store_.ReplaceRequest(done, lease.request_version);
    }
    out.kind = WorkOutcomeKind(work.kind);
    out.duration_ms = std::max<int64_t>(0, now - lease.started_ms);
    out.next_allowed_run = next.next_allowed_run;
    out.error = work.kind == WorkResult::Kind::kSucceeded ? "" : next.last_error;
    out.clock_offset_ms = store_.ObservedClockOffsetMs();
    out.clock_skew_exceeded = ClockBeyondShare(lease.def);
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
  const Lease snapshot = lease;  // the work reads this; the beats own `lease` until Finish

  // The same keeper as `jobgate run`'s: beats every lease / 3 off this
  // thread, and `stop` turns true by the end of our own lease whatever the
  // store does, even while a beat hangs in it.
  std::atomic<bool> stop{false};
  const LeaseTerms terms{lease.lease_ms, lease.lease_until - clock_.NowMs(), 0, lease.kill_grace_ms};
  auto beat = [this, &lease]() -> HeartbeatReply {
    auto hb = Heartbeat(lease);
    // A store error is retried at the next beat, against the same deadline.
    const bool held = !hb.ok() || *hb == HeartbeatResult::kExtended;
    return HeartbeatReply{held, lease.lease_until - clock_.NowMs()};
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

Result<int64_t> Controller::Unlock(const std::string& job, std::optional<int64_t> fence) {
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
