#include "core/duration.h"

#include <string_view>
#include <utility>

#include "util/numbers.h"
#include "util/text.h"

namespace jobgate {
namespace {

// Units in the only order a duration may list them: largest first.
struct Unit {
  std::string_view name;
  int64_t ms;
};
constexpr Unit kUnits[] = {
    {"d", 86'400'000}, {"h", 3'600'000}, {"m", 60'000}, {"s", 1'000}, {"ms", 1},
};
constexpr int kUnitCount = sizeof(kUnits) / sizeof(kUnits[0]);

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsLower(char c) { return c >= 'a' && c <= 'z'; }

Status DurationError(const std::string& field, const std::string& text, std::string_view why) {
  std::string m = field + ": " + Quote(text) + " is not a duration (";
  m.append(why);
  m += ")";
  return Status::InvalidArgument(std::move(m));
}

constexpr std::string_view kDurationExamples = "use e.g. 90s, 15m, 1h30m, 2d";
constexpr std::string_view kMissingUnit = "a number needs a unit: e.g. 90s, 15m, 1h30m, 2d";

}  // namespace

Result<int64_t> ParseDurationMs(const std::string& text, const std::string& field) {
  if (text == "0") return int64_t{0};
  if (text.empty()) return DurationError(field, text, kDurationExamples);
  if (text[0] == '-') return DurationError(field, text, "it must not be negative");
  const std::string_view s = text;
  int64_t total = 0;
  int next_unit = 0;  // index of the largest unit still allowed
  for (size_t i = 0; i < s.size();) {
    if (!IsDigit(s[i])) return DurationError(field, text, kDurationExamples);
    // Digits, stopping as soon as the number alone exceeds the maximum, so
    // no run of digits can overflow.
    int64_t n = 0;
    for (; i < s.size() && IsDigit(s[i]); ++i) {
      n = n * 10 + (s[i] - '0');
      if (n > kMaxDurationMs) return DurationError(field, text, "longer than 366d");
    }
    const size_t unit_start = i;
    while (i < s.size() && IsLower(s[i])) ++i;
    const std::string_view name = s.substr(unit_start, i - unit_start);
    if (name.empty()) {
      return DurationError(field, text, unit_start == s.size() ? kMissingUnit : kDurationExamples);
    }
    int u = 0;
    while (u < kUnitCount && kUnits[u].name != name) ++u;
    if (u == kUnitCount) return DurationError(field, text, "units are d, h, m, s and ms");
    if (u < next_unit) return DurationError(field, text, "units go from largest to smallest, each once: 1h30m");
    next_unit = u + 1;
    if (n > (kMaxDurationMs - total) / kUnits[u].ms) return DurationError(field, text, "longer than 366d");
    total += n * kUnits[u].ms;
  }
  return total;
}

std::string FormatDuration(int64_t ms) {
  if (ms == 0) return "0s";
  std::string out;
  // Unsigned, so that the magnitude of INT64_MIN is representable.
  uint64_t rest = static_cast<uint64_t>(ms);
  if (ms < 0) {
    out += '-';
    rest = 0 - rest;
  }
  for (const Unit& unit : kUnits) {
    const uint64_t n = rest / static_cast<uint64_t>(unit.ms);
    if (n == 0) continue;
    out += std::to_string(n);
    out.append(unit.name);
    rest -= n * static_cast<uint64_t>(unit.ms);
  }
  return out;
}


// ---------------------------------------------------------------------------
// Times. ParseTime is on the hot path of `jobgate run --slot`, so it is a
// fixed-position scanner plus arithmetic: no regex, no locale, no tz
// database, and no allocation unless it fails.

int DaysInMonth(int64_t year, int month) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
  return month == 2 && leap ? 29 : kDays[month - 1];
}

namespace {

constexpr int64_t kMsPerDay = 86'400'000;
// The years RFC 3339 can write, 0000 through 9999, as epoch milliseconds.
constexpr int64_t kMinEpochMs = -62'167'219'200'000;  // 0000-01-01T00:00:00Z
constexpr int64_t kMaxEpochMs = 253'402'300'799'999;  // 9999-12-31T23:59:59.999Z

constexpr const char* kMonthNames[] = {"January", "February", "March",     "April",   "May",      "June",
                                       "July",    "August",   "September", "October", "November", "December"};

Status TimeError(const std::string& field, const std::string& text, std::string_view what) {
  std::string m = field + ": " + Quote(text);
  m.append(what);
  return Status::InvalidArgument(std::move(m));
}

Status NotATime(const std::string& field, const std::string& text) {
  return TimeError(field, text,
                   " is not a time (use RFC 3339, e.g. 2026-01-01T00:00:00Z, or epoch milliseconds)");
}

Status OutOfRange(const std::string& field, const std::string& text, const char* name, int value,
                  const char* range) {
  return TimeError(field, text, std::string(" has ") + name + " " + std::to_string(value) + " (must be " + range + ")");
}

// Reads exactly `n` digits at s[pos]; false if any is not a digit.
bool At(std::string_view s, size_t pos, char c) { return pos < s.size() && s[pos] == c; }

// An optional '-' and decimal digits, as epoch milliseconds in range.
Result<EpochMs> ParseEpochMs(const std::string& text, const std::string& field) {
  const bool negative = text[0] == '-';
  if (text.size() == size_t{negative}) return NotATime(field, text);
  int64_t n = 0;
  for (size_t i = negative; i < text.size(); ++i) {
    if (!IsDigit(text[i])) return NotATime(field, text);
    n = n * 10 + (text[i] - '0');
    // Stop before overflow: anything past year 9999 is out of range anyway.
    if (n > kMaxEpochMs + 1) break;
  }
  if (negative) n = -n;
  if (n < kMinEpochMs || n > kMaxEpochMs) {
    return TimeError(field, text, " is out of range (epoch milliseconds for years 0000-9999)");
  }
  return n;
}

}  // namespace

namespace {

// The fields of an RFC 3339 time as written, before range checks.
struct Written {
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0, millis = 0, offset_minutes = 0;
};

// yyyy-mm-ddThh:mm:ss at fixed positions; false when it is not that shape.
bool ReadDateTime(std::string_view s, Written& w) {
  return ParseFixedDigits(s, 0, 4, &w.year) && At(s, 4, '-') && ParseFixedDigits(s, 5, 2, &w.month) &&
         At(s, 7, '-') && ParseFixedDigits(s, 8, 2, &w.day) && (At(s, 10, 'T') || At(s, 10, 't') || At(s, 10, ' ')) &&
         ParseFixedDigits(s, 11, 2, &w.hour) && At(s, 13, ':') && ParseFixedDigits(s, 14, 2, &w.minute) &&
         At(s, 16, ':') && ParseFixedDigits(s, 17, 2, &w.second);
}

// An optional ".fff..." at `pos`; false when a dot has no digits.
bool ReadFraction(std::string_view s, size_t& pos, int& millis) {
  if (!At(s, pos, '.')) return true;
  const size_t first = ++pos;
  for (; pos < s.size() && IsDigit(s[pos]); ++pos) {
    // Digits beyond milliseconds are read and dropped (truncation, so a
    // time never rounds up into the next slot).
    if (pos - first < 3) millis = millis * 10 + (s[pos] - '0');
  }
  if (pos == first) return false;
  for (size_t k = pos - first; k < 3; ++k) millis *= 10;
  return true;
}

// "Z" or "+hh:mm" / "-hh:mm" ending the text at `pos`.
Status ReadOffset(std::string_view s, size_t pos, const std::string& field, const std::string& text,
                  int& offset_minutes) {
  if (pos == s.size()) return TimeError(field, text, " has no UTC offset (add Z or e.g. +02:00)");
  if (At(s, pos, 'Z') || At(s, pos, 'z')) {
    ++pos;
  } else if (At(s, pos, '+') || At(s, pos, '-')) {
    int off_h, off_m;
    if (!ParseFixedDigits(s, pos + 1, 2, &off_h) || !At(s, pos + 3, ':') || !ParseFixedDigits(s, pos + 4, 2, &off_m)) {
      return NotATime(field, text);
    }
    if (off_h > 23) return OutOfRange(field, text, "offset hour", off_h, "00-23");
    if (off_m > 59) return OutOfRange(field, text, "offset minute", off_m, "00-59");
    offset_minutes = (s[pos] == '-' ? -1 : 1) * (off_h * 60 + off_m);
    pos += 6;
  } else {
    return NotATime(field, text);
  }
  return pos == s.size() ? Status::Ok() : NotATime(field, text);
}

Status CheckRanges(const Written& w, const std::string& field, const std::string& text) {
  if (w.month < 1 || w.month > 12) return OutOfRange(field, text, "month", w.month, "01-12");
  if (w.day < 1) return OutOfRange(field, text, "day", w.day, "01-31");
  if (w.day > DaysInMonth(w.year, w.month)) {
    return TimeError(field, text,
                     " has day " + std::to_string(w.day) + " (" + kMonthNames[w.month - 1] + " " +
                         std::to_string(w.year) + " has " + std::to_string(DaysInMonth(w.year, w.month)) + " days)");
  }
  if (w.hour > 23) return OutOfRange(field, text, "hour", w.hour, "00-23");
  if (w.minute > 59) return OutOfRange(field, text, "minute", w.minute, "00-59");
  if (w.second == 60) return TimeError(field, text, " has second 60 (leap seconds are not supported)");
  if (w.second > 59) return OutOfRange(field, text, "second", w.second, "00-59");
  return Status::Ok();
}

}  // namespace

Result<EpochMs> ParseTime(const std::string& text, const std::string& field) {
  if (text.empty()) return NotATime(field, text);
  if (text.size() < 10 || text[4] != '-') return ParseEpochMs(text, field);
  const std::string_view s = text;
  Written w;
  size_t pos = 19;
  if (!ReadDateTime(s, w) || !ReadFraction(s, pos, w.millis)) return NotATime(field, text);
  JOBGATE_RETURN_IF_ERROR(ReadOffset(s, pos, field, text, w.offset_minutes));
  JOBGATE_RETURN_IF_ERROR(CheckRanges(w, field, text));
  const int64_t ms = DaysFromCivil(w.year, w.month, w.day) * kMsPerDay +
                     ((w.hour * 60 + w.minute - w.offset_minutes) * 60LL + w.second) * 1000 + w.millis;
  if (ms < kMinEpochMs || ms > kMaxEpochMs) {
    return TimeError(field, text, " is out of range (years 0000-9999 in UTC)");
  }
  return ms;
}

}  // namespace jobgate
