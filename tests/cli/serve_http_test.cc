// `jobgate serve --listen` on a SQLite store: the API end to end over
// loopback (tests/support/serve_api_checks.h; tests/dynamo runs the same on
// the DynamoDB emulator).
#include <gtest/gtest.h>

#include <fstream>

#include "support/serve_api_checks.h"
#include "support/subprocess.h"
#include "support/temp_dir.h"

namespace {

class ServeHttpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    setup_ = {JOBGATE_BINARY, "sqlite:" + temp_.path() + "/jobs.db", temp_.path()};
    auto p = jobgate::test::RunToFiles({JOBGATE_BINARY, "--store", setup_.store_url, "init"},
                                       temp_.path() + "/init.out", temp_.path() + "/init.err");
    ASSERT_EQ(p.exit_code, 0) << p.err;
  }
  jobgate::test::TempDir temp_{"jobgate-serve-http-test"};
  jobgate::test::ServeApiSetup setup_;
};

TEST_F(ServeHttpTest, EveryEndpointAndError) { jobgate::test::CheckServeApi(setup_); }

TEST_F(ServeHttpTest, MetricsCountWhatServeRan) { jobgate::test::CheckServeMetrics(setup_); }

TEST_F(ServeHttpTest, SlowClientsBlockNeitherTheSchedulerNorOtherClients) {
  jobgate::test::CheckSlowClientsBlockNothing(setup_);
}

// A store that does not answer (a DynamoDB endpoint nobody listens on) and
// no token file: serve stays up, fails closed and says why.
TEST_F(ServeHttpTest, AStoreThatIsDownAndNoTokenFile) {
  jobgate::test::ServeApiSetup down = setup_;
  down.store_url = "dynamodb://job_control?region=us-east-1&endpoint=http://127.0.0.1:1";
  down.env = {"AWS_ACCESS_KEY_ID=AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"};
  jobgate::test::CheckStoreDownAndNoToken(down);
}

// Bad flags: exit 2 naming the flag and the value, before anything runs.
TEST_F(ServeHttpTest, BadListenFlagsExit2) {
  struct Case {
    std::vector<std::string> flags;
    const char* says;
  };
  const std::string missing = temp_.path() + "/no-such-token";
  const std::string empty = temp_.path() + "/empty-token";
  std::ofstream(empty) << "\n";
  for (const Case& c : {Case{{"--listen", "8080"}, "--listen '8080'"}, Case{{"--listen", "127.0.0.1:70000"}, "'70000'"},
                        Case{{"--listen", "0.0.0.0:0"}, "--http-token-file"},
                        Case{{"--listen", "127.0.0.1:0", "--http-token-file", missing}, missing.c_str()},
                        Case{{"--listen", "127.0.0.1:0", "--http-token-file", empty}, "empty"},
                        Case{{"--listen", "no.such.host.invalid:80"}, "no.such.host.invalid"}}) {
    std::vector<std::string> argv = {JOBGATE_BINARY, "--store", setup_.store_url, "serve"};
    argv.insert(argv.end(), c.flags.begin(), c.flags.end());
    auto p = jobgate::test::RunToFiles(argv, temp_.path() + "/bad.out", temp_.path() + "/bad.err");
    EXPECT_EQ(p.exit_code, 2) << c.flags[1] << ": " << p.err;
    EXPECT_NE(p.err.find(c.says), std::string::npos) << p.err;
  }
}

}  // namespace
