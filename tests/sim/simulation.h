// One seed = one whole reproducible multi-host run: hosts that invoke jobs
// like stateless Lambdas (a fresh Controller per invocation, one shared
// store), an operator, a faulty store, skewed clocks, and the invariant
// checker looking after every step. No threads, no real time.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "sim/checker.h"
#include "sim/scenario.h"

namespace jobgate::sim {

// The store at the bottom of the stack (sim_store.h).
enum class SimBackend {
  kBySeed,  // odd seeds MemoryStore, even seeds SqliteStore
  kMemory,
  kSqlite,  // an in-memory SQLite database ("sqlite::memory:"), one per seed
  // A schema per seed on the server JOBGATE_TEST_POSTGRES_URL names, in
  // virtual time (PostgresOptions::server_clock off); never by seed.
  kPostgres,
};
const char* SimBackendName(SimBackend b);

struct SimResult {
  uint64_t seed = 0;
  ScenarioClass scenario_class = ScenarioClass::kMixed;
  SimBackend backend = SimBackend::kMemory;  // the one it ran on
  bool later_faults = true;                  // SimOptions::later_faults
  std::string scenario;                  // Describe() of the drawn scenario
  std::optional<Violation> violation;    // the first one; the run stops there
  std::string trace;                     // the last events before it
  int64_t exclusion_violations = 0;      // kBeyondSkew: invariant 1 breaks, counted
  std::optional<Violation> first_exclusion;
  std::string exclusion_trace;
  std::map<std::string, int64_t> counters;  // what the run exercised
  std::map<std::string, KnownBugExample> known_bugs;  // tolerated known bugs met, first example each
  int64_t steps = 0;
};

struct SimOptions {
  bool trace = false;       // keep the last events for the report (replays of reported seeds)
  bool echo_trace = false;  // print every event to stderr as it happens (JOBGATE_SIM_TRACE=1)
  bool strict = false;      // known bugs are violations too (the regression tests)
  SimBackend backend = SimBackend::kBySeed;  // JOBGATE_SIM_STORE=memory|sqlite in the harness
  // The faults added after the first bugs were found (a write answered
  // "condition failed" by its re-sent copy, a write that lands late). Off,
  // a seed replays exactly as it did before they existed: the regression
  // tests of those bugs replay their seeds as found.
  bool later_faults = true;
};

// Runs one seed of one scenario class.
SimResult RunSimulation(ScenarioClass c, uint64_t seed, const SimOptions& options = {});

}  // namespace jobgate::sim
