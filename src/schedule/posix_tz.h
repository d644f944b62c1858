// The POSIX TZ string of a TZif footer (RFC 8536 section 3.3, with its
// extensions: hours up to 167 and negative in rule times): the rule a zone
// follows after its last explicit transition, e.g. "EST5EDT,M3.2.0,M11.1.0"
// or "<+1030>-10:30<+11>-11,M10.1.0,M4.1.0". Pure values; thread-compatible.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "jobgate/status.h"

namespace jobgate {

// The day and local time, in a year, at which a zone enters or leaves DST.
struct PosixTzRule {
  enum class Kind {
    kJulian1,         // Jn: day 1-365, February 29 never counted
    kJulian0,         // n: day 0-365, February 29 counted in leap years
    kMonthWeekDay,    // Mm.w.d: weekday d (0 = Sunday) of week w (5 = last) of month m
  };
  Kind kind = Kind::kMonthWeekDay;
  int day = 0;        // kJulian1 / kJulian0
  int month = 0;      // kMonthWeekDay: 1-12
  int week = 0;       // kMonthWeekDay: 1-5
  int weekday = 0;    // kMonthWeekDay: 0-6
  int32_t time_s = 7200;  // local time of day (of the time in effect before), -167h..167h
};

struct PosixTz {
  std::string std_abbr;
  int32_t std_offset_s = 0;  // UTC offset, east positive (the negated POSIX offset)
  bool has_dst = false;
  std::string dst_abbr;
  int32_t dst_offset_s = 0;  // has_dst: UTC offset in DST
  PosixTzRule start;         // has_dst: when DST begins (in standard time)
  PosixTzRule end;           // has_dst: when DST ends (in daylight time)
};

// An instant at which the offset becomes `offset_s`.
struct PosixTzTransition {
  int64_t at_s = 0;
  int32_t offset_s = 0;
};

// Parses a whole TZ string; kInvalidArgument naming the position and the
// problem when it is malformed. Empty is an error (a TZif footer that is
// empty means "no rule", which the caller handles).
Result<PosixTz> ParsePosixTz(std::string_view text);

// The transitions of `tz` in the years [first_year, last_year], in order,
// each a real change of offset from the one before it (a DST "all year"
// rule such as "EST5EDT4,0/0,J365/25" yields none after its first).
std::vector<PosixTzTransition> PosixTzTransitions(const PosixTz& tz, int64_t first_year, int64_t last_year);

// The UTC offset `tz` gives the instant `utc_s`.
int32_t PosixTzOffsetAt(const PosixTz& tz, int64_t utc_s);

// The first instant after `utc_s` at which the offset of `tz` changes.
bool PosixTzNextTransition(const PosixTz& tz, int64_t utc_s, int64_t* at_s);

// The proleptic Gregorian year of the day `days` since 1970-01-01.
int64_t YearFromDays(int64_t days);

}  // namespace jobgate
