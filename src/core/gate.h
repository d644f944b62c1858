// The Gate step and the state transitions of DESIGN.md as pure functions of
// (state, definition, time): no I/O, so they are tested exhaustively and the
// controller only sequences reads and conditional writes around them.
#pragma once

#include <optional>
#include <string>

#include "jobgate/job.h"

namespace jobgate {

// The store's time as this host places it: the true value lies within
// [earliest, latest], `best` is the middle. Each use takes the safe side:
// "has it passed?" asks `earliest`, a deadline or a stamp others will test
// is written from `latest`, and what is only recorded (a start, an update)
// takes `best`. Hosts that cannot observe the store's clock use their own,
// exactly (Exact), and rely on max_clock_skew.
struct StoreTime {
  EpochMs earliest = 0;
  EpochMs best = 0;
  EpochMs latest = 0;
  EpochMs local = 0;  // this host's own clock at the same moment (its own deadlines)
  static StoreTime Exact(EpochMs t) { return {t, t, t, t}; }
};

struct GateDecision {
  SkipReason skip = SkipReason::kNone;  // kNone: may acquire
  bool takeover = false;                // acquiring from a holder presumed dead
  EpochMs retry_at = 0;                 // when a skipped invocation could succeed, if known
};

// Decides whether an invocation may acquire the job now. `state` is nullopt
// for a job that has never run. Every test is of time having passed, so it
// reads `now.earliest`.
GateDecision Gate(const std::optional<JobState>& state, const JobDefinition& def,
                  std::optional<EpochMs> slot, const StoreTime& now);
inline GateDecision Gate(const std::optional<JobState>& state, const JobDefinition& def,
                         std::optional<EpochMs> slot, EpochMs now) {
  return Gate(state, def, slot, StoreTime::Exact(now));
}

// Whether the holder of a RUNNING state is presumed dead at `now`.
bool LeaseExpired(const JobState& s, const JobDefinition& def, EpochMs now);

struct AcquireParams {
  std::string run_id;
  std::string holder;
  std::optional<EpochMs> slot;
  StoreTime now;  // lease_until and the rate limiter's stamp from `latest`, last_run_ts `best`
};

// The state written by acquire / take over (version + 1).
JobState AcquiredState(const std::optional<JobState>& state, const std::string& job, const JobDefinition& def,
                       const GateDecision& gate, const AcquireParams& p);

// What the workload did, as the run record, the request record and
// last_outcome store it.
RecordedOutcome OutcomeOf(WorkResult::Kind k);

// The state written by succeed / fail (version + 1): the counters, and the
// last_* fields naming this run (its fence and `request_id`, empty if none).
// `backoff_ms` is drawn by the caller so this stays deterministic.
// next_allowed_run counts from `now.latest`, the rest is stamped `best`.
JobState FinishedState(const JobState& running, const JobDefinition& def, const WorkResult& work,
                       const std::string& request_id, EpochMs started_ms, const StoreTime& now,
                       int64_t backoff_ms);

// Rate limiter: the acquisition times in the sliding log and the append.
int64_t AcquisitionsInWindow(const std::vector<EpochMs>& history, EpochMs now, int64_t window_ms);
std::vector<EpochMs> AppendToHistory(std::vector<EpochMs> history, EpochMs now, int64_t keep);
// When the oldest acquisition in the window leaves it (0 when not limited).
EpochMs RateLimitRetryAt(const std::vector<EpochMs>& history, EpochMs now, const JobDefinition& def);

}  // namespace jobgate
