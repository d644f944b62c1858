// Schedule expressions (docs/schedules.md): EventBridge `cron(...)`,
// `rate(...)` (plus seconds, a jobgate extension) and `at(...)`, and classic
// 5-field crontab lines with @hourly-style macros, each in an IANA time
// zone. Pure: no store and no clock of its own; every question is asked at
// an instant the caller gives.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "jobgate/clock.h"
#include "jobgate/status.h"
#include "schedule/time_zone.h"

namespace jobgate {

class Schedule {
 public:
  enum class Kind { kCron, kRate, kAt, kCrontab };

  // Parses `expression` in `time_zone` (IANA name; "UTC" when empty).
  // kInvalidArgument with a message naming the field, the 1-based position
  // in `expression` and the offending token, e.g.
  //   schedule "cron(0 25 * * ? *)": hour 25 at position 8 is out of range 0-23
  static Result<Schedule> Parse(std::string_view expression, std::string_view time_zone = "UTC");

  Kind kind() const;
  const std::string& expression() const;
  const TimeZone& time_zone() const;

  // The first fire time strictly after `after_ms`; nullopt when there is
  // none (an at() that has passed, a cron whose year field has ended, a
  // cron that can never match, anything past the local year 2199).
  // Cron fire times follow the dialect's DST rules (docs/schedules.md):
  // EventBridge skips a wall time DST skips and fires a repeated one once;
  // crontab lines follow cronie. Work: a few steps per day visited in a
  // matching month, never per minute; O(1) for rate() and at().
  std::optional<EpochMs> NextAfter(EpochMs after_ms) const;
  // The last fire time at or before `at_ms`; nullopt when there is none.
  // The same set of instants as NextAfter, searched backwards at the same
  // cost.
  std::optional<EpochMs> LatestAtOrBefore(EpochMs at_ms) const;

  struct Impl;

 private:
  explicit Schedule(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
};

// `ms` as RFC 3339 in `time_zone`'s wall time with its offset, to the
// second: "2026-03-08T03:00:00-04:00"; "Z" when the offset is zero.
std::string FormatLocalRfc3339(EpochMs ms, const TimeZone& time_zone);

}  // namespace jobgate
