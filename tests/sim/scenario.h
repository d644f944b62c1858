// What one seed simulates: the jobs and their definitions, the hosts that
// invoke them and their clock skews, the store's faults and how often
// holders crash, stall or run late. Each scenario class biases the draw
// towards one family of trouble; all of them are drawn from the seed alone.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "jobgate/job.h"
#include "sim/sim_store.h"
#include "sim/sim_world.h"

namespace jobgate::sim {

enum class ScenarioClass {
  kMixed,        // a bit of everything, clocks within the allowance
  kContention,   // one job, many hosts, the same slots and request ids, interleaved calls
  kStoreFaults,  // a store that fails often and loses responses
  kGates,        // cooldown, backoff, parking and rate limits under skew
  kBeyondSkew,   // clocks further apart than max_clock_skew: invariant 1 may break
  kObservedOffset,  // each clock within +-2 x max_clock_skew of the store, which reports its time like a Date header
  kOverconfidentClock,  // self-test: as kObservedOffset, but every estimate is reported as exact
  kBrokenCas,    // self-test: a store whose CAS ignores the version
  kSchedules,    // scheduled jobs fired by several tickers (ListDue) over weeks of virtual time, across DST
};
const char* ScenarioClassName(ScenarioClass c);

struct JobPlan {
  JobDefinition def;
  int64_t period_ms = 0;          // schedule slots are kSimEpochMs + k * period_ms
  std::vector<int64_t> skews_ms;  // one per invoking host
};

// kSchedules: the jobs carry a schedule (placed by Controller::Apply) and
// are fired by tickers, each a `jobgate serve` on its own host: it lists
// the due index (Store::ListDue) and starts scheduled invocations
// (RunRequest::scheduled) in runner processes on the same host, the same
// clock. The plain invokers of such a job only run it by hand (no slot).
struct TickerPlan {
  std::vector<int64_t> skews_ms;  // one per ticker
  int runners = 2;                // invocations one ticker can have going per job
  int64_t poll_ms = 60'000;       // the due index is read at least this often (read ahead by as much)
  size_t due_limit = 256;         // ListDue's limit (SchedulerOptions::batch)
  int64_t launch_ms = 1'000;      // a runner process starts within this long
  double crash = 0;               // per tick: the ticker dies (its runners go on) ...
  int64_t down_ms = 0;            // ... for up to this long
  EpochMs outage_at = 0;          // every ticker is down in [outage_at, outage_at + outage_ms)
  int64_t outage_ms = 0;
  double redeliver = 0;           // an ended invocation is delivered again (same request)
  double twice = 0;               // a due job is started twice at once by one ticker
  double request_ids = 0;         // scheduled invocations carrying a request id (the due time's)
};

// Per-wake chances of a holder's misfortunes, and the rest of the mix.
struct Scenario {
  std::vector<JobPlan> jobs;
  FaultPlan faults;
  double crash = 0;           // a holder just stops, mid-run
  double stall = 0;           // a holder pauses longer than its lease (the stale-holder case)
  double late_heartbeat = 0;  // a holder skips a beat and lets its lease run down
  double duplicate = 0;       // an invocation re-delivers an earlier request (same slot and id)
  double manual = 0;          // an invocation without a slot (a person, a trigger)
  double stale_slot = 0;      // a scheduler fires an older slot late
  double success = 0.6;       // the workload's odds; the rest fails or times out
  double instant_run = 0.2;   // a run that is done as soon as it starts
  int64_t operator_gap_ms = 0;  // mean time between operator actions; 0 = no operator
  int interleave_depth = 2;
  int cas_attempts = 8;
  int steps = 200;            // top-level steps per seed
  bool broken_cas = false;
  bool report_clock_offset = false;  // the store reports its time (whole seconds, stamped within each call)
  bool understate_clock = false;     // ... and the self-test reports every estimate as exact
  bool tolerate_exclusion = false;
  // kSchedules: the tickers, and virtual time instead of a step count.
  TickerPlan tickers;
  EpochMs start_ms = kSimEpochMs;
  int64_t span_ms = 0;        // the run ends at start_ms + span_ms (0: after `steps`)
};

// `extra` draws only what the faults added later need (applied-then-conflict,
// late writes), so the rest of each seed's scenario is drawn as before.
Scenario MakeScenario(ScenarioClass c, Rng& rng, Rng& extra);

// One line saying what a seed's scenario is, for the failure message.
std::string Describe(const Scenario& s);

}  // namespace jobgate::sim
