// The checker's half that judges writes: every state or request-record
// write that applied is checked to be one of the DESIGN.md transitions,
// computed from the item really stored and made by an actor entitled to it.
#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "core/request_ledger.h"
#include "sim/checker.h"
#include "sim/state_text.h"

namespace jobgate::sim {

void Checker::OnWriteDelayed(int actor, int64_t token) {
  const ActorTrack& a = actors_.at(actor);
  delayed_[token] = DelayedWrite{a.epoch, a, ViewOf(actor)};
}

// A late write that lands while the call that sent it is still under way
// (the caller re-reads and may recognise it) belongs to that call, as any
// write does; one that lands after is judged by what its call was: an
// invocation's run, or an operator's action.
Checker::ActorTrack& Checker::WriterTrack(int actor, int64_t delayed) {
  ActorTrack& a = actors_.at(actor);
  auto it = delayed_.find(delayed);
  if (delayed == 0 || it == delayed_.end()) return a;
  if (it->second.epoch == a.epoch) {
    ++counters_["late_writes_landed_within_their_call"];
    return a;
  }
  ++counters_["late_writes_landed_after_their_call"];
  return it->second.sender;
}

void Checker::OnStateWrite(const StateWrite& w) {
  int job = JobIndex(w.after.job);
  if (job < 0 || !actors_.contains(w.actor)) {
    return Fail(0, fmt::format("write to job '{}' by unknown actor {}", w.after.job, w.actor));
  }
  ActorTrack& writer = WriterTrack(w.actor, w.delayed);
  JobTrack& j = jobs_[static_cast<size_t>(job)];
  if (w.before != j.last) {
    Fail(0, fmt::format("job {} changed without a recorded write: expected {}, found {}", w.after.job,
                        Brief(j.last), Brief(w.before)));
  }
  JobState before = w.before.value_or(JobState{});
  before.job = w.after.job;
  trace_.Add(time_.now(), [&] { return fmt::format("a{} wrote {}: {} -> {}", w.actor, w.after.job, Brief(w.before),
                                      Brief(w.after)); });
  CheckCommonWrite(j, w, before);
  // The clock view the write was computed with: the writer's last, or, for
  // a late write, the one it had when it sent it.
  auto late = delayed_.find(w.delayed);
  writer.write_view = w.delayed != 0 && late != delayed_.end() ? late->second.view : ViewOf(w.actor);
  if (writer.kind == ActorKind::kInvoker) {
    CheckInvokerWrite(job, writer, w, before);
  } else {
    CheckOperatorWrite(job, writer, w, w.before);
  }
  j.last = w.after;
}

void Checker::CheckCommonWrite(const JobTrack& j, const StateWrite& w, const JobState& before) {
  const JobState& s = w.after;
  // Every write is a CAS on the version it read: a write whose version is
  // not the stored one + 1 was computed from a stale read (a lost update).
  if (s.version != before.version + 1) {
    Fail(2, fmt::format("lost update on {}: a{} wrote version {} over stored version {} (computed from a stale read)",
                        j.def.job, w.actor, s.version, before.version));
  }
  if (!CountersConsistent(s)) Fail(2, fmt::format("counter invariant broken by a{}: {}", w.actor, Brief(s)));
  // The store's counters are the tally of the commits that applied (this
  // write's own commit, if it is one, is tallied by CheckCommitWrite).
  const int64_t done = (s.success_count - before.success_count) + (s.failure_count - before.failure_count);
  if (before.success_count != j.logged_success || before.failure_count != j.logged_failure || done > 1) {
    Fail(2, fmt::format("{} counts {} successes / {} failures, the applied commits {} / {}", j.def.job,
                        s.success_count, s.failure_count, j.logged_success, j.logged_failure));
  }
  if (s.fence < before.fence) {
    Fail(1, fmt::format("fence went back on {}: {} -> {} (a{})", j.def.job, before.fence, s.fence, w.actor));
  }
  if (s.success_count < before.success_count || s.failure_count < before.failure_count) {
    Fail(2, fmt::format("finished-run counters went back on {} (a{}): {} -> {}", j.def.job, w.actor, Brief(before),
                        Brief(s)));
  }
  if ((s.status == JobStatus::kRunning) == s.owner.empty()) {
    Fail(2, fmt::format("status and owner disagree after a{}'s write: {}", w.actor, Brief(s)));
  }
}

void Checker::CheckInvokerWrite(int job, ActorTrack& a, const StateWrite& w, const JobState& before) {
  if (w.after.fence > before.fence) return CheckAcquisition(job, a, w, before);
  // A scheduled invocation that did not acquire records what became of the
  // due slots (SlotBookkeeping); the holder's own writes are the others.
  const bool holders = !a.log_run.empty() && before.status == JobStatus::kRunning && before.owner == a.log_run;
  if (a.scheduled && !holders) return CheckBookkeeping(job, a, w, before);
  // Any other invoker write (heartbeat, commit, rollback) must come from the
  // run that holds the job: a stale holder's write must never apply.
  if (a.log_run.empty() || before.status != JobStatus::kRunning || before.owner != a.log_run ||
      before.fence != a.log_fence) {
    return Fail(1, fmt::format("a stale holder's write applied: a{} (fence {}) wrote over {}", w.actor, a.log_fence,
                               Brief(before)));
  }
  JobTrack& j = jobs_[static_cast<size_t>(job)];
  if (w.after.run_count == before.run_count - 1) return CheckRollback(j, w, before);
  if (w.after.status == JobStatus::kRunning) return CheckHeartbeatWrite(j, a.write_view, w, before);
  CheckCommitWrite(j, a.write_view, w, before);
}

void Checker::CheckAcquisition(int job, ActorTrack& a, const StateWrite& w, const JobState& before) {
  JobTrack& j = jobs_[static_cast<size_t>(job)];
  const JobDefinition& def = j.def;
  const JobState& s = w.after;
  // Stamped `best`: the earliest and latest store time its view allowed
  // are t -+ u (an actor whose store does not report time: u = 0).
  const EpochMs t = s.last_run_ts;
  const ClockView v = a.write_view;
  const EpochMs earliest = t - v.u;
  const bool takeover = before.status == JobStatus::kRunning;
  const bool scheduled = a.scheduled && j.schedule;
  // overlap = replace: a scheduled run takes the job from a live holder.
  const bool replace = scheduled && def.overlap == Overlap::kReplace && before.paused_reason.empty();
  if (s.fence != before.fence + 1) Fail(1, fmt::format("fence jumped {} -> {}", before.fence, s.fence));
  if (before.status == JobStatus::kPaused) Fail(4, fmt::format("a{} acquired a PAUSED job: {}", w.actor, Brief(before)));
  if (takeover && earliest <= before.lease_until + def.max_clock_skew_ms && !replace) {
    Fail(1, fmt::format("a{} took over a live lease at {} (-{}) <= lease_until {} + max_clock_skew {}", w.actor,
                        t - kSimEpochMs, v.u, before.lease_until - kSimEpochMs, def.max_clock_skew_ms));
  }
  if (takeover && !before.paused_reason.empty()) Fail(4, "took over a job paused while it ran");
  if (earliest < before.next_allowed_run) {
    Fail(4, fmt::format("a{} acquired at {} (-{}) before next_allowed_run {}", w.actor, t - kSimEpochMs, v.u,
                        before.next_allowed_run - kSimEpochMs));
  }
  if (a.clock) CheckStoreTimeAcquisition(a, w, before);
  if (s.last_slot != before.last_slot && s.last_slot < before.last_slot) {
    Fail(3, fmt::format("slot went back: {} -> {}", before.last_slot, s.last_slot));
  }
  if (scheduled) CheckScheduledClaim(job, a, w, before, earliest);
  if (def.rate_limit_count > 0 &&
      StampsAfter(before.rate_history, earliest - def.rate_limit_window_ms) >= def.rate_limit_count) {
    Fail(4, fmt::format("a{} acquired at {} over the rate limit ({} in {} ms): history {}", w.actor, t - kSimEpochMs,
                        def.rate_limit_count, def.rate_limit_window_ms, fmt::join(before.rate_history, ",")));
  }
  if (t > ClockOf(w.actor) - v.offset) Fail(4, "acquisition stamped in the acquirer's future");
  if (def.rate_limit_count > 0) NoteRateEviction(j, before, s, t + v.u);
  JobState want = before;
  want.status = JobStatus::kRunning;
  want.owner = s.owner;
  want.holder = s.holder;
  want.fence = before.fence + 1;
  want.lease_until = t + v.u + def.lease_ms;
  want.run_count = before.run_count + 1;
  want.abandoned_count = before.abandoned_count + (takeover ? 1 : 0);
  want.last_run_ts = t;
  want.last_slot = s.last_slot;
  want.next_fire_ts = scheduled ? s.next_fire_ts : want.next_fire_ts;  // checked by CheckScheduledClaim
  want.slots_missed = scheduled ? s.slots_missed : want.slots_missed;
  want.rate_history = s.rate_history;
  want.version = before.version + 1;
  want.updated_at = t;
  if (s != want) Fail(2, "acquisition wrote fields it must not: " + Diff(want, s));
  if (s.owner.empty() || s.owner == before.owner) Fail(2, "acquisition without a new owner");
  if (a.clock && std::abs(a.skew_ms) > def.max_clock_skew_ms / 2) {
    ++counters_[takeover ? "takeovers_by_clocks_beyond_share" : "acquisitions_by_clocks_beyond_share"];
  }
  if (takeover) {
    const bool live = earliest <= before.lease_until + def.max_clock_skew_ms;
    if (replace && live) ++counters_["slots_replacing_a_live_run"];
    EvictOwner(job, before, /*by_design=*/replace && live, "replace");
  }
  NoteAcquisition(job, a, w, before, scheduled ? s.last_slot : 0);
}

// The run an acquisition started, as the checks of its later writes and
// reports need it.
void Checker::NoteAcquisition(int job, ActorTrack& a, const StateWrite& w, const JobState& before, EpochMs slot) {
  const JobState& s = w.after;
  const ClockView v = a.write_view;
  a.log_run = s.owner;
  a.log_fence = s.fence;
  jobs_[static_cast<size_t>(job)].acquired_from[s.fence] = before;
  RunTrack run;
  run.job = job;
  run.actor = w.actor;
  run.fence = s.fence;
  run.local_start = s.last_run_ts + v.offset;
  run.rate_stamp = s.last_run_ts + v.u;
  run.slot = slot;
  runs_[s.owner] = run;  // a fresh run (a re-acquisition under the same id starts over)
  ++counters_[before.status == JobStatus::kRunning ? "takeovers" : "acquisitions_from_idle"];
}

// An actor whose store reports time works in it, so the gate holds in the
// store's time, which is the simulation's true time, exactly: no
// acquisition before next_allowed_run in true time. It holds because the
// actor counted its uncertainty; an actor told it is certain when it is not
// (the self-test) breaks it. The honest estimate must hold the true offset.
void Checker::CheckStoreTimeAcquisition(const ActorTrack& a, const StateWrite& w,
                                        const JobState& before) {
  const EpochMs local = w.after.last_run_ts + a.write_view.offset;  // its clock when it stamped
  const EpochMs true_t = local - a.skew_ms;
  if (auto honest = a.clock->honest(); honest && std::abs(honest->offset_ms - a.skew_ms) > honest->uncertainty_ms) {
    Fail(0, fmt::format("a{}'s estimate {:+} +-{} does not hold its true offset {:+}", w.actor, honest->offset_ms,
                        honest->uncertainty_ms, a.skew_ms));
  }
  if (true_t < before.next_allowed_run) {
    Fail(4, fmt::format("a{} acquired at true time {} before next_allowed_run {} (its clock {:+}, placed {:+} +-{})",
                        w.actor, true_t - kSimEpochMs, before.next_allowed_run - kSimEpochMs, a.skew_ms,
                        a.write_view.offset, a.write_view.u));
  }
}

// With skewed clocks the stamps arrive out of order; a limiter that drops
// the first-appended stamp rather than the oldest one forgets a start that
// is still inside the window.
void Checker::NoteRateEviction(JobTrack& j, const JobState& before, const JobState& after, EpochMs stamp) {
  std::multiset<EpochMs> dropped;
  for (EpochMs t : before.rate_history) dropped.insert(t);
  dropped.insert(stamp);
  const std::vector<EpochMs>& kept = after.rate_history;
  for (EpochMs t : kept) {
    auto it = dropped.find(t);
    if (it != dropped.end()) dropped.erase(it);
  }
  if (dropped.empty() || kept.empty()) return;
  if (*dropped.rbegin() > *std::min_element(kept.begin(), kept.end())) {
    j.rate_evicted_newer = true;
    ++counters_["rate_history_evicted_newer_stamp"];
  }
}

void Checker::CheckHeartbeatWrite(const JobTrack& j, const ClockView& view, const StateWrite& w,
                                  const JobState& before) {
  const JobState& s = w.after;
  JobState want = before;
  want.lease_until = s.updated_at + view.u + j.def.lease_ms;
  want.version = before.version + 1;
  want.updated_at = s.updated_at;
  if (s != want) Fail(2, "heartbeat wrote fields it must not: " + Diff(want, s));
  ++counters_["heartbeat_writes"];
}

void Checker::CheckCommitWrite(JobTrack& j, const ClockView& view, const StateWrite& w, const JobState& before) {
  const JobState& s = w.after;
  const JobDefinition& def = j.def;
  const bool success = s.success_count == before.success_count + 1 && s.failure_count == before.failure_count;
  const bool failure = s.failure_count == before.failure_count + 1 && s.success_count == before.success_count;
  if (!success && !failure) return Fail(2, "a commit must count exactly one success or failure: " + Brief(s));
  const EpochMs now = s.updated_at;
  const int64_t u = view.u;  // next_allowed_run counts from now + u
  JobState want = before;
  want.status = before.paused_reason.empty() ? JobStatus::kIdle : JobStatus::kPaused;
  want.owner.clear();
  want.holder.clear();
  want.last_exit_code = s.last_exit_code;
  want.last_duration_ms = std::max<int64_t>(0, now - before.last_run_ts);
  want.last_outcome = success ? RecordedOutcome::kSucceeded : s.last_outcome;
  if (!success && s.last_outcome != RecordedOutcome::kFailed && s.last_outcome != RecordedOutcome::kTimedOut) {
    Fail(2, std::string("a failed commit with last_outcome ") + RecordedOutcomeName(s.last_outcome));
  }
  want.last_fence = before.fence;
  want.last_request_id = runs_[before.owner].request_id;
  // The commit keeps naming the earlier requests it could not settle: only
  // ones the state named before (dropping one is checked by its effect,
  // invariant 6 at the next claim of it).
  want.unsettled_requests = s.unsettled_requests;
  if (!s.unsettled_requests.empty()) ++counters_["commits_keeping_unsettled_requests"];
  const std::vector<CommittedRun> named_before = CommittedRuns(before);
  for (const CommittedRun& kept : ParseUnsettled(s.unsettled_requests)) {
    if (std::find(named_before.begin(), named_before.end(), kept) == named_before.end()) {
      Fail(6, fmt::format("a commit names request {} (fence {}) as done, which the state did not", kept.key,
                          kept.fence));
    }
  }
  if (success) {
    want.success_count += 1;
    want.consecutive_failures = 0;
    want.last_success_ts = now;
    want.next_allowed_run = def.cooldown_ms > 0 ? now + u + def.cooldown_ms : 0;
  } else {
    want.failure_count += 1;
    want.consecutive_failures += 1;
    want.last_failure_ts = now;
    want.last_error = s.last_error;
    want.next_allowed_run = s.next_allowed_run;
    if (s.last_error.empty()) Fail(2, "a failed run without last_error");
    // (0: a backoff of 0 drawn, "any time".)
    if (s.next_allowed_run != 0 && (s.next_allowed_run < now + u || s.next_allowed_run > now + u + def.backoff_cap_ms)) {
      Fail(4, fmt::format("backoff {} ms outside [0, cap {}]", s.next_allowed_run - now - u, def.backoff_cap_ms));
    }
    if (def.park_after > 0 && want.consecutive_failures >= def.park_after) {
      want.status = JobStatus::kPaused;
      want.paused_reason = s.paused_reason;
      if (s.paused_reason.empty()) Fail(2, "parked without a reason");
      ++counters_["parked"];
    }
  }
  want.version = before.version + 1;
  want.updated_at = now;
  if (s != want) Fail(2, "commit wrote fields it must not: " + Diff(want, s));
  RunTrack& run = runs_[before.owner];
  if (run.committed) Fail(2, fmt::format("run {} committed twice", before.owner));
  run.committed = success ? "succeeded" : "failed";
  if (!run.request_id.empty()) j.counted_requests[run.request_id] = {before.fence, now};
  ++(success ? j.logged_success : j.logged_failure);
}

void Checker::CheckRollback(JobTrack& j, const StateWrite& w, const JobState& before) {
  auto it = j.acquired_from.find(before.fence);
  if (it == j.acquired_from.end()) return Fail(2, "rollback of an acquisition never recorded");
  // The state before the acquisition, with the new fence kept (fences never
  // go back): the acquisition never ran, so its slot and rate stamp go too.
  JobState want = it->second;
  // Its slot is claimed no more: it never ran, and stays due.
  if (it->second.last_slot != before.last_slot) j.claimed_slots.erase(before.last_slot);
  want.fence = before.fence;
  want.version = before.version + 1;
  want.updated_at = w.after.updated_at;
  if (w.after != want) Fail(2, "rollback is not the state before the acquisition: " + Diff(want, w.after));
  ++counters_["rollbacks"];
}

void Checker::CheckOperatorWrite(int job, ActorTrack& a, const StateWrite& w, const std::optional<JobState>& before_opt) {
  if (a.op_job != job) return Fail(0, "the operator wrote a job it was not acting on");
  ++a.op_writes;
  JobState before = before_opt.value_or(JobState{});
  before.job = w.after.job;
  const JobState& s = w.after;
  JobState want = before;
  switch (a.op) {
    case OperatorOp::kPause:
      if (before.status != JobStatus::kRunning) want.status = JobStatus::kPaused;
      want.paused_reason = s.paused_reason;
      if (s.paused_reason.empty()) Fail(2, "pause without a reason");
      break;
    case OperatorOp::kResume:
      if (before.status == JobStatus::kPaused) want.status = JobStatus::kIdle;
      if (!before.paused_reason.empty()) want.consecutive_failures = 0;
      want.paused_reason.clear();
      break;
    case OperatorOp::kTrigger:
      want.next_allowed_run = 0;
      break;
    case OperatorOp::kApply:
      want.next_fire_ts = s.next_fire_ts;
      CheckPlacement(jobs_[static_cast<size_t>(job)], a, s);
      break;
    case OperatorOp::kUnlock:
      if (before.status != JobStatus::kRunning) Fail(2, "unlock wrote a job that was not RUNNING");
      want.status = before.paused_reason.empty() ? JobStatus::kIdle : JobStatus::kPaused;
      want.owner.clear();
      want.holder.clear();
      want.abandoned_count += 1;
      EvictOwner(job, before, /*by_design=*/true);
      // One `unlock` command meant the run its operator saw; a retry that
      // unlocks a newer run as well is worth knowing about.
      if (a.op_writes > 1) ++counters_["finding_unlock_evicted_two_runs"];
      break;
    case OperatorOp::kNone:
      return Fail(0, "operator write outside an operator action");
  }
  want.version = before.version + 1;
  want.updated_at = s.updated_at;
  if (s != want) Fail(2, fmt::format("operator {} wrote fields it must not: {}", OperatorOpName(a.op), Diff(want, s)));
}

// The run that held `before` is out: by a takeover (then its holder must
// already have stopped working) or by the operator (fenced out by design).
void Checker::EvictOwner(int job, const JobState& before, bool by_design, const char* why) {
  RunTrack& run = runs_[before.owner];
  if (by_design) run.evicted = true;
  for (auto& [id, a] : actors_) {
    if (a.log_run != before.owner || a.job != job) continue;
    if (by_design) {
      if (a.holder) a.holder->evicted = true;
      ++counters_[fmt::format("{}_evicted_working_holder", why)];
      continue;
    }
    // Still inside Acquire (no holder yet), it will work as soon as it
    // returns if its clock is before lease_until.
    bool live = a.holder ? Working(a)
                         : ClockOf(id) < before.lease_until - a.write_view.u + a.write_view.offset;
    if (!live) continue;
    run.taken_over_live = true;
    ++counters_[a.skew_ms < 0 ? "exclusion_broken_holder_clock_behind" : "exclusion_broken_holder_clock_not_behind"];
    Fail(1, fmt::format("two working holders of {}: fence {} taken over while a{} (fence {}{}, clock skew {:+}) "
                        "still works: its clock {} < its lease_until {}",
                        jobs_[static_cast<size_t>(job)].def.job, before.fence + 1, id, before.fence,
                        a.holder ? "" : ", still inside Acquire", a.skew_ms, ClockOf(id) - kSimEpochMs,
                        before.lease_until - kSimEpochMs));
  }
}

void Checker::OnRequestWrite(const RequestWrite& w) {
  const RequestRecord& r = w.after;
  int job = JobIndex(r.job);
  auto actor = actors_.find(w.actor);
  if (job < 0 || actor == actors_.end() || actor->second.kind != ActorKind::kInvoker) {
    return Fail(0, "request record written by an unknown actor");
  }
  JobTrack& j = jobs_[static_cast<size_t>(job)];
  const ActorTrack& a = WriterTrack(w.actor, w.delayed);
  trace_.Add(time_.now(), [&] { return fmt::format("a{} wrote request {} {} fence {}", w.actor, r.key, RequestStatusName(r.status),
                                      r.fence); });
  // Each run writes its own request record; the one exception is the
  // completion of a request whose run was counted but died before completing
  // it, which the next commit settles (the state names it in last_fence).
  auto counted = j.counted_requests.find(r.key);
  const bool counted_run = counted != j.counted_requests.end() && counted->second.first == r.fence;
  const bool settles = r.status == RequestStatus::kCompleted && counted_run;
  if ((r.owner != a.log_run || r.fence != a.log_fence) && !settles) {
    Fail(6, fmt::format("request {} written for run fence {} by a{} whose acquisition is fence {}", r.key, r.fence,
                        w.actor, a.log_fence));
  }
  // (Lenient: the latest store time the writer's view allows.)
  const EpochMs now = LatestAt(w.actor, ClockOf(w.actor));
  if (w.before && w.before->status == RequestStatus::kCompleted && w.before->expires_at_ms > now) {
    return Fail(6, fmt::format("COMPLETED request {} (fence {}) overwritten while its record lives (until {})", r.key,
                               w.before->fence, w.before->expires_at_ms - kSimEpochMs));
  }
  if (r.status == RequestStatus::kCompleted) {
    if (auto run = runs_.find(r.owner); run != runs_.end() && run->second.fence == r.fence) {
      run->second.request_completed = true;
    }
  }
  if (r.status == RequestStatus::kInProgress) {
    // Only the job's holder claims a request.
    const auto& st = j.last;
    bool holds = st && st->status == JobStatus::kRunning && st->owner == r.owner && st->fence == r.fence;
    const RunTrack& run = runs_[r.owner];
    // The claim comes after the acquisition, as a separate item; a claimant
    // that stalled in between may have lost the job (taken over, or
    // unlocked) and still claim. That is harmless while it overwrites no
    // claim but a dead run's: an INPROGRESS record whose owner does not hold
    // the job blocks nobody. Overwriting the claim of a newer fence (a later
    // acquisition's) or of the live holder would let that run's request run
    // twice.
    bool overwrote = w.before && w.before->status == RequestStatus::kInProgress && w.before->owner != r.owner &&
                     w.before->expires_at_ms > now &&
                     (w.before->fence > r.fence || (st && st->status == JobStatus::kRunning && st->owner == w.before->owner));
    if (!holds && run.taken_over_live) {
      Fail(1, "request " + r.key + " claimed by a run taken over while live (a consequence of two holders)");
    } else if (overwrote) {
      Fail(6, fmt::format("request {} claimed by fence {} ({}), overwriting the live claim of fence {}", r.key,
                          r.fence, holds ? "the holder" : "no longer the holder: " + Brief(st), w.before->fence));
    } else if (!holds) {
      ++counters_["stale_request_claims"];
    }
    runs_[r.owner].claim_version = r.version;
    ++counters_["request_claims"];
    return;
  }
  const bool before_lives = w.before && w.before->expires_at_ms > now;
  if (settles && (!before_lives || w.before->owner != r.owner)) {
    // The next commit settling a completion that never landed, over the
    // record's expired remains or a dead run's older claim.
    ++counters_["request_completions_settled"];
  } else if (!w.before || w.before->status != RequestStatus::kInProgress || w.before->owner != r.owner) {
    // E.g. a stale run's completion, conditioned on its own claim's
    // version, landing on another run's claim of the same version (an ABA
    // after the record expired and was claimed afresh).
    Fail(6, fmt::format("request {} completed by fence {} over fence {}'s claim (version {}), which it had not made",
                        r.key, r.fence, w.before ? w.before->fence : 0, w.before ? w.before->version : 0));
  }
  if (!counted_run) {
    Fail(7, fmt::format("request {} completed by fence {}, whose run was never counted: duplicates would be "
                        "told an outcome that was never persisted", r.key, r.fence));
  }
  j.completed[r.key] = r;
}

}  // namespace jobgate::sim
