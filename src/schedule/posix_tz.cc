#include "schedule/posix_tz.h"

#include <algorithm>
#include <array>
#include <cctype>

#include <fmt/format.h>

#include "util/numbers.h"

namespace jobgate {
namespace {

constexpr int64_t kSecondsPerDay = 86400;
// Instants are clamped to about +-35 million years before any calendar
// arithmetic, so that no caller's value (INT64_MAX as "never") overflows.
constexpr int64_t kMaxAbsSeconds = int64_t{1} << 50;

// Reads a TZ string left to right; the first error wins and names its position.
class Cursor {
 public:
  explicit Cursor(std::string_view text) : text_(text) {}

  bool done() const { return pos_ >= text_.size(); }
  char peek() const { return done() ? '\0' : text_[pos_]; }
  bool Take(char c) {
    if (peek() != c) return false;
    ++pos_;
    return true;
  }
  bool Fail(const char* what) {
    if (error_.empty()) error_ = fmt::format("TZ \"{}\": {} at position {}", text_, what, pos_ + 1);
    return false;
  }
  // 1 to `max_digits` decimal digits, at most `max_value`.
  bool Number(int max_digits, int max_value, int* out, const char* what) {
    int value = 0;
    int digits = 0;
    while (digits < max_digits && std::isdigit(static_cast<unsigned char>(peek()))) {
      value = value * 10 + (text_[pos_++] - '0');
      ++digits;
    }
    if (digits == 0 || value > max_value) return Fail(what);
    *out = value;
    return true;
  }
  bool Abbreviation(std::string* out);
  bool Hms(int max_hours, bool signed_ok, int32_t* seconds);
  bool Rule(PosixTzRule* rule);
  const std::string& error() const { return error_; }

 private:
  std::string_view text_;
  size_t pos_ = 0;
  std::string error_;
};

// "EST", or quoted "<+1030>" (letters, digits, '+' and '-'): three or more characters.
bool Cursor::Abbreviation(std::string* out) {
  const bool quoted = Take('<');
  const size_t begin = pos_;
  auto allowed = [quoted](char c) {
    const auto u = static_cast<unsigned char>(c);
    return std::isalpha(u) || (quoted && (std::isdigit(u) || c == '+' || c == '-'));
  };
  while (!done() && allowed(peek())) ++pos_;
  *out = std::string(text_.substr(begin, pos_ - begin));
  if (out->size() < 3) return Fail("a time zone abbreviation of at least 3 characters expected");
  if (quoted && !Take('>')) return Fail("'>' expected");
  return true;
}

// [+|-]hh[:mm[:ss]], hours at most `max_hours`.
bool Cursor::Hms(int max_hours, bool signed_ok, int32_t* seconds) {
  int sign = 1;
  if (peek() == '+' || peek() == '-') {
    if (!signed_ok) return Fail("no sign allowed");
    sign = Take('-') ? -1 : (Take('+'), 1);
  }
  int hours = 0;
  int minutes = 0;
  int secs = 0;
  if (!Number(3, max_hours, &hours, "hours expected")) return false;
  if (Take(':') && !Number(2, 59, &minutes, "minutes 0-59 expected")) return false;
  if (Take(':') && !Number(2, 59, &secs, "seconds 0-59 expected")) return false;
  *seconds = sign * (hours * 3600 + minutes * 60 + secs);
  return true;
}

// Jn | n | Mm.w.d, then an optional /time (RFC 8536: -167 to 167 hours).
bool Cursor::Rule(PosixTzRule* rule) {
  bool ok = false;
  if (Take('J')) {
    rule->kind = PosixTzRule::Kind::kJulian1;
    ok = Number(3, 365, &rule->day, "a day 1-365 expected") && (rule->day >= 1 || Fail("a day 1-365 expected"));
  } else if (Take('M')) {
    rule->kind = PosixTzRule::Kind::kMonthWeekDay;
    ok = Number(2, 12, &rule->month, "a month 1-12 expected") && (rule->month >= 1 || Fail("a month 1-12 expected")) &&
         (Take('.') || Fail("'.' expected")) && Number(1, 5, &rule->week, "a week 1-5 expected") &&
         (rule->week >= 1 || Fail("a week 1-5 expected")) && (Take('.') || Fail("'.' expected")) &&
         Number(1, 6, &rule->weekday, "a weekday 0-6 expected");
  } else {
    rule->kind = PosixTzRule::Kind::kJulian0;
    ok = Number(3, 365, &rule->day, "a rule (Jn, n or Mm.w.d) expected");
  }
  rule->time_s = 7200;
  return ok && (!Take('/') || Hms(167, true, &rule->time_s));
}

bool IsLeapYear(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

// Days since 1970-01-01 of the day `rule` names in `year`.
int64_t RuleDay(const PosixTzRule& rule, int64_t year) {
  const int64_t jan1 = DaysFromCivil(year, 1, 1);
  switch (rule.kind) {
    case PosixTzRule::Kind::kJulian1:
      return jan1 + rule.day - 1 + (IsLeapYear(year) && rule.day >= 60 ? 1 : 0);
    case PosixTzRule::Kind::kJulian0:
      return jan1 + rule.day;
    case PosixTzRule::Kind::kMonthWeekDay:
      break;
  }
  const int64_t first = DaysFromCivil(year, rule.month, 1);
  const int64_t month_days = (rule.month == 12 ? DaysFromCivil(year + 1, 1, 1) : DaysFromCivil(year, rule.month + 1, 1)) - first;
  const int64_t first_weekday = ((first + 4) % 7 + 7) % 7;  // 1970-01-01 was a Thursday
  int64_t day = (rule.weekday - first_weekday + 7) % 7 + int64_t{rule.week - 1} * 7;
  while (day >= month_days) day -= 7;  // week 5: the last such weekday
  return first + day;
}

int64_t YearOfInstant(const PosixTz& tz, int64_t utc_s) {
  const int64_t local_s = std::clamp(utc_s, -kMaxAbsSeconds, kMaxAbsSeconds) + tz.std_offset_s;
  const int64_t days = local_s >= 0 ? local_s / kSecondsPerDay : -((-local_s + kSecondsPerDay - 1) / kSecondsPerDay);
  return YearFromDays(days);
}

// The raw transitions of the years [first_year, last_year]: two a year, in
// order within the year, into `out` (room for two a year).
void FillTransitions(const PosixTz& tz, int64_t first_year, int64_t last_year, PosixTzTransition* out) {
  for (int64_t year = first_year; year <= last_year; ++year) {
    const PosixTzTransition start{RuleDay(tz.start, year) * kSecondsPerDay + tz.start.time_s - tz.std_offset_s,
                                  tz.dst_offset_s};
    const PosixTzTransition end{RuleDay(tz.end, year) * kSecondsPerDay + tz.end.time_s - tz.dst_offset_s,
                                tz.std_offset_s};
    *out++ = start.at_s < end.at_s ? start : end;
    *out++ = start.at_s < end.at_s ? end : start;
  }
}

// Sorts the `n` transitions at `t` by instant and keeps the real changes;
// returns how many remain. Stable (an insertion sort: the input is nearly
// in order): where one year's end meets the next year's start (DST all
// year), the later rule, filled last, decides the offset at that instant.
size_t SortAndCollapse(PosixTzTransition* t, size_t n) {
  for (size_t i = 1; i < n; ++i) {
    for (size_t j = i; j > 0 && t[j - 1].at_s > t[j].at_s; --j) std::swap(t[j - 1], t[j]);
  }
  size_t kept = 0;
  for (size_t i = 0; i < n; ++i) {
    if (kept > 0 && t[kept - 1].at_s == t[i].at_s) --kept;
    if (kept == 0 || t[kept - 1].offset_s != t[i].offset_s) t[kept++] = t[i];
  }
  return kept;
}

// Up to five years of transitions without the heap: OffsetAt runs for every
// instant a schedule asks about.
using YearsOfTransitions = std::array<PosixTzTransition, 10>;

size_t FillWindow(const PosixTz& tz, int64_t first_year, int64_t last_year, YearsOfTransitions* window) {
  FillTransitions(tz, first_year, last_year, window->data());
  return SortAndCollapse(window->data(), static_cast<size_t>(last_year - first_year + 1) * 2);
}

}  // namespace

Result<PosixTz> ParsePosixTz(std::string_view text) {
  Cursor in(text);
  PosixTz tz;
  int32_t posix_offset = 0;
  bool ok = in.Abbreviation(&tz.std_abbr) && in.Hms(24, true, &posix_offset);
  tz.std_offset_s = -posix_offset;
  tz.has_dst = ok && !in.done();
  if (tz.has_dst) {
    ok = in.Abbreviation(&tz.dst_abbr);
    tz.dst_offset_s = tz.std_offset_s + 3600;  // POSIX: one hour ahead unless given
    if (ok && in.peek() != ',' && !in.done()) {
      ok = in.Hms(24, true, &posix_offset);
      tz.dst_offset_s = -posix_offset;
    }
    if (ok && in.done()) {
      // POSIX leaves the rules to the implementation; glibc and tzcode use the US ones.
      tz.start = {PosixTzRule::Kind::kMonthWeekDay, 0, 3, 2, 0, 7200};
      tz.end = {PosixTzRule::Kind::kMonthWeekDay, 0, 11, 1, 0, 7200};
    } else if (ok) {
      ok = (in.Take(',') || in.Fail("',' expected")) && in.Rule(&tz.start) && (in.Take(',') || in.Fail("',' expected")) &&
           in.Rule(&tz.end);
    }
  }
  if (ok && !in.done()) ok = in.Fail("unexpected character");
  if (!ok) return Status::InvalidArgument(in.error());
  return tz;
}

std::vector<PosixTzTransition> PosixTzTransitions(const PosixTz& tz, int64_t first_year, int64_t last_year) {
  if (!tz.has_dst || last_year < first_year) return {};
  std::vector<PosixTzTransition> out(static_cast<size_t>(last_year - first_year + 1) * 2);
  FillTransitions(tz, first_year, last_year, out.data());
  out.resize(SortAndCollapse(out.data(), out.size()));
  return out;
}

int32_t PosixTzOffsetAt(const PosixTz& tz, int64_t utc_s) {
  if (!tz.has_dst) return tz.std_offset_s;
  const int64_t year = YearOfInstant(tz, utc_s);
  // Two years back: a rule time may be up to 167 hours past its day.
  YearsOfTransitions window;
  const size_t n = FillWindow(tz, year - 2, year + 1, &window);
  int32_t offset = tz.std_offset_s;
  for (size_t i = 0; i < n && window[i].at_s <= utc_s; ++i) offset = window[i].offset_s;
  return offset;
}

bool PosixTzNextTransition(const PosixTz& tz, int64_t utc_s, int64_t* at_s) {
  if (!tz.has_dst || utc_s >= kMaxAbsSeconds) return false;
  const int32_t current = PosixTzOffsetAt(tz, utc_s);
  const int64_t year = YearOfInstant(tz, utc_s);
  YearsOfTransitions window;
  const size_t n = FillWindow(tz, year - 2, year + 2, &window);
  // Not the last: it ends the range, with no next year's start to cancel it
  // (DST all year), and a real change is found years before it.
  for (size_t i = 0; i + 1 < n; ++i) {
    const PosixTzTransition& t = window[i];
    if (t.at_s > utc_s && t.offset_s != current) {
      *at_s = t.at_s;
      return true;
    }
  }
  return false;
}

int64_t YearFromDays(int64_t days) {
  // http://howardhinnant.github.io/date_algorithms.html#civil_from_days
  const int64_t z = days + 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;                                      // [0, 146096]
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;  // [0, 399]
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);               // [0, 365]
  const int64_t mp = (5 * doy + 2) / 153;                                    // [0, 11], March = 0
  return yoe + era * 400 + (mp >= 10 ? 1 : 0);
}

}  // namespace jobgate
