#include "core/slots.h"

#include <algorithm>
#include <limits>

#include <fmt/format.h>

#include "core/duration.h"
#include "core/run_records.h"

namespace jobgate {

namespace {

// Missed slots are counted up to this many; beyond it the count says "at
// least" (a rate(1 second) job down for a week).
constexpr int64_t kCountBound = 100'000;

// The first fire time at or after `t`.
std::optional<EpochMs> FireAtOrAfter(const Schedule& schedule, EpochMs t) { return schedule.NextAfter(t - 1); }

// Adds the fire times in [from, to) to the plan's missed slots.
void CountMissed(const Schedule& schedule, EpochMs from, EpochMs to, SlotPlan& p) {
  for (std::optional<EpochMs> t = FireAtOrAfter(schedule, from); t && *t < to; t = schedule.NextAfter(*t)) {
    if (p.missed == 0 || *t < p.first_missed) p.first_missed = *t;
    p.last_missed = std::max(p.last_missed, *t);
    if (++p.missed >= kCountBound) {
      p.missed_at_least = true;
      return;
    }
  }
}

// The oldest of the newest `limit` fire times in [floor, latest].
EpochMs OldestKept(const Schedule& schedule, EpochMs floor, EpochMs latest, int64_t limit) {
  int64_t n = 0;
  for (std::optional<EpochMs> t = FireAtOrAfter(schedule, floor); t && *t <= latest; t = schedule.NextAfter(*t)) {
    if (++n > limit) break;
  }
  if (n <= limit) return *FireAtOrAfter(schedule, floor);
  EpochMs k = latest;
  for (int64_t i = 1; i < limit; ++i) {
    std::optional<EpochMs> prev = schedule.LatestAtOrBefore(k - 1);
    if (!prev || *prev < floor) break;
    k = *prev;
  }
  return k;
}

// catch_up = "all": the oldest due slot within the deadline and the limit.
void PlanAll(const JobDefinition& def, const Schedule& schedule, EpochMs first_due, EpochMs latest, EpochMs now,
             SlotPlan& p) {
  EpochMs floor = first_due;
  if (def.starting_deadline_ms > 0) floor = std::max(floor, now - def.starting_deadline_ms);
  std::optional<EpochMs> runnable = FireAtOrAfter(schedule, floor);
  if (!runnable || *runnable > latest) {
    CountMissed(schedule, first_due, latest + 1, p);
    p.missed_why = fmt::format("older than the starting deadline of {}", FormatDuration(def.starting_deadline_ms));
    p.next_fire = schedule.NextAfter(latest).value_or(0);
    return;
  }
  const EpochMs run = OldestKept(schedule, *runnable, latest, def.catch_up_limit);
  CountMissed(schedule, first_due, run, p);
  p.missed_why = run > *runnable ? fmt::format("more than catch_up_limit = {} slots were due", def.catch_up_limit)
                                 : fmt::format("older than the starting deadline of {}",
                                               FormatDuration(def.starting_deadline_ms));
  p.run = run;
  p.next_fire = schedule.NextAfter(run).value_or(0);
}

// catch_up = "latest" or "none": the latest due slot, if it is not too late.
void PlanLatest(const JobDefinition& def, const Schedule& schedule, EpochMs first_due, EpochMs latest, EpochMs now,
                SlotPlan& p) {
  int64_t late_ms = std::numeric_limits<int64_t>::max();
  if (def.starting_deadline_ms > 0) {
    late_ms = def.starting_deadline_ms;
  } else if (def.catch_up == CatchUp::kNone) {
    late_ms = kDefaultMisfireMs;
  }
  const bool runs = now - latest <= late_ms;
  CountMissed(schedule, first_due, runs ? latest : latest + 1, p);
  if (!runs) {
    p.missed_why = def.starting_deadline_ms > 0
                       ? fmt::format("older than the starting deadline of {}", FormatDuration(late_ms))
                       : fmt::format("catch_up = none runs no slot more than {} late", FormatDuration(late_ms));
  } else {
    p.missed_why = fmt::format("catch_up = {} runs only the latest due slot", CatchUpName(def.catch_up));
    p.run = latest;
  }
  p.next_fire = schedule.NextAfter(latest).value_or(0);
}

}  // namespace

EpochMs FirstFireAfter(const Schedule& schedule, EpochMs now) { return schedule.NextAfter(now).value_or(0); }

SlotPlan PlanSlots(const JobState& s, const JobDefinition& def, const Schedule& schedule, EpochMs now) {
  SlotPlan p;
  if (s.next_fire_ts == 0) {
    p.next_fire = FirstFireAfter(schedule, now);
    return p;
  }
  // A slot at or before the last one claimed (by a run --slot, say) was
  // dealt with: never again.
  const EpochMs from = std::max(s.next_fire_ts, s.last_slot + 1);
  std::optional<EpochMs> first_due = FireAtOrAfter(schedule, from);
  if (!first_due || *first_due > now) {
    p.next_fire = first_due.value_or(0);
    return p;
  }
  const EpochMs latest = schedule.LatestAtOrBefore(now).value_or(*first_due);
  if (def.catch_up == CatchUp::kAll) {
    PlanAll(def, schedule, *first_due, latest, now, p);
  } else {
    PlanLatest(def, schedule, *first_due, latest, now, p);
  }
  return p;
}

RunRecord MissedRunRecord(const std::string& job, const SlotPlan& plan, EpochMs now) {
  const std::string count = fmt::format("{}{}", plan.missed_at_least ? "at least " : "", plan.missed);
  std::string why = plan.missed == 1
                        ? fmt::format("slot {} missed: {}", FormatRfc3339(plan.first_missed), plan.missed_why)
                        : fmt::format("{} slots from {} to {} missed: {}", count, FormatRfc3339(plan.first_missed),
                                      FormatRfc3339(plan.last_missed), plan.missed_why);
  return NotRunRecord(job, fmt::format("missed-{}", plan.first_missed), "", 0, plan.first_missed, now, RecordedOutcome::kMissed,
                      std::move(why));
}

}  // namespace jobgate
