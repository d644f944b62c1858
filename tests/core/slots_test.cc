// The slot planner (core/slots.h): catch-up policies, starting deadlines,
// missed-slot accounting. Schedules are rate()s: their fire times are plain
// arithmetic (k * period since the epoch), so every expectation here can be
// worked out by hand.
#include "core/slots.h"

#include <gtest/gtest.h>

namespace jobgate {
namespace {

constexpr int64_t kMin = 60'000;

Schedule Every(const char* expr) {
  auto s = Schedule::Parse(expr, "UTC");
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return *s;
}

JobDefinition Def(CatchUp catch_up = CatchUp::kLatest, int64_t deadline_ms = 0, int64_t limit = 100) {
  JobDefinition d;
  d.job = "j";
  d.schedule = "rate(1 minute)";
  d.catch_up = catch_up;
  d.starting_deadline_ms = deadline_ms;
  d.catch_up_limit = limit;
  return d;
}

JobState At(EpochMs next_fire, EpochMs last_slot = 0) {
  JobState s;
  s.job = "j";
  s.next_fire_ts = next_fire;
  s.last_slot = last_slot;
  return s;
}

const Schedule kMinute = Every("rate(1 minute)");
constexpr EpochMs kT = 1'000 * kMin;  // a fire time

TEST(PlanSlots, NothingDueBeforeTheNextFireTime) {
  SlotPlan p = PlanSlots(At(kT), Def(), kMinute, kT - 1);
  EXPECT_FALSE(p.run);
  EXPECT_EQ(p.next_fire, kT);
  EXPECT_EQ(p.missed, 0);
  EXPECT_FALSE(p.Changes(At(kT)));
}

TEST(PlanSlots, AnUnplacedScheduleIsPlacedAfterNowAndRunsNothing) {
  SlotPlan p = PlanSlots(At(0), Def(), kMinute, kT + 5);
  EXPECT_FALSE(p.run);
  EXPECT_EQ(p.next_fire, kT + kMin);
  EXPECT_TRUE(p.Changes(At(0)));
}

TEST(PlanSlots, TheDueSlotRunsOnTimeAndTheNextIsKept) {
  SlotPlan p = PlanSlots(At(kT), Def(), kMinute, kT + 20);
  ASSERT_TRUE(p.run);
  EXPECT_EQ(*p.run, kT);
  EXPECT_EQ(p.next_fire, kT + kMin);
  EXPECT_EQ(p.missed, 0);
}

TEST(PlanSlots, LatestRunsTheLatestDueSlotAndCountsTheRestMissed) {
  SlotPlan p = PlanSlots(At(kT), Def(CatchUp::kLatest), kMinute, kT + 10 * kMin + 5);
  ASSERT_TRUE(p.run);
  EXPECT_EQ(*p.run, kT + 10 * kMin);
  EXPECT_EQ(p.missed, 10);
  EXPECT_EQ(p.first_missed, kT);
  EXPECT_EQ(p.last_missed, kT + 9 * kMin);
  EXPECT_EQ(p.next_fire, kT + 11 * kMin);
  RunRecord r = MissedRunRecord("j", p, kT + 10 * kMin + 5);
  EXPECT_EQ(r.outcome, RecordedOutcome::kMissed);
  EXPECT_EQ(r.slot, kT);
  EXPECT_NE(r.error.find("10 slots"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("catch_up = latest"), std::string::npos) << r.error;
}

TEST(PlanSlots, AllRunsTheOldestDueSlotAndLeavesTheRestDue) {
  SlotPlan p = PlanSlots(At(kT), Def(CatchUp::kAll), kMinute, kT + 3 * kMin + 5);
  ASSERT_TRUE(p.run);
  EXPECT_EQ(*p.run, kT);
  EXPECT_EQ(p.missed, 0);
  EXPECT_EQ(p.next_fire, kT + kMin);  // due at once: the next pass runs it
}

TEST(PlanSlots, AllRunsAtMostTheLimitOfPastSlots) {
  SlotPlan p = PlanSlots(At(kT), Def(CatchUp::kAll, 0, 5), kMinute, kT + 20 * kMin);
  ASSERT_TRUE(p.run);
  // 21 due (kT .. kT+20m): the newest 5 run, the 16 before them are missed.
  EXPECT_EQ(*p.run, kT + 16 * kMin);
  EXPECT_EQ(p.missed, 16);
  EXPECT_NE(p.missed_why.find("catch_up_limit"), std::string::npos);
}

TEST(PlanSlots, AllHonoursTheStartingDeadline) {
  SlotPlan p = PlanSlots(At(kT), Def(CatchUp::kAll, 2 * kMin + 1), kMinute, kT + 10 * kMin);
  ASSERT_TRUE(p.run);
  EXPECT_EQ(*p.run, kT + 8 * kMin);  // the oldest not older than 2m
  EXPECT_EQ(p.missed, 8);
  EXPECT_NE(p.missed_why.find("starting deadline"), std::string::npos);
}

TEST(PlanSlots, ASlotOlderThanTheStartingDeadlineIsMissedNotRun) {
  SlotPlan p = PlanSlots(At(kT), Def(CatchUp::kLatest, 30'000), kMinute, kT + 45'000);
  EXPECT_FALSE(p.run);
  EXPECT_EQ(p.missed, 1);
  EXPECT_EQ(p.next_fire, kT + kMin);
  EXPECT_TRUE(p.Changes(At(kT)));
  EXPECT_EQ(MissedRunRecord("j", p, kT + 45'000).error.find("slot "), 0u);
}

TEST(PlanSlots, NoneRunsOnlyASlotThatIsNotLate) {
  const Schedule hourly = Every("rate(1 hour)");
  constexpr int64_t kHour = 60 * kMin;
  constexpr EpochMs kH = 500'000 * kHour;
  SlotPlan on_time = PlanSlots(At(kH), Def(CatchUp::kNone), hourly, kH + 3 * kHour + 1'000);
  ASSERT_TRUE(on_time.run);
  EXPECT_EQ(*on_time.run, kH + 3 * kHour);
  EXPECT_EQ(on_time.missed, 3);
  SlotPlan late = PlanSlots(At(kH), Def(CatchUp::kNone), hourly, kH + 3 * kHour + kDefaultMisfireMs + 1);
  EXPECT_FALSE(late.run);
  EXPECT_EQ(late.missed, 4);
  EXPECT_EQ(late.next_fire, kH + 4 * kHour);
  EXPECT_NE(late.missed_why.find("catch_up = none"), std::string::npos);
  // "latest" runs the same slot however late.
  SlotPlan latest = PlanSlots(At(kH), Def(CatchUp::kLatest), hourly, kH + 3 * kHour + kDefaultMisfireMs + 1);
  ASSERT_TRUE(latest.run);
}

TEST(PlanSlots, SlotsUpToTheLastClaimedOneAreNeverDueAgain) {
  // A `run --slot` claimed kT + 2m: the scheduler starts after it.
  SlotPlan p = PlanSlots(At(kT, kT + 2 * kMin), Def(), kMinute, kT + 2 * kMin + 5);
  EXPECT_FALSE(p.run);
  EXPECT_EQ(p.missed, 0);
  EXPECT_EQ(p.next_fire, kT + 3 * kMin);
}

TEST(PlanSlots, MissedCountsStopAtTheirBound) {
  Schedule every_second = Every("rate(1 second)");
  JobState s = At(1'000);
  s.next_fire_ts = 1'000;
  SlotPlan p = PlanSlots(s, Def(), every_second, 1'000 + 200'000'000LL);  // ~2.3 days of seconds
  ASSERT_TRUE(p.run);
  EXPECT_TRUE(p.missed_at_least);
  EXPECT_NE(MissedRunRecord("j", p, 0).error.find("at least"), std::string::npos);
}

}  // namespace
}  // namespace jobgate
