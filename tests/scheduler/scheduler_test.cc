// The scheduler's own decisions (src/scheduler/scheduler.h), with a fake
// launcher on virtual time: which due jobs it starts, how many at once,
// what it does not start twice, how it holds back a broken job, and what
// `tick` reports. The real processes are tested in tests/cli/serve_test.cc.
#include "scheduler/scheduler.h"

#include <gtest/gtest.h>

#include <deque>

#include "store/memory_store.h"

namespace jobgate {
namespace {

// Starts nothing: records the starts, and ends them as the test says.
class FakeLauncher final : public Launcher {
 public:
  explicit FakeLauncher(ManualClock& clock) : clock_(clock) {}
  Result<int64_t> Start(const std::string& job) override {
    running_.push_back(job);
    starts.push_back(job);
    max_running = std::max(max_running, running_.size());
    return static_cast<int64_t>(starts.size());
  }
  std::vector<EndedRun> Reap(int64_t wait_ms) override {
    std::vector<EndedRun> out;
    if (end_all && !running_.empty()) {
      for (const std::string& job : running_) {
        out.push_back(EndedRun{job, exit_code, with_outcome ? R"({"outcome":"succeeded"})" : "", 10});
      }
      running_.clear();
      return out;
    }
    clock_.Advance(std::max<int64_t>(wait_ms, 1));  // time passes while it waits
    return out;
  }
  void SignalAll(int) override { running_.clear(); }
  size_t running() const override { return running_.size(); }

  std::vector<std::string> starts;
  size_t max_running = 0;
  bool end_all = true;
  bool with_outcome = true;
  int exit_code = 0;

 private:
  ManualClock& clock_;
  std::vector<std::string> running_;
};

class SchedulerTest : public ::testing::Test {
 protected:
  static constexpr EpochMs kNow = 1'800'000'000'000;

  void Due(const std::string& job, EpochMs at) {
    JobState s;
    s.job = job;
    s.version = 1;
    s.next_fire_ts = at;
    auto w = store_.CreateState(s);
    ASSERT_TRUE(w.ok() && *w == WriteOutcome::kApplied);
  }
  // Runs serve until `loops` passes of its loop have begun.
  void ServeFor(Scheduler& s, int loops) {
    std::atomic<bool> stop{false};
    int n = 0;
    ASSERT_TRUE(s.Serve(stop, [&] {
                 if (++n >= loops) stop = true;
               }).ok());
  }

  MemoryStore store_;
  ManualClock clock_{kNow};
  FakeLauncher launcher_{clock_};
  std::vector<std::string> lines_;
  EventSink sink_ = [this](const std::string& l) { lines_.push_back(l); };
};

TEST_F(SchedulerTest, TickStartsEveryDueJobOnceAtMostNAtATime) {
  for (int i = 0; i < 5; ++i) Due("job" + std::to_string(i), kNow - 1'000 + i);
  Due("later", kNow + 60'000);
  SchedulerOptions o;
  o.max_concurrent = 2;
  Scheduler s(store_, clock_, launcher_, o, sink_);
  auto report = s.Tick();
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->started, 5);
  EXPECT_EQ(report->succeeded, 5);
  EXPECT_EQ(launcher_.starts, (std::vector<std::string>{"job0", "job1", "job2", "job3", "job4"}));
  EXPECT_LE(launcher_.max_running, 2u);
}

TEST_F(SchedulerTest, TickCountsFailuresAndAStoreThatWasDown) {
  Due("a", kNow - 1);
  launcher_.exit_code = 69;
  Scheduler s(store_, clock_, launcher_, {}, sink_);
  auto report = s.Tick();
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->failed, 1);
  EXPECT_EQ(report->unavailable, 1);
}

class DownStore final : public StoreWrapper {
 public:
  using StoreWrapper::StoreWrapper;
  Result<std::vector<DueJob>> ListDue(EpochMs, size_t) override { return Status::Unavailable("store down"); }
};

TEST_F(SchedulerTest, AStoreThatIsDownStartsNothing) {
  Due("a", kNow - 1);
  DownStore down(store_);
  Scheduler s(down, clock_, launcher_, {}, sink_);
  auto report = s.Tick();
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.status().code(), StatusCode::kUnavailable);
  ServeFor(s, 3);
  EXPECT_TRUE(launcher_.starts.empty());
  bool logged = false;
  for (const auto& l : lines_)
    logged |= l.find("error") != std::string::npos && l.find("store down") != std::string::npos;
  EXPECT_TRUE(logged);
}

TEST_F(SchedulerTest, ServeDoesNotStartAJobAgainForTheSameDueTimeAtOnce) {
  // The invocation ended but the job is still listed at the same due time
  // (another host's clock placed it in the future): restarted after 1 s,
  // not at every pass.
  Due("a", kNow - 1);
  SchedulerOptions o;
  o.poll_ms = 100;
  Scheduler s(store_, clock_, launcher_, o, sink_);
  ServeFor(s, 12);  // ~1.2 s of virtual time
  EXPECT_GE(launcher_.starts.size(), 1u);
  EXPECT_LE(launcher_.starts.size(), 2u);
}

TEST_F(SchedulerTest, ServeHoldsBackAJobWhoseInvocationsEndWithoutAnOutcome) {
  Due("broken", kNow - 1);
  launcher_.with_outcome = false;
  launcher_.exit_code = 2;
  SchedulerOptions o;
  o.poll_ms = 100;
  Scheduler s(store_, clock_, launcher_, o, sink_);
  ServeFor(s, 200);  // ~20 s of virtual time: held 1, 2, 4, 8 s ...
  EXPECT_GE(launcher_.starts.size(), 3u);
  EXPECT_LE(launcher_.starts.size(), 6u);
}

TEST_F(SchedulerTest, EventLinesAreTextOrJson) {
  Due("a", kNow - 1);
  SchedulerOptions o;
  o.json = true;
  Scheduler s(store_, clock_, launcher_, o, sink_);
  ASSERT_TRUE(s.Tick().ok());
  ASSERT_EQ(lines_.size(), 2u);
  EXPECT_EQ(lines_[0].rfind("{\"ts\":", 0), 0u) << lines_[0];
  EXPECT_NE(lines_[0].find("\"event\":\"start\""), std::string::npos) << lines_[0];
  EXPECT_NE(lines_[1].find("\"outcome\":\"succeeded\""), std::string::npos) << lines_[1];
}

}  // namespace
}  // namespace jobgate
