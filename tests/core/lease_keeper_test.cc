// The lease-keeping policy on a virtual clock: every timing rule of
// src/core/lease_keeper.h, with no sleeps. The runner's and the library's
// real-time tests (tests/run, tests/core/controller_test.cc) show the same
// policy carried out by threads and signals.
#include "core/lease_keeper.h"

#include <signal.h>

#include <gtest/gtest.h>

#include <optional>
#include <vector>

namespace jobgate {
namespace {

constexpr int64_t kStart = 1'000'000;

LeaseTerms Terms(int64_t lease_ms, int64_t grace_ms, int64_t timeout_ms = 0) {
  return LeaseTerms{lease_ms, lease_ms, timeout_ms, grace_ms};
}

// Drives a keeper the way an owner loop does: wakes at NextWake, beats when
// due with the answer `answer(at)`, and records every order with its time.
struct Driver {
  explicit Driver(const LeaseTerms& terms) : keeper(terms, kStart) {}

  template <typename Answer>
  void RunUntil(int64_t end, Answer&& answer) {
    now = kStart;
    while (now <= end) {
      Record(keeper.Tick(now));
      if (auto due = keeper.NextBeatAt(); due && now >= *due) {
        keeper.BeatStarted(now);
        beats.push_back(now);
        Record(keeper.BeatAnswered(now, answer(now)));
      }
      auto wake = keeper.NextWake();
      if (!wake) break;
      now = std::max(now + 1, *wake);
    }
  }
  void Record(const KeeperOrders& o) {
    if (o.terminate && !terminated_at) terminated_at = now;
    if (o.kill && !killed_at) killed_at = now;
  }

  LeaseKeeper keeper;
  int64_t now = kStart;
  std::vector<int64_t> beats;
  std::optional<int64_t> terminated_at;
  std::optional<int64_t> killed_at;
};

HeartbeatReply Renewed(int64_t lease_ms) { return HeartbeatReply{true, lease_ms}; }

TEST(LeaseKeeper, CadenceIsAThirdOfTheLeaseAndTheLeadASixthCappedByTheGrace) {
  EXPECT_EQ(HeartbeatIntervalMs(60'000), 20'000);
  EXPECT_EQ(HeartbeatIntervalMs(2), 1) << "never a zero interval";
  EXPECT_EQ(TerminateLeadMs(60'000, 30'000), 10'000);
  EXPECT_EQ(TerminateLeadMs(60'000, 3'000), 3'000);
}

TEST(LeaseKeeper, BeatsOnAFixedCadenceWhileEveryBeatRenews) {
  Driver d(Terms(600, 10'000));
  d.RunUntil(kStart + 2'000, [](int64_t) { return Renewed(600); });
  ASSERT_GE(d.beats.size(), 9u);
  for (size_t i = 0; i < d.beats.size(); ++i) EXPECT_EQ(d.beats[i], kStart + 200 * static_cast<int64_t>(i + 1));
  EXPECT_FALSE(d.terminated_at);
  EXPECT_FALSE(d.killed_at);
  EXPECT_FALSE(d.keeper.stop_cause());
}

TEST(LeaseKeeper, ALateBeatSkipsTheBeatsItMissedInsteadOfBursting) {
  LeaseKeeper k(Terms(600, 10'000), kStart);
  ASSERT_EQ(k.NextBeatAt(), kStart + 200);
  k.BeatStarted(kStart + 200);
  EXPECT_EQ(k.NextBeatAt(), std::nullopt) << "none while one is in flight";
  (void)k.BeatAnswered(kStart + 750, Renewed(600));  // hung for 550 ms
  EXPECT_EQ(k.NextBeatAt(), kStart + 950) << "one interval after the late answer";
  k.BeatStarted(kStart + 950);
  (void)k.BeatAnswered(kStart + 960, Renewed(600));
  EXPECT_EQ(k.NextBeatAt(), kStart + 1150) << "back on the cadence";
}

TEST(LeaseKeeper, ALeaseNobodyRenewsIsTerminatedAtItsLeadAndKilledAtItsEnd) {
  Driver d(Terms(600, 10'000));
  // Every beat fails: the deadline stays where it was measured.
  d.RunUntil(kStart + 5'000, [](int64_t at) { return HeartbeatReply{true, kStart + 600 - at}; });
  EXPECT_EQ(d.terminated_at, kStart + 600 - 100) << "lead = min(grace, lease / 6)";
  EXPECT_EQ(d.killed_at, kStart + 600) << "dead by the end of its own lease";
  EXPECT_EQ(d.keeper.stop_cause(), StopCause::kLeaseLost);
  EXPECT_TRUE(d.keeper.killed());
}

TEST(LeaseKeeper, AHungBeatCannotDelayTheKill) {
  LeaseKeeper k(Terms(600, 10'000), kStart);
  k.BeatStarted(kStart + 200);  // and never answers
  EXPECT_FALSE(k.Tick(kStart + 499).any());
  EXPECT_TRUE(k.Tick(kStart + 500).terminate);
  EXPECT_EQ(k.NextDeadline(), kStart + 600);
  EXPECT_TRUE(k.Tick(kStart + 600).kill);
  // The beat answering "renewed" after the end cannot call the stop off.
  EXPECT_FALSE(k.BeatAnswered(kStart + 900, Renewed(600)).any());
  EXPECT_EQ(k.stop_cause(), StopCause::kLeaseLost);
}

TEST(LeaseKeeper, OneMissedBeatDoesNotStopAHealthyRun) {
  Driver d(Terms(600, 10'000));
  int64_t renewed_at = kStart;
  int n = 0;
  d.RunUntil(kStart + 3'000, [&](int64_t at) {
    if (++n != 2) renewed_at = at;  // the second beat fails
    return HeartbeatReply{true, renewed_at + 600 - at};
  });
  EXPECT_FALSE(d.terminated_at);
  EXPECT_FALSE(d.keeper.stop_cause());
}

TEST(LeaseKeeper, TwoMissedBeatsInARowStartAGracefulStop) {
  Driver d(Terms(600, 10'000));
  int64_t renewed_at = kStart;
  int n = 0;
  d.RunUntil(kStart + 3'000, [&](int64_t at) {
    ++n;
    if (n != 2 && n != 3) renewed_at = at;  // beats 2 and 3 fail
    return HeartbeatReply{true, renewed_at + 600 - at};
  });
  // Renewed last at +200 (beat 1): the lease ends at +800, its lead is 100.
  EXPECT_EQ(d.terminated_at, kStart + 700);
  EXPECT_EQ(d.keeper.stop_cause(), StopCause::kLeaseLost);
}

TEST(LeaseKeeper, ALostLeaseTerminatesAtOnceStopsTheBeatsAndKillsAfterTheGrace) {
  LeaseKeeper k(Terms(600, 300), kStart);
  k.BeatStarted(kStart + 200);
  const KeeperOrders o = k.BeatAnswered(kStart + 210, HeartbeatReply{false, 390});
  EXPECT_TRUE(o.terminate);
  EXPECT_EQ(k.stop_cause(), StopCause::kLeaseLost);
  EXPECT_EQ(k.NextBeatAt(), std::nullopt) << "nothing left to renew";
  EXPECT_EQ(k.NextDeadline(), kStart + 510) << "kill after the grace (300), before the lease end (600)";
  EXPECT_TRUE(k.Tick(kStart + 510).kill);
}

TEST(LeaseKeeper, ATimeoutKeepsItsGraceWhileTheLeaseIsRenewed) {
  Driver d(Terms(300, 1'000, /*timeout_ms=*/200));
  d.RunUntil(kStart + 3'000, [](int64_t) { return Renewed(300); });
  EXPECT_EQ(d.terminated_at, kStart + 200);
  EXPECT_EQ(d.killed_at, kStart + 1'200) << "the whole grace, though it is longer than the lease";
  EXPECT_EQ(d.keeper.stop_cause(), StopCause::kTimedOut) << "the lease was renewed: still a timeout";
}

TEST(LeaseKeeper, AStopsKillComesAtTheLeaseEndWhenTheBeatsFail) {
  Driver d(Terms(600, 10'000, /*timeout_ms=*/100));
  d.RunUntil(kStart + 5'000, [](int64_t at) { return HeartbeatReply{true, kStart + 600 - at}; });
  EXPECT_EQ(d.terminated_at, kStart + 100);
  EXPECT_EQ(d.killed_at, kStart + 600) << "the grace ends at the lease's end";
  EXPECT_EQ(d.keeper.stop_cause(), StopCause::kTimedOut) << "a late lease is not known lost";
}

TEST(LeaseKeeper, ASecondInterruptKillsAtOnce) {
  LeaseKeeper k(Terms(0, 10'000), kStart);
  const KeeperOrders first = k.Interrupted(kStart + 5, SIGTERM);
  EXPECT_TRUE(first.terminate);
  EXPECT_FALSE(first.kill);
  EXPECT_EQ(k.NextDeadline(), kStart + 10'005);
  EXPECT_TRUE(k.Interrupted(kStart + 6, SIGINT).kill);
  EXPECT_EQ(k.stop_cause(), StopCause::kInterrupted);
  EXPECT_EQ(k.stop_signal(), SIGTERM) << "the first signal is the one reported";
  EXPECT_EQ(k.NextDeadline(), std::nullopt);
}

TEST(LeaseKeeper, ALostLeaseDuringAnotherStopIsReportedAsLost) {
  LeaseKeeper k(Terms(600, 10'000, /*timeout_ms=*/50), kStart);
  EXPECT_TRUE(k.Tick(kStart + 50).terminate);
  k.BeatStarted(kStart + 200);
  EXPECT_FALSE(k.BeatAnswered(kStart + 200, HeartbeatReply{false, 400}).any()) << "already stopping";
  EXPECT_EQ(k.stop_cause(), StopCause::kLeaseLost) << "its commit would be rejected";
}

TEST(LeaseKeeper, WithoutALeaseThereAreNoBeatsAndNoLeaseDeadline) {
  LeaseKeeper k(Terms(0, 10'000), kStart);
  EXPECT_EQ(k.NextBeatAt(), std::nullopt);
  EXPECT_EQ(k.NextWake(), std::nullopt);
  EXPECT_EQ(k.lease_end(), std::nullopt);
  EXPECT_FALSE(k.Tick(kStart + 1'000'000).any());
}

TEST(LeaseKeeper, LeaseLeftCountsFromWhenItWasMeasured) {
  // Acquired 400 ms of a 600 ms lease ago (a slow start): 200 ms are left.
  LeaseKeeper k(LeaseTerms{600, 200, 0, 10'000}, kStart);
  EXPECT_EQ(k.lease_end(), kStart + 200);
  EXPECT_EQ(k.NextDeadline(), kStart + 100);
}

}  // namespace
}  // namespace jobgate
