// Durations as DESIGN.md writes them (90s, 15m, 1h30m, 2d, 250ms) and
// times as users write them (RFC 3339 or epoch milliseconds).
#pragma once

#include <cstdint>
#include <string>

#include "jobgate/clock.h"
#include "jobgate/status.h"

namespace jobgate {

// Parses "90s", "15m", "1h30m", "2d", "250ms", "0". A bare number is refused
// (ambiguous unit) except 0. `field` names the flag or key in the error.
Result<int64_t> ParseDurationMs(const std::string& text, const std::string& field);

// Formats milliseconds as the shortest such string ("1h30m", "250ms", "0s").
std::string FormatDuration(int64_t ms);

// Parses an RFC 3339 time (2026-01-01T00:00:00Z, offsets, fractions) or an
// integer of epoch milliseconds. `field` names the flag in the error.
Result<EpochMs> ParseTime(const std::string& text, const std::string& field);

}  // namespace jobgate
