// max_clock_skew bounds how far apart two hosts' clocks may be. A taker
// whose clock is ahead by `a` and a holder whose clock is behind by `d`
// (both against the store's clock) are safe while a + d <= max_clock_skew:
// the holder stops at the end of its lease on its own clock, the taker
// waits until its clock passes lease_until + max_clock_skew. When the store
// tells a host its offset, the host keeps its own side within half the
// allowance: ahead by more, it refuses takeovers (AheadOfStore); behind by
// more, it publishes a lease that much longer (LeaseSlackMs). Any two such
// hosts then meet a + d <= max_clock_skew, however far off each clock is.
// Hosts whose offset nobody can observe (an embedded store shares the
// host's clock) must be kept within the allowance of each other by NTP:
// docs/operations.md, "Clocks".
#include <algorithm>
#include <cstdlib>

#include "core/controller_impl.h"

namespace jobgate {

bool ClockShare::AheadOfStore(const JobDefinition& def) const {
  auto offset = store_.ObservedClockOffsetMs();
  return offset && *offset > def.max_clock_skew_ms / 2;
}

int64_t ClockShare::LeaseSlackMs(const JobDefinition& def) const {
  auto offset = store_.ObservedClockOffsetMs();
  if (!offset) return 0;
  return std::max<int64_t>(0, -*offset - def.max_clock_skew_ms / 2);
}

bool ClockShare::BeyondShare(const JobDefinition& def) const {
  auto offset = store_.ObservedClockOffsetMs();
  return offset && std::abs(*offset) > def.max_clock_skew_ms / 2;
}

}  // namespace jobgate
