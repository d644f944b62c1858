// Soak: as many seeds as fit in JOBGATE_SIM_SOAK_SECONDS (default 0: skip),
// cycling through the classes whose invariants must all hold from JOBGATE_SIM_SOAK_FIRST_SEED
// (default 1000001, past the suite's own seeds). A failing seed is reported
// with the reproduction of its class's test.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "sim/sim_harness.h"

namespace jobgate::sim {
namespace {

TEST(SimSoak, RunsSeedsForSoakSeconds) {
  const int64_t seconds = EnvInt("JOBGATE_SIM_SOAK_SECONDS").value_or(0);
  if (seconds <= 0) GTEST_SKIP() << "set JOBGATE_SIM_SOAK_SECONDS to soak";
  const std::vector<std::pair<ScenarioClass, std::string>> classes = {
      {ScenarioClass::kMixed, "Sim.MixedWithinSkew"},
      {ScenarioClass::kContention, "Sim.ContentionWithinSkew"},
      {ScenarioClass::kStoreFaults, "Sim.StoreFaultsWithinSkew"},
      {ScenarioClass::kGates, "Sim.GatesWithinSkew"},
      {ScenarioClass::kObservedOffset, "Sim.ObservedOffsetsKeepOneHolderHoweverFarClocksDrift"},
      {ScenarioClass::kSchedules, "Sim.SchedulesOneRunPerSlotAcrossTickersCrashesAndSkew"}};
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  uint64_t seed = static_cast<uint64_t>(EnvInt("JOBGATE_SIM_SOAK_FIRST_SEED").value_or(1'000'001));
  const uint64_t first = seed;
  int64_t runs = 0;
  int64_t failures = 0;
  std::map<std::string, int64_t> known;
  while (std::chrono::steady_clock::now() < deadline) {
    for (const auto& [c, test] : classes) {
      SimResult r = RunSimulation(c, seed);
      ++runs;
      for (const auto& [bug, example] : r.known_bugs) ++known[bug];
      if (r.violation && ++failures <= 5) ADD_FAILURE() << Report(r, test);
    }
    ++seed;
  }
  fmt::print("[sim] soak: {} runs (seeds {}..{} of each of {} classes) in {} s, {} with a violation\n", runs, first,
             seed - 1, classes.size(), seconds, failures);
  for (const auto& [bug, n] : known) fmt::print("[sim]   KNOWN BUG {} met in {} runs\n", bug, n);
}

}  // namespace
}  // namespace jobgate::sim
