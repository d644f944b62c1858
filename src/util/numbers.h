// Numbers as text: stored fields, URL options and jobs-file values.
#pragma once

#include <cstdint>
#include <cstddef>
#include <string>
#include <string_view>

namespace jobgate {

// Parses a decimal integer exactly (no trailing junk, no overflow).
bool ParseInt64(const std::string& text, int64_t* out);

// Exactly `n` decimal digits of `s` from `pos` (a field of a fixed-layout
// time stamp); false if any is missing or no digit.
bool ParseFixedDigits(std::string_view s, size_t pos, size_t n, int* out);

// Days from 1970-01-01 to the given proleptic Gregorian date (negative
// before it). Howard Hinnant's days_from_civil: no tables, no time zone
// database, no locale. `month` is 1-12, `day` 1-31; the date is not
// validated. constexpr: constants derived from dates need no initialiser
// at start-up.
constexpr int64_t DaysFromCivil(int64_t year, int month, int day) {
  // http://howardhinnant.github.io/date_algorithms.html#days_from_civil
  const int64_t y = year - (month <= 2);
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;                                                  // [0, 399]
  const int64_t doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;  // [0, 365]
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;                          // [0, 146096]
  return era * 146097 + doe - 719468;
}

}  // namespace jobgate
