// jobgate against dynalite through a fault-injecting proxy
// (tools/dynamo/fault-proxy.mjs): what DynamoDB and the network do to a
// client — 500s, throttling, a write applied whose response is lost, an
// endpoint that is down. Whatever happens: the command never runs twice,
// the counters stay consistent, and when the store cannot be reached within
// the retry budget jobgate exits 69 and runs nothing (fail closed).
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "dynamo/dynamo_harness.h"

namespace jobgate::dynamo_test {
namespace {

namespace fs = std::filesystem;

constexpr int kStoreUnavailable = 69;

// `count` matching requests (-1: all) get the fault `kind`, after `skip`
// matching ones passed; `ops` limits matching to those operations.
FaultProxy::Options Fault(const std::string& kind, int count, const std::string& ops = "", int skip = 0) {
  FaultProxy::Options o;
  o.fault = kind;
  o.count = count;
  o.ops = ops;
  o.skip = skip;
  return o;
}

class DynamoFaults : public DynamoTest {
 protected:
  void SetUp() override {
    DynamoTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    Proc init = Jobgate({"init"});  // straight to dynalite, not through a proxy
    ASSERT_EQ(init.exit_code, 0) << init.err;
    marker_ = Path("marker");
  }

  // `run JOB --json -- sh -c 'echo x >> marker'` through `proxy`.
  Proc RunThrough(const FaultProxy& proxy, const std::string& job) {
    return Jobgate({"run", job, "--json", "--", "sh", "-c", "echo x >> " + marker_}, proxy.endpoint());
  }
  int Runs() const { return CountLines(ReadFile(marker_)); }

  // The job ran once, succeeded, and its state says so.
  void ExpectRanOnceAndSucceeded(const Proc& p, const std::string& job) {
    EXPECT_EQ(p.exit_code, 0) << p.out << p.err;
    EXPECT_EQ(LastJsonLine(p.out)["outcome"], "succeeded") << p.out << p.err;
    EXPECT_EQ(Runs(), 1);
    auto s = StateOf(job);
    EXPECT_EQ(s["status"], "IDLE");
    EXPECT_EQ(s["run_count"], 1);
    EXPECT_EQ(s["success_count"], 1);
    EXPECT_TRUE(CountersIntact(s));
  }

  // Exit 69, nothing ran, and the job's state is untouched (or absent).
  void ExpectFailedClosed(const Proc& p, const std::string& job) {
    EXPECT_EQ(p.exit_code, kStoreUnavailable) << p.out << p.err;
    EXPECT_FALSE(fs::exists(marker_)) << "the command ran although the store was unavailable";
    EXPECT_FALSE(p.err.empty()) << "exit 69 without a message";
    Proc st = Jobgate({"status", job, "--json"});
    if (st.exit_code == 0) {
      auto s = LastJsonLine(st.out);
      EXPECT_NE(s["status"], "RUNNING") << s.dump();
      EXPECT_TRUE(CountersIntact(s));
    }
  }

  std::string marker_;
};

TEST_F(DynamoFaults, ServerErrorsWithinTheRetryBudgetAreRetriedAndTheJobRunsOnce) {
  FaultProxy proxy(endpoint_, dir_, Fault("500", 2));
  ASSERT_FALSE(proxy.endpoint().empty()) << proxy.startup_error();
  ExpectRanOnceAndSucceeded(RunThrough(proxy, "e500"), "e500");
  EXPECT_EQ(proxy.Faulted(), 2);
}

TEST_F(DynamoFaults, ThrottlingWithinTheRetryBudgetIsRetriedAndTheJobRunsOnce) {
  FaultProxy proxy(endpoint_, dir_, Fault("throttle", 2));
  ASSERT_FALSE(proxy.endpoint().empty()) << proxy.startup_error();
  ExpectRanOnceAndSucceeded(RunThrough(proxy, "throttled"), "throttled");
  EXPECT_EQ(proxy.Faulted(), 2);
}

TEST_F(DynamoFaults, ThrottledWritesAreRetriedAndTheJobRunsOnce) {
  FaultProxy proxy(endpoint_, dir_, Fault("provisioned", 2, kWriteOps));
  ASSERT_FALSE(proxy.endpoint().empty()) << proxy.startup_error();
  ExpectRanOnceAndSucceeded(RunThrough(proxy, "wthrottled"), "wthrottled");
  EXPECT_EQ(proxy.Faulted(), 2);
}

TEST_F(DynamoFaults, ServerErrorsBeyondTheRetryBudgetExit69AndRunNothing) {
  FaultProxy proxy(endpoint_, dir_, Fault("500", -1));
  ASSERT_FALSE(proxy.endpoint().empty()) << proxy.startup_error();
  ExpectFailedClosed(RunThrough(proxy, "down500"), "down500");
  // The standard retry mode: 3 attempts in all for the one read, then stop.
  EXPECT_EQ(proxy.Requests(), 3);
}

TEST_F(DynamoFaults, ThrottlingBeyondTheRetryBudgetExits69AndRunsNothing) {
  FaultProxy proxy(endpoint_, dir_, Fault("throttle", -1));
  ASSERT_FALSE(proxy.endpoint().empty()) << proxy.startup_error();
  ExpectFailedClosed(RunThrough(proxy, "downthrottle"), "downthrottle");
  EXPECT_EQ(proxy.Requests(), 3);
}

TEST_F(DynamoFaults, FailingWritesExit69RunNothingAndLeaveTheCountersAsTheyWere) {
  ASSERT_EQ(Jobgate({"run", "wdown", "--", "true"}).exit_code, 0);  // a state with counters
  FaultProxy proxy(endpoint_, dir_, Fault("500", -1, kWriteOps));
  ASSERT_FALSE(proxy.endpoint().empty()) << proxy.startup_error();
  ExpectFailedClosed(RunThrough(proxy, "wdown"), "wdown");
  EXPECT_GE(proxy.Faulted(), 3);
  auto s = StateOf("wdown");
  EXPECT_EQ(s["status"], "IDLE");
  EXPECT_EQ(s["run_count"], 1);
  EXPECT_EQ(s["success_count"], 1);
}

TEST_F(DynamoFaults, LostResponseToTheAcquireIsRecognisedAndTheJobRunsOnce) {
  // The acquire (the first write) reaches dynalite and applies; its response
  // never arrives. A retry now fails its condition (the version moved): the
  // re-read must show our own owner and fence, not a lost race or "running".
  // On a kept-alive connection libcurl itself re-sends the write (see
  // fault-proxy.mjs), so jobgate sees only the ConditionalCheckFailed.
  FaultProxy proxy(endpoint_, dir_, Fault("drop-after-forward", 1, kWriteOps));
  ASSERT_FALSE(proxy.endpoint().empty()) << proxy.startup_error();
  Proc p = RunThrough(proxy, "lostacq");
  ExpectRanOnceAndSucceeded(p, "lostacq");
  EXPECT_EQ(proxy.Faulted(), 1);
}

TEST_F(DynamoFaults, LostResponseToTheAcquireOnAFreshConnectionIsRecognised) {
  // The same, when the connection was new: jobgate's own client sees the
  // connection close with no answer, and its retry fails the condition.
  FaultProxy::Options o = Fault("drop-after-forward", 1, kWriteOps);
  o.close_each = true;
  FaultProxy proxy(endpoint_, dir_, o);
  ASSERT_FALSE(proxy.endpoint().empty()) << proxy.startup_error();
  ExpectRanOnceAndSucceeded(RunThrough(proxy, "lostacqfresh"), "lostacqfresh");
  EXPECT_EQ(proxy.Faulted(), 1);
}

TEST_F(DynamoFaults, ServerErrorAfterTheAcquireAppliedIsRecognisedAndTheJobRunsOnce) {
  FaultProxy proxy(endpoint_, dir_, Fault("500-after-forward", 1, kWriteOps));
  ASSERT_FALSE(proxy.endpoint().empty()) << proxy.startup_error();
  ExpectRanOnceAndSucceeded(RunThrough(proxy, "acq500"), "acq500");
  EXPECT_EQ(proxy.Faulted(), 1);
}

TEST_F(DynamoFaults, LostResponseToTheCommitKeepsTheCountersIntact) {
  // The second write is the commit (IDLE, success_count + 1): applied, then
  // the response is lost. It must count once, and the job must not stay
  // RUNNING until its lease runs out.
  FaultProxy proxy(endpoint_, dir_, Fault("drop-after-forward", 1, kWriteOps, 1));
  ASSERT_FALSE(proxy.endpoint().empty()) << proxy.startup_error();
  ExpectRanOnceAndSucceeded(RunThrough(proxy, "lostcommit"), "lostcommit");
  EXPECT_EQ(proxy.Faulted(), 1);
}

TEST_F(DynamoFaults, LostResponseToTheCommitOnAFreshConnectionKeepsTheCountersIntact) {
  FaultProxy::Options o = Fault("drop-after-forward", 1, kWriteOps, 1);
  o.close_each = true;
  FaultProxy proxy(endpoint_, dir_, o);
  ASSERT_FALSE(proxy.endpoint().empty()) << proxy.startup_error();
  ExpectRanOnceAndSucceeded(RunThrough(proxy, "lostcommitfresh"), "lostcommitfresh");
  EXPECT_EQ(proxy.Faulted(), 1);
}

TEST_F(DynamoFaults, DroppedConnectionsBeyondTheRetryBudgetExit69AndRunNothing) {
  FaultProxy proxy(endpoint_, dir_, Fault("drop", -1));
  ASSERT_FALSE(proxy.endpoint().empty()) << proxy.startup_error();
  ExpectFailedClosed(RunThrough(proxy, "dropped"), "dropped");
  EXPECT_EQ(proxy.Requests(), 3);
}

// A port on 127.0.0.1 that nothing listens on (bound, then released).
int UnusedPort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    if (fd >= 0) close(fd);
    return 0;
  }
  close(fd);
  return ntohs(addr.sin_port);
}

TEST_F(DynamoFaults, EndpointDownExits69RunsNothingAndSaysWhichEndpoint) {
  const int port = UnusedPort();
  ASSERT_GT(port, 0);
  const std::string down = "http://127.0.0.1:" + std::to_string(port);
  const std::string secret = "Sekr1t-must-not-be-printed";
  setenv("AWS_SECRET_ACCESS_KEY", secret.c_str(), 1);  // SetUp resets it for the next test
  Proc p = Jobgate({"run", "nowhere", "--json", "--", "sh", "-c", "echo x >> " + marker_}, down);
  EXPECT_EQ(p.exit_code, kStoreUnavailable) << p.out << p.err;
  EXPECT_FALSE(fs::exists(marker_));
  EXPECT_NE(p.err.find("127.0.0.1:" + std::to_string(port)), std::string::npos)
      << "the message should name the endpoint it could not reach: " << p.err;
  EXPECT_EQ(p.err.find(secret), std::string::npos) << "a secret in the message: " << p.err;
  EXPECT_EQ(p.out.find(secret), std::string::npos) << "a secret in the output: " << p.out;
}

}  // namespace
}  // namespace jobgate::dynamo_test
