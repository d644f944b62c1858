// The deterministic simulation, one test per scenario class. Each runs
// JOBGATE_SIM_SEEDS seeds (default 1000); JOBGATE_SIM_SEED=N runs only seed
// N (JOBGATE_SIM_TRACE=1 prints every event as it happens). A failing seed
// prints its one-line reproduction and the last events before the violation.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "sim/sim_harness.h"

namespace jobgate::sim {
namespace {

constexpr int64_t kScheduleSeeds = 12;

void ReportFailures(const ClassRun& run) {
  for (size_t i = 0; i < run.failed.size() && i < 3; ++i) ADD_FAILURE() << Report(run.failed[i], TestName());
}

// Runs a class whose invariants must all hold, and checks that its seeds
// really reached the situations the class is about: a simulation that never
// takes over a lease proves nothing about takeovers.
ClassRun ExpectClassHolds(ScenarioClass c, std::vector<std::string> must_reach,
                          const std::vector<uint64_t>& seeds = Seeds()) {
  ClassRun run = RunClass(c, seeds);
  PrintSummary(run, c);
  ReportFailures(run);
  if (SingleSeed()) return run;
  // Every class runs on both bottom stores, unless JOBGATE_SIM_STORE says one.
  if (BackendFromEnv() == SimBackend::kBySeed) {
    must_reach.insert(must_reach.end(), {"seeds_on_memory", "seeds_on_sqlite"});
  }
  // And meets the faults added later: a write that applied but was answered
  // "condition failed" by its re-sent copy; late writes that landed, refused
  // by their CAS or applied, some after their sender's re-read (the
  // dangerous case) and some after its call was over (judged by that call).
  if (EnvInt("JOBGATE_SIM_LATER_FAULTS").value_or(1) != 0) {
    must_reach.insert(must_reach.end(), {"applied_then_conflict", "late_writes_landed", "late_writes_refused",
                                         "late_writes_landed_after_a_reread", "late_writes_landed_after_their_call"});
  }
  for (const auto& what : must_reach) {
    EXPECT_GT(run.counters[what], 0) << "no seed of " << ScenarioClassName(c) << " reached " << what;
  }
  return run;
}

// What every within-skew class must reach.
std::vector<std::string> Basics(const std::vector<std::string>& more) {
  std::vector<std::string> all = {"grants",          "takeovers", "commit_succeeded", "commit_failed",
                                  "commit_lease_lost", "heartbeats_lost", "crashes", "skip_running",
                                  "resource_writes", "request_claims"};
  all.insert(all.end(), more.begin(), more.end());
  return all;
}

TEST(Sim, MixedWithinSkew) {
  ExpectClassHolds(ScenarioClass::kMixed,
                   Basics({"store_faults", "interleavings", "skip_duplicate", "skip_slot_done", "skip_paused",
                           "operator_unlock", "unlock_evicted_working_holder", "rollbacks"}));
}

TEST(Sim, ContentionWithinSkew) {
  ExpectClassHolds(ScenarioClass::kContention,
                   Basics({"interleavings", "skip_duplicate", "skip_slot_done", "skip_lost_race", "rollbacks"}));
}

TEST(Sim, StoreFaultsWithinSkew) {
  ExpectClassHolds(ScenarioClass::kStoreFaults,
                   Basics({"store_faults", "acquire_errors", "heartbeat_errors", "commit_errors"}));
}

TEST(Sim, GatesWithinSkew) {
  ExpectClassHolds(ScenarioClass::kGates,
                   Basics({"skip_cooldown", "skip_rate_limited", "parked", "skip_paused", "operator_resume"}));
}

// Scheduled jobs (rate(), cron() and crontab lines, in UTC, Europe/London
// and America/New_York across a DST change; catch_up latest/all/none,
// starting deadlines, overlap skip and replace) fired by two to four
// tickers reading the due index through the faulty store, over a month of
// virtual time (half the seeds; the others a few days), with holders
// crashing, tickers dying, an outage of all of them, duplicate deliveries
// and skewed clocks. Invariant 3: no slot claimed or run twice, each a
// real fire time claimed when due, and every fire time accounted for.
// Fewer seeds than the other classes, each being weeks long:
// JOBGATE_SIM_SCHEDULE_SEEDS (or JOBGATE_SIM_SEED) to change that.
TEST(Sim, SchedulesOneRunPerSlotAcrossTickersCrashesAndSkew) {
  std::vector<uint64_t> seeds;
  const int64_t n = EnvInt("JOBGATE_SIM_SCHEDULE_SEEDS").value_or(kScheduleSeeds);
  for (int64_t s = 1; s <= n; ++s) seeds.push_back(static_cast<uint64_t>(s));
  if (SingleSeed()) seeds = Seeds();
  ExpectClassHolds(ScenarioClass::kSchedules,
                   {"scheduled_grants", "slots_claimed", "slots_claimed_across_dst", "slots_missed",
                    "slots_skipped", "slot_dedup_writes", "slot_skip_writes", "slot_missed_writes",
                    "slots_replacing_a_live_run", "replace_evicted_working_holder", "skip_slot_done",
                    "skip_missed", "skip_running", "early_firings_of_the_next_slot", "list_due_calls", "crashes",
                    "takeovers", "commit_succeeded", "commit_lease_lost", "heartbeats_lost", "request_claims",
                    "rollbacks", "store_faults"},
                   seeds);
}

// Documents why the allowance matters: with two hosts' clocks further apart
// than max_clock_skew, a taker's clock passes lease_until + max_clock_skew
// while the holder's is still before lease_until, and two holders work at
// once. Every other invariant must still hold.
TEST(SimBeyondSkew, MutualExclusionBreaksWithoutTheAllowance) {
  const ScenarioClass c = ScenarioClass::kBeyondSkew;
  ClassRun run = RunClass(c, Seeds());
  PrintSummary(run, c);
  ReportFailures(run);
  fmt::print("[sim] beyond_skew: {} of {} seeds broke mutual exclusion (invariant 1)\n", run.broke_exclusion.size(),
             run.seeds);
  if (SingleSeed()) return;
  ASSERT_FALSE(run.broke_exclusion.empty()) << "skew beyond max_clock_skew never broke invariant 1";
  const SimResult r = Replay(run.broke_exclusion.front());
  fmt::print("[sim] for example: {}\n  reproduce: {}\n  last events:\n{}", r.first_exclusion->what,
             Repro(r.seed, TestName()), r.exclusion_trace);
}

// A self-test class's run, with how many seeds each invariant caught.
ClassRun RunSelfTest(ScenarioClass c, std::map<int, int>& by_invariant) {
  ClassRun run = RunClass(c, Seeds());
  PrintSummary(run, c);
  for (const auto& r : run.failed) ++by_invariant[r.violation->invariant];
  for (const auto& [inv, n] : by_invariant) fmt::print("[sim]   invariant {}: caught in {} seeds\n", inv, n);
  return run;
}

// The store reports its time the way an HTTP Date header does (whole
// seconds, read anywhere within the call), and hosts are up to twice
// max_clock_skew off it, so up to four times the allowance apart. Each host
// places the store's clock with ClockEstimator and works in the store's
// time, its uncertainty counted on the safe side of every use, so every
// invariant holds, the gate's even in true time.
TEST(Sim, ObservedOffsetsKeepOneHolderHoweverFarClocksDrift) {
  ExpectClassHolds(ScenarioClass::kObservedOffset,
                   {"grants", "takeovers", "crashes", "skip_running", "heartbeat_writes",
                    "takeovers_by_clocks_beyond_share", "acquisitions_by_clocks_beyond_share"});
}

// The mutation of the clock model: the same stores, but every estimate is
// reported as exact, so hosts count no uncertainty. Date-header rounding
// alone must then break the gate or exclusion in many seeds, and the
// checker must see it as invariant violations, not harness errors.
TEST(SimSelfTest, CheckerCatchesAClockModelThatIgnoresItsUncertainty) {
  const ScenarioClass c = ScenarioClass::kOverconfidentClock;
  std::map<int, int> by_invariant;
  ClassRun run = RunSelfTest(c, by_invariant);
  if (SingleSeed()) return;
  EXPECT_GE(run.failed.size() * 10, static_cast<size_t>(run.seeds)) << "an overconfident clock went unnoticed";
  EXPECT_EQ(by_invariant.count(0), 0u) << "harness errors instead of invariant violations";
  if (!run.failed.empty()) fmt::print("[sim] for example:\n{}", Report(run.failed.front(), TestName()));
}

// The checker itself is tested: under a store whose "CAS" ignores the
// expected version (but still bumps it, so only the semantic checks can
// notice), nearly every seed must be caught, by invariants and not by the
// harness's own consistency checks.
TEST(SimSelfTest, CheckerCatchesBrokenCas) {
  const ScenarioClass c = ScenarioClass::kBrokenCas;
  std::map<int, int> by_invariant;
  ClassRun run = RunSelfTest(c, by_invariant);
  if (SingleSeed()) return;
  EXPECT_GE(run.failed.size() * 10, static_cast<size_t>(run.seeds) * 9) << "the checker missed a broken CAS";
  // On either bottom store: the broken CAS sits above it.
  std::map<SimBackend, int64_t> caught;
  for (const auto& r : run.failed) ++caught[r.backend];
  for (SimBackend b : {SimBackend::kMemory, SimBackend::kSqlite}) {
    const int64_t ran = run.counters[std::string("seeds_on_") + SimBackendName(b)];
    if (ran == 0) continue;  // JOBGATE_SIM_STORE chose the other one
    fmt::print("[sim]   on {}: caught in {} of {} seeds\n", SimBackendName(b), caught[b], ran);
    EXPECT_GE(caught[b] * 10, ran * 9) << "the checker missed a broken CAS on " << SimBackendName(b);
  }
  EXPECT_EQ(by_invariant.count(0), 0u) << "harness errors instead of invariant violations";
  if (!run.failed.empty()) fmt::print("[sim] for example:\n{}", Report(run.failed.front(), TestName()));
}

}  // namespace
}  // namespace jobgate::sim
