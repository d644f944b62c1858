// The offsets of a TZif file (RFC 8536, versions 1-4): its transitions, and
// the POSIX TZ footer that continues them. Only UTC offsets are kept (what a
// schedule needs); transitions that change only the abbreviation or the DST
// flag are dropped. Pure; thread-compatible.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "jobgate/status.h"
#include "schedule/posix_tz.h"

namespace jobgate {

struct ZoneRules {
  int32_t initial_offset_s = 0;         // before the first transition (time type 0)
  std::vector<int64_t> transition_s;    // ascending; each changes the offset
  std::vector<int32_t> offset_after_s;  // the offset from transition_s[i] on
  // After the last transition: the footer's rule; none (a version 1 file or
  // an empty footer) keeps the last offset for ever.
  std::optional<PosixTz> footer;
};

// Parses the bytes of a TZif file: the 64-bit data block when the version is
// 2 or later, else the 32-bit one. kInvalidArgument saying what is wrong
// (truncated, bad magic, an index out of range, a malformed footer), never a
// crash, whatever the bytes.
Result<ZoneRules> ParseTzif(std::string_view bytes);

}  // namespace jobgate
