// Durations as DESIGN.md writes them (90s, 15m, 1h30m, 2d, 250ms) and
// times as users write them (RFC 3339 or epoch milliseconds).
#pragma once

#include <cstdint>
#include <string>

#include "jobgate/clock.h"
#include "jobgate/status.h"
#include "util/numbers.h"  // DaysFromCivil

namespace jobgate {

// The longest duration ParseDurationMs accepts: 366d. Anything longer is a
// typo (a cooldown of years), and the bound keeps every sum far from overflow.
inline constexpr int64_t kMaxDurationMs = 366LL * 86'400'000;

// Parses "90s", "15m", "1h30m", "2d", "250ms", "0". A bare number is refused
// (ambiguous unit) except 0. Units d, h, m, s, ms, largest first, each at
// most once; no spaces, signs or fractions; at most kMaxDurationMs.
// `field` names the flag or key in the error.
Result<int64_t> ParseDurationMs(const std::string& text, const std::string& field);

// Formats milliseconds canonically: largest unit first, zero components left
// out ("1h30m", "1m30s500ms", "250ms", "0s"). ParseDurationMs reads it back
// for every value in [0, kMaxDurationMs]; a negative value gets a leading "-".
std::string FormatDuration(int64_t ms);

// Parses an RFC 3339 time (2026-01-01T00:00:00Z, offsets, fractions) or an
// integer of epoch milliseconds. `field` names the flag in the error.
// Accepts "T", "t" or " " between date and time, "Z", "z" or ±hh:mm, any
// number of fraction digits (truncated to milliseconds); years 0000-9999.
// Refuses a missing offset and leap seconds (:60): epoch time has none.
Result<EpochMs> ParseTime(const std::string& text, const std::string& field);


// Days in `month` (1-12) of `year`, Gregorian leap years.
int DaysInMonth(int64_t year, int month);

}  // namespace jobgate
