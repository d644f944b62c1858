// The Gate step on every combination of the conditions DESIGN.md names
// (status, lease, pause request, slot, cooldown, rate limit), each at and
// around its boundary, against the decision table written out below: which
// reason wins when several hold, and when a skipped invoker may retry.
#include "core/gate.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

namespace jobgate {
namespace {

constexpr EpochMs kNow = 1'000'000;
constexpr int64_t kSkew = 500;

enum class Holder { kNone, kIdle, kRunningLive, kRunningAtAllowance, kRunningDead, kPaused };
const char* Name(Holder h) {
  switch (h) {
    case Holder::kNone: return "no state";
    case Holder::kIdle: return "IDLE";
    case Holder::kRunningLive: return "RUNNING, lease live";
    case Holder::kRunningAtAllowance: return "RUNNING, now == lease_until + skew";
    case Holder::kRunningDead: return "RUNNING, now == lease_until + skew + 1";
    case Holder::kPaused: return "PAUSED";
  }
  return "?";
}

struct Case {
  Holder holder;
  bool pause_requested;             // paused_reason set (a pause while it ran)
  std::optional<int64_t> slot_vs_last;  // slot - last_slot: -1, 0, +1; nullopt: no slot
  int64_t cooldown_left;            // next_allowed_run - now: -1, 0, +1
  int64_t in_window;                // acquisitions in the rate window (limit 2)
};

// DESIGN.md's gate, in the order it is decided.
GateDecision Expected(const Case& c, const JobState& s, const JobDefinition& def) {
  GateDecision d;
  if (c.holder == Holder::kNone) return d;
  if (c.holder == Holder::kPaused) return {SkipReason::kPaused, false, 0};
  if (c.holder == Holder::kRunningLive || c.holder == Holder::kRunningAtAllowance) {
    return {SkipReason::kRunning, false, s.lease_until + def.max_clock_skew_ms + 1};
  }
  if (c.holder == Holder::kRunningDead) {
    if (c.pause_requested) return {SkipReason::kPaused, false, 0};
    d.takeover = true;
  }
  if (c.slot_vs_last && *c.slot_vs_last <= 0) return {SkipReason::kSlotDone, d.takeover, 0};
  if (c.cooldown_left > 0) return {SkipReason::kCooldown, d.takeover, s.next_allowed_run};
  if (c.in_window >= 2) {
    // Allowed again once the oldest of the two in the window leaves it.
    return {SkipReason::kRateLimited, d.takeover, kNow - 900 + def.rate_limit_window_ms};
  }
  return d;
}

JobState StateFor(const Case& c) {
  JobState s;
  s.job = "g";
  s.version = 7;
  s.last_slot = 50'000;
  s.next_allowed_run = kNow + c.cooldown_left;
  s.paused_reason = c.pause_requested ? "operator" : "";
  switch (c.holder) {
    case Holder::kPaused: s.status = JobStatus::kPaused; break;
    case Holder::kRunningLive: s.status = JobStatus::kRunning, s.lease_until = kNow + 10'000; break;
    case Holder::kRunningAtAllowance: s.status = JobStatus::kRunning, s.lease_until = kNow - kSkew; break;
    case Holder::kRunningDead: s.status = JobStatus::kRunning, s.lease_until = kNow - kSkew - 1; break;
    default: s.status = JobStatus::kIdle; break;
  }
  // Stamps 900 and 100 ms ago are in the 1 s window; 1,000 ms ago is not.
  s.rate_history = {kNow - 1'000};
  if (c.in_window >= 2) s.rate_history.push_back(kNow - 900);
  if (c.in_window >= 1) s.rate_history.push_back(kNow - 100);
  return s;
}

TEST(Gate, EveryCombinationDecidesAsTheDecisionTableSays) {
  JobDefinition def;
  def.job = "g";
  def.max_clock_skew_ms = kSkew;
  def.rate_limit_count = 2;
  def.rate_limit_window_ms = 1'000;
  int cases = 0;
  for (Holder holder : {Holder::kNone, Holder::kIdle, Holder::kRunningLive, Holder::kRunningAtAllowance,
                        Holder::kRunningDead, Holder::kPaused}) {
    for (bool pause_requested : {false, true}) {
      for (std::optional<int64_t> slot : {std::optional<int64_t>(), std::optional<int64_t>(-1),
                                          std::optional<int64_t>(0), std::optional<int64_t>(1)}) {
        for (int64_t cooldown_left : {-1, 0, 1}) {
          for (int64_t in_window : {0, 1, 2}) {
            const Case c{holder, pause_requested, slot, cooldown_left, in_window};
            const JobState s = StateFor(c);
            const std::optional<JobState> state = holder == Holder::kNone ? std::nullopt : std::optional(s);
            const std::optional<EpochMs> slot_ms = slot ? std::optional(s.last_slot + *slot) : std::nullopt;
            const GateDecision got = Gate(state, def, slot_ms, kNow);
            const GateDecision want = Expected(c, s, def);
            SCOPED_TRACE(fmt::format("{}, pause requested {}, slot {}, cooldown left {}, {} in window", Name(holder),
                                     pause_requested, slot ? std::to_string(*slot) : "none", cooldown_left,
                                     in_window));
            EXPECT_EQ(SkipReasonName(got.skip), std::string(SkipReasonName(want.skip)));
            EXPECT_EQ(got.takeover, want.takeover);
            EXPECT_EQ(got.retry_at, want.retry_at);
            ++cases;
          }
        }
      }
    }
  }
  EXPECT_EQ(cases, 6 * 2 * 4 * 3 * 3);
}

}  // namespace
}  // namespace jobgate
