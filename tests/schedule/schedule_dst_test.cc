// DST rules (docs/schedules.md, "Daylight saving time"), with expected
// instants derived by hand from the zones' rules:
// - America/New_York 2026: 03-08 02:00 EST -> 03:00 EDT (07:00Z);
//   11-01 02:00 EDT -> 01:00 EST (06:00Z), 01:00-02:00 twice.
// - Europe/London 2026: 03-29 01:00 GMT -> 02:00 BST (01:00Z);
//   10-25 02:00 BST -> 01:00 GMT (01:00Z), 01:00-02:00 twice.
// - Australia/Lord_Howe (+10:30 standard, +11 DST, half-hour shifts):
//   2026-04-05 02:00 -> 01:30 (04-04T15:00Z), 01:30-02:00 twice;
//   2026-10-04 02:00 -> 02:30 (10-03T15:30Z), 02:00-02:30 skipped.
// EventBridge cron(): a skipped wall time does not fire; a repeated one
// fires once, at its first occurrence. Crontab (cronie): a fixed-time job
// in a skipped hour runs once when the gap ends, in a repeated hour once;
// a wildcard job (`*` in minute or hour) follows the clock.
// These need the zoneinfo reader (time_zone.cc from the tz branch).
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "schedule/schedule_testing.h"

#include "core/duration.h"
#include "schedule/cron_spec.h"
#include "schedule/schedule.h"

namespace jobgate {
namespace {

using V = std::vector<std::string>;


std::optional<Schedule> Load(const std::string& expr, const std::string& tz) {
  auto s = Schedule::Parse(expr, tz);
  EXPECT_TRUE(s.ok()) << expr << " in " << tz << ": " << s.status().message();
  if (!s.ok()) return std::nullopt;
  return *s;
}

V Next(const std::string& expr, const std::string& tz, const std::string& from, int n) {
  const auto s = Load(expr, tz);
  if (!s) return {};
  V out;
  std::optional<EpochMs> t = T(from);
  for (int i = 0; i < n && t; ++i) {
    t = s->NextAfter(*t);
    out.push_back(Show(t));
  }
  return out;
}

std::string Latest(const std::string& expr, const std::string& tz, const std::string& at) {
  const auto s = Load(expr, tz);
  return s ? Show(s->LatestAtOrBefore(T(at))) : "";
}

constexpr const char* kNewYork = "America/New_York";
constexpr const char* kLondon = "Europe/London";
constexpr const char* kLordHowe = "Australia/Lord_Howe";

TEST(ScheduleDst, EventBridgeSkipsAWallTimeThatDoesNotExist) {
  EXPECT_EQ(Next("cron(30 2 * * ? *)", kNewYork, "2026-03-06T12:00:00Z", 2),
            (V{"2026-03-07T07:30:00Z", "2026-03-09T06:30:00Z"}));
  EXPECT_EQ(Next("cron(30 1 * * ? *)", kLondon, "2026-03-28T12:00:00Z", 1), (V{"2026-03-30T00:30:00Z"}));
  EXPECT_EQ(Next("cron(15 2 * * ? *)", kLordHowe, "2026-10-03T00:00:00Z", 1), (V{"2026-10-04T15:15:00Z"}));
  EXPECT_EQ(Latest("cron(30 2 * * ? *)", kNewYork, "2026-03-09T06:00:00Z"), "2026-03-07T07:30:00Z");
}

TEST(ScheduleDst, EventBridgeRunsARepeatedWallTimeOnce) {
  EXPECT_EQ(Next("cron(30 1 * * ? *)", kNewYork, "2026-11-01T00:00:00Z", 2),
            (V{"2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"}));
  EXPECT_EQ(Next("cron(15 1 * * ? *)", kLondon, "2026-10-24T12:00:00Z", 2),
            (V{"2026-10-25T00:15:00Z", "2026-10-26T01:15:00Z"}));
  EXPECT_EQ(Next("cron(45 1 * * ? *)", kLordHowe, "2026-04-04T00:00:00Z", 2),
            (V{"2026-04-04T14:45:00Z", "2026-04-05T15:15:00Z"}));
  // Every wall time of the repeated hour, wildcards included, fires once.
  EXPECT_EQ(Next("cron(0/30 * * * ? *)", kNewYork, "2026-11-01T05:00:00Z", 2),
            (V{"2026-11-01T05:30:00Z", "2026-11-01T07:00:00Z"}));
  EXPECT_EQ(Latest("cron(0/30 * * * ? *)", kNewYork, "2026-11-01T06:45:00Z"), "2026-11-01T05:30:00Z");
}

TEST(ScheduleDst, CrontabFixedTimeInASkippedHourRunsWhenTheGapEnds) {
  EXPECT_EQ(Next("30 2 * * *", kNewYork, "2026-03-07T12:00:00Z", 2),
            (V{"2026-03-08T07:00:00Z", "2026-03-09T06:30:00Z"}));
  EXPECT_EQ(Next("0,30 2 * * *", kNewYork, "2026-03-07T12:00:00Z", 2),
            (V{"2026-03-08T07:00:00Z", "2026-03-09T06:00:00Z"}));
  EXPECT_EQ(Next("30 1 * * *", kLondon, "2026-03-28T12:00:00Z", 2),
            (V{"2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z"}));
  EXPECT_EQ(Next("15 2 * * *", kLordHowe, "2026-10-03T00:00:00Z", 2),
            (V{"2026-10-03T15:30:00Z", "2026-10-04T15:15:00Z"}));
  EXPECT_EQ(Latest("30 2 * * *", kNewYork, "2026-03-08T07:10:00Z"), "2026-03-08T07:00:00Z");
  EXPECT_EQ(Latest("30 2 * * *", kNewYork, "2026-03-08T06:59:59Z"), "2026-03-07T07:30:00Z");
}

TEST(ScheduleDst, CrontabWildcardFollowsTheClockThroughAGap) {
  EXPECT_EQ(Next("*/30 * * * *", kNewYork, "2026-03-08T06:00:00Z", 3),
            (V{"2026-03-08T06:30:00Z", "2026-03-08T07:00:00Z", "2026-03-08T07:30:00Z"}));
  // Minute fixed, hour wildcard: 02:15 does not exist and is not caught up.
  EXPECT_EQ(Next("15 * * * *", kNewYork, "2026-03-08T06:00:00Z", 2),
            (V{"2026-03-08T06:15:00Z", "2026-03-08T07:15:00Z"}));
}

TEST(ScheduleDst, CrontabFixedTimeInARepeatedHourRunsOnce) {
  EXPECT_EQ(Next("30 1 * * *", kNewYork, "2026-11-01T00:00:00Z", 2),
            (V{"2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"}));
  EXPECT_EQ(Next("15 1 * * *", kLondon, "2026-10-24T12:00:00Z", 2),
            (V{"2026-10-25T00:15:00Z", "2026-10-26T01:15:00Z"}));
}

TEST(ScheduleDst, CrontabWildcardRunsInBothOccurrencesOfARepeatedHour) {
  EXPECT_EQ(Next("*/30 * * * *", kNewYork, "2026-11-01T05:00:00Z", 4),
            (V{"2026-11-01T05:30:00Z", "2026-11-01T06:00:00Z", "2026-11-01T06:30:00Z", "2026-11-01T07:00:00Z"}));
  EXPECT_EQ(Next("15 * * * *", kLondon, "2026-10-24T23:30:00Z", 3),
            (V{"2026-10-25T00:15:00Z", "2026-10-25T01:15:00Z", "2026-10-25T02:15:00Z"}));
  EXPECT_EQ(Next("*/15 * * * *", kLordHowe, "2026-04-04T14:20:00Z", 5),
            (V{"2026-04-04T14:30:00Z", "2026-04-04T14:45:00Z", "2026-04-04T15:00:00Z", "2026-04-04T15:15:00Z",
               "2026-04-04T15:30:00Z"}));
  EXPECT_EQ(Latest("*/30 * * * *", kNewYork, "2026-11-01T06:45:00Z"), "2026-11-01T06:30:00Z");
}

TEST(ScheduleDst, AtInAGapFiresWhenItEndsAndInARepeatAtTheFirst) {
  EXPECT_EQ(Next("at(2026-03-08T02:30:00)", kNewYork, "2026-01-01T00:00:00Z", 1), (V{"2026-03-08T07:00:00Z"}));
  EXPECT_EQ(Next("at(2026-11-01T01:30:00)", kNewYork, "2026-01-01T00:00:00Z", 1), (V{"2026-11-01T05:30:00Z"}));
}

TEST(ScheduleDst, RateIgnoresTheZone) {
  EXPECT_EQ(Next("rate(1 hour)", kNewYork, "2026-03-08T06:30:00Z", 2),
            (V{"2026-03-08T07:00:00Z", "2026-03-08T08:00:00Z"}));
}

TEST(ScheduleDst, LatestAtOrBeforeAgreesWithNextAfterAcrossTransitions) {
  const char* exprs[] = {"cron(0/30 * * * ? *)", "cron(30 1,2 * * ? *)", "*/30 * * * *", "30 1,2 * * *",
                         "0 2 * * *"};
  std::mt19937_64 rng(11);
  for (const char* tz : {kNewYork, kLondon, kLordHowe}) {
    for (const char* expr : exprs) {
      const auto s = Load(expr, tz);
      if (!s) continue;
      for (const char* base : {"2026-03-07T00:00:00Z", "2026-03-28T00:00:00Z", "2026-04-03T00:00:00Z",
                               "2026-10-02T00:00:00Z", "2026-10-24T00:00:00Z", "2026-10-31T00:00:00Z"}) {
        std::uniform_int_distribution<EpochMs> when(T(base), T(base) + 3 * 86'400'000);
        for (int i = 0; i < 100; ++i) {
          const EpochMs t = when(rng);
          const auto latest = s->LatestAtOrBefore(t);
          const auto next = s->NextAfter(t);
          ASSERT_TRUE(latest && next) << expr << " " << tz;
          EXPECT_LE(*latest, t);
          EXPECT_GT(*next, t);
          EXPECT_EQ(s->NextAfter(*latest), next) << expr << " " << tz << " " << Show(t);
          EXPECT_EQ(s->LatestAtOrBefore(*next - 1), latest) << expr << " " << tz << " " << Show(t);
        }
      }
    }
  }
}

}  // namespace
}  // namespace jobgate
