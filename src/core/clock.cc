#include "jobgate/clock.h"

#include <algorithm>
#include <chrono>
#include <limits>
#include <ctime>

#include <fmt/format.h>

namespace jobgate {

EpochMs SystemClock::NowMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

int64_t SystemClock::MonotonicMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

EpochMs ManualClock::NowMs() { return __atomic_load_n(&now_ms_, __ATOMIC_SEQ_CST); }
void ManualClock::Set(EpochMs now_ms) { __atomic_store_n(&now_ms_, now_ms, __ATOMIC_SEQ_CST); }
void ManualClock::Advance(int64_t delta_ms) { __atomic_add_fetch(&now_ms_, delta_ms, __ATOMIC_SEQ_CST); }

void ClockEstimator::AddSample(int64_t sent_mono, int64_t received_mono, EpochMs stamp_ms,
                               int64_t resolution_ms) {
  if (received_mono < sent_mono || resolution_ms <= 0) return;
  const Sample s{{stamp_ms - received_mono, stamp_ms + resolution_ms - 1 - sent_mono}, received_mono};
  const Bounds now = Intersection(received_mono);
  if (!samples_.empty() && (s.bounds.hi < now.lo || s.bounds.lo > now.hi)) samples_.clear();
  samples_.push_back(s);
  if (samples_.size() > kKeep) samples_.pop_front();
}

ClockEstimator::Bounds ClockEstimator::Intersection(int64_t mono_now) const {
  Bounds b{std::numeric_limits<int64_t>::min() / 2, std::numeric_limits<int64_t>::max() / 2};
  for (const Sample& s : samples_) {
    const int64_t age = std::max<int64_t>(0, mono_now - s.at_mono);
    const int64_t drift = (age * kDriftPpm + 999'999) / 1'000'000;
    b.lo = std::max(b.lo, s.bounds.lo - drift);
    b.hi = std::min(b.hi, s.bounds.hi + drift);
  }
  return b;
}

std::optional<ClockEstimate> ClockEstimator::Estimate(EpochMs wall_now, int64_t mono_now) const {
  if (samples_.empty()) return std::nullopt;
  const Bounds b = Intersection(mono_now);
  // The store's clock now is in [mono_now + lo, mono_now + hi]; the offset
  // is the wall clock minus its middle, off by at most half the width
  // (rounded up).
  const int64_t mid = b.lo + (b.hi - b.lo) / 2;
  return ClockEstimate{wall_now - (mono_now + mid), b.hi - mid};
}

std::string FormatRfc3339(EpochMs ms) {
  if (ms == 0) return "-";
  int64_t secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
  int64_t millis = ms - secs * 1000;
  std::time_t t = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
}

}  // namespace jobgate
