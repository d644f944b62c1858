// The heartbeat thread: beats only when asked, one at a time, answers once,
// joins a beat in progress, and reports a thread that cannot start.
#include "core/beat_thread.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace jobgate {
namespace {

using namespace std::chrono_literals;

// Counts wakes; waits for them with a deadline.
class Waker {
 public:
  void Wake() {
    {
      std::lock_guard lock(mu_);
      ++wakes_;
    }
    cv_.notify_all();
  }
  bool WaitFor(int n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, 10s, [&] { return wakes_ >= n; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int wakes_ = 0;
};

TEST(BeatThread, BeatsOnlyWhenAskedAndAnswersOnce) {
  ManualClock clock(5'000);
  std::atomic<int> beats{0};
  Waker waker;
  auto t = BeatThread::Start([&] { return HeartbeatReply{true, 100 + beats++}; }, [&] { waker.Wake(); }, clock);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_FALSE((*t)->Take()) << "no answer before a beat was asked for";
  (*t)->Request();
  ASSERT_TRUE(waker.WaitFor(1));
  auto answer = (*t)->Take();
  ASSERT_TRUE(answer);
  EXPECT_TRUE(answer->reply.held);
  EXPECT_EQ(answer->reply.lease_left_ms, 100);
  EXPECT_EQ(answer->at_ms, 5'000) << "stamped with the injected clock";
  EXPECT_FALSE((*t)->Take()) << "an answer is taken once";
  (*t)->Request();
  ASSERT_TRUE(waker.WaitFor(2));
  EXPECT_EQ((*t)->Take()->reply.lease_left_ms, 101);
  EXPECT_EQ(beats.load(), 2);
}

TEST(BeatThread, DestructionWaitsForABeatInProgress) {
  ManualClock clock;
  std::atomic<bool> in_beat{false}, finished{false};
  {
    auto t = BeatThread::Start(
        [&] {
          in_beat = true;
          std::this_thread::sleep_for(100ms);
          finished = true;
          return HeartbeatReply{};
        },
        nullptr, clock);
    ASSERT_TRUE(t.ok());
    (*t)->Request();
    while (!in_beat) std::this_thread::yield();
  }
  EXPECT_TRUE(finished.load()) << "the store call was not left running on a destroyed object";
}

TEST(BeatThread, AThreadThatCannotStartIsAnError) {
  ManualClock clock;
  auto t = BeatThread::Start([] { return HeartbeatReply{}; }, nullptr, clock,
                             [](std::thread&, std::function<void()>) { return Status::Internal("EAGAIN"); });
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), StatusCode::kInternal);
}

}  // namespace
}  // namespace jobgate
