// ClockEstimator: the store's clock placed from time stamps, bounds and all.
#include <cstdlib>

#include <gtest/gtest.h>

#include "jobgate/clock.h"

namespace jobgate {
namespace {

// A store whose clock reads `mono + k` (k unknown to the estimator), stamping
// at some moment of each exchange and truncating to whole seconds.
struct FakeStoreClock {
  int64_t k;
  EpochMs StampAt(int64_t mono) const {
    const int64_t t = mono + k;
    return t - ((t % 1000) + 1000) % 1000;
  }
};

TEST(ClockEstimator, OneExchangeBoundsTheOffsetByTheSecondAndTheRoundTrip) {
  ClockEstimator e;
  EXPECT_EQ(e.Estimate(0, 0), std::nullopt);
  // Sent at mono 1'000, answered at 1'100, stamped 50'000: the store's clock
  // minus mono is in [50'000 - 1'100, 50'999 - 1'000] = [48'900, 49'999].
  e.AddSample(1'000, 1'100, 50'000, 1000);
  const auto est = e.Estimate(/*wall_now=*/5'000'000, /*mono_now=*/1'100);
  ASSERT_TRUE(est.has_value());
  EXPECT_EQ(est->uncertainty_ms, 550);  // 500 for the second, 50 for half the round trip
  // offset = wall - store = 5'000'000 - (1'100 + k), k in [48'900, 49'999]
  EXPECT_EQ(est->offset_ms - est->uncertainty_ms, 5'000'000 - 1'100 - 49'999);
  EXPECT_EQ(est->offset_ms + est->uncertainty_ms, 5'000'000 - 1'100 - 48'900 + 1);  // rounded up
}

TEST(ClockEstimator, ASecondTurningBetweenTwoExchangesPinsTheBoundary) {
  const FakeStoreClock store{1'495};
  ClockEstimator e;
  e.AddSample(0, 10, store.StampAt(5), 1000);       // reads 1'000
  e.AddSample(500, 510, store.StampAt(505), 1000);  // reads 2'000: the second turned in between
  const auto est = e.Estimate(510, 510);
  ASSERT_TRUE(est.has_value());
  EXPECT_LE(est->uncertainty_ms, 260);
  EXPECT_LE(std::abs(est->offset_ms - (-1'495)), est->uncertainty_ms);
}

TEST(ClockEstimator, ALongRoundTripNeverLoosensTheEstimate) {
  const FakeStoreClock store{-7'321};
  ClockEstimator e;
  for (int64_t t = 0; t < 5'000; t += 137) e.AddSample(t, t + 4, store.StampAt(t + 2), 1000);
  const int64_t tight = e.Estimate(5'000, 5'000)->uncertainty_ms;
  e.AddSample(5'000, 35'000, store.StampAt(20'000), 1000);  // a 30 s round trip
  const auto est = e.Estimate(35'000, 35'000);
  EXPECT_LE(est->uncertainty_ms, tight + 20);  // only 35 s of drift allowance added
  EXPECT_LE(std::abs(est->offset_ms - 7'321), est->uncertainty_ms);
}

TEST(ClockEstimator, TheBoundsAlwaysHoldTheTrueOffsetAndShrinkWithShortRoundTrips) {
  uint64_t r = 12345;
  auto next = [&r](int64_t n) {
    r = r * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<int64_t>((r >> 33) % static_cast<uint64_t>(n));
  };
  for (int trial = 0; trial < 200; ++trial) {
    const FakeStoreClock store{next(2'000'000) - 1'000'000};
    ClockEstimator e;
    int64_t mono = next(1'000'000);
    for (int i = 0; i < 40; ++i) {
      const int64_t rtt = next(4) == 0 ? next(5'000) : next(40);
      const int64_t stamped = mono + next(rtt + 1);
      e.AddSample(mono, mono + rtt, store.StampAt(stamped), 1000);
      mono += rtt + next(3'000);
      const auto est = e.Estimate(mono, mono);  // wall = mono here: offset = -k
      ASSERT_TRUE(est.has_value());
      ASSERT_LE(std::abs(est->offset_ms + store.k), est->uncertainty_ms) << "trial " << trial << " exchange " << i;
    }
    EXPECT_LT(e.Estimate(mono, mono)->uncertainty_ms, 300) << "trial " << trial;
  }
}

TEST(ClockEstimator, TheDriftAllowanceGrowsWithTheAgeOfTheExchanges) {
  ClockEstimator e;
  e.AddSample(0, 0, 0, 1000);
  EXPECT_EQ(e.Estimate(0, 0)->uncertainty_ms, 500);
  // 1'000 s later the local clock may have drifted 500 ms either way.
  EXPECT_EQ(e.Estimate(1'000'000, 1'000'000)->uncertainty_ms, 1'000);
}

TEST(ClockEstimator, ExchangesThatContradictTheEstimateStartItOver) {
  ClockEstimator e;
  for (int64_t t = 0; t < 10'000; t += 1'000) e.AddSample(t, t + 2, t + 100'000, 1000);
  EXPECT_EQ(e.samples(), 10u);
  // The local clock was stepped, or the store's: bounds that no longer meet.
  e.AddSample(20'000, 20'002, 20'000 + 30'000, 1000);
  EXPECT_EQ(e.samples(), 1u);
  EXPECT_LE(std::abs(e.Estimate(20'002, 20'002)->offset_ms + 30'000), 1'000);
}

TEST(ClockEstimator, KeepsTheLastExchangesOnly) {
  ClockEstimator e;
  for (int64_t t = 0; t < 100; ++t) e.AddSample(t * 10, t * 10 + 1, 0, 1'000'000);
  EXPECT_EQ(e.samples(), ClockEstimator::kKeep);
}

}  // namespace
}  // namespace jobgate
