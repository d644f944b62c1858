// Primitives of the deterministic simulation: virtual true time, per-host
// skewed clocks, a seeded random source and a bounded event trace. Nothing
// here reads a real clock or a real random device, so one seed replays one
// whole run (the FoundationDB/TigerBeetle habit in STYLE.md).
#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "jobgate/clock.h"

namespace jobgate::sim {

// The simulation's true time. Only the event loop and the simulated store
// latency move it forward; hosts only ever see it through a SkewedClock.
class SimTime {
 public:
  explicit SimTime(EpochMs start_ms) : now_ms_(start_ms) {}
  EpochMs now() const { return now_ms_; }
  void AdvanceTo(EpochMs t) { now_ms_ = std::max(now_ms_, t); }
  void Advance(int64_t delta_ms) { now_ms_ += std::max<int64_t>(0, delta_ms); }

 private:
  EpochMs now_ms_;
};

// One host's clock: true time plus a fixed skew. Single-threaded like the
// whole simulation (the Clock contract asks for thread safety; there are no
// threads here).
class SkewedClock final : public Clock {
 public:
  SkewedClock(const SimTime& time, int64_t skew_ms) : time_(time), skew_ms_(skew_ms) {}
  EpochMs NowMs() override { return time_.now() + skew_ms_; }
  int64_t skew_ms() const { return skew_ms_; }

 private:
  const SimTime& time_;
  int64_t skew_ms_;
};

// SplitMix64: tiny, fast and identical on every platform, unlike the
// std:: distributions whose output is implementation-defined.
class Rng {
 public:
  // The seed is hashed first: SplitMix64 streams of states s and s + gamma
  // are the same stream shifted by one draw, so raw neighbouring seeds
  // would replay nearly the same run.
  explicit Rng(uint64_t seed) : state_(Mix(seed)) {}
  static uint64_t Mix(uint64_t z) {
    z = (z ^ (z >> 33)) * 0xff51afd7ed558ccdULL;
    z = (z ^ (z >> 33)) * 0xc4ceb9fe1a85ec53ULL;
    return z ^ (z >> 33);
  }
  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // Uniform in [lo, hi] (inclusive); lo when hi <= lo.
  int64_t Uniform(int64_t lo, int64_t hi) {
    if (hi <= lo) return lo;
    return lo + static_cast<int64_t>(Next() % static_cast<uint64_t>(hi - lo + 1));
  }
  double Real() { return static_cast<double>(Next() >> 11) * (1.0 / 9007199254740992.0); }
  bool Chance(double p) { return p > 0 && Real() < p; }
  template <typename T>
  T Pick(const std::vector<T>& v) {
    return v[static_cast<size_t>(Uniform(0, static_cast<int64_t>(v.size()) - 1))];
  }

 private:
  uint64_t state_;
};

// The last events of a run, printed with a violation so that a failing
// seed explains itself without a debugger. Off in bulk runs (formatting
// every event would cost more than simulating it): a seed that is to be
// reported is simply replayed with the trace on.
class Trace {
 public:
  Trace(bool on, bool echo, size_t keep = 30) : on_(on || echo), echo_(echo), keep_(keep) {}
  bool on() const { return on_; }
  // `describe` is only called when the trace is on.
  template <typename F>
  void Add(EpochMs true_ms, F&& describe) {
    if (on_) Append(true_ms, describe());
  }
  std::string Tail() const;

 private:
  void Append(EpochMs true_ms, std::string event);

  bool on_;
  bool echo_;
  size_t keep_;
  std::deque<std::string> events_;
};

// Milliseconds since the run started, for compact traces.
inline constexpr EpochMs kSimEpochMs = 1'800'000'000'000;

}  // namespace jobgate::sim
