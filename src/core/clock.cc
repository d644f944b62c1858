#include "jobgate/clock.h"

#include <chrono>
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
