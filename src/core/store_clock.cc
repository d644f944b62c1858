// The clock model (docs/design.md, "Clocks"). Times a host writes or
// compares are the store's when the store reports its time (a remote
// store's Date header), placed by ClockEstimator with an uncertainty that
// every use counts on its safe side (StoreTime): the gate asks whether the
// earliest the store's clock can read has passed a deadline, deadlines are
// written from the latest. A holder then stops by the lease_until it
// published, in true time, and a taker starts after it, however far off
// either host's clock is; cooldowns, rate windows and request expiry hold
// the same way. max_clock_skew is still added to a lease before takeover,
// as a margin. A host that cannot place the store's time (no estimate yet,
// or one too loose to run a lease on) refuses to act. With a store that
// does not report time (an embedded store shares the host's clock), hosts
// use their own clocks and must be kept within max_clock_skew of each other
// by NTP: docs/operations.md, "Clocks".
#include <algorithm>
#include <cstdlib>

#include <fmt/format.h>

#include "core/store_clock.h"

namespace jobgate {

StoreTime StoreClock::Now() const {
  const EpochMs local = clock_.NowMs();
  if (!store_.ReportsTime()) return StoreTime::Exact(local);
  const std::optional<ClockEstimate> e = store_.ObservedClock();
  // Before any estimate (Usable refused to start on that) the host's own
  // clock is all there is.
  if (!e) return StoreTime::Exact(local);
  const EpochMs best = local - e->offset_ms;
  return StoreTime{best - e->uncertainty_ms, best, best + e->uncertainty_ms, local};
}

int64_t StoreClock::MaxUncertaintyMs(const JobDefinition& def) { return def.lease_ms; }

Status StoreClock::Usable(const JobDefinition& def) const {
  if (!store_.ReportsTime()) return Status::Ok();
  const std::optional<ClockEstimate> e = store_.ObservedClock();
  if (!e) {
    return Status::Unavailable(fmt::format(
        "job '{}': the store's answers carried no time this host could read (an HTTP Date header), so it "
        "cannot place its clock against the store's; refusing to act on its own clock",
        def.job));
  }
  if (e->uncertainty_ms > MaxUncertaintyMs(def)) {
    return Status::Unavailable(fmt::format(
        "job '{}': this host places the store's clock only to within {} ms (slow answers), more than the "
        "lease ({} ms); refusing to act until the store answers faster",
        def.job, e->uncertainty_ms, def.lease_ms));
  }
  return Status::Ok();
}

std::optional<int64_t> StoreClock::OffsetMs() const {
  const std::optional<ClockEstimate> e = store_.ObservedClock();
  if (!e) return std::nullopt;
  return e->offset_ms;
}

std::optional<int64_t> StoreClock::UncertaintyMs() const {
  const std::optional<ClockEstimate> e = store_.ObservedClock();
  if (!e) return std::nullopt;
  return e->uncertainty_ms;
}

bool StoreClock::BeyondShare(const JobDefinition& def) const {
  const std::optional<ClockEstimate> e = store_.ObservedClock();
  return e && std::abs(e->offset_ms) > def.max_clock_skew_ms / 2;
}

}  // namespace jobgate
