// `jobgate serve` and `jobgate tick` as people run them: real processes on
// one SQLite store. Three schedulers share a rate(2 seconds) job with no
// leader; every slot runs exactly once while one of them lives, and a
// scheduler killed with SIGKILL in the middle of a run loses no slot and
// runs none twice (its run, a process of its own, goes on and commits).
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/duration.h"
#include "support/subprocess.h"
#include "support/temp_dir.h"

namespace {

using jobgate::test::Child;
using jobgate::test::Proc;
using jobgate::test::RunToFiles;

class ServeTest : public ::testing::Test {
 protected:
  jobgate::test::TempDir temp_{"jobgate-serve-test"};
  std::string dir_ = temp_.path();
  std::string store_ = "sqlite:" + dir_ + "/jobs.db";

  Proc Jobgate(std::vector<std::string> args, const std::string& name = "cmd") {
    args.insert(args.begin(), {JOBGATE_BINARY, "--store", store_});
    return RunToFiles(args, dir_ + "/" + name + ".out", dir_ + "/" + name + ".err");
  }
  Child Serve(int n) {
    return Child({JOBGATE_BINARY, "--store", store_, "--log-format", "json", "serve", "--grace", "5s"},
                 dir_ + "/serve" + std::to_string(n) + ".out", dir_ + "/serve" + std::to_string(n) + ".err");
  }
  void Apply(const std::string& toml) {
    std::ofstream(dir_ + "/jobs.toml") << toml;
    Proc p = Jobgate({"apply", dir_ + "/jobs.toml"});
    ASSERT_EQ(p.exit_code, 0) << p.err;
  }
  // The slots the workload saw ($JOBGATE_SLOT), one line each, in order.
  std::vector<std::string> Slots() {
    std::vector<std::string> out;
    std::istringstream in(jobgate::test::ReadFile(dir_ + "/slots.txt"));
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
  }
  nlohmann::json Status(const std::string& job) {
    Proc p = Jobgate({"status", job, "--json"}, "status");
    EXPECT_EQ(p.exit_code, 0) << p.err;
    return nlohmann::json::parse(p.out, nullptr, false);
  }

};

TEST_F(ServeTest, ThreeSchedulersRunEverySlotOnceAndSurviveAKill) {
  Apply(
      "[jobs.beat]\n"
      "schedule = \"rate(2 seconds)\"\n"
      "command = \"echo $JOBGATE_SLOT >> " + dir_ + "/slots.txt; sleep 0.8\"\n"
      "lease = \"5s\"\n");
  std::vector<Child> serves;
  for (int i = 0; i < 3; ++i) serves.push_back(Serve(i));
  // Kill one scheduler while a run it started is going: the run is a process
  // of its own and commits; the others go on.
  bool killed = false;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(14);
  while (std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (killed) continue;
    for (int i = 0; i < 3 && !killed; ++i) {
      const std::string log = serves[static_cast<size_t>(i)].Out();
      // A start and no end yet: its run is in the middle.
      const auto count = [&](const std::string& what) {
        size_t n = 0;
        for (size_t at = log.find(what); at != std::string::npos; at = log.find(what, at + 1)) ++n;
        return n;
      };
      if (count("\"event\":\"start\"") > count("\"event\":\"end\"") && count("\"outcome\":\"succeeded\"") >= 1) {
        serves[static_cast<size_t>(i)].Kill();
        killed = true;
      }
    }
  }
  ASSERT_TRUE(killed) << "no scheduler was ever caught in the middle of a run";
  for (auto& s : serves) kill(s.pid(), SIGTERM);
  for (auto& s : serves) ASSERT_TRUE(s.WaitFor(std::chrono::seconds(20)).has_value()) << s.Describe();
  std::this_thread::sleep_for(std::chrono::seconds(1));  // the killed one's orphaned run commits

  const std::vector<std::string> slots = Slots();
  ASSERT_GE(slots.size(), 5u) << jobgate::test::ReadFile(dir_ + "/slots.txt");
  std::set<std::string> unique(slots.begin(), slots.end());
  EXPECT_EQ(unique.size(), slots.size()) << "a slot ran twice:\n" << jobgate::test::ReadFile(dir_ + "/slots.txt");
  // No slot lost between the first and the last: consecutive, 2 s apart.
  for (size_t i = 1; i < slots.size(); ++i) {
    auto a = jobgate::ParseTime(slots[i - 1], "slot");
    auto b = jobgate::ParseTime(slots[i], "slot");
    ASSERT_TRUE(a.ok() && b.ok()) << slots[i - 1] << ", " << slots[i];
    EXPECT_EQ(*b - *a, 2000) << slots[i - 1] << " -> " << slots[i];
  }
  nlohmann::json st = Status("beat");
  EXPECT_EQ(st["run_count"], static_cast<int64_t>(slots.size()));
  EXPECT_EQ(st["success_count"], static_cast<int64_t>(slots.size()));
  EXPECT_EQ(st["status"], "IDLE");
  EXPECT_EQ(st["slots_missed"], 0);
  EXPECT_EQ(st["slots_skipped"], 0);
}

TEST_F(ServeTest, TickStartsEveryDueJobOnceWaitsAndSaysWhetherAllSucceeded) {
  Apply(
      "[jobs.a]\nschedule = \"rate(2 seconds)\"\ncommand = \"echo a >> " + dir_ + "/slots.txt\"\n"
      "[jobs.b]\nschedule = \"rate(2 seconds)\"\ncommand = \"echo b >> " + dir_ + "/slots.txt\"\n"
      "[jobs.c]\nschedule = \"rate(2 seconds)\"\ncommand = \"exit 3\"\n"
      "[jobs.manual]\ncommand = \"echo manual >> " + dir_ + "/slots.txt\"\n");
  std::this_thread::sleep_for(std::chrono::milliseconds(2'100));  // every schedule's first fire time passed
  Proc tick = Jobgate({"tick", "--max-concurrent", "2"}, "tick");
  EXPECT_EQ(tick.exit_code, 1) << tick.out << tick.err;  // c failed
  std::vector<std::string> ran = Slots();
  std::sort(ran.begin(), ran.end());
  EXPECT_EQ(ran, (std::vector<std::string>{"a", "b"})) << "an unscheduled job is never due";
  size_t starts = 0;
  for (size_t at = tick.out.find(" start job="); at != std::string::npos; at = tick.out.find(" start job=", at + 1)) {
    ++starts;
  }
  EXPECT_EQ(starts, 3u) << tick.out;
  EXPECT_NE(tick.out.find("end job=c"), std::string::npos) << tick.out;
  EXPECT_EQ(Status("c")["failure_count"], 1);
}

// The CPU time (user + system) a process has used so far.
double CpuSeconds(pid_t pid) {
  std::istringstream in(jobgate::test::ReadFile("/proc/" + std::to_string(pid) + "/stat"));
  std::string field;
  std::vector<std::string> fields;
  while (in >> field) fields.push_back(field);
  if (fields.size() < 15) return -1;
  return static_cast<double>(std::stoll(fields[13]) + std::stoll(fields[14])) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// Between due times serve sleeps: it once looped on Reap(), which returned
// at once with no child running, and kept a core busy while idle.
TEST_F(ServeTest, AnIdleServeSleeps) {
  Apply("[jobs.later]\nschedule = \"rate(1 hour)\"\ncommand = \"true\"\n");
  Child serve({JOBGATE_BINARY, "--store", store_, "serve", "--poll", "500ms"}, dir_ + "/serve.out",
              dir_ + "/serve.err");
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // started up
  const double before = CpuSeconds(serve.pid());
  std::this_thread::sleep_for(std::chrono::seconds(3));
  const double used = CpuSeconds(serve.pid()) - before;
  ASSERT_GE(before, 0) << serve.Describe();
  // Six reads of the due index and a wake-up every 100 ms cost milliseconds;
  // a spinning loop costs about 3 s.
  EXPECT_LT(used, 0.5) << "an idle serve used " << used << " s of CPU in 3 s";
  kill(serve.pid(), SIGTERM);
  ASSERT_TRUE(serve.WaitFor(std::chrono::seconds(10)).has_value()) << serve.Describe();
}

// The store's URL (which may hold a password) reaches the invocations in
// their environment, where only their owner can read it, not on their
// command lines, which every user of the host can (ps); and serve's
// NOTIFY_SOCKET is its own, not its jobs'.
TEST_F(ServeTest, InvocationsGetTheStoreInTheirEnvironmentNotOnTheirCommandLines) {
  const std::string db = dir_ + "/jobs.db";
  std::ofstream(dir_ + "/needle") << db << "\n";  // not in the job's own command line
  Apply("[jobs.look]\nschedule = \"rate(1 second)\"\ncommand = \"for f in /proc/[0-9]*/cmdline; do tr '\\\\000' ' ' < $f; "
        "echo; done 2>/dev/null | grep -F -f " + dir_ + "/needle > " + dir_ + "/cmdlines.txt; echo \\\"$JOBGATE_STORE "
        "${NOTIFY_SOCKET-unset}\\\" > " + dir_ + "/env.txt\"\n");
  Child serve({JOBGATE_BINARY, "--store", store_, "serve", "--poll", "200ms"}, dir_ + "/serve.out",
              dir_ + "/serve.err", {"NOTIFY_SOCKET=" + dir_ + "/no-such-socket"});
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (jobgate::test::ReadFile(dir_ + "/env.txt").empty() && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  kill(serve.pid(), SIGTERM);
  ASSERT_TRUE(serve.WaitFor(std::chrono::seconds(10)).has_value()) << serve.Describe();
  EXPECT_EQ(jobgate::test::ReadFile(dir_ + "/env.txt"), store_ + " unset\n") << serve.Describe();
  // Only serve's own command line names the store.
  const std::string lines = jobgate::test::ReadFile(dir_ + "/cmdlines.txt");
  EXPECT_EQ(std::count(lines.begin(), lines.end(), '\n'), 1) << lines;
  EXPECT_NE(lines.find(" serve "), std::string::npos) << lines;
}

TEST_F(ServeTest, SigtermLetsARunningJobFinishWithinTheGraceThenStopsTheRest) {
  Apply(
      "[jobs.slow]\nschedule = \"rate(1 second)\"\ncommand = \"sleep 1.5; echo done >> " + dir_ +
      "/slots.txt\"\nlease = \"10s\"\n"
      "[jobs.stuck]\nschedule = \"rate(1 second)\"\ncommand = \"sleep 60\"\nlease = \"10s\"\n"
      "kill_grace = \"1s\"\n");
  Child serve({JOBGATE_BINARY, "--store", store_, "serve", "--grace", "3s"}, dir_ + "/serve.out",
              dir_ + "/serve.err");
  // Wait until both run.
  for (int i = 0; i < 100; ++i) {
    const std::string out = serve.Out();
    if (out.find("start job=slow") != std::string::npos && out.find("start job=stuck") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  const std::string before = serve.Out();
  ASSERT_NE(before.find("start job=slow"), std::string::npos) << serve.Describe();
  ASSERT_NE(before.find("start job=stuck"), std::string::npos) << serve.Describe();
  kill(serve.pid(), SIGTERM);
  auto code = serve.WaitFor(std::chrono::seconds(20));
  ASSERT_TRUE(code.has_value()) << serve.Describe();
  EXPECT_EQ(*code, 0) << serve.Describe();
  const std::string log = serve.Out();
  // slow finished within the grace; stuck was stopped after it and committed.
  EXPECT_NE(log.find("end job=slow"), std::string::npos) << log;
  EXPECT_NE(log.find("terminating"), std::string::npos) << log;
  EXPECT_EQ(Slots(), std::vector<std::string>{"done"});
  nlohmann::json stuck = Status("stuck");
  EXPECT_EQ(stuck["status"], "IDLE") << stuck.dump();
  EXPECT_EQ(stuck["failure_count"], 1) << stuck.dump();
  EXPECT_EQ(Status("slow")["success_count"], 1);
}

TEST_F(ServeTest, AfterDowntimeTheLatestSlotRunsOnceAndTheMissedAreInStatusAndHistory) {
  Apply("[jobs.tick]\nschedule = \"rate(1 second)\"\ncommand = \"echo $JOBGATE_SLOT >> " + dir_ +
        "/slots.txt\"\n[jobs.manual]\ncommand = \"true\"\n");
  std::this_thread::sleep_for(std::chrono::milliseconds(3'300));  // three or four slots pass unserved
  Proc tick = Jobgate({"tick"}, "tick");
  ASSERT_EQ(tick.exit_code, 0) << tick.out << tick.err;
  ASSERT_EQ(Slots().size(), 1u);
  nlohmann::json st = Status("tick");
  EXPECT_GE(st["slots_missed"], 2) << st.dump();
  EXPECT_EQ(st["last_slot"], Slots()[0]) << st.dump();
  Proc history = Jobgate({"history", "tick", "--json"}, "history");
  ASSERT_EQ(history.exit_code, 0) << history.err;
  nlohmann::json runs = nlohmann::json::parse(history.out, nullptr, false);
  ASSERT_TRUE(runs.is_array()) << history.out;
  bool missed = false;
  for (const auto& r : runs) {
    missed |= r["outcome"] == "missed" && r["error"].get<std::string>().find("catch_up = latest") != std::string::npos;
  }
  EXPECT_TRUE(missed) << history.out;
  // A scheduled invocation of a job without a schedule is a usage error.
  Proc bad = Jobgate({"run", "manual", "--scheduled"}, "bad");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("no schedule"), std::string::npos) << bad.err;
}

}  // namespace
