// The simulation's store layer on a real PostgreSQL server: the same
// scenarios, invariants and faults as sim_test.cc, with a schema per seed at
// the bottom instead of the memory or SQLite store, for a bounded number of
// seeds (JOBGATE_SIM_POSTGRES_SEEDS, default 6 per class, 1 of schedules): every statement
// is a real round trip. Runs when JOBGATE_TEST_POSTGRES_URL names a server
// (scripts/test.sh starts one); JOBGATE_REQUIRE_POSTGRES=1 makes its
// absence a failure.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "sim/sim_harness.h"
#include "sim/simulation.h"

namespace jobgate::sim {
namespace {

bool ServerNamed() {
  const char* url = std::getenv("JOBGATE_TEST_POSTGRES_URL");
  return url != nullptr && *url != '\0';
}

// kSchedules runs weeks of virtual time, about a minute of statements per
// seed: one by default.
std::vector<uint64_t> PostgresSeeds(ScenarioClass c) {
  if (SingleSeed()) return Seeds();
  const int64_t n = EnvInt("JOBGATE_SIM_POSTGRES_SEEDS").value_or(c == ScenarioClass::kSchedules ? 1 : 6);
  std::vector<uint64_t> out;
  for (int64_t s = 1; s <= n; ++s) out.push_back(static_cast<uint64_t>(s));
  return out;
}

class SimPostgres : public ::testing::TestWithParam<ScenarioClass> {};

TEST_P(SimPostgres, InvariantsHoldOnARealServer) {
  if (!ServerNamed()) {
    if (EnvInt("JOBGATE_REQUIRE_POSTGRES").value_or(0) != 0) FAIL() << "JOBGATE_TEST_POSTGRES_URL is not set";
    GTEST_SKIP() << "set JOBGATE_TEST_POSTGRES_URL (scripts/postgres.sh)";
  }
  const ScenarioClass c = GetParam();
  SimOptions options;
  options.backend = SimBackend::kPostgres;
  int64_t steps = 0;
  for (uint64_t seed : PostgresSeeds(c)) {
    SimResult r = RunSimulation(c, seed, options);
    steps += r.steps;
    if (r.violation) {
      const SimResult replay = RunSimulation(c, seed, SimOptions{true, false, false, SimBackend::kPostgres, true});
      ADD_FAILURE() << "invariant " << r.violation->invariant << " violated on postgres: " << r.violation->what
                    << "\n  reproduce: JOBGATE_SIM_STORE=postgres JOBGATE_SIM_SEED=" << seed
                    << " ./build/tests/jobgate_sim_tests\n  scenario: " << r.scenario << "\n"
                    << replay.trace;
      return;
    }
  }
  EXPECT_GT(steps, 0);
}

INSTANTIATE_TEST_SUITE_P(Classes, SimPostgres,
                         ::testing::Values(ScenarioClass::kMixed, ScenarioClass::kContention,
                                           ScenarioClass::kStoreFaults, ScenarioClass::kGates,
                                           ScenarioClass::kObservedOffset, ScenarioClass::kSchedules),
                         [](const ::testing::TestParamInfo<ScenarioClass>& info) {
                           return std::string(ScenarioClassName(info.param));
                         });

}  // namespace
}  // namespace jobgate::sim
