// What the simulation's gtest entry points share: seed selection from the
// environment, running a scenario class over many seeds, and reports that
// carry a one-line reproduction and the last events before a violation.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "sim/simulation.h"

namespace jobgate::sim {

inline constexpr int64_t kDefaultSeeds = 1000;

// An integer environment variable, if set.
std::optional<int64_t> EnvInt(const char* name);

// "Suite.Test" of the running test.
std::string TestName();

// JOBGATE_SIM_SEED=<seed> ./build/tests/jobgate_sim_tests --gtest_filter=<test>
std::string Repro(uint64_t seed, const std::string& test);

// Bulk runs keep no trace; a seed to be reported is replayed with it on.
SimResult Replay(const SimResult& r, bool strict = false);

// The violation of `r` with its reproduction, scenario and last events.
std::string Report(const SimResult& r, const std::string& test, bool strict = false);

// JOBGATE_SIM_STORE=memory|sqlite runs every seed on that store; unset,
// the seed chooses (odd: memory, even: sqlite).
SimBackend BackendFromEnv();

// JOBGATE_SIM_LATER_FAULTS=0 leaves out the faults added later
// (SimOptions::later_faults), so a seed found before them replays as found.

// Seeds [1, JOBGATE_SIM_SEEDS] (default kDefaultSeeds), or only JOBGATE_SIM_SEED.
std::vector<uint64_t> Seeds();
bool SingleSeed();

struct ClassRun {
  int64_t seeds = 0;
  double seconds = 0;
  std::vector<SimResult> failed;           // seeds with a violation
  std::vector<SimResult> broke_exclusion;  // seeds with tolerated invariant-1 violations
  // Per known bug: how many seeds met it, and the seed that met it earliest.
  std::map<std::string, std::pair<int64_t, SimResult>> known_bugs;
  std::map<std::string, int64_t> counters;  // summed over seeds
};

ClassRun RunClass(ScenarioClass c, const std::vector<uint64_t>& seeds);
void PrintSummary(const ClassRun& run, ScenarioClass c);

}  // namespace jobgate::sim
