// `jobgate serve` speaking systemd's notify protocol for real: the test plays
// systemd's part with a unix datagram socket in a temp dir, starts the real
// binary with $NOTIFY_SOCKET pointing at it (serve dlopens libsystemd.so.0
// and calls sd_notify), and reads what arrives: READY=1 once, WATCHDOG=1
// every loop, STOPPING=1 after SIGTERM, then exit 0. Every datagram must
// come from serve's own PID, as NotifyAccess=main in
// deploy/systemd/jobgate.service requires.
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "support/subprocess.h"

namespace {

namespace fs = std::filesystem;
using jobgate::test::Child;
using jobgate::test::EnvChanges;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// One datagram: its text, the sender's PID (SCM_CREDENTIALS) and when it came.
struct Notification {
  std::string state;
  pid_t sender = 0;
  Clock::time_point at;
};

// The receiving end of $NOTIFY_SOCKET, as systemd binds it: AF_UNIX,
// SOCK_DGRAM, with SO_PASSCRED so that each message carries its sender.
class NotifySocket {
 public:
  explicit NotifySocket(std::string path) : path_(std::move(path)) {
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (fd_ < 0 || path_.size() >= sizeof addr.sun_path) return;
    std::memcpy(addr.sun_path, path_.c_str(), path_.size());
    const int on = 1;
    bound_ = bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
             setsockopt(fd_, SOL_SOCKET, SO_PASSCRED, &on, sizeof on) == 0;
  }
  ~NotifySocket() {
    if (fd_ >= 0) close(fd_);
  }
  NotifySocket(const NotifySocket&) = delete;
  NotifySocket& operator=(const NotifySocket&) = delete;

  bool bound() const { return bound_; }
  const std::string& path() const { return path_; }

  // The next datagram, or nothing within `timeout`.
  std::optional<Notification> Receive(std::chrono::milliseconds timeout) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(timeout.count())) != 1) return std::nullopt;
    char data[4096];
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(ucred))];
    iovec iov{data, sizeof data};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    const ssize_t n = recvmsg(fd_, &msg, 0);
    if (n < 0) return std::nullopt;
    Notification out{std::string(data, static_cast<size_t>(n)), 0, Clock::now()};
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
        ucred cred;
        std::memcpy(&cred, CMSG_DATA(c), sizeof cred);
        out.sender = cred.pid;
      }
    }
    return out;
  }

 private:
  std::string path_;
  int fd_ = -1;
  bool bound_ = false;
};

class ServeNotifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/jobgate-notify-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    if (!HasFailure()) fs::remove_all(dir_);
  }

  std::string Store() const { return "sqlite:" + dir_ + "/db"; }
  Child Serve(const EnvChanges& env, const std::string& grace = "30s") {
    return Child({JOBGATE_BINARY, "--store", Store(), "--log-format", "json", "serve", "--poll", "200ms", "--grace",
                  grace},
                 dir_ + "/serve.out", dir_ + "/serve.err", env);
  }

  // Receives until `state` arrives (true) or `timeout` passes (false),
  // keeping everything received in `seen`.
  bool ReceiveUntil(NotifySocket& socket, const std::string& state, std::chrono::milliseconds timeout,
                    std::vector<Notification>& seen) {
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      auto n = socket.Receive(std::max(left, 1ms));
      if (!n) continue;
      seen.push_back(*n);
      if (n->state == state) return true;
    }
    return false;
  }

  std::string dir_;
};

std::string States(const std::vector<Notification>& seen) {
  std::string out;
  for (const auto& n : seen) out += n.state + " (pid " + std::to_string(n.sender) + ")\n";
  return out;
}

TEST_F(ServeNotifyTest, SendsReadyThenWatchdogEveryLoopThenStoppingAndExitsZero) {
  NotifySocket socket(dir_ + "/notify");
  ASSERT_TRUE(socket.bound()) << "cannot bind " << socket.path() << ": " << std::strerror(errno);
  Child serve = Serve({"NOTIFY_SOCKET=" + socket.path()});

  std::vector<Notification> seen;
  ASSERT_TRUE(ReceiveUntil(socket, "READY=1", 15s, seen)) << States(seen) << serve.Describe();
  ASSERT_EQ(seen.size(), 1u) << "READY=1 must be the first message:\n" << States(seen);
  // --poll 200ms: the loop wakes, and pets the watchdog, at least 5 times a
  // second. Collect two seconds' worth.
  const auto ready_at = seen.front().at;
  while (Clock::now() < ready_at + 2s) {
    if (auto n = socket.Receive(100ms)) seen.push_back(*n);
  }
  ASSERT_GE(seen.size(), 6u) << "too few WATCHDOG=1 in 2 s:\n" << States(seen) << serve.Describe();
  auto max_gap = Clock::duration::zero();
  for (size_t i = 1; i < seen.size(); ++i) {
    EXPECT_EQ(seen[i].state, "WATCHDOG=1") << "message " << i << ":\n" << States(seen);
    max_gap = std::max(max_gap, seen[i].at - seen[i - 1].at);
  }
  // Far below the unit's WatchdogSec=30s; generous for a loaded test host.
  EXPECT_LT(max_gap, 1500ms) << States(seen);

  ASSERT_EQ(kill(serve.pid(), SIGTERM), 0);
  std::vector<Notification> after;
  EXPECT_TRUE(ReceiveUntil(socket, "STOPPING=1", 15s, after)) << States(after) << serve.Describe();
  for (size_t i = 0; i + 1 < after.size(); ++i) EXPECT_EQ(after[i].state, "WATCHDOG=1") << States(after);
  auto code = serve.WaitFor(15s);
  ASSERT_TRUE(code.has_value()) << serve.Describe();
  EXPECT_EQ(*code, 0) << serve.Describe();
  EXPECT_FALSE(socket.Receive(200ms).has_value()) << "a message after STOPPING=1";

  // NotifyAccess=main: systemd takes these only from the main PID.
  seen.insert(seen.end(), after.begin(), after.end());
  for (const auto& n : seen) EXPECT_EQ(n.sender, serve.pid()) << States(seen);
  EXPECT_EQ(serve.Err(), "") << serve.Describe();
}

TEST_F(ServeNotifyTest, SendsStoppingWhenTheGraceBeginsNotWhenItEnds) {
  // A job that outlasts the grace: serve waits 3 s, then SIGTERMs it. systemd
  // must hear STOPPING=1 at once, or it would expect WATCHDOG=1 all through
  // the grace (and, when serve was signalled by someone other than systemd,
  // kill it for a hang).
  std::ofstream(dir_ + "/jobs.toml") << "[jobs.long]\nschedule = \"rate(2 seconds)\"\ncommand = \"sleep 60\"\n";
  auto applied = jobgate::test::RunToFiles({JOBGATE_BINARY, "--store", Store(), "apply", dir_ + "/jobs.toml"},
                                           dir_ + "/apply.out", dir_ + "/apply.err");
  ASSERT_EQ(applied.exit_code, 0) << applied.err;
  NotifySocket socket(dir_ + "/notify");
  ASSERT_TRUE(socket.bound()) << std::strerror(errno);
  Child serve = Serve({"NOTIFY_SOCKET=" + socket.path()}, "3s");
  std::vector<Notification> seen;
  ASSERT_TRUE(ReceiveUntil(socket, "READY=1", 15s, seen)) << States(seen) << serve.Describe();
  const auto started_by = Clock::now() + 15s;
  while (serve.Out().find("\"event\":\"start\"") == std::string::npos && Clock::now() < started_by) {
    socket.Receive(50ms);
  }
  ASSERT_NE(serve.Out().find("\"event\":\"start\""), std::string::npos) << serve.Describe();

  const auto term_at = Clock::now();
  ASSERT_EQ(kill(serve.pid(), SIGTERM), 0);
  std::vector<Notification> after;
  ASSERT_TRUE(ReceiveUntil(socket, "STOPPING=1", 15s, after)) << States(after) << serve.Describe();
  EXPECT_LT(after.back().at - term_at, 1500ms) << "STOPPING=1 came only after the 3 s grace";
  // The job is stopped after the grace (SIGTERM; it commits) and serve exits 0.
  auto code = serve.WaitFor(30s);
  ASSERT_TRUE(code.has_value()) << serve.Describe();
  EXPECT_EQ(*code, 0) << serve.Describe();
  EXPECT_GE(Clock::now() - term_at, 3s) << "the job did not get its grace";
  EXPECT_NE(serve.Out().find("\"event\":\"terminating\""), std::string::npos) << serve.Describe();
}

// The notifier's absence, and a socket nobody listens on, change nothing:
// serve runs, stops on SIGTERM with exit 0, and does not complain.
void ExpectServesAndStopsCleanly(Child& serve) {
  std::this_thread::sleep_for(1s);
  ASSERT_FALSE(serve.Poll().has_value()) << serve.Describe();
  ASSERT_EQ(kill(serve.pid(), SIGTERM), 0);
  auto code = serve.WaitFor(15s);
  ASSERT_TRUE(code.has_value()) << serve.Describe();
  EXPECT_EQ(*code, 0) << serve.Describe();
  EXPECT_EQ(serve.Err(), "") << serve.Describe();
}

TEST_F(ServeNotifyTest, WithoutNotifySocketServesAndStopsCleanly) {
  Child serve = Serve({"NOTIFY_SOCKET"});
  ExpectServesAndStopsCleanly(serve);
}

TEST_F(ServeNotifyTest, NotifySocketWithNoListenerIsHarmless) {
  // systemd gone (or the socket removed): sd_notify fails, serve carries on.
  Child serve = Serve({"NOTIFY_SOCKET=" + dir_ + "/nobody-listens"});
  ExpectServesAndStopsCleanly(serve);
}

}  // namespace
