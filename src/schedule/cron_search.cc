// Wall-clock search over a CronSpec: jump from a non-matching year, month,
// day, hour or minute straight to the next (or previous) candidate, so the
// work is bounded by the days visited in matching months, not by minutes.
#include <optional>

#include "schedule/cron_spec.h"
#include "util/numbers.h"

namespace jobgate::schedule {
namespace {

constexpr int64_t kDayS = 86'400;

int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

// The first set bit at or after `from` and before `end`; -1 if none.
template <size_t N>
int NextBit(const std::bitset<N>& bits, int from, int end) {
  for (int i = from < 0 ? 0 : from; i < end; ++i) {
    if (bits[static_cast<size_t>(i)]) return i;
  }
  return -1;
}

// The last set bit at or before `from` and at or after `begin`; -1 if none.
template <size_t N>
int PrevBit(const std::bitset<N>& bits, int from, int begin) {
  for (int i = from; i >= begin; --i) {
    if (bits[static_cast<size_t>(i)]) return i;
  }
  return -1;
}

int WeekdayOf(int64_t year, int month, int day) {
  const int64_t days = DaysFromCivil(year, month, day);
  return static_cast<int>(((days % 7) + 11) % 7);  // 1970-01-01 was a Thursday (4)
}

// `W`: the weekday (Mon-Fri) nearest `day` in the month, never crossing
// into another month (Quartz / EventBridge); 0 when the month is shorter.
int NearestWeekday(int64_t year, int month, int day) {
  const int dim = DaysInMonth(year, month);
  if (day > dim) return 0;
  const int wd = WeekdayOf(year, month, day);
  if (wd == 6) return day == 1 ? 3 : day - 1;      // Saturday: Friday, or Monday the 3rd
  if (wd == 0) return day == dim ? day - 2 : day + 1;  // Sunday: Monday, or Friday before
  return day;
}

bool DomMatches(const CronSpec& s, const Civil& c) {
  if (s.dom[static_cast<size_t>(c.day)]) return true;
  const int dim = DaysInMonth(c.year, c.month);
  if (s.last_day && c.day == dim) return true;
  if (s.last_weekday && c.day == NearestWeekday(c.year, c.month, dim)) return true;
  return s.nearest_weekday != 0 && c.day == NearestWeekday(c.year, c.month, s.nearest_weekday);
}

bool DowMatches(const CronSpec& s, const Civil& c) {
  if (s.dow[static_cast<size_t>(c.weekday)]) return true;
  if (s.last_dow == c.weekday && c.day + 7 > DaysInMonth(c.year, c.month)) return true;
  return s.nth_dow == c.weekday && (c.day - 1) / 7 + 1 == s.nth;
}

}  // namespace

int DaysInMonth(int64_t year, int month) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
  return month == 2 && leap ? 29 : kDays[month - 1];
}

// Howard Hinnant's civil_from_days.
Civil ToCivil(int64_t local_s) {
  const int64_t days = FloorDiv(local_s, kDayS);
  const int64_t secs = local_s - days * kDayS;
  const int64_t z = days + 719468;
  const int64_t era = FloorDiv(z, 146097);
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  Civil c;
  c.day = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  c.month = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  c.year = yoe + era * 400 + (c.month <= 2 ? 1 : 0);
  c.hour = static_cast<int>(secs / 3600);
  c.minute = static_cast<int>(secs / 60 % 60);
  c.second = static_cast<int>(secs % 60);
  c.weekday = static_cast<int>(((days % 7) + 11) % 7);
  return c;
}

bool DayMatches(const CronSpec& s, const Civil& c) {
  if (s.dom_any) return DowMatches(s, c);
  if (s.dow_any) return DomMatches(s, c);
  if (s.day_or) return DomMatches(s, c) || DowMatches(s, c);
  return DomMatches(s, c) && DowMatches(s, c);
}

std::optional<int64_t> NextLocalMatch(const CronSpec& s, int64_t lo, int64_t hi) {
  int64_t t = FloorDiv(lo + 59, 60) * 60;
  while (t < hi) {
    const Civil c = ToCivil(t);
    const int64_t day_start = t - (c.hour * 3600 + c.minute * 60);
    if (c.year > kMaxYear) return std::nullopt;
    if (c.year < kMinYear) {
      t = LocalSeconds(kMinYear, 1, 1);
    } else if (!s.year[static_cast<size_t>(c.year - kMinYear)]) {
      const int y = NextBit(s.year, static_cast<int>(c.year - kMinYear) + 1, kMaxYear - kMinYear + 1);
      if (y < 0) return std::nullopt;
      t = LocalSeconds(kMinYear + y, 1, 1);
    } else if (!s.month[static_cast<size_t>(c.month)]) {
      const int m = NextBit(s.month, c.month + 1, 13);
      t = m < 0 ? LocalSeconds(c.year + 1, 1, 1) : LocalSeconds(c.year, m, 1);
    } else if (!DayMatches(s, c)) {
      t = day_start + kDayS;
    } else if (!s.hour[static_cast<size_t>(c.hour)]) {
      const int h = NextBit(s.hour, c.hour + 1, 24);
      t = h < 0 ? day_start + kDayS : day_start + h * 3600;
    } else if (!s.minute[static_cast<size_t>(c.minute)]) {
      const int m = NextBit(s.minute, c.minute + 1, 60);
      const int64_t hour_start = day_start + c.hour * 3600;
      t = m < 0 ? hour_start + 3600 : hour_start + m * 60;
    } else {
      return t;
    }
  }
  return std::nullopt;
}

std::optional<int64_t> PrevLocalMatch(const CronSpec& s, int64_t lo, int64_t hi) {
  int64_t t = FloorDiv(hi, 60) * 60;
  while (t >= lo) {
    const Civil c = ToCivil(t);
    const int64_t day_start = t - (c.hour * 3600 + c.minute * 60);
    if (c.year < kMinYear) return std::nullopt;
    if (c.year > kMaxYear) {
      t = LocalSeconds(kMaxYear + 1, 1, 1) - 60;
    } else if (!s.year[static_cast<size_t>(c.year - kMinYear)]) {
      const int y = PrevBit(s.year, static_cast<int>(c.year - kMinYear) - 1, 0);
      if (y < 0) return std::nullopt;
      t = LocalSeconds(kMinYear + y + 1, 1, 1) - 60;
    } else if (!s.month[static_cast<size_t>(c.month)]) {
      const int m = PrevBit(s.month, c.month - 1, 1);
      t = m < 0 ? LocalSeconds(c.year, 1, 1) - 60 : LocalSeconds(c.year, m, DaysInMonth(c.year, m), 23, 59);
    } else if (!DayMatches(s, c)) {
      t = day_start - 60;
    } else if (!s.hour[static_cast<size_t>(c.hour)]) {
      const int h = PrevBit(s.hour, c.hour - 1, 0);
      t = h < 0 ? day_start - 60 : day_start + h * 3600 + 59 * 60;
    } else if (!s.minute[static_cast<size_t>(c.minute)]) {
      const int m = PrevBit(s.minute, c.minute - 1, 0);
      const int64_t hour_start = day_start + c.hour * 3600;
      t = m < 0 ? hour_start - 60 : hour_start + m * 60;
    } else {
      return t;
    }
  }
  return std::nullopt;
}

}  // namespace jobgate::schedule
