// A store that cannot be reached or refuses us: exit 69 and nothing runs,
// within the connect timeout, naming no password. A URL that is wrong:
// exit 2, before any connection.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

#include "postgres/postgres_harness.h"

namespace jobgate::postgres_test {
namespace {

using namespace std::chrono_literals;

class PostgresFailure : public PostgresTest {
 protected:
  void SetUp() override {
    PostgresTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    ASSERT_EQ(Jobgate({"init"}).exit_code, 0);
  }

  // `run` of a job whose command would create a marker file, against `url`:
  // the result, and whether the command ran.
  Proc RunAgainst(const std::string& url, const EnvChanges& env = {}, std::chrono::milliseconds* elapsed = nullptr) {
    const std::string marker = Path("ran." + std::to_string(++runs_));
    Proc p = Run({JOBGATE_BINARY, "--store", url, "run", "job", "--", "touch", marker}, env, elapsed);
    ran_ = access(marker.c_str(), F_OK) == 0;
    return p;
  }

  bool ran_ = false;

 private:
  int runs_ = 0;
};

// A listener that never accepts nor answers: the TCP handshake completes
// (the kernel does it) and then libpq waits for the server's first byte.
class SilentServer {
 public:
  SilentServer() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 || listen(fd_, 64) != 0 ||
        getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      return;
    }
    port_ = ntohs(addr.sin_port);
  }
  ~SilentServer() {
    if (fd_ >= 0) close(fd_);
  }
  SilentServer(const SilentServer&) = delete;
  SilentServer& operator=(const SilentServer&) = delete;
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

TEST_F(PostgresFailure, NobodyListeningExits69AndRunsNothing) {
  std::chrono::milliseconds took{};
  Proc p = RunAgainst("postgres://127.0.0.1:1/x", {}, &took);
  EXPECT_EQ(p.exit_code, 69) << p.out << p.err;
  EXPECT_FALSE(ran_);
  EXPECT_LT(took, 12s);
  EXPECT_FALSE(p.err.empty()) << "a refused store must say why";
}

// The default connect_timeout (10 s) bounds a server that never answers;
// one in the URL (a libpq parameter, passed through) replaces it.
TEST_F(PostgresFailure, AServerThatNeverAnswersTimesOutAfterTheConnectTimeout) {
  SilentServer silent;
  ASSERT_NE(silent.port(), 0);
  const std::string url = "postgres://jobgate@127.0.0.1:" + std::to_string(silent.port()) + "/jobgate";
  std::chrono::milliseconds took{};
  Proc p = RunAgainst(url, {}, &took);
  EXPECT_EQ(p.exit_code, 69) << p.out << p.err;
  EXPECT_FALSE(ran_);
  EXPECT_GE(took, 8s) << "the default connect timeout is 10 s";
  EXPECT_LT(took, 16s) << "the default connect timeout is 10 s";

  Proc q = RunAgainst(url + "?connect_timeout=2", {}, &took);
  EXPECT_EQ(q.exit_code, 69) << q.out << q.err;
  EXPECT_FALSE(ran_);
  EXPECT_LT(took, 7s) << "connect_timeout=2 in the URL";
}

TEST_F(PostgresFailure, AWrongPasswordExits69AndIsNotPrinted) {
  const std::string wrong = "wr0ng-pw-7f3a91";
  Proc p = RunAgainst(StoreUrl(), {"PGPASSWORD=" + wrong});
  EXPECT_EQ(p.exit_code, 69) << p.out << p.err;
  EXPECT_FALSE(ran_);
  EXPECT_EQ(p.err.find(wrong), std::string::npos) << p.err;
  EXPECT_EQ(p.out.find(wrong), std::string::npos) << p.out;

  // In the URL instead, with no PGPASSWORD at all.
  const std::string secret = "s3cr3t-pw";
  const std::string in_url = "postgres://jobgate:" + secret + "@" + HostPort(url_) + "/jobgate?schema=" + schema_;
  Proc q = RunAgainst(in_url, {"PGPASSWORD"});
  EXPECT_EQ(q.exit_code, 69) << q.out << q.err;
  EXPECT_FALSE(ran_);
  EXPECT_EQ(q.err.find(secret), std::string::npos) << q.err;
  EXPECT_EQ(q.out.find(secret), std::string::npos) << q.out;

  // The right password in the URL works (it is the URL's that is used).
  Proc right =
      RunAgainst("postgres://jobgate:jobgate-test-pw@" + HostPort(url_) + "/jobgate?schema=" + schema_, {"PGPASSWORD"});
  EXPECT_EQ(right.exit_code, 0) << right.out << right.err;
  EXPECT_TRUE(ran_);
}

TEST_F(PostgresFailure, AMalformedUrlExits2BeforeConnecting) {
  // The schema is jobgate's own parameter and goes into SQL as a name: only
  // a plain identifier is accepted. A parameter libpq does not know is a
  // typo, not something to ignore.
  const std::vector<std::string> urls = {"postgres://host:notaport/db", "postgres://jobgate:s3cr3t-pw@host:notaport/db",
                                         url_ + "?schema=a;b",          url_ + "?schema=a%20b",
                                         url_ + "?schema=a\"b",         StoreUrl() + "&no_such_parameter=1"};
  for (const std::string& url : urls) {
    std::chrono::milliseconds took{};
    Proc p = RunAgainst(url, {}, &took);
    EXPECT_EQ(p.exit_code, 2) << url << "\n" << p.out << p.err;
    EXPECT_FALSE(ran_) << url;
    EXPECT_LT(took, 5s) << url;
    EXPECT_EQ(p.err.find("s3cr3t-pw"), std::string::npos) << p.err;
  }
}

}  // namespace
}  // namespace jobgate::postgres_test
