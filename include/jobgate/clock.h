// Clock: the only way jobgate reads time, so tests and the simulation can
// run a week of schedules in a second and skew one invoker's clock.
#pragma once

#include <cstdint>
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

// RFC 3339 UTC with milliseconds, e.g. 2026-01-01T00:00:00.000Z; "-" for 0.
std::string FormatRfc3339(EpochMs ms);

}  // namespace jobgate
