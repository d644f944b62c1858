// Clock: the only way jobgate reads time, so tests and the simulation can
// run a week of schedules in a second and skew one invoker's clock.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>

namespace jobgate {

// Milliseconds since the Unix epoch, UTC: the unit of every stored time.
using EpochMs = int64_t;

// Source of the current time: wall time for what is stored and compared
// with other hosts, monotonic time for this process's own deadlines (a lease
// end, a timeout), which a wall clock stepped by NTP must not move.
// Implementations must be thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual EpochMs NowMs() = 0;
  // Milliseconds on a clock that never goes back, from an arbitrary epoch.
  // The default suits fakes whose time only moves forward: their wall time.
  virtual int64_t MonotonicMs() { return NowMs(); }
};

// The system's clocks: CLOCK_REALTIME and CLOCK_MONOTONIC.
class SystemClock final : public Clock {
 public:
  EpochMs NowMs() override;
  int64_t MonotonicMs() override;
};

// A clock that only moves when told to. Thread-safe.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(EpochMs start_ms = 1'700'000'000'000) : now_ms_(start_ms) {}
  EpochMs NowMs() override;
  void Set(EpochMs now_ms);
  void Advance(int64_t delta_ms);

 private:
  // Atomic access via __atomic builtins keeps this header free of <atomic>.
  EpochMs now_ms_;
};

// This host's wall clock against a store's, as the store's answers place
// it: the true offset (this host's clock minus the store's) lies within
// offset_ms +- uncertainty_ms.
struct ClockEstimate {
  int64_t offset_ms = 0;
  int64_t uncertainty_ms = 0;
  bool operator==(const ClockEstimate&) const = default;
};

// Places a store's clock from the time stamps its answers carry (an HTTP
// Date header), the way NTP does from its exchanges, but with bounds rather
// than a point: the store read its clock somewhere between the request
// leaving and the answer arriving, and truncated it to the stamp's
// resolution, so each exchange bounds the offset. The estimate is the
// intersection of the last kKeep exchanges' bounds, each widened by what
// the local clock may have drifted since (kDriftPpm). A long round trip
// gives wide bounds, which never loosen the intersection (no sample is
// trusted more than it deserves, so none needs dropping), and a stamp
// changing between two exchanges pins the second's boundary between them.
// Exchanges are timed on the monotonic clock, so a stepped wall clock moves
// the offset, not the bounds. Bounds that no longer meet (a clock stepped)
// start over from the newest exchange. Not thread-safe: callers lock.
class ClockEstimator {
 public:
  static constexpr size_t kKeep = 16;
  static constexpr int64_t kDriftPpm = 500;  // the most NTP lets a clock's rate be off

  // An exchange sent at monotonic `sent_mono` and answered at
  // `received_mono`, stamped `stamp_ms` by the store: its clock truncated
  // to a multiple of `resolution_ms` (1000 for an HTTP Date).
  void AddSample(int64_t sent_mono, int64_t received_mono, EpochMs stamp_ms, int64_t resolution_ms);
  // At wall time `wall_now` and monotonic `mono_now`; nullopt before the
  // first exchange.
  std::optional<ClockEstimate> Estimate(EpochMs wall_now, int64_t mono_now) const;
  size_t samples() const { return samples_.size(); }

 private:
  struct Bounds {
    int64_t lo;  // store clock minus monotonic clock, at least
    int64_t hi;  // ... at most
  };
  struct Sample {
    Bounds bounds;
    int64_t at_mono;
  };
  // The intersection at `mono_now`, drift counted; lo > hi when empty.
  Bounds Intersection(int64_t mono_now) const;

  std::deque<Sample> samples_;
};

// RFC 3339 UTC with milliseconds, e.g. 2026-01-01T00:00:00.000Z; "-" for 0.
std::string FormatRfc3339(EpochMs ms);

}  // namespace jobgate
