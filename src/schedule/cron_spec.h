// A parsed cron expression (EventBridge `cron(...)` or a classic crontab
// line) and the wall-clock searches over it: which local minutes match.
// Pure calendar arithmetic; time zones and the DST rules are applied by
// schedule.cc (docs/schedules.md, "Daylight saving time").
#pragma once

#include <bitset>
#include <cstdint>
#include <optional>
#include <string_view>

#include "jobgate/status.h"
#include "util/numbers.h"

namespace jobgate::schedule {

// The years a cron expression can name (EventBridge's year field range);
// crontab lines are searched over the same years.
inline constexpr int kMinYear = 1970;
inline constexpr int kMaxYear = 2199;

// Local wall time in seconds since 1970-01-01T00:00:00 of the local
// calendar, broken down.
struct Civil {
  int64_t year = 1970;
  int month = 1;  // 1-12
  int day = 1;    // 1-31
  int hour = 0;
  int minute = 0;
  int second = 0;
  int weekday = 4;  // 0 = Sunday
};

Civil ToCivil(int64_t local_s);
constexpr int64_t LocalSeconds(int64_t year, int month, int day, int hour = 0, int minute = 0, int second = 0) {
  return DaysFromCivil(year, month, day) * 86'400 + hour * 3600 + minute * 60 + second;
}
int DaysInMonth(int64_t year, int month);

// A cron expression's matching sets, one bit per allowed value: minute
// 0-59, hour 0-23, day of month 1-31, month 1-12, weekday 0-6 (0 = Sunday,
// whatever the dialect writes), year - kMinYear.
struct CronSpec {
  std::bitset<64> minute, hour, dom, month, dow;
  std::bitset<256> year;
  // EventBridge: the day field written `?` (the other one decides).
  bool dom_any = false, dow_any = false;
  // Crontab: both day fields restricted (neither starts with `*`): a day
  // matches when either does (Vixie cron / cronie).
  bool day_or = false;
  // EventBridge day specials.
  bool last_day = false;      // `L` in day of month
  bool last_weekday = false;  // `LW`
  int nearest_weekday = 0;    // `15W`: the weekday nearest the 15th; 0 none
  int last_dow = -1;          // `6L`: the last Friday (5); -1 none
  int nth_dow = -1, nth = 0;  // `3#2`: the second Tuesday
  // Crontab: neither minute nor hour starts with `*` (cronie's "jobs that
  // run at a particular time", which DST moves rather than skips).
  bool fixed_time = false;
};

bool DayMatches(const CronSpec& spec, const Civil& c);

// The first matching local minute in [lo, hi); the last one in [lo, hi]
// (both inclusive). nullopt when none, or none before kMaxYear ends / after
// kMinYear begins. Work: a few steps per matching month and per day
// visited, never per minute.
std::optional<int64_t> NextLocalMatch(const CronSpec& spec, int64_t lo, int64_t hi);
std::optional<int64_t> PrevLocalMatch(const CronSpec& spec, int64_t lo, int64_t hi);

// Parsers. `expression` is the whole expression as the user wrote it (for
// the messages); `body` a view into it: between `cron(` and `)`, or the
// crontab line.
Result<CronSpec> ParseEventBridgeCron(std::string_view expression, std::string_view body);
Result<CronSpec> ParseCrontab(std::string_view expression, std::string_view body);

// kInvalidArgument "schedule "EXPR": WHAT": every schedule error's form.
Status ExpressionError(std::string_view expression, std::string_view what);
// 1-based position of `part` (a view into `expression`).
size_t PositionOf(std::string_view expression, std::string_view part);

}  // namespace jobgate::schedule
