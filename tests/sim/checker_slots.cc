// The checker's half for scheduled jobs (invariant 3 with schedules): every
// slot a scheduled invocation claims is a real fire time of the job's
// schedule, due when it was claimed, and claimed once; every write that
// moves next_fire_ts accounts for each fire time it passes (claimed, missed
// or skipped); at the end, every fire time since `apply` placed the
// schedule is accounted for, up to the ones still due; and the due index
// the tickers read is the one DueAt() computes from the states.
#include <algorithm>
#include <limits>
#include <tuple>

#include <fmt/format.h>

#include "core/slots.h"
#include "sim/checker.h"
#include "sim/state_text.h"

namespace jobgate::sim {

namespace {

// The missed counter counts up to this many per write (core/slots.cc); a
// write at the bound says "at least".
constexpr int64_t kMissedBound = 100'000;

}  // namespace

bool Checker::IsFireTime(const JobTrack& j, EpochMs t) const {
  const std::optional<EpochMs> next = j.schedule->NextAfter(t - 1);
  return next && *next == t;
}

int64_t Checker::FiresIn(const JobTrack& j, EpochMs from, EpochMs to, int64_t cap) const {
  int64_t n = 0;
  for (std::optional<EpochMs> t = j.schedule->NextAfter(from - 1); t && *t < to && n < cap;
       t = j.schedule->NextAfter(*t)) {
    ++n;
  }
  return n;
}

// A scheduled acquisition: a new slot, a real fire time, due by the
// earliest store time the acquirer placed (and, working in the store's
// time, by true time), claimed by nobody before.
void Checker::CheckScheduledClaim(int job, const ActorTrack& a, const StateWrite& w, const JobState& before,
                                  EpochMs earliest) {
  JobTrack& j = jobs_[static_cast<size_t>(job)];
  const EpochMs slot = w.after.last_slot;
  const std::string name = fmt::format("slot {} of {}", FormatRfc3339(slot), j.def.job);
  if (slot <= before.last_slot) {
    return Fail(3, fmt::format("a{}'s scheduled acquisition claims no new slot: last_slot {} -> {}", w.actor,
                               FormatRfc3339(before.last_slot), FormatRfc3339(slot)));
  }
  if (!IsFireTime(j, slot)) Fail(3, fmt::format("{} claimed by a{} is no fire time of \"{}\" in {}", name, w.actor,
                                                j.def.schedule, j.def.time_zone));
  if (slot > earliest) {
    Fail(3, fmt::format("{} claimed by a{} before its time: store time {} at the earliest", name, w.actor,
                        FormatRfc3339(earliest)));
  }
  const EpochMs true_stamp = w.after.last_run_ts + a.write_view.offset - a.skew_ms;
  if (a.clock && slot > true_stamp) {
    Fail(3, fmt::format("{} claimed by a{} at true time {}, before it fired", name, w.actor,
                        FormatRfc3339(true_stamp)));
  }
  if (!j.claimed_slots.insert(slot).second) {
    Fail(3, fmt::format("{} claimed a second time, by a{} (fence {})", name, w.actor, w.after.fence));
  }
  ++counters_["slots_claimed"];
  // Across a DST change: the zone's offset differs from a day before.
  auto offset = [&](EpochMs t) {
    const std::string local = FormatLocalRfc3339(t, j.schedule->time_zone());
    return local.substr(local.size() - 6);
  };
  if (j.def.time_zone != "UTC" && offset(slot) != offset(slot - 24 * 3'600'000)) {
    ++counters_["slots_claimed_across_dst"];
  }
  CheckClaimPolicy(j, before, slot, earliest);
  CheckSlotAdvance(j, before, w.after, slot, earliest);
}

// The slot catch_up picks (docs/schedules.md): "latest" and "none" the
// latest due one; "all" the oldest due one within the starting deadline,
// when no more than catch_up_limit are due.
void Checker::CheckClaimPolicy(const JobTrack& j, const JobState& before, EpochMs slot, EpochMs earliest) {
  const Schedule& schedule = *j.schedule;
  const JobDefinition& def = j.def;
  if (def.catch_up != CatchUp::kAll) {
    const std::optional<EpochMs> latest = schedule.LatestAtOrBefore(earliest);
    if (latest != slot) {
      Fail(3, fmt::format("catch_up {} of {} claimed {}, but the latest due slot at {} is {}", CatchUpName(def.catch_up), def.job,
                          FormatRfc3339(slot), FormatRfc3339(earliest), latest ? FormatRfc3339(*latest) : "none"));
    }
    return;
  }
  EpochMs floor = std::max(before.next_fire_ts, before.last_slot + 1);
  if (def.starting_deadline_ms > 0) floor = std::max(floor, earliest - def.starting_deadline_ms);
  const std::optional<EpochMs> oldest = schedule.NextAfter(floor - 1);
  if (!oldest || FiresIn(j, *oldest, earliest + 1, def.catch_up_limit + 1) > def.catch_up_limit) return;
  if (*oldest != slot) {
    Fail(3, fmt::format("catch_up all of {} claimed {}, but the oldest due slot within the deadline is {}", def.job,
                        FormatRfc3339(slot), FormatRfc3339(*oldest)));
  }
}

// A write by a scheduled invocation that did not acquire: slots passed
// over (missed), a due slot that could not run (skipped: a run still
// going, or the rate limit), or a slot fired again after it was claimed
// (deduplicated). Nothing else changes.
void Checker::CheckBookkeeping(int job, const ActorTrack& a, const StateWrite& w, const JobState& before) {
  JobTrack& j = jobs_[static_cast<size_t>(job)];
  const JobState& s = w.after;
  if (!j.schedule) return Fail(2, fmt::format("a{} wrote slot bookkeeping for unscheduled {}", w.actor, j.def.job));
  JobState want = before;
  want.next_fire_ts = s.next_fire_ts;
  want.slots_missed = s.slots_missed;
  want.slots_skipped = s.slots_skipped;
  want.slots_deduplicated = s.slots_deduplicated;
  want.version = before.version + 1;
  want.updated_at = s.updated_at;
  if (s != want) {
    return Fail(2, fmt::format("a{}'s slot bookkeeping wrote fields it must not: {}", w.actor, Diff(want, s)));
  }
  const EpochMs earliest = s.updated_at - a.write_view.u;
  const int64_t dedup = s.slots_deduplicated - before.slots_deduplicated;
  const int64_t skipped = s.slots_skipped - before.slots_skipped;
  if (dedup < 0 || dedup > 1) {
    Fail(2, fmt::format("slots_deduplicated {} -> {}", before.slots_deduplicated, s.slots_deduplicated));
  }
  if (dedup == 1) {
    ++counters_["slot_dedup_writes"];
    const std::optional<EpochMs> latest = j.schedule->LatestAtOrBefore(earliest);
    if (s.next_fire_ts != before.next_fire_ts || s.slots_missed != before.slots_missed || skipped != 0 ||
        before.last_slot == 0 || latest != before.last_slot) {
      Fail(3, fmt::format("a{} counted a duplicate firing of {}, whose latest fire time at {} is {}: {}", w.actor,
                          j.def.job, FormatRfc3339(earliest), latest ? FormatRfc3339(*latest) : "none",
                          Diff(before, s)));
    }
    // A firing of the next slot by a clock ahead of this one (another
    // host's, within the allowance, or the store's within this host's
    // uncertainty) is early, not a duplicate of the claimed one.
    const std::optional<EpochMs> next =
        j.schedule->NextAfter(std::max(before.next_fire_ts, before.last_slot + 1) - 1);  // the first not dealt with
    const EpochMs latest_ms = s.updated_at + a.write_view.u;
    if (next && *next <= latest_ms + j.def.max_clock_skew_ms) {
      Fail(3, fmt::format("a{} counted a firing of {} as a duplicate of slot {}, but the next slot {} may be due by "
                          "then (store time {} at the latest, + max_clock_skew {}): an early firing",
                          w.actor, j.def.job, FormatRfc3339(before.last_slot), FormatRfc3339(*next),
                          FormatRfc3339(latest_ms), j.def.max_clock_skew_ms));
    }
    return;
  }
  // Skipped only while a run goes on (overlap = skip, or a pause was
  // requested while it runs), or for the rate limit.
  const bool may_skip = (before.status == JobStatus::kRunning &&
                         (j.def.overlap == Overlap::kSkip || !before.paused_reason.empty())) ||
                        j.def.rate_limit_count > 0;
  if (skipped == 1 && !may_skip) {
    Fail(3, fmt::format("a{} recorded a slot of {} skipped with nothing to skip it for: {}", w.actor, j.def.job,
                        Brief(before)));
  }
  ++counters_[skipped == 1 ? "slot_skip_writes" : "slot_missed_writes"];
  CheckSlotAdvance(j, before, s, std::nullopt, earliest);
}

// next_fire_ts moves on from `before` to `after`: each fire time it passes
// was due (by the earliest store time the writer placed) and is claimed
// (at most one, `claimed`), missed or skipped, exactly once.
void Checker::CheckSlotAdvance(JobTrack& j, const JobState& before, const JobState& after,
                               std::optional<EpochMs> claimed, EpochMs earliest) {
  if (before.next_fire_ts == 0) {
    ++counters_["slots_placed_by_an_invocation"];  // never placed by apply: nothing was owed yet
    return;
  }
  const EpochMs from = std::max(before.next_fire_ts, before.last_slot + 1);
  const EpochMs to = after.next_fire_ts == 0 ? std::numeric_limits<EpochMs>::max() : after.next_fire_ts;
  const int64_t missed = after.slots_missed - before.slots_missed;
  const int64_t skipped = after.slots_skipped - before.slots_skipped;
  const std::string what = fmt::format("{}: next_fire_ts {} -> {}", j.def.job, FormatRfc3339(before.next_fire_ts),
                                       FormatRfc3339(after.next_fire_ts));
  if (missed < 0 || skipped < 0 || skipped > 1) {
    return Fail(2, fmt::format("{}, slots missed {:+}, skipped {:+}", what, missed, skipped));
  }
  if (after.next_fire_ts != 0 && (after.next_fire_ts < before.next_fire_ts || !IsFireTime(j, after.next_fire_ts))) {
    return Fail(3, what + ": not a later fire time");
  }
  const int64_t passed = FiresIn(j, from, to, kMissedBound + 2);
  const std::optional<EpochMs> last_passed = j.schedule->LatestAtOrBefore(to - 1);
  if (passed > 0 && last_passed && *last_passed > earliest) {
    Fail(3, fmt::format("{}: passes {} before it is due (store time {} at the earliest)", what,
                        FormatRfc3339(*last_passed), FormatRfc3339(earliest)));
  }
  if (claimed && (*claimed < from || *claimed >= to)) {
    Fail(3, fmt::format("{}: claims {} outside the slots it passes", what, FormatRfc3339(*claimed)));
  }
  const int64_t accounted = missed + skipped + (claimed ? 1 : 0);
  if (passed != accounted && missed < kMissedBound) {
    Fail(3, fmt::format("{} passes {} fire times from {}, but accounts for {} (claimed {}, missed {}, skipped {})",
                        what, passed, FormatRfc3339(from), accounted, claimed ? 1 : 0, missed, skipped));
  }
  counters_["slots_missed"] += missed;
  counters_["slots_skipped"] += skipped;
}

// `apply` placed the schedule: its first fire time after the applier's
// time (the latest store time it placed) becomes next_fire_ts.
void Checker::CheckPlacement(JobTrack& j, const ActorTrack& a, const JobState& after) {
  if (!j.schedule) return Fail(2, "apply placed a schedule the definition does not have");
  const EpochMs latest = after.updated_at + a.write_view.u;
  if (after.next_fire_ts != j.schedule->NextAfter(latest).value_or(0)) {
    Fail(3, fmt::format("apply placed {} at {}, not at the first fire time after {}", j.def.job,
                        FormatRfc3339(after.next_fire_ts), FormatRfc3339(latest)));
  }
  if (j.placed == 0) j.placed = after.next_fire_ts;
}

// A scheduled invocation skipped as slot_done (nothing due, or the latest
// slot claimed already) or missed (every due slot too late to start), with
// nobody else acting: the state read before the call must say so at some
// store time the call can have read.
bool Checker::ScheduledSkipJustified(const CallContext& c, const Outcome& out) {
  const JobTrack& j = jobs_[static_cast<size_t>(c.job)];
  const auto& st = c.state_before;
  if (!j.schedule) return false;
  if (!st || st->next_fire_ts == 0) return out.reason == SkipReason::kSlotDone;  // never placed: nothing due
  // The view the controller gated with may be older than the one the
  // checker sees now (answers during the call refine it): in the store's
  // time, allow for it.
  const int64_t slack = ViewSlack(c.actor);
  const EpochMs lo = EarliestAt(c.actor, c.clock_start) - slack;
  const EpochMs hi = LatestAt(c.actor, c.clock_end) + slack;
  const EpochMs from = std::max(st->next_fire_ts, st->last_slot + 1);
  const std::optional<EpochMs> first_due = j.schedule->NextAfter(from - 1);
  if (out.reason == SkipReason::kSlotDone) {
    // Fired a moment early (a clock ahead): once counted as a duplicate.
    const bool early = first_due && *first_due <= hi + j.def.max_clock_skew_ms && st->last_slot != 0;
    if (early) ++counters_["early_firings_of_the_next_slot"];
    return !first_due || *first_due > lo;
  }
  const JobDefinition& def = j.def;
  int64_t late_ms = def.starting_deadline_ms;
  if (late_ms == 0 && def.catch_up == CatchUp::kNone) late_ms = kDefaultMisfireMs;
  if (late_ms == 0 || !first_due || *first_due > hi) return false;  // latest and all run a due slot
  for (EpochMs t : {lo, hi}) {
    const std::optional<EpochMs> latest = j.schedule->LatestAtOrBefore(t);
    if (latest && *latest >= from && *latest < hi - late_ms) return true;
  }
  return false;
}

// At the end: every fire time from the first one `apply` placed up to
// next_fire_ts was claimed, missed or skipped; the ones after it up to now
// are still due (a ticker down, a run going on, a paused job).
void Checker::CheckSlotsAccounted() {
  for (size_t i = 0; i < jobs_.size(); ++i) {
    JobTrack& j = jobs_[i];
    if (!j.schedule || j.placed == 0 || first_) continue;
    const std::optional<JobState> st = TrueState(static_cast<int>(i));
    if (!st || st->next_fire_ts == 0) continue;
    const int64_t fired = FiresIn(j, j.placed, st->next_fire_ts, kMissedBound + 2);
    const auto claimed = static_cast<int64_t>(j.claimed_slots.size());
    const int64_t accounted = claimed + st->slots_missed + st->slots_skipped;
    if (fired != accounted && st->slots_missed < kMissedBound) {
      Fail(3, fmt::format("{}: {} fire times from {} to {}, but {} accounted for (claimed {}, missed {}, skipped {})",
                          j.def.job, fired, FormatRfc3339(j.placed), FormatRfc3339(st->next_fire_ts), accounted,
                          claimed, st->slots_missed, st->slots_skipped));
    }
    if (!j.claimed_slots.empty() && *j.claimed_slots.begin() < j.placed) {
      Fail(3, fmt::format("{}: slot {} claimed before the first one placed", j.def.job,
                          FormatRfc3339(*j.claimed_slots.begin())));
    }
    counters_["slots_fired"] += fired;
    counters_["slots_deduplicated"] += st->slots_deduplicated;
    counters_["slots_due_at_end"] += FiresIn(j, st->next_fire_ts, time_.now() + 1, kMissedBound);
  }
}

// The due index as DueAt() computes it from the states: due jobs by due
// time (then name), at most `limit`.
void Checker::OnListDue(EpochMs now_ms, size_t limit, const std::vector<DueJob>& got) {
  ++counters_["list_due_calls"];
  std::vector<DueJob> want;
  for (size_t i = 0; i < jobs_.size(); ++i) {
    const std::optional<JobState> st = TrueState(static_cast<int>(i));
    const std::optional<EpochMs> due = st ? DueAt(*st) : std::nullopt;
    if (due && *due <= now_ms) want.push_back(DueJob{jobs_[i].def.job, *due});
  }
  std::sort(want.begin(), want.end(),
            [](const DueJob& a, const DueJob& b) { return std::tie(a.due_at, a.job) < std::tie(b.due_at, b.job); });
  if (want.size() > limit) want.resize(limit);
  if (got == want) return;
  auto text = [](const std::vector<DueJob>& v) {
    std::string out;
    for (const DueJob& d : v) out += fmt::format("{}@{} ", d.job, FormatRfc3339(d.due_at));
    return out;
  };
  Fail(3, fmt::format("ListDue({}, {}) answered [{}], the states say [{}]", FormatRfc3339(now_ms), limit, text(got),
                      text(want)));
}

}  // namespace jobgate::sim
