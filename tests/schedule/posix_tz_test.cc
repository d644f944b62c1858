// The POSIX TZ footer rules (RFC 8536 section 3.3): the forms the IANA
// database writes, the day rules, and malformed strings as errors.
#include "schedule/posix_tz.h"

#include <random>

#include <gtest/gtest.h>

#include "util/numbers.h"

namespace jobgate {
namespace {

int64_t Utc(int64_t y, int mo, int d, int h = 0, int mi = 0) { return DaysFromCivil(y, mo, d) * 86400 + h * 3600 + mi * 60; }

PosixTz MustParse(std::string_view text) {
  auto tz = ParsePosixTz(text);
  EXPECT_TRUE(tz.ok()) << text << ": " << tz.status().message();
  return tz.ok() ? tz.value() : PosixTz{};
}

TEST(PosixTz, ParsesUsRules) {
  const PosixTz tz = MustParse("EST5EDT,M3.2.0,M11.1.0");
  EXPECT_EQ(tz.std_abbr, "EST");
  EXPECT_EQ(tz.std_offset_s, -5 * 3600);
  ASSERT_TRUE(tz.has_dst);
  EXPECT_EQ(tz.dst_abbr, "EDT");
  EXPECT_EQ(tz.dst_offset_s, -4 * 3600);  // one hour ahead when not given
  EXPECT_EQ(tz.start.kind, PosixTzRule::Kind::kMonthWeekDay);
  EXPECT_EQ(tz.start.month, 3);
  EXPECT_EQ(tz.start.week, 2);
  EXPECT_EQ(tz.start.weekday, 0);
  EXPECT_EQ(tz.start.time_s, 7200);  // 02:00 when not given
  EXPECT_EQ(tz.end.month, 11);
}

TEST(PosixTz, ParsesQuotedAbbreviationsAndMinuteOffsets) {
  const PosixTz tz = MustParse("<+1030>-10:30<+11>-11,M10.1.0,M4.1.0");
  EXPECT_EQ(tz.std_abbr, "+1030");
  EXPECT_EQ(tz.std_offset_s, 10 * 3600 + 1800);
  EXPECT_EQ(tz.dst_abbr, "+11");
  EXPECT_EQ(tz.dst_offset_s, 11 * 3600);
  const PosixTz chatham = MustParse("<+1245>-12:45<+1345>,M9.5.0/2:45,M4.1.0/3:45");
  EXPECT_EQ(chatham.dst_offset_s, 13 * 3600 + 45 * 60);
  EXPECT_EQ(chatham.start.time_s, 2 * 3600 + 45 * 60);
  EXPECT_EQ(MustParse("<-0130>1:30:15").std_offset_s, -(3600 + 1800 + 15));
}

TEST(PosixTz, ParsesStandardTimeOnly) {
  const PosixTz tz = MustParse("<+0530>-5:30");
  EXPECT_FALSE(tz.has_dst);
  EXPECT_EQ(PosixTzOffsetAt(tz, Utc(2400, 7, 1)), 19800);
  int64_t at = 0;
  EXPECT_FALSE(PosixTzNextTransition(tz, Utc(2026, 1, 1), &at));
  EXPECT_TRUE(PosixTzTransitions(tz, 2000, 2100).empty());
}

TEST(PosixTz, NegativeAndLateRuleTimes) {
  // America/Nuuk: DST from the last Sunday of March at -01:00 (Saturday 23:00).
  const PosixTz nuuk = MustParse("<-02>2<-01>,M3.5.0/-1,M10.5.0/0");
  EXPECT_EQ(nuuk.start.time_s, -3600);
  const auto t = PosixTzTransitions(nuuk, 2026, 2026);
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t[0].at_s, Utc(2026, 3, 28, 23 + 2));  // Sunday 2026-03-29 minus 1 h, in -02
  EXPECT_EQ(t[0].offset_s, -3600);
  EXPECT_EQ(t[1].at_s, Utc(2026, 10, 25, 1));  // 00:00 in -01
  // Asia/Jerusalem: the Thursday before the last Friday of March at 26:00 (Friday 02:00).
  const PosixTz jerusalem = MustParse("IST-2IDT,M3.4.4/26,M10.5.0");
  EXPECT_EQ(jerusalem.start.time_s, 26 * 3600);
  EXPECT_EQ(PosixTzTransitions(jerusalem, 2026, 2026).at(0).at_s, Utc(2026, 3, 27, 0));  // 02:00 +02
  EXPECT_TRUE(ParsePosixTz("XXX3YYY,M3.2.0/167,M11.1.0/-167").ok());
}

TEST(PosixTz, JulianDaysSkipOrCountFebruary29) {
  // Jn never counts February 29: J60 is March 1 in every year.
  const PosixTz j = MustParse("AAA0BBB,J60/0,J300/0");
  EXPECT_EQ(PosixTzTransitions(j, 2024, 2024).at(0).at_s, Utc(2024, 3, 1));
  EXPECT_EQ(PosixTzTransitions(j, 2025, 2025).at(0).at_s, Utc(2025, 3, 1));
  // n counts it: day 59 is February 29 in a leap year, March 1 otherwise.
  const PosixTz n = MustParse("AAA0BBB,59/0,300/0");
  EXPECT_EQ(PosixTzTransitions(n, 2024, 2024).at(0).at_s, Utc(2024, 2, 29));
  EXPECT_EQ(PosixTzTransitions(n, 2025, 2025).at(0).at_s, Utc(2025, 3, 1));
  EXPECT_EQ(n.start.kind, PosixTzRule::Kind::kJulian0);
}

TEST(PosixTz, FifthWeekMeansLastWeekday) {
  const PosixTz tz = MustParse("CET-1CEST,M3.5.0,M10.5.0/3");
  const auto t = PosixTzTransitions(tz, 2026, 2026);
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t[0].at_s, Utc(2026, 3, 29, 1));   // last Sunday of March, 02:00 CET
  EXPECT_EQ(t[1].at_s, Utc(2026, 10, 25, 1));  // last Sunday of October, 03:00 CEST
}

TEST(PosixTz, DstAllYearHasNoTransitions) {
  // RFC 8536 section 3.3.1: starting January 1 00:00 and ending December 31
  // at 24:00 plus the DST shift means DST all year.
  const PosixTz tz = MustParse("EST5EDT4,0/0,J365/25");
  for (int64_t y : {2026, 2100, 2400}) {
    EXPECT_EQ(PosixTzOffsetAt(tz, Utc(y, 1, 1, 5)), -4 * 3600) << y;
    EXPECT_EQ(PosixTzOffsetAt(tz, Utc(y, 7, 1)), -4 * 3600) << y;
    EXPECT_EQ(PosixTzOffsetAt(tz, Utc(y, 12, 31, 23)), -4 * 3600) << y;
  }
  int64_t at = 0;
  EXPECT_FALSE(PosixTzNextTransition(tz, Utc(2026, 6, 1), &at));
}

TEST(PosixTz, SouthernHemisphereOffsetsAndNextTransition) {
  const PosixTz tz = MustParse("<+1030>-10:30<+11>-11,M10.1.0,M4.1.0");
  EXPECT_EQ(PosixTzOffsetAt(tz, Utc(2400, 1, 1)), 11 * 3600);
  EXPECT_EQ(PosixTzOffsetAt(tz, Utc(2400, 7, 1)), 10 * 3600 + 1800);
  int64_t at = 0;
  ASSERT_TRUE(PosixTzNextTransition(tz, Utc(2400, 1, 1), &at));
  EXPECT_EQ(at, Utc(2400, 4, 1, 15));  // 2400-04-02 02:00 +11
  ASSERT_TRUE(PosixTzNextTransition(tz, at, &at));
  EXPECT_EQ(at, Utc(2400, 9, 30, 15, 30));  // 2400-10-01 02:00 +10:30
}

TEST(PosixTz, ExtremeInstantsDoNotOverflow) {
  const PosixTz tz = MustParse("EST5EDT,M3.2.0,M11.1.0");
  (void)PosixTzOffsetAt(tz, INT64_MAX);
  (void)PosixTzOffsetAt(tz, INT64_MIN);
  int64_t at = 0;
  EXPECT_FALSE(PosixTzNextTransition(tz, INT64_MAX, &at));
}

TEST(PosixTz, RejectsMalformedStrings) {
  for (const char* bad : {"", "E5", "EST", "EST+", "EST25", "EST5x", "EST5EDT,", "EST5EDT,M3.2.0", "EST5EDT,M13.2.0,M11.1.0",
                          "EST5EDT,M3.0.0,M11.1.0", "EST5EDT,M3.6.0,M11.1.0", "EST5EDT,M3.2.7,M11.1.0", "EST5EDT,J0,J365",
                          "EST5EDT,366,J365", "EST5EDT,M3.2.0/168,M11.1.0", "EST5EDT,M3.2.0,M11.1.0,", "<EST5", "<E>5",
                          "EST5:60", "EST5EDT,M3.2.0,M11.1.0/2:", "EST5EDT,M3-2.0,M11.1.0"}) {
    auto tz = ParsePosixTz(bad);
    ASSERT_FALSE(tz.ok()) << bad;
    EXPECT_EQ(tz.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(tz.status().message().find("TZ \""), std::string::npos) << tz.status().message();
    EXPECT_NE(tz.status().message().find("at position"), std::string::npos) << tz.status().message();
  }
}

TEST(PosixTz, RandomStringsAreParsedOrRefusedNeverCrash) {
  // Seeded: a failing string is printed and reproduces alone.
  std::mt19937_64 rng(8536);
  const std::string alphabet = "<>+-:,./JMESTDAB0123456789";
  int parsed = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string text = i % 2 ? "EST5EDT," : "<+1030>-10:30<+11>";
    const size_t length = rng() % 16;
    for (size_t j = 0; j < length; ++j) text += alphabet[rng() % alphabet.size()];
    auto tz = ParsePosixTz(text);
    if (!tz.ok()) continue;
    ++parsed;
    int64_t at = 0;
    (void)PosixTzOffsetAt(*tz, Utc(2100, 6, 1));
    (void)PosixTzNextTransition(*tz, Utc(2100, 6, 1), &at);
  }
  EXPECT_GT(parsed, 0);
}

TEST(PosixTz, YearFromDaysInvertsDaysFromCivil) {
  for (int64_t y : {-400, -1, 0, 1, 1969, 1970, 2000, 2100, 2400, 100000}) {
    EXPECT_EQ(YearFromDays(DaysFromCivil(y, 1, 1)), y);
    EXPECT_EQ(YearFromDays(DaysFromCivil(y, 12, 31)), y);
  }
}

}  // namespace
}  // namespace jobgate
