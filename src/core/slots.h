// Which schedule slot a scheduled invocation runs, and what becomes of the
// slots it passes over (docs/schedules.md, "Slots, misfires, catch-up and
// overlap"). Pure: a function of the state, the definition, the schedule
// and the time, like the gate.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "jobgate/job.h"
#include "schedule/schedule.h"

namespace jobgate {

// Without a starting deadline, catch_up = "none" runs a slot only this late
// at most (Quartz's default misfire threshold).
inline constexpr int64_t kDefaultMisfireMs = 60'000;

struct SlotPlan {
  std::optional<EpochMs> run;  // the slot to claim now; nullopt: none is due or all were missed
  EpochMs next_fire = 0;       // the next_fire_ts to keep; 0: the schedule has no more fire times
  int64_t missed = 0;          // due slots passed over, not run
  bool missed_at_least = false;  // `missed` stopped counting at its bound
  EpochMs first_missed = 0;
  EpochMs last_missed = 0;
  std::string missed_why;      // the rule that passed them over
  // Whether anything differs from the state: a claim, missed slots, or a
  // new next fire time to record.
  bool Changes(const JobState& s) const { return run || missed > 0 || next_fire != s.next_fire_ts; }
};

// The plan at `now` (the store's time, earliest reading) for a job whose
// state is `s` (its next_fire_ts the first slot not yet dealt with; 0 when
// the schedule was never placed, so nothing is due before the next fire
// time after now).
//   catch_up "latest": the latest due slot runs, earlier ones are missed;
//   "all": the oldest due slot runs, the rest stay due, at most
//          catch_up_limit of them (the older ones are missed);
//   "none": the latest due slot runs if it is at most starting_deadline
//          (else kDefaultMisfireMs) late, else it is missed.
// A slot older than starting_deadline (when set) is missed under every
// policy.
SlotPlan PlanSlots(const JobState& s, const JobDefinition& def, const Schedule& schedule, EpochMs now);

// The next_fire_ts a job keeps from `now` on: the schedule's next fire time
// after it (0 when there is none). What `apply` writes for a new or changed
// schedule.
EpochMs FirstFireAfter(const Schedule& schedule, EpochMs now);

// The run record that tells `history` about missed slots (outcome "missed").
RunRecord MissedRunRecord(const std::string& job, const SlotPlan& plan, EpochMs now);

}  // namespace jobgate
