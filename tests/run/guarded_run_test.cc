// What a finished process means for the job: ToWorkResult on every kind of
// ending the runner reports.
#include "run/guarded_run.h"

#include <signal.h>

#include <gtest/gtest.h>

#include <string>

#include "run/process_runner.h"

namespace jobgate {
namespace {

ProcessResult Ended(ProcessResult::Kind kind, int exit_code, int signal = 0, std::string tail = "") {
  ProcessResult r;
  r.kind = kind;
  r.exit_code = exit_code;
  r.signal = signal;
  r.stderr_tail = std::move(tail);
  return r;
}

TEST(ToWorkResult, ExitZeroSucceedsWithNoError) {
  const WorkResult w = ToWorkResult(Ended(ProcessResult::Kind::kExited, 0, 0, "warning: chatty"));
  EXPECT_EQ(w.kind, WorkResult::Kind::kSucceeded);
  EXPECT_EQ(w.exit_code, 0);
}

TEST(ToWorkResult, ANonZeroExitFailsWithItsCodeAndTheStderrTail) {
  WorkResult w = ToWorkResult(Ended(ProcessResult::Kind::kExited, 3, 0, "disk full"));
  EXPECT_EQ(w.kind, WorkResult::Kind::kFailed);
  EXPECT_EQ(w.exit_code, 3);
  EXPECT_EQ(w.error, "disk full");
  w = ToWorkResult(Ended(ProcessResult::Kind::kExited, 4));
  EXPECT_EQ(w.error, "exit code 4") << "a silent failure still says what happened";
}

TEST(ToWorkResult, ASignalNobodyInJobgateSentIsAFailureNamingIt) {
  const WorkResult w = ToWorkResult(Ended(ProcessResult::Kind::kSignaled, 128 + SIGSEGV, SIGSEGV, "core dumped"));
  EXPECT_EQ(w.kind, WorkResult::Kind::kFailed);
  EXPECT_EQ(w.exit_code, 128 + SIGSEGV);
  EXPECT_EQ(w.error, "killed by signal 11: core dumped");
}

TEST(ToWorkResult, ATimeoutIs124) {
  const WorkResult w = ToWorkResult(Ended(ProcessResult::Kind::kTimedOut, 128 + SIGTERM, 0, "stopping"));
  EXPECT_EQ(w.kind, WorkResult::Kind::kTimedOut);
  EXPECT_EQ(w.exit_code, 124);
}

TEST(ToWorkResult, ALeaseThatCouldNotBeRenewedIsAFailureWithExit75) {
  const WorkResult w = ToWorkResult(Ended(ProcessResult::Kind::kLeaseLost, 128 + SIGKILL));
  EXPECT_EQ(w.kind, WorkResult::Kind::kFailed);
  EXPECT_EQ(w.exit_code, 75);
  EXPECT_EQ(w.error, "stopped: the lease could not be renewed");
}

TEST(ToWorkResult, AnInterruptIs128PlusTheSignalJobgateGot) {
  const WorkResult w = ToWorkResult(Ended(ProcessResult::Kind::kInterrupted, 3, SIGTERM));
  EXPECT_EQ(w.kind, WorkResult::Kind::kFailed);
  EXPECT_EQ(w.exit_code, 128 + SIGTERM);
  EXPECT_EQ(w.error, "stopped: jobgate received signal 15");
}

TEST(ToWorkResult, ASpawnFailureKeepsTheShellsCodeAndMessage) {
  const WorkResult w =
      ToWorkResult(Ended(ProcessResult::Kind::kSpawnFailed, 127, 0, "nope: command not found"));
  EXPECT_EQ(w.kind, WorkResult::Kind::kFailed);
  EXPECT_EQ(w.exit_code, 127);
  EXPECT_EQ(w.error, "nope: command not found");
}

TEST(ToWorkResult, TheErrorIsCutToOneKibibyteOfCleanUtf8) {
  std::string tail(3000, 'x');
  tail += "\xff\xfe end";
  const WorkResult w = ToWorkResult(Ended(ProcessResult::Kind::kExited, 1, 0, tail));
  EXPECT_LE(w.error.size(), kMaxErrorBytes);
  EXPECT_NE(w.error.find("end"), std::string::npos) << "the tail, not the head, is kept";
  EXPECT_EQ(w.error.find('\xff'), std::string::npos);
}

}  // namespace
}  // namespace jobgate
