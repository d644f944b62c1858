// The store's time as this host places it: the clock model of
// docs/design.md, "Clocks" (the comment atop store_clock.cc says why it is
// safe).
#pragma once

#include <cstdint>
#include <optional>

#include "core/gate.h"
#include "jobgate/clock.h"
#include "jobgate/status.h"
#include "jobgate/store.h"

namespace jobgate {

class StoreClock {
 public:
  StoreClock(const Store& store, Clock& clock) : store_(store), clock_(clock) {}
  // Now, on the store's clock with this host's uncertainty; this host's
  // own clock, exactly, when the store does not report time.
  StoreTime Now() const;
  // Why this host must not act on its clock now: the store reports time
  // but none could be read yet, or it is placed more loosely than
  // MaxUncertaintyMs (kUnavailable: nothing runs, exit 69).
  Status Usable(const JobDefinition& def) const;
  static int64_t MaxUncertaintyMs(const JobDefinition& def);
  std::optional<int64_t> OffsetMs() const;
  std::optional<int64_t> UncertaintyMs() const;
  // |offset| > max_clock_skew / 2: worked around, but reported (NTP is off).
  bool BeyondShare(const JobDefinition& def) const;

 private:
  const Store& store_;
  Clock& clock_;
};

}  // namespace jobgate
