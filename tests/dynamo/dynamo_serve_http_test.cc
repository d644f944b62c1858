// `jobgate serve --listen` on the DynamoDB emulator: the API end to end over
// loopback, the same checks as on SQLite (tests/support/serve_api_checks.h).
#include "dynamo/dynamo_harness.h"
#include "support/serve_api_checks.h"

namespace jobgate::dynamo_test {
namespace {

class DynamoServeHttpTest : public DynamoTest {
 protected:
  void SetUp() override {
    DynamoTest::SetUp();
    if (IsSkipped()) return;
    Proc init = Jobgate({"init"});
    ASSERT_EQ(init.exit_code, 0) << init.err;
  }
  jobgate::test::ServeApiSetup Served() { return {JOBGATE_BINARY, StoreUrl(), dir_}; }
};

TEST_F(DynamoServeHttpTest, EveryEndpointAndError) { jobgate::test::CheckServeApi(Served()); }

TEST_F(DynamoServeHttpTest, MetricsCountWhatServeRan) { jobgate::test::CheckServeMetrics(Served()); }

TEST_F(DynamoServeHttpTest, SlowClientsBlockNeitherTheSchedulerNorOtherClients) {
  jobgate::test::CheckSlowClientsBlockNothing(Served());
}

}  // namespace
}  // namespace jobgate::dynamo_test
