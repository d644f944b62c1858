#include "sim/checker.h"

#include <algorithm>
#include <utility>

#include <fmt/format.h>

#include "core/request_ledger.h"
#include "sim/state_text.h"

namespace jobgate::sim {

namespace {

const char* CommitName(RunOutcomeKind k) { return k == RunOutcomeKind::kSucceeded ? "succeeded" : "failed"; }

}  // namespace

const char* OperatorOpName(OperatorOp op) {
  switch (op) {
    case OperatorOp::kNone: return "none";
    case OperatorOp::kPause: return "pause";
    case OperatorOp::kResume: return "resume";
    case OperatorOp::kTrigger: return "trigger";
    case OperatorOp::kUnlock: return "unlock";
    case OperatorOp::kApply: return "apply";
  }
  return "none";
}


Checker::Checker(const SimTime& time, Store& truth, Trace& trace, std::vector<JobDefinition> defs,
                 CheckerOptions options)
    : time_(time), truth_(truth), trace_(trace), options_(options) {
  for (auto& def : defs) {
    job_index_[def.job] = static_cast<int>(jobs_.size());
    JobTrack j;
    if (!def.schedule.empty()) {
      auto schedule = Schedule::Parse(def.schedule, def.time_zone);
      if (schedule.ok()) j.schedule = std::move(*schedule);
    }
    j.def = std::move(def);
    jobs_.push_back(std::move(j));
  }
}

void Checker::AddActor(int actor, ActorKind kind, int64_t skew_ms, std::optional<ClockSource> clock) {
  ActorTrack a;
  a.kind = kind;
  a.skew_ms = skew_ms;
  a.clock = std::move(clock);
  actors_[actor] = a;
}

Checker::ClockView Checker::ViewOf(int actor) const {
  const ActorTrack& a = actors_.at(actor);
  if (!a.clock) return {};
  const std::optional<ClockEstimate> e = a.clock->last_view();
  if (!e) return {};
  return {e->offset_ms, e->uncertainty_ms};
}

EpochMs Checker::EarliestAt(int actor, EpochMs local) const {
  const ClockView v = ViewOf(actor);
  return local - v.offset - v.u;
}

EpochMs Checker::LatestAt(int actor, EpochMs local) const {
  const ClockView v = ViewOf(actor);
  return local - v.offset + v.u;
}

void Checker::Fail(int invariant, std::string what, const char* known_bug) {
  trace_.Add(time_.now(), [&] { return fmt::format("VIOLATION of invariant {}: {}", invariant, what); });
  if (known_bug != nullptr && options_.tolerate_known_bugs) {
    ++counters_[std::string("known_bug_") + known_bug];
    if (!known_bugs_.contains(known_bug)) {
      known_bugs_[known_bug] = KnownBugExample{Violation{invariant, std::move(what)}, trace_.Tail(), step_};
    }
    return;
  }
  if (invariant == 1 && options_.tolerate_exclusion) {
    ++exclusion_violations_;
    if (!first_exclusion_) {
      first_exclusion_ = Violation{invariant, std::move(what)};
      trace_at_exclusion_ = trace_.Tail();
    }
    return;
  }
  if (first_) return;
  first_ = Violation{invariant, std::move(what)};
  trace_at_violation_ = trace_.Tail();
}

int64_t Checker::ViewSlack(int actor) const {
  return actors_.at(actor).clock ? 2 * (ViewOf(actor).u + 1'000) : 0;
}

bool Checker::Working(const ActorTrack& a) const {
  return a.holder && !a.holder->stopped && !a.holder->evicted &&
         time_.now() + a.skew_ms < a.holder->lease_until;
}

int Checker::JobIndex(const std::string& name) const {
  auto it = job_index_.find(name);
  return it == job_index_.end() ? -1 : it->second;
}

std::optional<JobState> Checker::TrueState(int job) const {
  auto s = truth_.ReadState(jobs_[static_cast<size_t>(job)].def.job);
  return s.ok() ? *s : std::nullopt;
}

std::optional<RequestRecord> Checker::TrueRequest(int job, const std::string& key) const {
  auto r = truth_.ReadRequest(jobs_[static_cast<size_t>(job)].def.job, key, kReadExpiredToo);
  return r.ok() ? *r : std::nullopt;
}

// ------------------------------------------------------------ reports

void Checker::BeginInvocation(int actor, int job, bool scheduled) {
  EndInvocation(actor);
  actors_.at(actor).job = job;
  actors_.at(actor).scheduled = scheduled;
}

void Checker::EndInvocation(int actor) {
  ActorTrack& a = actors_.at(actor);
  ++a.epoch;
  a.holder.reset();
  a.log_run.clear();
  a.log_fence = 0;
}

void Checker::BeginOperatorOp(int actor, OperatorOp op, int job) {
  ActorTrack& a = actors_.at(actor);
  ++a.epoch;
  a.op = op;
  a.op_job = job;
  a.op_writes = 0;
}

void Checker::OnAcquire(const CallContext& c, const RunRequest& req, const Result<Acquisition>& r) {
  ++counters_["acquire_calls"];
  if (!r.ok()) {
    ++counters_["acquire_errors"];
    if (!c.faulted && !c.interleaved) Fail(7, "Acquire failed without a store fault: " + r.status().ToString());
    return;
  }
  if (r->lease) return CheckGrant(c, req, *r->lease);
  if (r->outcome.kind != RunOutcomeKind::kSkipped) return Fail(0, "Acquire without a lease and not skipped");
  ++counters_[std::string("skip_") + SkipReasonName(r->outcome.reason)];
  // With nobody else acting during the call, the state read before it says
  // exactly why the gate may skip: anything else is a false skip, and a
  // false "running" is a crashed holder's job that cannot be acquired.
  if (!c.interleaved) CheckSkipJustified(c, req, r->outcome);
}

void Checker::CheckGrant(const CallContext& c, const RunRequest& req, const Lease& lease) {
  ActorTrack& a = actors_.at(c.actor);
  JobTrack& j = jobs_[static_cast<size_t>(c.job)];
  ++counters_["grants"];
  if (a.log_run != lease.run_id() || a.log_fence != lease.fence()) {
    Fail(7, fmt::format("Acquire granted fence {} but the store recorded fence {} for this invocation", lease.fence(),
                        a.log_fence));
  }
  auto st = TrueState(c.job);
  if (!c.interleaved && !(st && st->status == JobStatus::kRunning && st->owner == lease.run_id() &&
                          st->fence == lease.fence())) {
    Fail(7, "Acquire granted a lease the store does not show: " + Brief(st));
  }
  // A scheduled invocation's slot is the one its acquisition claimed.
  const EpochMs slot = req.slot ? *req.slot : lease.slot();
  if (req.scheduled && (slot == 0 || slot != runs_[lease.run_id()].slot)) {
    Fail(3, fmt::format("a scheduled lease of {} (fence {}) names slot {}, its acquisition claimed {}", j.def.job,
                        lease.fence(), slot, runs_[lease.run_id()].slot));
  }
  if (slot != 0 && !j.granted_slots.insert(slot).second) {
    Fail(3, fmt::format("slot {} of {} granted a second time (fence {})", FormatRfc3339(slot), j.def.job,
                        lease.fence()));
  }
  if (req.scheduled) ++counters_["scheduled_grants"];
  if (!req.request_id.empty()) {
    auto done = j.completed.find(req.request_id);
    // (Lenient: the latest store time the grant can have judged expiry at.)
    const EpochMs end = LatestAt(c.actor, c.clock_end);
    if (done != j.completed.end() && done->second.expires_at_ms > end) {
      Fail(6, fmt::format("request {} runs again (fence {}) although it completed (fence {}) and its record lives",
                          req.request_id, lease.fence(), done->second.fence));
    }
    // Invariant 6 by effect: a run of this request was counted, and its
    // record (had it been written) would still live.
    auto counted = j.counted_requests.find(req.request_id);
    if (counted != j.counted_requests.end() && counted->second.second + j.def.request_ttl_ms > end) {
      Fail(6, fmt::format("request {} runs again (fence {}) after fence {} ran it and was counted", req.request_id,
                          lease.fence(), counted->second.first));
    }
    runs_[lease.run_id()].request_id = req.request_id;
    auto rec = TrueRequest(c.job, req.request_id);
    if (!c.interleaved && !(rec && rec->status == RequestStatus::kInProgress && rec->owner == lease.run_id())) {
      Fail(7, "Acquire granted a lease before claiming request " + req.request_id);
    }
  }
  const RunTrack& granted = runs_[lease.run_id()];
  if (granted.local_start < c.clock_start || granted.local_start > c.clock_end) {
    Fail(4, "the lease's start is not the acquirer's clock during Acquire");
  }
  CheckRateLimit(c.job, granted.rate_stamp);
  // The operator may have unlocked the run before Acquire even returned.
  a.holder = Holder{c.job, lease.run_id(), lease.fence(), lease.lease_until(), false, runs_[lease.run_id()].evicted};
}

// The limiter works on the stamps it stores (the acquirers' clocks, or the
// latest store time they could place), so that is where "never more than
// count in any window" is checked; in true time it can be exceeded by the
// clock skew between acquirers whose store does not report time.
void Checker::CheckRateLimit(int job, EpochMs stamp) {
  JobTrack& j = jobs_[static_cast<size_t>(job)];
  const int64_t count = j.def.rate_limit_count;
  j.granted_stamps.insert(stamp);
  if (count <= 0) return;
  std::vector<EpochMs> v(j.granted_stamps.begin(), j.granted_stamps.end());
  for (size_t i = 0; i + static_cast<size_t>(count) < v.size(); ++i) {
    if (v[i + static_cast<size_t>(count)] - v[i] < j.def.rate_limit_window_ms) {
      std::string stamps;
      for (size_t k = i; k <= i + static_cast<size_t>(count); ++k) stamps += fmt::format("{} ", v[k] - kSimEpochMs);
      return Fail(4,
                  fmt::format("rate limit of {} per {} ms exceeded on {}: starts {}", count,
                              j.def.rate_limit_window_ms, j.def.job, stamps),
                  /*known_bug=*/nullptr);  // fixed in gate.cc: no longer tolerated
    }
  }
}

void Checker::CheckSkipJustified(const CallContext& c, const RunRequest& req, const Outcome& out) {
  const JobDefinition& def = jobs_[static_cast<size_t>(c.job)].def;
  const auto& st = c.state_before;
  // The gate read the earliest store time its view allowed, at or after this
  // (for scheduled invocations, allowing for a view refined since).
  const EpochMs clock = EarliestAt(c.actor, c.clock_start) - (req.scheduled ? ViewSlack(c.actor) : 0);
  bool live_holder = st && st->status == JobStatus::kRunning && clock <= st->lease_until + def.max_clock_skew_ms;
  bool ok = false;
  switch (out.reason) {
    case SkipReason::kRunning:
      // overlap = replace takes the job from a live holder, unless a pause
      // was requested while it runs.
      ok = live_holder && (!req.scheduled || def.overlap == Overlap::kSkip || !st->paused_reason.empty());
      break;
    case SkipReason::kPaused:
      ok = st && (st->status == JobStatus::kPaused || (st->status == JobStatus::kRunning && !st->paused_reason.empty()));
      break;
    case SkipReason::kCooldown:
      ok = st && clock < st->next_allowed_run;
      break;
    case SkipReason::kRateLimited:
      ok = st && def.rate_limit_count > 0 &&
           StampsAfter(st->rate_history, clock - def.rate_limit_window_ms) >= def.rate_limit_count;
      break;
    case SkipReason::kSlotDone:
      ok = req.scheduled ? ScheduledSkipJustified(c, out) : req.slot && st && *req.slot <= st->last_slot;
      break;
    case SkipReason::kDuplicate: {
      const auto& rb = c.request_before;
      // The last commit ran this request (the state names it) ...
      // (Expiry is judged with the skew allowance: the commit's stamp is
      // its writer's clock.)
      // The state names it: the last commit, or one kept unsettled.
      bool committed = st && CommittedRunOf(*st, req.request_id, def.request_ttl_ms + def.max_clock_skew_ms, clock);
      // ... or its record says COMPLETED, or the live holder claimed it.
      ok = committed || (rb && (rb->status == RequestStatus::kCompleted || (live_holder && st->owner == rb->owner)));
      break;
    }
    case SkipReason::kMissed:  // only scheduled invocations miss slots
      ok = req.scheduled && ScheduledSkipJustified(c, out);
      break;
    case SkipReason::kLostRace:
    case SkipReason::kNone:
      ok = false;  // nobody else acted, so there was no race to lose
      break;
  }
  if (ok) return;
  // Store faults alone can use up a small cas_attempts (below
  // store_error_attempts): the controller then says lost_race, not error.
  // Nothing runs, so it fails closed; it only names the wrong cause.
  if (out.reason == SkipReason::kLostRace && c.faulted) {
    ++counters_["finding_lost_race_reported_for_store_faults"];
    return;
  }
  Fail(5, fmt::format("a{} skipped as '{}' at clock {} with nobody else acting, but the store said {}{}", c.actor,
                      SkipReasonName(out.reason), clock - kSimEpochMs, Brief(st),
                      st && st->status == JobStatus::kRunning
                          ? fmt::format(" (lease_until {} + max_clock_skew {})", st->lease_until - kSimEpochMs,
                                        def.max_clock_skew_ms)
                          : std::string()));
}

void Checker::OnHeartbeat(const CallContext& c, const Lease& lease, const Result<HeartbeatResult>& r) {
  ActorTrack& a = actors_.at(c.actor);
  if (!r.ok()) {
    ++counters_["heartbeat_errors"];
    if (!c.faulted && !c.interleaved) Fail(7, "Heartbeat failed without a store fault: " + r.status().ToString());
    return;
  }
  auto st = TrueState(c.job);
  bool ours = st && st->status == JobStatus::kRunning && st->owner == lease.run_id() && st->fence == lease.fence();
  if (*r == HeartbeatResult::kExtended) {
    ++counters_["heartbeats_extended"];
    if (a.holder) a.holder->lease_until = lease.lease_until();
    // Published from the latest store time; its own deadline from its clock.
    const ClockView v = a.write_view;
    if (!c.interleaved && !(ours && st->lease_until == lease.lease_until() - v.offset + v.u)) {
      Fail(1, "a heartbeat reported the lease extended, but the store shows " + Brief(st));
    }
    return;
  }
  ++counters_["heartbeats_lost"];
  if (!c.interleaved && ours) Fail(7, "a heartbeat reported the lease lost, but the store shows it ours");
}

void Checker::OnCommit(const CallContext& c, const Lease& lease, const WorkResult& work, const Result<Outcome>& r) {
  if (!r.ok()) {
    ++counters_["commit_errors"];
    // Unlocked by the operator and then committed over by a later run, a
    // commit whose conflict might hide its own applied write cannot tell
    // which happened when the unlock's "abandoned" record is missing: it
    // says "unknown", rightly.
    // So can one taken over within its own lease by a clock beyond the
    // allowance (the beyond-skew class, where that is the point).
    if (runs_[lease.run_id()].evicted || options_.tolerate_exclusion) {
      ++counters_[runs_[lease.run_id()].evicted ? "commit_unknown_after_unlock" : "commit_error_beyond_skew"];
      return;
    }
    if (!c.faulted && !c.interleaved) Fail(7, "Commit failed without a store fault: " + r.status().ToString());
    return;
  }
  const RunTrack& run = runs_[lease.run_id()];
  switch (r->kind) {
    case RunOutcomeKind::kSucceeded:
    case RunOutcomeKind::kFailed:
    case RunOutcomeKind::kTimedOut: {
      ++counters_[std::string("commit_") + RunOutcomeName(r->kind)];
      bool wanted_success = work.kind == WorkResult::Kind::kSucceeded;
      if ((r->kind == RunOutcomeKind::kSucceeded) != wanted_success) Fail(7, "Commit reported another outcome than the work's");
      if (!run.committed || *run.committed != CommitName(r->kind)) {
        Fail(7, fmt::format("Commit reported {} for fence {} before (or without) persisting it", RunOutcomeName(r->kind),
                            lease.fence()));
      }
      if (!lease.request_id().empty()) {
        // Done means: COMPLETED by this run, or named by the state as the
        // last commit's request (its completion record follows).
        auto rec = TrueRequest(c.job, lease.request_id());
        auto st = TrueState(c.job);
        // (A completion the next commit settled over an expired claim does not name the run, only its fence.)
        bool completed = rec && rec->status == RequestStatus::kCompleted && rec->fence == lease.fence();
        bool pending = false;
        for (const CommittedRun& named : st ? CommittedRuns(*st) : std::vector<CommittedRun>()) {
          pending = pending || (named.fence == lease.fence() && named.key == lease.request_id());
        }
        // A run that outlives request_ttl outlives its claim: once the
        // record has expired, invariant 6 no longer holds it.
        bool expired = rec && rec->owner == lease.run_id() && rec->expires_at_ms <= LatestAt(c.actor, c.clock_end);
        if (expired && !completed && !pending) ++counters_["request_expired_before_completion"];
        // Its completion landed, then the record outlived request_ttl and
        // was claimed again (a report delayed past the TTL: seed 1150541 of
        // observed_offset, frozen 87 s inside Commit with a 25 s TTL).
        const bool completed_then_expired =
            run.request_completed && rec && rec->fence > lease.fence() && !completed && !pending;
        if (completed_then_expired) ++counters_["request_completed_then_claimed_again_before_report"];
        if (!completed && !pending && !expired && !completed_then_expired) {
          Fail(7, "Commit reported an outcome before request " + lease.request_id() + " was completed");
        }
      }
      return;
    }
    case RunOutcomeKind::kLeaseLost:
      ++counters_["commit_lease_lost"];
      return CheckLeaseLostReport(c, lease, run);
    default:
      Fail(0, std::string("Commit returned ") + RunOutcomeName(r->kind));
  }
}

// "lease_lost" means "not counted": neither the state nor the request
// record may say otherwise.
void Checker::CheckLeaseLostReport(const CallContext& c, const Lease& lease, const RunTrack& run) {
  if (run.committed) {
    Fail(2, fmt::format("Commit reported lease_lost (\"not counted\") for fence {}, but its commit applied and "
                        "was counted as {}: the store's counters and the reported outcomes disagree",
                        lease.fence(), *run.committed));
  }
  auto rec = lease.request_id().empty() ? std::nullopt : TrueRequest(c.job, lease.request_id());
  // The request record now tells every later duplicate an outcome that
  // the job's state never counted. (A run that was counted after all is
  // the report's fault, above, not the record's.)
  if (!run.committed && rec && rec->status == RequestStatus::kCompleted && rec->owner == lease.run_id()) {
    Fail(7, fmt::format("request {} stored as COMPLETED ({}) by fence {}, whose commit was rejected as "
                        "lease_lost: duplicates get an outcome that was never persisted",
                        lease.request_id(), RecordedOutcomeName(rec->outcome), lease.fence()));
  }
}

void Checker::OnOperator(const CallContext& c, OperatorOp op, const Status& s) {
  ActorTrack& a = actors_.at(c.actor);
  ++counters_[std::string("operator_") + OperatorOpName(op)];
  if (!s.ok() && s.code() != StatusCode::kNotFound && !c.faulted && !c.interleaved) {
    Fail(7, fmt::format("operator {} failed without a store fault: {}", OperatorOpName(op), s.ToString()));
  }
  ++a.epoch;
  a.op = OperatorOp::kNone;
  a.op_job = -1;
}

void Checker::OnStopped(int actor) {
  ActorTrack& a = actors_.at(actor);
  if (a.holder) a.holder->stopped = true;
}

void Checker::OnCrash(int actor) {
  ActorTrack& a = actors_.at(actor);
  ++counters_["crashes"];
  if (!a.holder) return;
  const JobDefinition& def = jobs_[static_cast<size_t>(a.holder->job)].def;
  auto st = TrueState(a.holder->job);
  // Liveness starts here: the stored lease of a crashed holder ends within
  // one lease of the crash on its own clock (on the latest store time it
  // placed, when its store reports time); a taker waits max_clock_skew more.
  const ClockView v = a.write_view;
  if (st && st->owner == a.holder->run_id && st->lease_until > ClockOf(actor) - v.offset + v.u + def.lease_ms) {
    Fail(5, fmt::format("a crashed holder's stored lease ends at {}, beyond its clock {} (placed at {:+} +-{}) + lease {}",
                        st->lease_until - kSimEpochMs, ClockOf(actor) - kSimEpochMs, -v.offset, v.u, def.lease_ms));
  }
  a.holder->stopped = true;
}

void Checker::OnResourceWrite(int actor) {
  ActorTrack& a = actors_.at(actor);
  if (!a.holder || a.holder->stopped || ClockOf(actor) >= a.holder->lease_until) {
    return Fail(0, "harness: a holder that is not working wrote to the fenced resource");
  }
  JobTrack& j = jobs_[static_cast<size_t>(a.holder->job)];
  if (a.holder->fence < j.resource_fence) {
    if (a.holder->evicted) {
      ++counters_["resource_rejected_unlocked_holder"];  // the fence doing its job
      return;
    }
    return Fail(1, fmt::format("fenced resource of {} got a write with fence {} after fence {} wrote: a stale holder "
                               "still works",
                               j.def.job, a.holder->fence, j.resource_fence));
  }
  j.resource_fence = a.holder->fence;
  ++counters_["resource_writes"];
}

// ------------------------------------------------------------ after a step

void Checker::AfterStep() { CheckExclusion(); }

void Checker::AtEnd() {
  CheckStoreMatchesLog();
  CheckSlotsAccounted();
}

// Every write goes through the recorder, so this is the harness checking
// itself; the counters are checked against the applied commits at each
// write (CheckCommonWrite).
void Checker::CheckStoreMatchesLog() {
  for (size_t i = 0; i < jobs_.size(); ++i) {
    auto st = TrueState(static_cast<int>(i));
    if (st != jobs_[i].last) Fail(0, "store differs from the recorded writes: " + Brief(st));
  }
}

// Invariant 1, stated in true time t. Host H's clock reads t + s_H. A
// holder H works while t + s_H < L, L being its own deadline from the last
// lease_until it wrote and knows (Lease::lease_until; a heartbeat that
// failed leaves the older, smaller L, so not knowing errs on the safe side).
// A taker T may take over only once t + s_T > L' + max_clock_skew, reading
// the stored L' >= L (L plus H's slack, when H knows it lags the store). So
// H has stopped by t = L - s_H and T starts after
// t = L' + max_clock_skew - s_T: no overlap whenever
// s_T - s_H - (L' - L) <= max_clock_skew. Without observed offsets the
// guarantee is about pairs of clocks: with every two hosts' clocks within
// max_clock_skew of each other, at any true time at most one holder of a
// job is working. With them, each host keeps to its half (takers ahead by
// more refuse, holders behind by more add the excess as slack), and the
// bound holds for any skews. Holders the operator `unlock`ed are not
// counted: they are evicted on purpose, and their fence keeps them out.
// Checking after every step suffices: a holder only starts (or resumes)
// working when a call returns, which ends a step.
void Checker::CheckExclusion() {
  for (size_t job = 0; job < jobs_.size(); ++job) {
    std::vector<int> working;
    for (const auto& [id, a] : actors_) {
      if (a.holder && a.holder->job == static_cast<int>(job) && Working(a)) working.push_back(id);
    }
    if (working.size() < 2) continue;
    std::string who;
    for (int id : working) {
      const auto& h = *actors_.at(id).holder;
      who += fmt::format("a{} fence {} clock {} lease_until {}; ", id, h.fence, ClockOf(id) - kSimEpochMs,
                         h.lease_until - kSimEpochMs);
    }
    Fail(1, fmt::format("{} working holders of {} at true time {}: {}", working.size(), jobs_[job].def.job,
                        time_.now() - kSimEpochMs, who));
  }
}

}  // namespace jobgate::sim
