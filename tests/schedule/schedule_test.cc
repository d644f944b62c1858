// Schedule expressions (docs/schedules.md): EventBridge cron/rate/at and
// crontab lines in UTC and fixed-offset zones. The DST rules are pinned in
// schedule_dst_test.cc.
#include "schedule/schedule.h"

#include <chrono>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "schedule/schedule_testing.h"

#include "core/duration.h"
#include "schedule/cron_spec.h"

namespace jobgate {
namespace {


Schedule Must(const std::string& expr, const std::string& tz = "UTC") {
  auto s = Schedule::Parse(expr, tz);
  EXPECT_TRUE(s.ok()) << expr << ": " << s.status().message();
  return s.ok() ? *s : *Schedule::Parse("rate(1 day)");
}

// The next `n` fire times after `from`, as UTC text.
std::vector<std::string> Next(const std::string& expr, const std::string& from, int n, const std::string& tz = "UTC") {
  const Schedule s = Must(expr, tz);
  std::vector<std::string> out;
  std::optional<EpochMs> t = T(from);
  for (int i = 0; i < n && t; ++i) {
    t = s.NextAfter(*t);
    out.push_back(Show(t));
  }
  return out;
}

std::string ErrorOf(const std::string& expr, const std::string& tz = "UTC") {
  auto s = Schedule::Parse(expr, tz);
  EXPECT_FALSE(s.ok()) << expr;
  if (s.ok()) return "";
  EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
  return s.status().message();
}

using V = std::vector<std::string>;

TEST(ScheduleCron, DailyAtNoonIsStrictlyAfter) {
  EXPECT_EQ(Next("cron(0 12 * * ? *)", "2026-01-01T00:00:00Z", 2), (V{"2026-01-01T12:00:00Z", "2026-01-02T12:00:00Z"}));
  EXPECT_EQ(Next("cron(0 12 * * ? *)", "2026-01-01T12:00:00Z", 1), (V{"2026-01-02T12:00:00Z"}));
  EXPECT_EQ(Next("cron(0 12 * * ? *)", "2026-01-01T11:59:59.999Z", 1), (V{"2026-01-01T12:00:00Z"}));
}

TEST(ScheduleCron, IncrementsListsAndRanges) {
  EXPECT_EQ(Next("cron(0/15 * * * ? *)", "2026-01-01T00:07:00Z", 3),
            (V{"2026-01-01T00:15:00Z", "2026-01-01T00:30:00Z", "2026-01-01T00:45:00Z"}));
  EXPECT_EQ(Next("cron(5,10 8-9 * * ? *)", "2026-01-01T00:00:00Z", 5),
            (V{"2026-01-01T08:05:00Z", "2026-01-01T08:10:00Z", "2026-01-01T09:05:00Z", "2026-01-01T09:10:00Z",
               "2026-01-02T08:05:00Z"}));
}

TEST(ScheduleCron, NamesAndDayOfWeekOneIsSunday) {
  // 2026-01-01 is a Thursday.
  EXPECT_EQ(Next("cron(0 0 ? * 1 *)", "2026-01-01T00:00:00Z", 1), (V{"2026-01-04T00:00:00Z"}));
  EXPECT_EQ(Next("cron(0 0 ? * SUN *)", "2026-01-01T00:00:00Z", 1), (V{"2026-01-04T00:00:00Z"}));
  EXPECT_EQ(Next("cron(0 0 ? * 7 *)", "2026-01-01T00:00:00Z", 1), (V{"2026-01-03T00:00:00Z"}));
  EXPECT_EQ(Next("cron(30 9 ? feb-MAR mon-FRI *)", "2026-01-01T00:00:00Z", 2),
            (V{"2026-02-02T09:30:00Z", "2026-02-03T09:30:00Z"}));
  EXPECT_EQ(Next("cron(0 0 1 JUL,DEC ? *)", "2026-01-01T00:00:00Z", 2),
            (V{"2026-07-01T00:00:00Z", "2026-12-01T00:00:00Z"}));
}

TEST(ScheduleCron, LastDayOfMonthAndLeapYears) {
  EXPECT_EQ(Next("cron(0 0 L * ? *)", "2026-01-01T00:00:00Z", 3),
            (V{"2026-01-31T00:00:00Z", "2026-02-28T00:00:00Z", "2026-03-31T00:00:00Z"}));
  EXPECT_EQ(Next("cron(0 0 L 2 ? *)", "2027-03-01T00:00:00Z", 1), (V{"2028-02-29T00:00:00Z"}));
  EXPECT_EQ(Next("cron(0 0 29 2 ? *)", "2024-03-01T00:00:00Z", 2), (V{"2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"}));
  // 2100 is not a leap year (divisible by 100, not by 400); 2000 was.
  EXPECT_EQ(Next("cron(0 0 29 2 ? *)", "2096-03-01T00:00:00Z", 1), (V{"2104-02-29T00:00:00Z"}));
  EXPECT_EQ(Next("cron(0 0 L 2 ? 2100)", "2026-01-01T00:00:00Z", 1), (V{"2100-02-28T00:00:00Z"}));
  EXPECT_EQ(Next("cron(0 0 29 2 ? *)", "1999-01-01T00:00:00Z", 1), (V{"2000-02-29T00:00:00Z"}));
}

TEST(ScheduleCron, NearestWeekdayNeverCrossesTheMonth) {
  // 2026-08-15 is a Saturday: Friday the 14th. 2026-08-01 is a Saturday:
  // Monday the 3rd. 2026-05-31 is a Sunday: Friday the 29th.
  EXPECT_EQ(Next("cron(0 0 15W 8 ? 2026)", "2026-01-01T00:00:00Z", 1), (V{"2026-08-14T00:00:00Z"}));
  EXPECT_EQ(Next("cron(0 0 1W 8 ? 2026)", "2026-01-01T00:00:00Z", 1), (V{"2026-08-03T00:00:00Z"}));
  EXPECT_EQ(Next("cron(0 0 31W 5 ? 2026)", "2026-01-01T00:00:00Z", 1), (V{"2026-05-29T00:00:00Z"}));
  EXPECT_EQ(Next("cron(0 0 13W 1 ? 2026)", "2026-01-01T00:00:00Z", 1), (V{"2026-01-13T00:00:00Z"}));
  // 31W in a 30-day month: no such day, no fire.
  EXPECT_EQ(Next("cron(0 0 31W 4,5 ? 2026)", "2026-01-01T00:00:00Z", 2), (V{"2026-05-29T00:00:00Z", "never"}));
}

TEST(ScheduleCron, LastWeekdayOfMonth) {
  // 2026-01-31 is a Saturday, 2026-05-31 a Sunday.
  EXPECT_EQ(Next("cron(0 0 LW 1,5,6 ? 2026)", "2026-01-01T00:00:00Z", 3),
            (V{"2026-01-30T00:00:00Z", "2026-05-29T00:00:00Z", "2026-06-30T00:00:00Z"}));
}

TEST(ScheduleCron, NthAndLastWeekdayOfMonth) {
  // The fifth Monday exists in 2026 only in March, June, August, November.
  EXPECT_EQ(Next("cron(0 0 ? * 2#5 2026)", "2026-01-01T00:00:00Z", 5),
            (V{"2026-03-30T00:00:00Z", "2026-06-29T00:00:00Z", "2026-08-31T00:00:00Z", "2026-11-30T00:00:00Z",
               "never"}));
  EXPECT_EQ(Next("cron(0 0 ? * 3#2 *)", "2026-01-01T00:00:00Z", 1), (V{"2026-01-13T00:00:00Z"}));
  EXPECT_EQ(Next("cron(0 0 ? * 6L *)", "2026-01-01T00:00:00Z", 3),
            (V{"2026-01-30T00:00:00Z", "2026-02-27T00:00:00Z", "2026-03-27T00:00:00Z"}));
  EXPECT_EQ(Next("cron(0 0 ? * FRIL *)", "2026-01-01T00:00:00Z", 1), (V{"2026-01-30T00:00:00Z"}));
}

TEST(ScheduleCron, YearFieldEnds) {
  EXPECT_EQ(Next("cron(0 0 1 1 ? 2027-2029)", "2026-01-01T00:00:00Z", 4),
            (V{"2027-01-01T00:00:00Z", "2028-01-01T00:00:00Z", "2029-01-01T00:00:00Z", "never"}));
  const Schedule s = Must("cron(0 0 1 1 ? 2027-2029)");
  EXPECT_EQ(Show(s.LatestAtOrBefore(T("2040-01-01T00:00:00Z"))), "2029-01-01T00:00:00Z");
  EXPECT_EQ(Show(s.LatestAtOrBefore(T("2026-12-31T23:59:59Z"))), "never");
}

TEST(ScheduleCron, FarFutureAndImpossibleExpressionsEndQuickly) {
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(Next("cron(0 0 1 1 ? 2199)", "2026-01-01T00:00:00Z", 2), (V{"2199-01-01T00:00:00Z", "never"}));
  EXPECT_EQ(Next("cron(59 23 31 12 ? 2199)", "2199-12-31T23:58:00Z", 2), (V{"2199-12-31T23:59:00Z", "never"}));
  for (const char* never : {"cron(0 0 30 2 ? *)", "cron(0 0 31 4,6,9,11 ? *)", "0 0 30 2 *", "0 0 31 4 *"}) {
    const Schedule s = Must(never);
    EXPECT_EQ(Show(s.NextAfter(T("1970-01-01T00:00:00Z"))), "never") << never;
    EXPECT_EQ(Show(s.LatestAtOrBefore(T("2199-12-31T00:00:00Z"))), "never") << never;
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
}

TEST(ScheduleCrontab, FieldsStepsAndSundayAsZeroOrSeven) {
  EXPECT_EQ(Next("*/15 * * * *", "2026-01-01T00:07:00Z", 2), (V{"2026-01-01T00:15:00Z", "2026-01-01T00:30:00Z"}));
  EXPECT_EQ(Next("1-30/10 3 * * *", "2026-01-01T00:00:00Z", 4),
            (V{"2026-01-01T03:01:00Z", "2026-01-01T03:11:00Z", "2026-01-01T03:21:00Z", "2026-01-02T03:01:00Z"}));
  EXPECT_EQ(Next("0 0 * * 0", "2026-01-01T00:00:00Z", 1), (V{"2026-01-04T00:00:00Z"}));
  EXPECT_EQ(Next("0 0 * * 7", "2026-01-01T00:00:00Z", 1), (V{"2026-01-04T00:00:00Z"}));
  EXPECT_EQ(Next("0 0 * * sun", "2026-01-01T00:00:00Z", 1), (V{"2026-01-04T00:00:00Z"}));
  EXPECT_EQ(Next("0 0 * * 1", "2026-01-01T00:00:00Z", 1), (V{"2026-01-05T00:00:00Z"}));
  EXPECT_EQ(Next("0 12 1 jan-feb,dec *", "2026-01-02T00:00:00Z", 2),
            (V{"2026-02-01T12:00:00Z", "2026-12-01T12:00:00Z"}));
}

// `a/n` is a-max/n, an extension (cronie refuses it, EventBridge has it).
// In day-of-week max is 7, as for `*`: `2/5` is Tuesday and Sunday. croner's
// extension stops at 6 (Tuesday only), so tests/cron_diff draws no `a/n` there.
TEST(ScheduleCrontab, StartSlashStepRunsToTheFieldsEndWhichIsSevenInDayOfWeek) {
  EXPECT_EQ(Next("5/20 * * * *", "2026-01-01T00:00:00Z", 3),
            (V{"2026-01-01T00:05:00Z", "2026-01-01T00:25:00Z", "2026-01-01T00:45:00Z"}));
  EXPECT_EQ(Next("0 0 * * 2/5", "2026-01-01T00:00:00Z", 3),
            (V{"2026-01-04T00:00:00Z", "2026-01-06T00:00:00Z", "2026-01-11T00:00:00Z"}));
}

TEST(ScheduleCrontab, DayOfMonthOrDayOfWeekWhenBothRestricted) {
  // 13th or any Friday (Vixie cron / cronie): Jan 2026 Fridays 2, 9, 16.
  EXPECT_EQ(Next("0 0 13 * 5", "2026-01-01T00:00:00Z", 4),
            (V{"2026-01-02T00:00:00Z", "2026-01-09T00:00:00Z", "2026-01-13T00:00:00Z", "2026-01-16T00:00:00Z"}));
  // A field starting with `*` is unrestricted: both must match (odd-day Fridays).
  EXPECT_EQ(Next("0 0 */2 * 5", "2026-01-01T00:00:00Z", 2), (V{"2026-01-09T00:00:00Z", "2026-01-23T00:00:00Z"}));
}

TEST(ScheduleCrontab, Macros) {
  EXPECT_EQ(Next("@hourly", "2026-01-01T00:30:00Z", 1), (V{"2026-01-01T01:00:00Z"}));
  EXPECT_EQ(Next("@daily", "2026-01-01T00:30:00Z", 1), (V{"2026-01-02T00:00:00Z"}));
  EXPECT_EQ(Next("@midnight", "2026-01-01T00:30:00Z", 1), (V{"2026-01-02T00:00:00Z"}));
  EXPECT_EQ(Next("@weekly", "2026-01-01T00:30:00Z", 1), (V{"2026-01-04T00:00:00Z"}));
  EXPECT_EQ(Next("@monthly", "2026-01-01T00:30:00Z", 1), (V{"2026-02-01T00:00:00Z"}));
  EXPECT_EQ(Next("@yearly", "2026-01-01T00:30:00Z", 1), (V{"2027-01-01T00:00:00Z"}));
  EXPECT_EQ(Next("@annually", "2026-01-01T00:30:00Z", 1), (V{"2027-01-01T00:00:00Z"}));
  EXPECT_EQ(Must("@daily").kind(), Schedule::Kind::kCrontab);
  EXPECT_NE(ErrorOf("@reboot").find("@reboot at position 1 is not supported"), std::string::npos);
  EXPECT_NE(ErrorOf("@often").find("\"@often\" at position 1 is not one of"), std::string::npos);
}

TEST(ScheduleCron, FixedOffsetZoneShiftsWallTime) {
  // Etc/GMT-2 is UTC+2 (POSIX signs): 09:00 there is 07:00Z.
  EXPECT_EQ(Next("cron(0 9 * * ? *)", "2026-01-01T00:00:00Z", 1, "Etc/GMT-2"), (V{"2026-01-01T07:00:00Z"}));
  EXPECT_EQ(Next("0 9 * * *", "2026-01-01T08:00:00Z", 1, "Etc/GMT+5"), (V{"2026-01-01T14:00:00Z"}));
  EXPECT_EQ(Must("rate(1 hour)", "").time_zone().name(), "UTC");
}

TEST(ScheduleRate, AnchoredAtTheEpoch) {
  EXPECT_EQ(Next("rate(5 minutes)", "2026-01-01T00:02:00Z", 2), (V{"2026-01-01T00:05:00Z", "2026-01-01T00:10:00Z"}));
  EXPECT_EQ(Next("rate(5 minutes)", "2026-01-01T00:05:00Z", 1), (V{"2026-01-01T00:10:00Z"}));
  EXPECT_EQ(Next("rate(1 hour)", "2026-01-01T00:00:01Z", 1), (V{"2026-01-01T01:00:00Z"}));
  // 2026-01-01 is day 20454 since the epoch (even): every other day from 1970-01-01.
  EXPECT_EQ(Next("rate(2 days)", "2026-01-01T00:00:00Z", 1), (V{"2026-01-03T00:00:00Z"}));
  EXPECT_EQ(Next("rate(7 days)", "1970-01-01T00:00:00Z", 1), (V{"1970-01-08T00:00:00Z"}));
  EXPECT_EQ(Next("rate(30 seconds)", "2026-01-01T00:00:10Z", 2), (V{"2026-01-01T00:00:30Z", "2026-01-01T00:01:00Z"}));
  EXPECT_EQ(Next("rate(1 second)", "2026-01-01T00:00:00.500Z", 1), (V{"2026-01-01T00:00:01Z"}));
  const Schedule s = Must("rate(5 minutes)");
  EXPECT_EQ(Show(s.LatestAtOrBefore(T("2026-01-01T00:05:00Z"))), "2026-01-01T00:05:00Z");
  EXPECT_EQ(Show(s.LatestAtOrBefore(T("2026-01-01T00:04:59.999Z"))), "2026-01-01T00:00:00Z");
  EXPECT_EQ(s.kind(), Schedule::Kind::kRate);
}

TEST(ScheduleRate, TimeZoneDoesNotMoveARate) {
  EXPECT_EQ(Next("rate(1 day)", "2026-01-01T10:00:00Z", 1, "Etc/GMT-5"), (V{"2026-01-02T00:00:00Z"}));
}

TEST(ScheduleRate, SingularForOnePluralOtherwise) {
  EXPECT_EQ(ErrorOf("rate(1 minutes)"),
            "schedule \"rate(1 minutes)\": rate unit \"minutes\" at position 8 must be \"minute\" for a value of 1 "
            "(as in EventBridge)");
  EXPECT_NE(ErrorOf("rate(5 hour)").find("must be \"hours\" for a value of 5"), std::string::npos);
  EXPECT_NE(ErrorOf("rate(0 minutes)").find("rate value \"0\" at position 6 is out of range 1-"), std::string::npos);
  EXPECT_NE(ErrorOf("rate(99999999999999999999999 days)").find("is out of range 1-36525"), std::string::npos);
  EXPECT_NE(ErrorOf("rate(2 weeks)").find("rate unit \"weeks\" at position 8 is not one of"), std::string::npos);
  EXPECT_NE(ErrorOf("rate(-1 days)").find("is not a whole number"), std::string::npos);
  EXPECT_NE(ErrorOf("rate(5 minutes"), "");
}

TEST(ScheduleAt, OneTimeInTheScheduleZone) {
  const Schedule s = Must("at(2026-05-01T10:00:00)");
  EXPECT_EQ(s.kind(), Schedule::Kind::kAt);
  EXPECT_EQ(Show(s.NextAfter(T("2026-01-01T00:00:00Z"))), "2026-05-01T10:00:00Z");
  EXPECT_EQ(Show(s.NextAfter(T("2026-05-01T10:00:00Z"))), "never");
  EXPECT_EQ(Show(s.LatestAtOrBefore(T("2026-05-01T10:00:00Z"))), "2026-05-01T10:00:00Z");
  EXPECT_EQ(Show(s.LatestAtOrBefore(T("2026-05-01T09:59:59Z"))), "never");
  EXPECT_EQ(Show(Must("at(2026-05-01T10:00:00)", "Etc/GMT-2").NextAfter(0)), "2026-05-01T08:00:00Z");
  EXPECT_EQ(Show(Must("at(2028-02-29T00:00:30)").NextAfter(0)), "2028-02-29T00:00:30Z");
}

TEST(ScheduleAt, InvalidDatesAreRefused) {
  EXPECT_EQ(ErrorOf("at(2026-02-30T00:00:00)"),
            "schedule \"at(2026-02-30T00:00:00)\": at() time \"2026-02-30T00:00:00\" at position 4 is not a valid "
            "yyyy-mm-ddThh:mm:ss in years 1970-2199");
  EXPECT_NE(ErrorOf("at(2026-02-29T00:00:00)"), "");
  EXPECT_NE(ErrorOf("at(2026-01-01T24:00:00)"), "");
  EXPECT_NE(ErrorOf("at(2026-01-01 00:00:00)"), "");
  EXPECT_NE(ErrorOf("at(2026-01-01T00:00:00Z)"), "");
  EXPECT_NE(ErrorOf("at(2200-01-01T00:00:00)"), "");
}

TEST(ScheduleErrors, NameThePositionAndToken) {
  EXPECT_EQ(ErrorOf("cron(0 25 * * ? *)"),
            "schedule \"cron(0 25 * * ? *)\": hour \"25\" at position 8 is out of range 0-23");
  EXPECT_EQ(ErrorOf("cron(0 0 * * ? 1969)"),
            "schedule \"cron(0 0 * * ? 1969)\": year \"1969\" at position 16 is out of range 1970-2199");
  EXPECT_EQ(ErrorOf("*/0 * * * *"), "schedule \"*/0 * * * *\": minute \"0\" at position 3 is a step out of range 1-60");
  EXPECT_EQ(ErrorOf("1,,2 * * * *"), "schedule \"1,,2 * * * *\": minute \"\" at position 3 is an empty list item");
  EXPECT_EQ(ErrorOf("cron(0 0 ? FOO * *)"),
            "schedule \"cron(0 0 ? FOO * *)\": month \"FOO\" at position 12 is not a number or a name (JAN-DEC)");
  EXPECT_EQ(ErrorOf("cron(0 0 ? * 3#6 *)"),
            "schedule \"cron(0 0 ? * 3#6 *)\": day-of-week \"6\" at position 16 is not an occurrence in the month "
            "(1-5)");
  EXPECT_EQ(ErrorOf("0 0 * * 8"), "schedule \"0 0 * * 8\": day-of-week \"8\" at position 9 is out of range 0-7");
  EXPECT_EQ(ErrorOf("cron(0 0 ? * 0 *)"),
            "schedule \"cron(0 0 ? * 0 *)\": day-of-week \"0\" at position 14 is out of range 1-7");
  EXPECT_EQ(ErrorOf("0 5-1 * * *"), "schedule \"0 5-1 * * *\": hour \"5-1\" at position 3 is a range that runs backwards");
  EXPECT_EQ(ErrorOf("0 99999999999 * * *"),
            "schedule \"0 99999999999 * * *\": hour \"99999999999\" at position 3 is out of range 0-23");
}

TEST(ScheduleErrors, FieldCountsDayFieldsAndJunk) {
  EXPECT_EQ(ErrorOf("cron(0 0 * * ?)"),
            "schedule \"cron(0 0 * * ?)\": cron() takes 6 fields (minute hour day-of-month month day-of-week "
            "year), found 5");
  EXPECT_EQ(ErrorOf("0 0 * * * *"),
            "schedule \"0 0 * * * *\": unexpected field \"*\" at position 11: a crontab line takes 5 fields "
            "(minute hour day-of-month month day-of-week)");
  EXPECT_EQ(ErrorOf("cron(0 0 1 * MON *)"),
            "schedule \"cron(0 0 1 * MON *)\": day-of-month \"1\" at position 10 and day-of-week \"MON\" at "
            "position 14: one of them must be \"?\"");
  EXPECT_NE(ErrorOf("cron(0 0 * * * *)").find("one of them must be \"?\""), std::string::npos);
  EXPECT_NE(ErrorOf("cron(0 0 ? * ? *)").find("are both \"?\""), std::string::npos);
  EXPECT_EQ(ErrorOf("cron(0 0 * * ? *) x"),
            "schedule \"cron(0 0 * * ? *) x\": trailing \" x\" at position 18 after \")\"");
  EXPECT_NE(ErrorOf("cron(0 0 * * ? *").find("missing \")\""), std::string::npos);
  EXPECT_EQ(ErrorOf("cron(0 0 * * ? *)\xc3\xa9"),
            "schedule \"cron(0 0 * * ? *)\xc3\xa9\": byte 0xC3 at position 18 is not a printable ASCII character");
  EXPECT_NE(ErrorOf("").find("is empty"), std::string::npos);
  EXPECT_NE(ErrorOf("every(5 minutes)").find("\"every(\" at position 1 is not cron(...)"), std::string::npos);
  EXPECT_NE(ErrorOf("cron(0 0 * * ? *)", "Mars/Olympus").find("Mars/Olympus"), std::string::npos);
}

// LatestAtOrBefore and NextAfter describe the same set of instants: checked
// at random instants for several expressions.
TEST(ScheduleProperty, LatestAtOrBeforeAgreesWithNextAfter) {
  const char* exprs[] = {"cron(0/7 */5 ? * MON-FRI *)", "cron(0 0 L * ? *)", "cron(30 2 ? * 6#3 *)",
                         "cron(0 12 15W * ? 2026-2030)", "*/15 * * * *", "0 0 13 * 5", "@monthly",
                         "rate(7 minutes)", "rate(3 days)", "at(2027-06-01T12:00:00)"};
  std::mt19937_64 rng(20260308);
  std::uniform_int_distribution<EpochMs> when(T("2025-01-01T00:00:00Z"), T("2032-01-01T00:00:00Z"));
  for (const char* expr : exprs) {
    for (const char* tz : {"UTC", "Etc/GMT-11"}) {
      const Schedule s = Must(expr, tz);
      for (int i = 0; i < 300; ++i) {
        const EpochMs t = when(rng);
        const auto latest = s.LatestAtOrBefore(t);
        const auto next = s.NextAfter(t);
        if (next) {
          EXPECT_GT(*next, t) << expr;
          EXPECT_EQ(s.LatestAtOrBefore(*next), next) << expr << " " << Show(next);
          EXPECT_EQ(s.LatestAtOrBefore(*next - 1), latest) << expr << " " << Show(t);
        }
        if (latest) {
          EXPECT_LE(*latest, t) << expr;
          EXPECT_EQ(s.NextAfter(*latest), next) << expr << " " << Show(t);
          EXPECT_EQ(s.NextAfter(*latest - 1), latest) << expr << " " << Show(t);
        }
      }
    }
  }
}

}  // namespace
}  // namespace jobgate
