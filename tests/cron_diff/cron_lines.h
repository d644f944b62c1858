// Random crontab lines, zones and start instants for the croner
// differential test, and the rule that says which fire times of a case the
// two engines must agree on.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "schedule/time_zone.h"

namespace jobgate::cron_diff {

// xorshift64*: the same sequence with every standard library (std::
// distributions are not), so a seed reproduces a case anywhere.
class Rng {
 public:
  // splitmix64's finalizer: distinct seeds start distinct (never 0) states.
  explicit Rng(uint64_t seed);
  uint64_t Next();
  // Uniform in [lo, hi].
  int64_t Between(int64_t lo, int64_t hi);
  bool Percent(int p) { return Between(0, 99) < p; }

 private:
  uint64_t state_;
};

// minute hour day-of-month month day-of-week: `*`, `*/n`, values, ranges,
// stepped ranges, `a/n`, lists of those, month and weekday names in either
// case, day-of-week 0-7; now and then an @macro.
std::string RandomCrontabLine(Rng& rng);
// UTC most often; fixed-offset zones; zones with DST, north and south, and
// Lord Howe's 30-minute DST.
std::string RandomZone(Rng& rng);
// 1970-2100, a third of those in DST zones near a transition; a third on
// whole minutes, some on whole hours (a start that is itself a fire time
// must not be returned).
int64_t RandomStartMs(Rng& rng, const TimeZone& tz);

enum class Window { kNoTransition, kThroughTransitions, kCutAtTransition };
// Trims both lists to the fire times the engines must agree on (see the
// .cc for each rule and why) and says how the case was compared.
Window Comparable(const std::string& expr, const TimeZone& tz, int64_t start_ms, std::vector<int64_t>* jobgate,
                  std::vector<int64_t>* croner);

}  // namespace jobgate::cron_diff
