// IANA time zones from the system's zoneinfo (TZif files, RFC 8536,
// including the POSIX TZ footer that extends a zone's rules past its last
// transition): what a schedule needs to turn wall-clock fire times into
// instants and back. Loaded zones are immutable and shared; copies are
// cheap and thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "jobgate/status.h"

namespace jobgate {

class TimeZone {
 public:
  // `name` is an IANA zone ("Europe/London") or "UTC". Looked up under
  // $TZDIR, else /usr/share/zoneinfo. kInvalidArgument naming the zone when
  // it is unknown or its file is not TZif.
  static Result<TimeZone> Load(std::string_view name);
  // As Load, from the zoneinfo directory `dir` rather than the environment's:
  // for tests (a directory of broken files, no shared $TZDIR) and callers
  // that carry their own database.
  static Result<TimeZone> LoadFromDirectory(std::string_view dir, std::string_view name);
  static TimeZone Utc();

  const std::string& name() const;

  // The UTC offset, in seconds, in effect at the instant `utc_s` (seconds
  // since the epoch).
  int32_t OffsetAt(int64_t utc_s) const;

  // The instants whose local wall time is `local_s` (seconds since
  // 1970-01-01T00:00:00 of the local calendar): none when it falls in a gap
  // (spring forward), two when it falls in a repeat (fall back), else one.
  struct Mapping {
    int count = 1;            // 0, 1 or 2
    int64_t first = 0;        // count >= 1: the earlier instant
    int64_t second = 0;       // count == 2: the later instant
    int64_t gap_end = 0;      // count == 0: the first instant after the gap
    int32_t gap_shift_s = 0;  // count == 0: the gap's length (the offset change)
  };
  Mapping FromLocal(int64_t local_s) const;

  // The first instant after `utc_s` at which the offset changes; nullopt
  // when it never does again.
  std::optional<int64_t> NextTransition(int64_t utc_s) const;

  struct Data;  // the parsed zone (time_zone.cc)

 private:
  explicit TimeZone(std::shared_ptr<const Data> data) : data_(std::move(data)) {}
  std::shared_ptr<const Data> data_;
};

}  // namespace jobgate
