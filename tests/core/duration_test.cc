#include "core/duration.h"

#include <gtest/gtest.h>

#include <ctime>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "util/text.h"

namespace jobgate {
namespace {

constexpr int64_t kSecond = 1000;
constexpr int64_t kMinute = 60 * kSecond;
constexpr int64_t kHour = 60 * kMinute;
constexpr int64_t kDay = 24 * kHour;

struct DurationCase {
  const char* text;
  int64_t want_ms;
};

TEST(ParseDurationMs, AcceptsUnitsLargestFirst) {
  const std::vector<DurationCase> cases = {
      {"0", 0},
      {"0s", 0},
      {"0ms", 0},
      {"250ms", 250},
      {"1s", kSecond},
      {"90s", 90 * kSecond},
      {"15m", 15 * kMinute},
      {"90m", 90 * kMinute},
      {"1h", kHour},
      {"1h30m", kHour + 30 * kMinute},
      {"2d", 2 * kDay},
      {"1m30s500ms", 90 * kSecond + 500},
      {"1s1ms", 1001},
      {"1d2h3m4s5ms", kDay + 2 * kHour + 3 * kMinute + 4 * kSecond + 5},
      {"1h0m", kHour},        // a zero component is harmless
      {"05m", 5 * kMinute},   // leading zeros are harmless
      {"366d", kMaxDurationMs},
      {"365d23h59m59s999ms", kMaxDurationMs - 1},
      {"31622400000ms", kMaxDurationMs},
  };
  for (const auto& c : cases) {
    auto r = ParseDurationMs(c.text, "--cooldown");
    ASSERT_TRUE(r.ok()) << c.text << ": " << r.status().message();
    EXPECT_EQ(*r, c.want_ms) << c.text;
  }
}

struct BadDurationCase {
  std::string text;
  const char* why;  // a part of the message that says what is wrong
};

TEST(ParseDurationMs, RefusesAnythingElseNamingFieldAndValue) {
  const std::vector<BadDurationCase> cases = {
      {"", "use e.g. 90s"},
      {"banana", "use e.g. 90s"},
      {"5", "needs a unit"},  // seconds or minutes? refuse to guess
      {"00", "needs a unit"},
      {"1h30", "needs a unit"},
      {"-5m", "negative"},
      {"+5m", "use e.g. 90s"},
      {"1.5h", "use e.g. 90s"},
      {"1h 30m", "use e.g. 90s"},  // no spaces: a flag value is one word
      {" 1h", "use e.g. 90s"},
      {"1h ", "use e.g. 90s"},
      {"1H", "use e.g. 90s"},
      {"h", "use e.g. 90s"},
      {"ms", "use e.g. 90s"},
      {"0x10s", "units are d, h, m, s and ms"},
      {"1hour", "units are d, h, m, s and ms"},
      {"1y", "units are d, h, m, s and ms"},
      {"1us", "units are d, h, m, s and ms"},
      {"30m1h", "largest to smallest"},
      {"1ms1s", "largest to smallest"},
      {"1m1m", "largest to smallest"},
      {"367d", "longer than 366d"},
      {"366d1ms", "longer than 366d"},
      {"8785h", "longer than 366d"},
      {"9223372036854775807ms", "longer than 366d"},
      {"99999999999999999999999999999s", "longer than 366d"},
  };
  for (const auto& c : cases) {
    auto r = ParseDurationMs(c.text, "--cooldown");
    ASSERT_FALSE(r.ok()) << c.text;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << c.text;
    const std::string& m = r.status().message();
    EXPECT_TRUE(m.starts_with("--cooldown: " + Quote(c.text) + " is not a duration (")) << m;
    EXPECT_NE(m.find(c.why), std::string::npos) << m;
  }
}

TEST(ParseDurationMs, MessageReadsLikeTheDesign) {
  auto r = ParseDurationMs("banana", "--cooldown");
  EXPECT_EQ(r.status().message(), R"(--cooldown: "banana" is not a duration (use e.g. 90s, 15m, 1h30m, 2d))");
}

TEST(ParseDurationMs, QuotesHostileValuesSafely) {
  auto r = ParseDurationMs("5m\n\x1b[2J", "cooldown");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message().find('\x1b'), std::string::npos);
  EXPECT_NE(r.status().message().find(R"("5m\n\u001b[2J")"), std::string::npos);
}

TEST(FormatDuration, WritesLargestUnitFirstAndOmitsZeros) {
  const std::vector<std::pair<int64_t, const char*>> cases = {
      {0, "0s"},
      {1, "1ms"},
      {250, "250ms"},
      {kSecond, "1s"},
      {90 * kSecond, "1m30s"},
      {90 * kSecond + 500, "1m30s500ms"},
      {15 * kMinute, "15m"},
      {kHour + 30 * kMinute, "1h30m"},
      {2 * kDay, "2d"},
      {kDay + 1, "1d1ms"},
      {kMaxDurationMs, "366d"},
      {-1500, "-1s500ms"},
      {std::numeric_limits<int64_t>::min(), "-106751991167d7h12m55s808ms"},
  };
  for (const auto& [ms, want] : cases) {
    EXPECT_EQ(FormatDuration(ms), want) << ms;
  }
}

TEST(FormatDuration, RoundTripsThroughTheParser) {
  std::vector<int64_t> values = {0, 1, 999, 1000, 1001, 59'999, 60'000, kHour - 1, kDay - 1, kDay,
                                 kMaxDurationMs - 1, kMaxDurationMs};
  std::mt19937_64 rng(42);  // fixed seed: a failure replays exactly
  std::uniform_int_distribution<int64_t> any(0, kMaxDurationMs);
  // Built from components, so that zero components turn up often.
  std::uniform_int_distribution<int> pick(0, 3);
  for (int i = 0; i < 100'000; ++i) {
    values.push_back(any(rng));
    const int64_t parts = (pick(rng) ? 0 : rng() % 366) * kDay + (pick(rng) ? 0 : rng() % 24) * kHour +
                          (pick(rng) ? 0 : rng() % 60) * kMinute + (pick(rng) ? 0 : rng() % 60) * kSecond +
                          (pick(rng) ? 0 : rng() % 1000);
    values.push_back(parts);
  }
  for (const int64_t ms : values) {
    const std::string text = FormatDuration(ms);
    auto back = ParseDurationMs(text, "d");
    ASSERT_TRUE(back.ok()) << ms << " -> " << text << ": " << back.status().message();
    ASSERT_EQ(*back, ms) << text;
  }
}

TEST(FormatDuration, CanonicalTextComesBackUnchanged) {
  for (const char* text : {"0s", "1ms", "250ms", "90m", "1h30m", "2d", "1m30s500ms", "1d2h3m4s5ms"}) {
    auto ms = ParseDurationMs(text, "d");
    ASSERT_TRUE(ms.ok()) << text;
    // "90m" is not canonical: it comes back as 1h30m.
    EXPECT_EQ(FormatDuration(*ms), std::string(text) == "90m" ? "1h30m" : text);
  }
}

// ---------------------------------------------------------------------------

constexpr EpochMs k2026 = 1'767'225'600'000;  // 2026-01-01T00:00:00Z

struct TimeCase {
  const char* text;
  EpochMs want;
};

TEST(ParseTime, AcceptsRfc3339AndEpochMilliseconds) {
  const std::vector<TimeCase> cases = {
      {"2026-01-01T00:00:00Z", k2026},
      {"2026-01-01t00:00:00z", k2026},
      {"2026-01-01 00:00:00Z", k2026},  // RFC 3339 section 5.6, NOTE
      {"2026-01-01T02:00:00+02:00", k2026},
      {"2025-12-31T19:00:00-05:00", k2026},
      {"2026-01-01T05:30:00+05:30", k2026},
      {"2026-01-01T00:00:00-00:00", k2026},  // "unknown local offset" is UTC
      {"2026-01-01T23:59:00+23:59", k2026},
      {"2026-01-01T00:00:00.5Z", k2026 + 500},
      {"2026-01-01T00:00:00.05Z", k2026 + 50},
      {"2026-01-01T00:00:00.123Z", k2026 + 123},
      {"2026-01-01T00:00:00.123456789Z", k2026 + 123},  // truncated, never rounded up
      {"2026-01-01T00:00:00.9999Z", k2026 + 999},
      {"2026-01-01T00:00:00.000+01:00", k2026 - 3'600'000},
      {"1970-01-01T00:00:00Z", 0},
      {"1970-01-01T00:00:00.001Z", 1},
      {"1969-12-31T23:59:59.999Z", -1},
      {"2024-02-29T12:00:00Z", 1'709'208'000'000},  // leap year
      {"2000-02-29T00:00:00Z", 951'782'400'000},    // divisible by 400: leap
      {"0000-01-01T00:00:00Z", -62'167'219'200'000},
      {"9999-12-31T23:59:59.999Z", 253'402'300'799'999},
      {"0", 0},
      {"1767225600000", k2026},
      {"-1", -1},
      {"253402300799999", 253'402'300'799'999},
  };
  for (const auto& c : cases) {
    auto r = ParseTime(c.text, "--slot");
    ASSERT_TRUE(r.ok()) << c.text << ": " << r.status().message();
    EXPECT_EQ(*r, c.want) << c.text;
  }
}

struct BadTimeCase {
  std::string text;
  const char* why;
};

TEST(ParseTime, RefusesBadTimesNamingFieldValueAndPart) {
  const std::vector<BadTimeCase> cases = {
      {"", "is not a time (use RFC 3339"},
      {"banana", "is not a time"},
      {"tomorrow at noon", "is not a time"},
      {"2026-01-01", "is not a time"},
      {"2026-1-1T00:00:00Z", "is not a time"},
      {"2026-01-01T00:00Z", "is not a time"},
      {"2026-01-01T0:00:00Z", "is not a time"},
      {"2026-01-01X00:00:00Z", "is not a time"},
      {"2026-01-01T00:00:00.Z", "is not a time"},
      {"2026-01-01T00:00:00+0200", "is not a time"},
      {"2026-01-01T00:00:00+02", "is not a time"},
      {"2026-01-01T00:00:00UTC", "is not a time"},
      {"2026-01-01T00:00:00Z ", "is not a time"},
      {" 2026-01-01T00:00:00Z", "is not a time"},
      {"2026-01-01T00:00:00ZZ", "is not a time"},
      {"+2026-01-01T00:00:00Z", "is not a time"},
      {"12abc", "is not a time"},
      {"1e3", "is not a time"},
      {"-", "is not a time"},
      {"1.5", "is not a time"},
      {"2026-01-01T00:00:00", "has no UTC offset"},
      {"2026-01-01T00:00:00.250", "has no UTC offset"},
      {"2026-13-01T00:00:00Z", "has month 13 (must be 01-12)"},
      {"2026-00-01T00:00:00Z", "has month 0 (must be 01-12)"},
      {"2026-01-00T00:00:00Z", "has day 0"},
      {"2026-01-32T00:00:00Z", "has day 32 (January 2026 has 31 days)"},
      {"2026-02-30T00:00:00Z", "has day 30 (February 2026 has 28 days)"},
      {"2026-02-29T00:00:00Z", "has day 29 (February 2026 has 28 days)"},
      {"1900-02-29T00:00:00Z", "has day 29 (February 1900 has 28 days)"},  // divisible by 100: not leap
      {"2026-04-31T00:00:00Z", "has day 31 (April 2026 has 30 days)"},
      {"2026-01-01T24:00:00Z", "has hour 24 (must be 00-23)"},
      {"2026-01-01T00:60:00Z", "has minute 60 (must be 00-59)"},
      {"2026-12-31T23:59:60Z", "has second 60 (leap seconds are not supported)"},
      {"2026-01-01T00:00:61Z", "has second 61 (must be 00-59)"},
      {"2026-01-01T00:00:00+24:00", "has offset hour 24 (must be 00-23)"},
      {"2026-01-01T00:00:00+01:60", "has offset minute 60 (must be 00-59)"},
      {"0000-01-01T00:00:00+00:01", "is out of range"},
      {"253402300800000", "is out of range"},
      {"-62167219200001", "is out of range"},
      {"99999999999999999999999999", "is out of range"},
  };
  for (const auto& c : cases) {
    auto r = ParseTime(c.text, "--slot");
    ASSERT_FALSE(r.ok()) << c.text << " gave " << *r;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << c.text;
    const std::string& m = r.status().message();
    EXPECT_TRUE(m.starts_with("--slot: " + Quote(c.text) + " ")) << m;
    EXPECT_NE(m.find(c.why), std::string::npos) << m;
  }
}

TEST(ParseTime, MessageReadsWell) {
  EXPECT_EQ(ParseTime("2026-02-30T00:00:00Z", "--slot").status().message(),
            R"(--slot: "2026-02-30T00:00:00Z" has day 30 (February 2026 has 28 days))");
}

TEST(ParseTime, ReadsBackWhatFormatRfc3339Writes) {
  std::mt19937_64 rng(3339);
  std::uniform_int_distribution<EpochMs> any(1, 253'402'300'799'999);
  for (int i = 0; i < 100'000; ++i) {
    const EpochMs ms = any(rng);
    const std::string text = FormatRfc3339(ms);
    auto back = ParseTime(text, "t");
    ASSERT_TRUE(back.ok()) << text << ": " << back.status().message();
    ASSERT_EQ(*back, ms) << text;
  }
}

// timegm is the reference here only: ParseTime itself must not need libc's
// time zone machinery.
int64_t ReferenceDays(int year, int month, int day) {
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  return static_cast<int64_t>(timegm(&tm)) / 86'400;
}

TEST(DaysFromCivil, AgreesWithTimegmAndCountsEveryDayOnce) {
  EXPECT_EQ(DaysFromCivil(1970, 1, 1), 0);
  EXPECT_EQ(DaysFromCivil(1969, 12, 31), -1);
  EXPECT_EQ(DaysFromCivil(2000, 3, 1), 11'017);
  // Walk every date from 0000-01-01 to 9999-12-31: consecutive days differ
  // by exactly one, so no date is skipped or counted twice.
  int64_t expected = DaysFromCivil(0, 1, 1);
  EXPECT_EQ(expected, ReferenceDays(0, 1, 1));
  for (int year = 0; year <= 9999; ++year) {
    for (int month = 1; month <= 12; ++month) {
      for (int day = 1; day <= DaysInMonth(year, month); ++day) {
        ASSERT_EQ(DaysFromCivil(year, month, day), expected) << year << "-" << month << "-" << day;
        ++expected;
      }
    }
    ASSERT_EQ(DaysFromCivil(year, 3, 1), ReferenceDays(year, 3, 1)) << year;
  }
  EXPECT_EQ(expected, DaysFromCivil(10000, 1, 1));
}

TEST(DaysInMonth, FollowsTheGregorianLeapYearRule) {
  EXPECT_EQ(DaysInMonth(2026, 2), 28);
  EXPECT_EQ(DaysInMonth(2024, 2), 29);
  EXPECT_EQ(DaysInMonth(1900, 2), 28);
  EXPECT_EQ(DaysInMonth(2000, 2), 29);
  EXPECT_EQ(DaysInMonth(2026, 4), 30);
  EXPECT_EQ(DaysInMonth(2026, 12), 31);
}

}  // namespace
}  // namespace jobgate
