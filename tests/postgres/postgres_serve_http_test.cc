// `jobgate serve --listen` on a real PostgreSQL server: the API and the
// metrics end to end over loopback, the same checks as on SQLite and the
// DynamoDB emulator (tests/support/serve_api_checks.h).
#include "postgres/postgres_harness.h"
#include "support/serve_api_checks.h"

namespace jobgate::postgres_test {
namespace {

class PostgresServeHttp : public PostgresTest {
 protected:
  void SetUp() override {
    PostgresTest::SetUp();
    if (IsSkipped()) return;
    Proc init = Jobgate({"init"});
    ASSERT_EQ(init.exit_code, 0) << init.err;
  }
  jobgate::test::ServeApiSetup Served() { return {JOBGATE_BINARY, StoreUrl(), dir_}; }
};

TEST_F(PostgresServeHttp, EveryEndpointAndError) { jobgate::test::CheckServeApi(Served()); }

TEST_F(PostgresServeHttp, MetricsCountWhatServeRan) { jobgate::test::CheckServeMetrics(Served()); }

TEST_F(PostgresServeHttp, SlowClientsBlockNeitherTheSchedulerNorOtherClients) {
  jobgate::test::CheckSlowClientsBlockNothing(Served());
}

}  // namespace
}  // namespace jobgate::postgres_test
