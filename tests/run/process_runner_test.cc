#include "run/process_runner.h"

#include <fcntl.h>
#include <linux/kcmp.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "sys/thread.h"

namespace jobgate {
namespace {

using Kind = ProcessResult::Kind;
using std::chrono::milliseconds;

ProcessSpec Shell(const std::string& script) {
  ProcessSpec spec;
  spec.argv = {"sh", "-c", script};
  spec.kill_grace_ms = 200;
  return spec;
}

ProcessResult RunOk(const ProcessSpec& spec, const HeartbeatFn& heartbeat = nullptr) {
  Result<ProcessResult> result = RunProcess(spec, heartbeat);
  EXPECT_TRUE(result.ok()) << result.status().ToString();
  return result.ok() ? *result : ProcessResult{};
}

// Alive means running: a zombie nobody has reaped yet (our orphans are
// reparented to a pid 1 that may never reap them) is dead.
bool IsAlive(pid_t pid) {
  if (kill(pid, 0) != 0) return false;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(stat, line);
  const size_t paren = line.rfind(')');
  return paren != std::string::npos && paren + 2 < line.size() && line[paren + 2] != 'Z';
}

bool GoneWithin(pid_t pid, milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (IsAlive(pid)) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(milliseconds(10));
  }
  return true;
}

// The pid a workload wrote to `path`, once it has written a whole line.
pid_t WaitForPidFile(const std::filesystem::path& path, milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    std::ifstream in(path);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!text.empty() && text.back() == '\n') return std::stoi(text);
    std::this_thread::sleep_for(milliseconds(10));
  }
  return -1;
}

// Sends jobgate's stderr to /dev/null while alive, for workloads that write
// megabytes through it.
class SilenceStderr {
 public:
  SilenceStderr() : saved_(dup(STDERR_FILENO)) {
    const int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
    dup2(null, STDERR_FILENO);
    close(null);
  }
  ~SilenceStderr() {
    dup2(saved_, STDERR_FILENO);
    close(saved_);
  }

 private:
  int saved_;
};

// Peak resident set size, in KiB, since the last ResetPeakRss().
long PeakRssKib() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

// "5" resets the high-water mark to the current RSS (proc(5), clear_refs).
bool ResetPeakRss() {
  std::ofstream out("/proc/self/clear_refs");
  out << "5";
  out.flush();
  return out.good();
}

class ProcessRunner : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/jobgate_runner_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string PathOf(const std::string& name) const { return (dir_ / name).string(); }

  std::filesystem::path dir_;
};

TEST_F(ProcessRunner, ExitCodePassesThrough) {
  const ProcessResult r = RunOk(Shell("exit 7"));
  EXPECT_EQ(r.kind, Kind::kExited);
  EXPECT_EQ(r.exit_code, 7);
  EXPECT_EQ(r.signal, 0);
}

TEST_F(ProcessRunner, ResultNamesAreStable) {
  EXPECT_STREQ(ProcessResultKindName(Kind::kTimedOut), "timed_out");
  EXPECT_STREQ(ProcessResultKindName(Kind::kLeaseLost), "lease_lost");
}

TEST_F(ProcessRunner, SignaledWorkloadReportsTheShellExitCode) {
  const ProcessResult r = RunOk(Shell("kill -KILL $$"));
  EXPECT_EQ(r.kind, Kind::kSignaled);
  EXPECT_EQ(r.signal, SIGKILL);
  EXPECT_EQ(r.exit_code, 128 + SIGKILL);
}

TEST_F(ProcessRunner, ChildSeesAddedOverriddenAndInheritedEnvironment) {
  setenv("JOBGATE_TEST_INHERITED", "kept", 1);
  setenv("JOBGATE_TEST_OVERRIDDEN", "old", 1);
  ProcessSpec spec = Shell(
      "test \"$JOBGATE_FENCE\" = 42 && test \"$JOBGATE_RUN_ID\" = run-1 &&"
      " test \"$JOBGATE_TEST_OVERRIDDEN\" = new && test \"$JOBGATE_TEST_INHERITED\" = kept");
  spec.env = {{"JOBGATE_FENCE", "42"},
              {"JOBGATE_RUN_ID", "run-1"},
              {"JOBGATE_TEST_OVERRIDDEN", "new"}};
  const ProcessResult r = RunOk(spec);
  unsetenv("JOBGATE_TEST_INHERITED");
  unsetenv("JOBGATE_TEST_OVERRIDDEN");
  EXPECT_EQ(r.kind, Kind::kExited);
  EXPECT_EQ(r.exit_code, 0);
}

TEST_F(ProcessRunner, KeepsTheUtf8CleanedTailOfStderr) {
  // printf's \377 is the byte 0xFF, never valid in UTF-8; \a is a control.
  const ProcessResult r = RunOk(Shell("echo to-stdout; printf 'bad \\377 byte\\a\\n' >&2; exit 3"));
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.stderr_tail, "bad \xEF\xBF\xBD byte");
}

TEST_F(ProcessRunner, StderrTailIsBoundedToTheLastBytes) {
  ProcessSpec spec = Shell(
      "i=0; while [ $i -lt 100 ]; do echo line-$i >&2; i=$((i+1)); done; echo the end >&2");
  spec.stderr_tail_bytes = 16;
  const ProcessResult r = RunOk(spec);
  EXPECT_LE(r.stderr_tail.size(), 16u);
  EXPECT_EQ(r.stderr_tail, "line-99\nthe end");
}

TEST_F(ProcessRunner, HugeStderrPassesThroughInBoundedMemory) {
  const bool can_measure = ResetPeakRss();
  const long before_kib = PeakRssKib();
  ProcessResult r;
  {
    SilenceStderr quiet;
    r = RunOk(Shell("head -c 33554432 /dev/zero | tr '\\0' x >&2; echo >&2; echo END >&2"));
  }
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.stderr_tail.substr(r.stderr_tail.size() - 5), "x\nEND");
  EXPECT_LE(r.stderr_tail.size(), 1024u);
  if (!can_measure) GTEST_SKIP() << "cannot reset the peak RSS here; output checked, memory not";
  // Buffering the 32 MiB would raise the peak by at least that much.
  EXPECT_LT(PeakRssKib() - before_kib, 8 * 1024);
}

TEST_F(ProcessRunner, TimeoutStopsTheWorkloadQuickly) {
  ProcessSpec spec = Shell("sleep 60");
  spec.timeout_ms = 200;
  const ProcessResult r = RunOk(spec);
  EXPECT_EQ(r.kind, Kind::kTimedOut);
  EXPECT_EQ(r.signal, SIGTERM);
  EXPECT_GE(r.duration_ms, 190);
  EXPECT_LT(r.duration_ms, 1500);
}

TEST_F(ProcessRunner, TimeoutSigkillsAWorkloadThatIgnoresSigtermAfterTheGrace) {
  // 300 ms: long enough for sh to set its trap even on a loaded machine.
  ProcessSpec spec = Shell("trap '' TERM; sleep 60");
  spec.timeout_ms = 300;
  spec.kill_grace_ms = 200;
  const ProcessResult r = RunOk(spec);
  EXPECT_EQ(r.kind, Kind::kTimedOut);
  EXPECT_EQ(r.signal, SIGKILL);
  EXPECT_GE(r.duration_ms, 490);
  EXPECT_LT(r.duration_ms, 2000);
}

TEST_F(ProcessRunner, TimeoutKillsGrandchildren) {
  ProcessSpec spec = Shell("sleep 60 & echo $! > " + PathOf("grandchild") + "; wait");
  spec.timeout_ms = 300;
  const ProcessResult r = RunOk(spec);
  EXPECT_EQ(r.kind, Kind::kTimedOut);
  const pid_t grandchild = WaitForPidFile(PathOf("grandchild"), milliseconds(100));
  ASSERT_GT(grandchild, 0);
  EXPECT_TRUE(GoneWithin(grandchild, milliseconds(1000)));
}

TEST_F(ProcessRunner, LeftoverBackgroundProcessesDieWhenTheWorkloadExits) {
  // The background sleep holds the stderr pipe: the runner must not wait for EOF.
  const ProcessResult r = RunOk(Shell("sleep 60 & echo $! > " + PathOf("leftover") + "; exit 0"));
  EXPECT_EQ(r.kind, Kind::kExited);
  EXPECT_LT(r.duration_ms, 1000);
  const pid_t leftover = WaitForPidFile(PathOf("leftover"), milliseconds(100));
  ASSERT_GT(leftover, 0);
  EXPECT_TRUE(GoneWithin(leftover, milliseconds(1000)));
}

TEST_F(ProcessRunner, HeartbeatIsCalledAboutEveryInterval) {
  ProcessSpec spec = Shell("sleep 0.5");
  spec.lease_ms = spec.lease_left_ms = 150;  // a beat every 50 ms
  std::vector<std::chrono::steady_clock::time_point> beats;
  const auto start = std::chrono::steady_clock::now();
  const ProcessResult r = RunOk(spec, [&] {
    beats.push_back(std::chrono::steady_clock::now());
    return HeartbeatReply{true, 150};
  });
  EXPECT_EQ(r.kind, Kind::kExited);
  EXPECT_GE(beats.size(), 5u) << "about one per 50 ms of a >= 500 ms run";
  // On a fixed cadence from the start, so a late beat (a loaded machine)
  // does not delay the next ones; never early, so never a burst either
  // (deadlines are whole milliseconds of Clock::MonotonicMs: within 1 ms).
  for (size_t i = 0; i < beats.size(); ++i) {
    EXPECT_GE(beats[i] - start, milliseconds(50) * (i + 1) - milliseconds(1)) << "beat " << i;
  }
}

TEST_F(ProcessRunner, LostLeaseStopsTheWorkload) {
  ProcessSpec spec = Shell("sleep 60");
  spec.lease_ms = spec.lease_left_ms = 150;  // a beat every 50 ms
  int beats = 0;
  const ProcessResult r = RunOk(spec, [&] { return HeartbeatReply{++beats < 2, 150}; });
  EXPECT_EQ(r.kind, Kind::kLeaseLost);
  EXPECT_EQ(beats, 2) << "no heartbeat after the lease was lost";
  EXPECT_LT(r.duration_ms, 1000);
}

// A workload under a lease of `lease_ms` renewed (or not) every lease/3.
ProcessSpec Leased(const std::string& script, int64_t lease_ms, int64_t kill_grace_ms) {
  ProcessSpec spec = Shell(script);
  spec.lease_ms = lease_ms;
  spec.lease_left_ms = lease_ms;
  spec.kill_grace_ms = kill_grace_ms;
  return spec;
}

// The beats fail (the store is down) and say so: nothing renews the lease.
// A graceful stop begins min(kill_grace, lease / 3) before its end, and the
// workload is dead at its end, even one that ignores SIGTERM.
TEST_F(ProcessRunner, ALeaseThatIsNotRenewedStopsTheWorkloadByItsEnd) {
  const ProcessSpec spec = Leased("trap '' TERM; sleep 60 & wait; sleep 60", 600, 10'000);
  std::atomic<int> beats{0};
  const auto start = std::chrono::steady_clock::now();
  const ProcessResult r = RunOk(spec, [&] {
    ++beats;
    const auto left = 600 - std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - start).count();
    return HeartbeatReply{true, left};
  });
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.kind, Kind::kLeaseLost);
  EXPECT_EQ(r.exit_code, 128 + SIGKILL) << "it ignored SIGTERM";
  EXPECT_GE(took, milliseconds(600));
  EXPECT_LT(took, milliseconds(600 + 900)) << "SIGKILL at the lease's end, not after the 10 s grace";
  EXPECT_GE(beats.load(), 1);
}

// A beat that hangs in the store (a busy_timeout, HTTP retries) does not
// hold up the deadline: the loop does not wait for it.
TEST_F(ProcessRunner, AHeartbeatBlockedInTheStoreCannotDelayTheLeaseDeadline) {
  const std::string pid_file = PathOf("pid");
  const ProcessSpec spec = Leased("echo $$ > " + pid_file + "; exec sleep 60", 500, 100);
  std::atomic<bool> release{false}, hung{false};
  std::atomic<int64_t> dead_after_ms{-1};
  const auto start = std::chrono::steady_clock::now();
  // Lets the hung beat go only once the workload is dead, so RunProcess
  // cannot have returned before (it joins the beat).
  std::thread releaser([&] {
    const pid_t workload = WaitForPidFile(pid_file, milliseconds(5000));
    if (workload > 0 && GoneWithin(workload, milliseconds(10'000))) {
      dead_after_ms = std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - start).count();
    }
    release = true;
  });
  const ProcessResult r = RunOk(spec, [&] {
    hung = true;
    while (!release) std::this_thread::sleep_for(milliseconds(10));  // the first beat hangs
    return HeartbeatReply{};
  });
  releaser.join();
  EXPECT_TRUE(hung.load());
  EXPECT_EQ(r.kind, Kind::kLeaseLost);
  ASSERT_GE(dead_after_ms.load(), 0) << "the workload outlived its lease by 10 s";
  EXPECT_LT(dead_after_ms.load(), 500 + 1500) << "the workload ran on while the beat hung";
}

// Renewals move the deadline: a workload that outlives its first lease
// many times over runs to its end while the beats succeed.
TEST_F(ProcessRunner, RenewedLeasesLetTheWorkloadRunPastTheFirstDeadline) {
  const ProcessSpec spec = Leased("sleep 1", 300, 10'000);
  const ProcessResult r = RunOk(spec, [&] { return HeartbeatReply{true, 300}; });
  EXPECT_EQ(r.kind, Kind::kExited);
  EXPECT_EQ(r.exit_code, 0);
}

// One beat that fails (the lease is not renewed, and says so) between
// renewals is not enough to stop a healthy run.
TEST_F(ProcessRunner, OneMissedBeatDoesNotStopARenewingRun) {
  const ProcessSpec spec = Leased("sleep 1", 600, 10'000);
  std::atomic<int> beats{0};
  const auto start = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point renewed = start;
  const ProcessResult r = RunOk(spec, [&] {
    const auto now = std::chrono::steady_clock::now();
    if (++beats != 2) renewed = now;  // the second beat fails
    return HeartbeatReply{true, 600 - std::chrono::duration_cast<milliseconds>(now - renewed).count()};
  });
  EXPECT_EQ(r.kind, Kind::kExited);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_GE(beats.load(), 3);
}

// A timed-out workload keeps its whole kill grace while the beats renew
// the lease, even when the grace is longer than the lease; the stop stays a
// timeout.
TEST_F(ProcessRunner, AStopKeepsItsGraceWhileTheLeaseIsRenewed) {
  ProcessSpec spec = Leased("trap '' TERM; sleep 60 & wait; sleep 60", 300, 1'000);
  spec.timeout_ms = 200;
  const ProcessResult r = RunOk(spec, [&] { return HeartbeatReply{true, 300}; });
  EXPECT_EQ(r.kind, Kind::kTimedOut);
  EXPECT_GE(r.duration_ms, 200 + 1'000 - 50) << "SIGKILL came before the grace ran out";
  EXPECT_LT(r.duration_ms, 200 + 1'000 + 1'500);
}

// The heartbeat thread starts when the first beat is due (a third of the
// lease in): a run that ends before then starts none, a longer one one.
TEST_F(ProcessRunner, TheHeartbeatThreadStartsOnlyWhenABeatIsDue) {
  int started = 0;
  const ThreadStarter counting = [&](std::thread& out, std::function<void()> body) {
    ++started;
    out = std::thread(std::move(body));
    return Status::Ok();
  };
  std::atomic<int> beats{0};
  const HeartbeatFn beat = [&] {
    ++beats;
    return HeartbeatReply{true, 3'000};
  };
  ProcessSpec quick = Leased("exit 0", 3'000, 1'000);
  quick.start_thread = counting;
  EXPECT_EQ(RunOk(quick, beat).exit_code, 0);
  EXPECT_EQ(started, 0);
  EXPECT_EQ(beats.load(), 0);

  ProcessSpec longer = Leased("sleep 1.3", 3'000, 1'000);  // beats at 1 s: one
  longer.start_thread = counting;
  EXPECT_EQ(RunOk(longer, beat).exit_code, 0);
  EXPECT_EQ(started, 1);
  EXPECT_GE(beats.load(), 1);
}

// A thread that does not block SIGCHLD (one a library started before the
// run: the DynamoDB store opens its spare connections on one) takes the
// workload's SIGCHLD, whose default action drops it. The workload's end
// is still seen at once, through its pidfd, and without one (a kernel
// before 5.3, a seccomp filter) within the loop's bounded check, not at
// the first beat, a third of the lease in.
TEST_F(ProcessRunner, TheWorkloadsEndIsSeenWhenAnotherThreadTakesItsSigchld) {
  for (const bool pidfd : {true, false}) {
    SCOPED_TRACE(pidfd ? "with a pidfd" : "without a pidfd");
    std::atomic<bool> done{false};
    std::thread taker([&] {
      sigset_t chld;
      sigemptyset(&chld);
      sigaddset(&chld, SIGCHLD);
      pthread_sigmask(SIG_UNBLOCK, &chld, nullptr);
      const auto until = std::chrono::steady_clock::now() + milliseconds(4'000);
      while (!done && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(milliseconds(5));
    });
    // Its stderr closed first, as at any exit (the kernel closes files
    // before it notifies the parent): only the exit itself can wake the
    // loop. The first beat is due 10 s in.
    ProcessSpec spec = Leased("exec 2>&-; sleep 0.2; exit 3", 30'000, 1'000);
    if (!pidfd) spec.fail_syscall = [](std::string_view call) { return call == "pidfd_open" ? ENOSYS : 0; };
    const auto start = std::chrono::steady_clock::now();
    const ProcessResult r = RunOk(spec, [] { return HeartbeatReply{true, 30'000}; });
    const auto took = std::chrono::steady_clock::now() - start;
    done = true;
    taker.join();
    EXPECT_EQ(r.exit_code, 3);
    EXPECT_LT(took, milliseconds(2'000)) << "the workload's end was seen only by the poll timeout";
  }
}

// Threads that jobgate starts block every signal, so signals meant for the
// process reach the thread that waits for them.
TEST(StartThread, TheNewThreadBlocksEverySignalAndTheCallersMaskIsKept) {
  sigset_t before;
  pthread_sigmask(SIG_BLOCK, nullptr, &before);
  sigset_t seen;
  sigemptyset(&seen);
  std::thread t;
  ASSERT_TRUE(StartThread(nullptr, t, [&] { pthread_sigmask(SIG_BLOCK, nullptr, &seen); }, "a test thread").ok());
  t.join();
  for (int sig : {SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGPIPE, SIGUSR1}) {
    EXPECT_EQ(sigismember(&seen, sig), 1) << strsignal(sig);
  }
  sigset_t after;
  pthread_sigmask(SIG_BLOCK, nullptr, &after);
  for (int sig = 1; sig < NSIG; ++sig) EXPECT_EQ(sigismember(&after, sig), sigismember(&before, sig)) << sig;
}

// Fault injection: a heartbeat thread that cannot start (a thread limit)
// must not leave the workload running unrenewed: it is killed, reaped, and
// the error reported.
TEST_F(ProcessRunner, AHeartbeatThreadThatCannotStartKillsTheWorkload) {
  const std::string pid_file = PathOf("pid");
  ProcessSpec spec = Leased("echo $$ > " + pid_file + "; exec sleep 60", 600, 10'000);
  spec.start_thread = FailingThreadStarter();
  const auto start = std::chrono::steady_clock::now();
  Result<ProcessResult> r = RunProcess(spec, [] { return HeartbeatReply{true, 600}; });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInternal);
  EXPECT_NE(r.status().message().find("heartbeat thread"), std::string::npos) << r.status().ToString();
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(5'000));
  const pid_t workload = WaitForPidFile(pid_file, milliseconds(100));
  if (workload > 0) {
    EXPECT_FALSE(IsAlive(workload));
  }
}

// Fault injection: each system call the runner makes fails in turn. Every
// failure is an error naming the call, with nothing left running (no child
// of ours alive afterwards) and the caller's signal mask restored.
TEST_F(ProcessRunner, EverySystemCallFailureIsReportedAndLeavesNothingBehind) {
  struct Fault {
    std::string call;
    int nth;  // which of its calls fails (the runner makes three pipes)
  };
  const std::vector<Fault> faults = {{"signalfd", 1},        {"pipe2", 1}, {"spawn (sentinel)", 1},
                                     {"pipe2", 2},           {"pipe2", 3}, {"spawn (workload)", 1},
                                     {"eventfd", 1}};
  sigset_t before;
  sigprocmask(SIG_BLOCK, nullptr, &before);
  for (const Fault& f : faults) {
    SCOPED_TRACE(f.call + " #" + std::to_string(f.nth));
    ProcessSpec spec = Leased("exec sleep 60", 600, 10'000);
    int seen = 0;
    spec.fail_syscall = [&](std::string_view call) { return call == f.call && ++seen == f.nth ? EMFILE : 0; };
    const auto start = std::chrono::steady_clock::now();
    Result<ProcessResult> r = RunProcess(spec, [] { return HeartbeatReply{true, 600}; });
    ASSERT_FALSE(r.ok()) << "the injected failure was not reached";
    EXPECT_EQ(r.status().code(), StatusCode::kInternal);
    EXPECT_NE(r.status().message().find(f.call), std::string::npos) << r.status().ToString();
    EXPECT_NE(r.status().message().find("Too many open files"), std::string::npos) << r.status().ToString();
    EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(5'000)) << "the workload was waited out";
    // No child of ours is left: not the sentinel, not the workload.
    pid_t reaped;
    while ((reaped = waitpid(-1, nullptr, WNOHANG)) > 0) {
    }
    EXPECT_EQ(reaped, -1) << "a child is still running";
    EXPECT_EQ(errno, ECHILD);
    sigset_t after;
    sigprocmask(SIG_BLOCK, nullptr, &after);
    for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGCHLD, SIGPIPE}) {
      EXPECT_EQ(sigismember(&after, sig), sigismember(&before, sig)) << strsignal(sig);
    }
  }
}

// A workload that leaves the process group (setsid) is still stopped: it
// is signalled by its pid too.
TEST_F(ProcessRunner, AWorkloadThatLeftTheGroupIsStillStopped) {
  ProcessSpec spec = Shell("exec setsid sleep 60");
  spec.timeout_ms = 200;
  spec.kill_grace_ms = 100;
  const ProcessResult r = RunOk(spec);
  EXPECT_EQ(r.kind, Kind::kTimedOut);
  EXPECT_LT(r.duration_ms, 5'000);
}

TEST_F(ProcessRunner, TerminationSignalsAreForwardedAndTheMaskRestored) {
  for (int sig : {SIGTERM, SIGINT, SIGHUP}) {
    SCOPED_TRACE(strsignal(sig));
    // The workload's TERM trap proves the signal reached it as SIGTERM. It
    // is sent once the trap is set (a loaded machine may start sh late), and
    // only once: a second interrupt skips the grace.
    const std::string ready = PathOf("ready");
    ProcessSpec spec = Shell("trap 'exit 3' TERM; : > " + ready + "; sleep 60 & wait");
    spec.lease_ms = spec.lease_left_ms = 300;  // a beat every 100 ms
    bool sent = false;
    const ProcessResult r = RunOk(spec, [&] {
      if (!sent && std::filesystem::exists(ready)) sent = kill(getpid(), sig) == 0;
      return HeartbeatReply{true, 300};
    });
    std::filesystem::remove(ready);
    EXPECT_EQ(r.kind, Kind::kInterrupted);
    EXPECT_EQ(r.signal, sig);
    EXPECT_EQ(r.exit_code, 3);
    sigset_t mask;
    sigprocmask(SIG_BLOCK, nullptr, &mask);
    EXPECT_FALSE(sigismember(&mask, sig));
    EXPECT_FALSE(sigismember(&mask, SIGCHLD));
  }
}

TEST_F(ProcessRunner, CallersIgnoredSigchldDoesNotHideTheExit) {
  struct sigaction ignore = {}, saved;
  ignore.sa_handler = SIG_IGN;
  sigaction(SIGCHLD, &ignore, &saved);
  const ProcessResult r = RunOk(Shell("exit 5"));
  struct sigaction after;
  sigaction(SIGCHLD, &saved, &after);
  EXPECT_EQ(r.exit_code, 5);
  EXPECT_EQ(after.sa_handler, SIG_IGN) << "disposition restored";
}

TEST_F(ProcessRunner, CommandNotFoundIs127) {
  ProcessSpec spec;
  spec.argv = {"jobgate-no-such-command-xyz"};
  const ProcessResult r = RunOk(spec);
  EXPECT_EQ(r.kind, Kind::kSpawnFailed);
  EXPECT_EQ(r.exit_code, 127);
  EXPECT_EQ(r.stderr_tail, "jobgate-no-such-command-xyz: command not found");
}

TEST_F(ProcessRunner, NonExecutableFileIs126) {
  const std::string path = PathOf("not-executable");
  std::ofstream(path) << "#!/bin/sh\nexit 0\n";
  chmod(path.c_str(), 0644);
  ProcessSpec spec;
  spec.argv = {path};
  const ProcessResult r = RunOk(spec);
  EXPECT_EQ(r.kind, Kind::kSpawnFailed);
  EXPECT_EQ(r.exit_code, 126);
  EXPECT_NE(r.stderr_tail.find("Permission denied"), std::string::npos) << r.stderr_tail;
}

// A file without "#!" is refused by the kernel (ENOEXEC) and run by /bin/sh,
// as a shell does; execvpe then copies argv on the spawning child's stack.
// Both sides of the runner's argument count limit for that stack
// (kCloneMaxArgs, beyond which the workload is forked) are run.
TEST_F(ProcessRunner, AScriptWithoutInterpreterLineRunsUnderShWithManyArguments) {
  const std::string path = PathOf("no-interpreter-line");
  std::ofstream(path) << "test \"$#\" -eq \"$1\" && exit 7\nexit 1\n";
  chmod(path.c_str(), 0755);
  for (const size_t count : {size_t{1}, size_t{1023}, size_t{1024}, size_t{3000}}) {
    SCOPED_TRACE(count);
    ProcessSpec spec;
    spec.argv = {path, std::to_string(count)};
    spec.argv.resize(count + 1, "x");
    const ProcessResult r = RunOk(spec);
    EXPECT_EQ(r.kind, Kind::kExited);
    EXPECT_EQ(r.exit_code, 7);
  }
}

// The handler of the process that runs a workload never runs in the
// workload's process before its exec: there it would act on the parent's
// own memory (the child of clone(CLONE_VM) shares it). A thread sends
// SIGUSR1 to its whole process group without pause while workloads start;
// a workload that receives it before it has left the group for the
// sentinel's must die of it (the default action), not run the handler,
// which records the pid it ran in. In a process of its own, leading its
// own group, so that the signals reach nothing else.
pid_t g_handler_owner = 0;
std::atomic<pid_t> g_handler_foreign{0};

void RecordHandlerPid(int) {
  const pid_t self = static_cast<pid_t>(syscall(SYS_getpid));
  if (self != g_handler_owner) g_handler_foreign.store(self);
}

TEST_F(ProcessRunner, TheCallersSignalHandlersNeverRunInTheWorkload) {
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    if (setpgid(0, 0) != 0) _exit(10);
    g_handler_owner = getpid();
    struct sigaction action = {};
    action.sa_handler = RecordHandlerPid;
    action.sa_flags = SA_RESTART;
    sigaction(SIGUSR1, &action, nullptr);
    std::atomic<bool> stop{false};
    std::thread sender([&stop] {
      sigset_t usr1;
      sigemptyset(&usr1);
      sigaddset(&usr1, SIGUSR1);
      pthread_sigmask(SIG_BLOCK, &usr1, nullptr);
      while (!stop.load()) {
        kill(0, SIGUSR1);
        std::this_thread::sleep_for(std::chrono::microseconds(20));
      }
    });
    int killed = 0, runs = 0;
    for (; runs < 400 && killed < 20; ++runs) {
      ProcessSpec spec;
      spec.argv = {"true"};
      Result<ProcessResult> r = RunProcess(spec, nullptr);
      if (!r.ok()) break;
      if (r->kind == Kind::kSignaled && r->signal == SIGUSR1) ++killed;
      if (g_handler_foreign.load() != 0) break;
    }
    stop.store(true);
    sender.join();
    if (g_handler_foreign.load() != 0) _exit(1);  // a handler ran in a workload
    if (runs == 0 || killed == 0) _exit(2);       // no signal reached a starting workload
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status)) << "status " << status;
  EXPECT_NE(WEXITSTATUS(status), 1) << "a handler ran in a workload's process before its exec";
  EXPECT_NE(WEXITSTATUS(status), 2) << "no SIGUSR1 reached a workload before it left the group";
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

// The sentinel, the leader of the workload's group, shares the caller's
// memory: its start copies no page tables and leaves no page
// write-protected (ProcessGroup::Start). Under the sanitizers it is forked.
// kcmp(KCMP_VM) compares two processes' address spaces: 0 when they are
// one. The workload writes its group id (the sentinel's pid) and waits.
TEST_F(ProcessRunner, TheSentinelSharesTheCallersMemory) {
  const std::string pg_file = PathOf("pg"), go = PathOf("go");
  const ProcessSpec spec = Shell("echo $(cut -d' ' -f5 /proc/$$/stat) > " + pg_file + ".tmp; mv " + pg_file +
                                 ".tmp " + pg_file + "; while [ ! -e " + go + " ]; do sleep 0.01; done");
  Result<ProcessResult> result = Status::Internal("not run");
  std::thread runner([&] { result = RunProcess(spec, nullptr); });
  const pid_t sentinel = WaitForPidFile(pg_file, milliseconds(10'000));
  long same = -1;
  int error = 0;
  std::string sentinel_stat;
  if (sentinel > 0) {
    same = syscall(SYS_kcmp, getpid(), sentinel, KCMP_VM, 0, 0);
    error = errno;
    std::ifstream stat("/proc/" + std::to_string(sentinel) + "/stat");
    std::getline(stat, sentinel_stat);
  }
  std::ofstream(go).put('\n');
  runner.join();
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(result->exit_code, 0);
  ASSERT_GT(sentinel, 0) << "the workload never wrote its group id";
  ASSERT_NE(sentinel, getpgrp());
  // The sentinel is our child (its parent pid, the 2nd field after the name).
  const size_t paren = sentinel_stat.rfind(')');
  ASSERT_NE(paren, std::string::npos) << sentinel_stat;
  std::istringstream fields(sentinel_stat.substr(paren + 2));
  std::string state;
  pid_t parent = 0;
  fields >> state >> parent;
  EXPECT_EQ(parent, getpid()) << sentinel_stat;
  if (same < 0 && (error == ENOSYS || error == EPERM)) GTEST_SKIP() << "kcmp: " << strerror(error);
  ASSERT_GE(same, 0) << strerror(error);
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  EXPECT_NE(same, 0) << "under the sanitizers the sentinel is forked";
#else
  EXPECT_EQ(same, 0) << "the sentinel has an address space of its own";
#endif
}

TEST_F(ProcessRunner, EmptyCommandIsAnError) {
  EXPECT_EQ(RunProcess(ProcessSpec{}, nullptr).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(ProcessRunner, WorkloadInheritsNoDescriptorBeyondTheStandardThree) {
  int leaky[2];
  ASSERT_EQ(pipe(leaky), 0);  // deliberately without O_CLOEXEC
  // ls lists its own fds: 0-2 and 3, the directory it is reading.
  const ProcessResult r = RunOk(Shell("exec ls /proc/self/fd >&2"));
  close(leaky[0]);
  close(leaky[1]);
  EXPECT_EQ(r.stderr_tail, "0\n1\n2\n3");
}

// The acceptance test for `kill -9 jobgate`: a process running RunProcess
// is SIGKILLed, and the workload and its child must die with it.
TEST_F(ProcessRunner, WorkloadAndGrandchildrenDieWhenJobgateIsKilled) {
  const std::string shell_file = PathOf("shell"), sleep_file = PathOf("sleep");
  const pid_t jobgate = fork();
  ASSERT_GE(jobgate, 0);
  if (jobgate == 0) {
    const ProcessSpec spec =
        Shell("echo $$ > " + shell_file + "; sleep 60 & echo $! > " + sleep_file + "; wait");
    (void)RunProcess(spec, nullptr);
    _exit(0);
  }
  const pid_t shell = WaitForPidFile(shell_file, milliseconds(5000));
  const pid_t sleeper = WaitForPidFile(sleep_file, milliseconds(5000));
  kill(jobgate, SIGKILL);
  waitpid(jobgate, nullptr, 0);
  ASSERT_GT(shell, 0);
  ASSERT_GT(sleeper, 0);
  EXPECT_TRUE(GoneWithin(shell, milliseconds(2000)));
  EXPECT_TRUE(GoneWithin(sleeper, milliseconds(2000)));
}

}  // namespace
}  // namespace jobgate
