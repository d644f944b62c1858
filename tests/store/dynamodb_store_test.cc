// DynamoDB backend beyond the conformance suite. Without a server: URL
// parsing, the item encoding (hand-made and damaged items), and an
// unreachable endpoint (the client's errors, retries and clock are in
// dynamodb_client_test.cc). With JOBGATE_TEST_DYNAMODB_ENDPOINT (e.g.
// http://127.0.0.1:8123, dynalite): the hand-made `job_control` table and
// item of DESIGN.md through the controller, ListDue through the index and
// never a Scan, and the calls per invocation.
#include "store/dynamodb_store.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <limits>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "jobgate/controller.h"
#include "core/random.h"
#include "store/conformance.h"
#include "store/dynamodb_test_support.h"
#include "store/item_codec.h"

namespace jobgate {
namespace {

using namespace dynamodb_test;  // NOLINT
using Json = nlohmann::json;
using namespace dynamodb_item;  // NOLINT

// ---- URL --------------------------------------------------------------------------

TEST(DynamoDbUrl, DefaultsToTheJobControlTable) {
  ASSERT_OK_AND_ASSIGN(auto u, ParseDynamoDbUrl("dynamodb://"));
  EXPECT_EQ(u.table, "job_control");
  EXPECT_EQ(u.region, "");
  EXPECT_EQ(u.endpoint, "");
  EXPECT_EQ(u.max_attempts, 3);
  ASSERT_OK_AND_ASSIGN(auto q, ParseDynamoDbUrl("dynamodb://?region=eu-west-1"));
  EXPECT_EQ(q.table, "job_control");
  EXPECT_EQ(q.region, "eu-west-1");
}

TEST(DynamoDbUrl, ReadsTableRegionEndpointAndTuning) {
  ASSERT_OK_AND_ASSIGN(auto u, ParseDynamoDbUrl("dynamodb://my.jobs-table_1?region=us-east-1&endpoint=http://"
                                                "127.0.0.1:8123&max_attempts=5&retry_base_ms=0&timeout_ms=500&"
                                                "connect_timeout_ms=100&transactions=true&run_ttl_days=0"));
  EXPECT_EQ(u.table, "my.jobs-table_1");
  EXPECT_EQ(u.region, "us-east-1");
  EXPECT_EQ(u.endpoint, "http://127.0.0.1:8123");
  EXPECT_EQ(u.max_attempts, 5);
  EXPECT_EQ(u.retry_base_ms, 0);
  EXPECT_EQ(u.timeout_ms, 500);
  EXPECT_EQ(u.connect_timeout_ms, 100);
  EXPECT_TRUE(u.transactions);
  EXPECT_EQ(u.run_ttl_days, 0);
}

TEST(DynamoDbUrl, PercentDecodesValues) {
  ASSERT_OK_AND_ASSIGN(auto u, ParseDynamoDbUrl("dynamodb://t_x?endpoint=http%3A%2F%2Flocalhost%3A8000%2Fddb%3Fa%3Db"));
  EXPECT_EQ(u.endpoint, "http://localhost:8000/ddb?a=b");
}

TEST(DynamoDbUrl, MalformedUrlsNameTheUrlAndThePart) {
  struct Case {
    const char* url;
    const char* mentions;
  };
  for (const Case& c : {Case{"dynamodb://ab", "table name 'ab'"}, Case{"dynamodb://a/b", "table name"},
                        Case{"dynamodb://jobs?colour=red", "unknown option 'colour'"},
                        Case{"dynamodb://jobs?region", "needs a value"},
                        Case{"dynamodb://jobs?max_attempts=0", "max_attempts"},
                        Case{"dynamodb://jobs?timeout_ms=abc", "'abc'"},
                        Case{"dynamodb://jobs?transactions=yes", "transactions"},
                        Case{"dynamodb://jobs?endpoint=%zz", "%-escape"}}) {
    auto u = ParseDynamoDbUrl(c.url);
    ASSERT_FALSE(u.ok()) << c.url;
    EXPECT_EQ(u.status().code(), StatusCode::kInvalidArgument) << c.url;
    EXPECT_NE(u.status().message().find(c.url), std::string::npos) << u.status().message();
    EXPECT_NE(u.status().message().find(c.mentions), std::string::npos) << u.status().message();
  }
}

TEST(DynamoDbUrl, OpenStoreRejectsAMalformedUrlWithoutTouchingTheNetwork) {
  auto s = OpenStore("dynamodb://x?bogus=1");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.status().message().find("dynamodb://x?bogus=1"), std::string::npos);
}

TEST(DynamoDbUrl, OpenFollowsAwsConfigForCredentialsAndRegion) {
  Environment none = {{"HOME", "/nonexistent"}, {"AWS_REGION", "us-east-1"}, {"AWS_EC2_METADATA_DISABLED", "true"}};
  auto no_credentials = DynamoDbStore::Open("dynamodb://job_control", WithEnvironment(none));
  ASSERT_FALSE(no_credentials.ok());
  EXPECT_EQ(no_credentials.status().code(), StatusCode::kUnavailable);

  Environment no_region = {{"HOME", "/nonexistent"}, {"AWS_ACCESS_KEY_ID", "AKID"}, {"AWS_SECRET_ACCESS_KEY", kSecret},
                           {"AWS_EC2_METADATA_DISABLED", "true"}};
  auto missing_region = DynamoDbStore::Open("dynamodb://job_control", WithEnvironment(no_region));
  ASSERT_FALSE(missing_region.ok());
  EXPECT_EQ(missing_region.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(missing_region.status().message().find(kSecret), std::string::npos);

  ASSERT_OK_AND_ASSIGN(auto store, DynamoDbStore::Open("dynamodb://jobs?region=eu-central-1", WithEnvironment(no_region)));
  EXPECT_EQ(store->table(), "jobs");
  EXPECT_EQ(store->client().config().endpoint_url, "https://dynamodb.eu-central-1.amazonaws.com");
  EXPECT_EQ(store->ObservedClock(), std::nullopt);  // no call made yet
}

// ---- item encoding ---------------------------------------------------------------------

JobState EveryFieldSet(const std::string& job) {
  JobState s;
  s.job = job;
  s.status = JobStatus::kRunning;
  int64_t i = 0;
  for (const auto& f : StateFields()) {
    if (f.type == FieldType::kInt) {
      s.*f.int_member = (int64_t{1} << 53) + 1 + 1'000'003 * i++;
    } else if (f.string_member != nullptr) {
      s.*f.string_member = std::string("v\xC3\xA9 \"") + f.name;
    }
  }
  s.rate_history = {1, (int64_t{1} << 53) + 1, std::numeric_limits<int64_t>::max()};  // the typed ones
  s.last_outcome = RecordedOutcome::kLeaseLost;
  return s;
}

TEST(DynamoDbItem, StateRoundTripsThroughItsAttributes) {
  const JobState s = EveryFieldSet("nightly");
  Json item = SeedItem("nightly");
  item.update(StateAttributes(s, DueAt(s)));
  ASSERT_OK_AND_ASSIGN(JobState back, DecodeState(item, "nightly"));
  EXPECT_EQ(back, s);
  // Attributes are named exactly as the fields, numbers as exact N strings.
  EXPECT_EQ(item["run_count"]["N"], std::to_string(s.run_count));
  EXPECT_EQ(item["status"], (Json{{"S", "RUNNING"}}));
  EXPECT_EQ(item["version"]["N"], std::to_string(s.version));
}

TEST(DynamoDbItem, HandMadeItemDecodesAsZeroValues) {
  ASSERT_OK_AND_ASSIGN(JobState s, DecodeState(SeedItem("hourly_processor"), "hourly_processor"));
  EXPECT_EQ(s, Idle("hourly_processor", 0));
  Json no_status = SeedItem("x");
  no_status.erase("status");
  no_status["owner"] = Json{{"NULL", true}};
  no_status["someone_elses"] = Json{{"BOOL", true}};  // unknown attributes are ignored
  ASSERT_OK_AND_ASSIGN(JobState bare, DecodeState(no_status, "x"));
  EXPECT_EQ(bare, Idle("x", 0));
}

TEST(DynamoDbItem, WrongTypedAttributesAreCorruptNamingJobFieldAndValue) {
  struct Case {
    const char* field;
    Json value;
    const char* mentions;
  };
  const std::vector<Case> cases = {
      {"run_count", Json{{"S", "abc"}}, "S \"abc\""},
      {"run_count", Json{{"S", "5"}}, "must be a number (N)"},  // would never match `version = :v`
      {"status", Json{{"S", "BANANA"}}, "BANANA"},
      {"status", Json{{"N", "1"}}, "must be a string (S)"},
      {"version", Json{{"N", "1.5"}}, "N 1.5"},
      {"fence", Json{{"N", "-3"}}, "-3"},
      {"owner", Json{{"N", "7"}}, "N 7"},
      {"lease_until", Json{{"BOOL", true}}, "BOOL true"},
      {"last_error", Json{{"L", Json::array()}}, "L []"},
  };
  for (const Case& c : cases) {
    Json item = SeedItem("hourly_processor");
    item[c.field] = c.value;
    auto s = DecodeState(item, "hourly_processor");
    ASSERT_FALSE(s.ok()) << c.field << " " << c.value;
    EXPECT_EQ(s.status().code(), StatusCode::kCorrupt);
    const std::string& m = s.status().message();
    EXPECT_NE(m.find("hourly_processor"), std::string::npos) << m;
    EXPECT_NE(m.find(c.field), std::string::npos) << m;
    EXPECT_NE(m.find(c.mentions), std::string::npos) << m;
  }
}

TEST(DynamoDbItem, DueAttributesAreWrittenOnlyWhileDue) {
  JobState idle = Idle("j", 3);
  idle.next_allowed_run = 5'000;
  idle.next_fire_ts = 7'000;
  Json a = StateAttributes(idle, DueAt(idle));
  EXPECT_EQ(a["due_at"], (Json{{"N", "7000"}}));
  EXPECT_EQ(a["due_shard"], (Json{{"S", DueShardKey(DueShard("j"))}}));

  JobState paused = idle;
  paused.status = JobStatus::kPaused;
  Json p = StateAttributes(paused, DueAt(paused));
  EXPECT_FALSE(p.contains("due_at"));
  EXPECT_FALSE(p.contains("due_shard"));
  // The update removes them, so the job leaves the sparse index.
  const Json update = StateUpdate("job_control", paused, 3, DueAt(paused));
  const std::string expr = update["UpdateExpression"];
  ASSERT_NE(expr.find(" REMOVE "), std::string::npos) << expr;
  std::string removed = expr.substr(expr.find(" REMOVE ") + 8);
  std::vector<std::string> names;
  for (size_t at = 0; at < removed.size();) {
    const size_t comma = removed.find(", ", at);
    names.push_back(update["ExpressionAttributeNames"][removed.substr(at, comma - at)]);
    at = comma == std::string::npos ? removed.size() : comma + 2;
  }
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"due_at", "due_shard"}));
  EXPECT_EQ(StateUpdate("job_control", idle, 3, DueAt(idle))["UpdateExpression"].get<std::string>().find("REMOVE"),
            std::string::npos);
}

TEST(DynamoDbItem, ShardsAreStableAndSpread) {
  EXPECT_EQ(DueShard("hourly_processor"), DueShard("hourly_processor"));
  std::vector<int> seen(kDueShards, 0);
  for (int i = 0; i < 400; ++i) ++seen[DueShard("job-" + std::to_string(i))];
  for (int n : seen) EXPECT_GT(n, 40);
}

TEST(DynamoDbItem, VersionZeroAlsoMatchesAnItemWithoutVersionButNotAnAbsentItem) {
  const Json zero = StateUpdate("job_control", Idle("j", 1), 0, DueAt(Idle("j", 1)));
  const std::string cond = zero["ConditionExpression"];
  EXPECT_NE(cond.find("attribute_exists("), std::string::npos) << cond;
  EXPECT_NE(cond.find("attribute_not_exists("), std::string::npos) << cond;
  // A NULL version reads as a missing one, so it matches too.
  EXPECT_NE(cond.find("attribute_type("), std::string::npos) << cond;
  bool null_type = false;
  for (const auto& [placeholder, value] : zero["ExpressionAttributeValues"].items()) null_type |= value == S("NULL");
  EXPECT_TRUE(null_type) << zero.dump();
  const Json later = StateUpdate("job_control", Idle("j", 6), 5, DueAt(Idle("j", 6)));
  EXPECT_EQ(later["ConditionExpression"].get<std::string>().find("attribute_"), std::string::npos);
  EXPECT_EQ(later["Key"], (Json{{"PK", {{"S", "JOB#j"}}}, {"SK", {{"S", "STATE"}}}}));
}

TEST(DynamoDbItem, RunSortKeysOrderByStartTime) {
  EXPECT_EQ(RunSk(1'700'000'000'000, "r1"), "RUN#0000001700000000000#r1");
  EXPECT_LT(RunSk(999, "z"), RunSk(1'000, "a"));
  EXPECT_LT(RunSk(5, "run-a"), RunSk(5, "run-b"));
  EXPECT_EQ(RunSk(std::numeric_limits<int64_t>::max(), "x").size(), 4 + 19 + 2u);
}

TEST(DynamoDbItem, RunAndRequestRecordsCarryTheTtlInSeconds) {
  RunRecord run;
  run.job = "j";
  run.run_id = "r";
  run.exit_code = 137;
  Json r = RunItem(run, 1'800'000'000);
  EXPECT_EQ(r["expires_at"], (Json{{"N", "1800000000"}}));
  EXPECT_FALSE(RunItem(run, 0).contains("expires_at"));
  ASSERT_OK_AND_ASSIGN(RunRecord back, DecodeRun(r, "j"));
  EXPECT_EQ(back, run);

  RequestRecord rec;
  rec.job = "j";
  rec.key = "exec-1";
  rec.expires_at_ms = 1'700'000'000'001;
  rec.exit_code = -1;
  Json q = RequestItem(rec);
  EXPECT_EQ(q["SK"], (Json{{"S", "REQ#exec-1"}}));
  EXPECT_EQ(q["expires_at"], (Json{{"N", "1700086401"}}));  // rounded up, plus a day of slack for clock skew
  EXPECT_EQ(q["expires_at_ms"], (Json{{"N", "1700000000001"}}));
  ASSERT_OK_AND_ASSIGN(RequestRecord rback, DecodeRequest(q, "j", "exec-1"));
  EXPECT_EQ(rback, rec);
  q["status"] = Json{{"S", "DONE"}};
  EXPECT_EQ(DecodeRequest(q, "j", "exec-1").status().code(), StatusCode::kCorrupt);
}

TEST(DynamoDbItem, DefinitionIsOneJsonStringAttribute) {
  JobDefinition d;
  d.job = "j";
  d.command = {"/bin/true"};
  d.cooldown_ms = 90'000;
  Json item = DefinitionItem(d);
  ASSERT_TRUE(item["definition"].contains("S"));
  ASSERT_OK_AND_ASSIGN(JobDefinition back, DecodeDefinition(item, "j"));
  EXPECT_EQ(back, d);
  item["definition"] = Json{{"S", "{\"cooldown_ms\": \"soon\"}"}};
  auto bad = DecodeDefinition(item, "j");
  EXPECT_EQ(bad.status().code(), StatusCode::kCorrupt);
  EXPECT_NE(bad.status().message().find("cooldown_ms"), std::string::npos);
}

TEST(DynamoDbItem, JobNameComesFromThePartitionKey) {
  ASSERT_OK_AND_ASSIGN(std::string job, JobFromPk(SeedItem("a#b")));
  EXPECT_EQ(job, "a#b");
  EXPECT_EQ(JobFromPk(Json{{"PK", {{"S", "OTHER#x"}}}}).status().code(), StatusCode::kCorrupt);
}

// A port that nothing listens on: bind one, note it, close it.
int ClosedPort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

TEST(DynamoDbStore, UnreachableEndpointIsUnavailableFast) {
  const std::string endpoint = fmt::format("http://127.0.0.1:{}", ClosedPort());
  Environment env = {{"HOME", "/nonexistent"}, {"AWS_ACCESS_KEY_ID", "AKID"}, {"AWS_SECRET_ACCESS_KEY", kSecret}};
  ASSERT_OK_AND_ASSIGN(auto store, DynamoDbStore::Open("dynamodb://job_control?region=us-east-1&endpoint=" + endpoint, WithEnvironment(env)));
  const auto start = std::chrono::steady_clock::now();
  auto record = store->ReadJob("j", "");
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(record.ok());
  EXPECT_EQ(record.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(record.status().message().find("unreachable"), std::string::npos) << record.status().message();
  EXPECT_NE(record.status().message().find(endpoint), std::string::npos) << record.status().message();
  EXPECT_EQ(record.status().message().find(kSecret), std::string::npos);
  EXPECT_EQ(store->client().RequestCount("BatchGetItem"), 3);  // the standard mode's 3 attempts
  EXPECT_LT(elapsed, std::chrono::seconds(2));  // backoffs of at most 100 + 200 ms
}

// ---- against a server (dynalite) ----------------------------------------------------------------------

const char* ServerEndpoint() {
  const char* e = getenv("JOBGATE_TEST_DYNAMODB_ENDPOINT");
  return e != nullptr && *e != '\0' ? e : nullptr;
}

std::string UniqueTableName(const std::string& prefix) {
  static std::atomic<int> counter{0};
  static const uint32_t salt = std::random_device{}();
  return fmt::format("{}_{}_{:08x}_{}", prefix, getpid(), salt, counter++);
}

// The emulator does not check credentials; these are never real ones.
Environment EmulatorEnvironment() {
  return {{"HOME", "/nonexistent"}, {"AWS_ACCESS_KEY_ID", "test"}, {"AWS_SECRET_ACCESS_KEY", "test"}};
}

Result<std::unique_ptr<DynamoDbStore>> OpenOnServer(const std::string& table) {
  return DynamoDbStore::Open(fmt::format("dynamodb://{}?region=us-east-1&endpoint={}", table, ServerEndpoint()),
                             WithEnvironment(EmulatorEnvironment()));
}

}  // namespace

// The conformance suite's factory (conformance_test.cc): a fresh, uniquely
// named table per test, deleted in cleanup.
namespace testing {

namespace {

// A state item put with a raw PutItem, as another tool would write it.
Status PutForeignState(DynamoDbStore& store, const std::string& job, const ForeignItem& foreign) {
  Json item = Key(JobPk(job), kStateSk);
  for (const auto& [name, value] : foreign) {
    switch (value.kind) {
      case ForeignValue::Kind::kNull: item[name] = Json{{"NULL", true}}; break;
      case ForeignValue::Kind::kNumber: item[name] = Json{{"N", value.text}}; break;
      case ForeignValue::Kind::kString: item[name] = S(value.text); break;
    }
  }
  DynamoDbReply reply = store.client().Call("PutItem", Json{{"TableName", store.table()}, {"Item", item}});
  return reply.ok() ? Status::Ok() : Status::Internal(reply.error->message);
}

}  // namespace

NamedStoreFactory DynamoDbFactory(const std::string& endpoint) {
  return {"dynamodb", [endpoint]() -> Result<StoreUnderTest> {
            const std::string url = fmt::format("dynamodb://{}?region=us-east-1&endpoint={}",
                                                UniqueTableName("jobgate_conformance"), endpoint);
            auto open = [url]() -> Result<std::shared_ptr<Store>> {
              auto s = DynamoDbStore::Open(url, WithEnvironment(EmulatorEnvironment()));
              if (!s.ok()) return s.status();
              return std::shared_ptr<Store>(std::move(s.value()));
            };
            auto admin = DynamoDbStore::Open(url, WithEnvironment(EmulatorEnvironment()));
            if (!admin.ok()) return admin.status();
            std::shared_ptr<DynamoDbStore> keeper(std::move(admin.value()));
            JOBGATE_RETURN_IF_ERROR(keeper->Init());
            auto store = open();
            if (!store.ok()) return store.status();
            auto cleanup = [keeper] { (void)keeper->client().Call("DeleteTable", Json{{"TableName", keeper->table()}}); };
            return StoreUnderTest{*store, open, cleanup, [keeper](const std::string& job, const ForeignItem& foreign) {
                                    return PutForeignState(*keeper, job, foreign);
                                  }};
          }};
}
}  // namespace testing

namespace {

class DynamoDbServer : public ::testing::Test {
 protected:
  void SetUp() override {
    if (ServerEndpoint() == nullptr) GTEST_SKIP() << "set JOBGATE_TEST_DYNAMODB_ENDPOINT (e.g. http://127.0.0.1:8123)";
    table_ = UniqueTableName("jobgate_test");
    ASSERT_OK_AND_ASSIGN(store_, OpenOnServer(table_));
  }
  void TearDown() override {
    if (store_) (void)Raw("DeleteTable", Json{{"TableName", table_}});
  }

  DynamoDbReply Raw(const char* op, Json request) { return store_->client().Call(op, request); }

  // A table made by hand the way DESIGN.md says: only PK and SK.
  void CreateHandMadeTable() {
    DynamoDbReply r = Raw("CreateTable",
                          Json{{"TableName", table_},
                               {"BillingMode", "PAY_PER_REQUEST"},
                               {"AttributeDefinitions", Json::array({Json{{"AttributeName", "PK"}, {"AttributeType", "S"}},
                                                                     Json{{"AttributeName", "SK"}, {"AttributeType", "S"}}})},
                               {"KeySchema", Json::array({Json{{"AttributeName", "PK"}, {"KeyType", "HASH"}},
                                                          Json{{"AttributeName", "SK"}, {"KeyType", "RANGE"}}})}});
    ASSERT_TRUE(r.ok()) << r.error->message;
    for (int i = 0; i < 100; ++i) {
      DynamoDbReply d = Raw("DescribeTable", Json{{"TableName", table_}});
      if (d.ok() && d.body["Table"]["TableStatus"] == "ACTIVE") return;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    FAIL() << "table did not become ACTIVE";
  }

  Json GetRaw(const std::string& pk, const std::string& sk) {
    DynamoDbReply r = Raw("GetItem", Json{{"TableName", table_},
                                          {"Key", {{"PK", {{"S", pk}}}, {"SK", {{"S", sk}}}}},
                                          {"ConsistentRead", true}});
    EXPECT_TRUE(r.ok());
    return r.body.value("Item", Json::object());
  }

  std::string table_;
  std::unique_ptr<DynamoDbStore> store_;
};

TEST_F(DynamoDbServer, HandMadeSeedItemRunsThroughTheControllerAndKeepsForeignAttributes) {
  CreateHandMadeTable();
  Json seed = SeedItem("hourly_processor");
  seed["team"] = Json{{"S", "data-eng"}};  // someone else's attribute
  ASSERT_TRUE(Raw("PutItem", Json{{"TableName", table_}, {"Item", seed}}).ok());

  SystemClock clock;
  SeededRandom random(1);
  Controller controller(*store_, clock, random);
  RunRequest req;
  req.job = "hourly_processor";
  req.holder = "test:1";
  bool ran = false;
  ASSERT_OK_AND_ASSIGN(Outcome out, controller.Run(req, [&](const Lease& lease, const std::atomic<bool>&) {
                         ran = true;
                         EXPECT_EQ(lease.fence(), 1);
                         return WorkResult{};
                       }));
  EXPECT_TRUE(ran);
  EXPECT_EQ(out.kind, RunOutcomeKind::kSucceeded);

  Json item = GetRaw("JOB#hourly_processor", "STATE");
  EXPECT_EQ(item["status"], (Json{{"S", "IDLE"}}));
  EXPECT_EQ(item["run_count"], (Json{{"N", "1"}}));
  EXPECT_EQ(item["success_count"], (Json{{"N", "1"}}));
  EXPECT_EQ(item["version"], (Json{{"N", "2"}}));  // the first CAS matched the missing version
  ASSERT_TRUE(item.contains("last_success_ts"));
  EXPECT_GT(std::stoll(item["last_success_ts"]["N"].get<std::string>()), 1'600'000'000'000);
  EXPECT_EQ(item["team"], (Json{{"S", "data-eng"}}));
  ASSERT_OK_AND_ASSIGN(auto state, store_->ReadState("hourly_processor"));
  ASSERT_TRUE(state.has_value());
  EXPECT_TRUE(CountersConsistent(*state));
  ASSERT_OK_AND_ASSIGN(auto runs, store_->ListRuns("hourly_processor", 10));
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].outcome, RecordedOutcome::kSucceeded);

  // Without due_index (dynalite cannot add it to an existing table) the
  // scheduler's ListDue says what to do instead of scanning.
  auto due = store_->ListDue(std::numeric_limits<int64_t>::max(), 10);
  ASSERT_FALSE(due.ok());
  EXPECT_EQ(due.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(due.status().message().find("jobgate init"), std::string::npos) << due.status().message();
  EXPECT_EQ(store_->client().RequestCount("Scan"), 0);

  // `init` on the hand-made table keeps every item as it is.
  ASSERT_OK(store_->Init());
  ASSERT_OK(store_->Init());
  EXPECT_EQ(GetRaw("JOB#hourly_processor", "STATE"), item);
}

TEST_F(DynamoDbServer, DamagedItemIsReportedNamingJobFieldAndValue) {
  ASSERT_OK(store_->Init());
  Json bad = SeedItem("hourly_processor");
  bad["run_count"] = Json{{"S", "abc"}};
  ASSERT_TRUE(Raw("PutItem", Json{{"TableName", table_}, {"Item", bad}}).ok());
  auto state = store_->ReadState("hourly_processor");
  ASSERT_FALSE(state.ok());
  EXPECT_EQ(state.status().code(), StatusCode::kCorrupt);
  EXPECT_NE(state.status().message().find("'hourly_processor'"), std::string::npos) << state.status().message();
  EXPECT_NE(state.status().message().find("run_count"), std::string::npos);
  EXPECT_NE(state.status().message().find("abc"), std::string::npos);
}

// A request record whose expires_at_ms is NULL reads as expired (0), so it
// may be claimed again: the create's condition must match NULL as well.
TEST_F(DynamoDbServer, RequestRecordWithANullExpiryIsAbsentAndCanBeClaimed) {
  ASSERT_OK(store_->Init());
  Json item = Key(JobPk("j"), RequestSk("k"));
  item["status"] = S("completed");
  item["version"] = Json{{"NULL", true}};
  item["expires_at_ms"] = Json{{"NULL", true}};
  ASSERT_TRUE(Raw("PutItem", Json{{"TableName", table_}, {"Item", item}}).ok());
  ASSERT_OK_AND_ASSIGN(auto read, store_->ReadRequest("j", "k", 1'000));
  EXPECT_FALSE(read.has_value());
  RequestRecord rec;
  rec.job = "j";
  rec.key = "k";
  rec.version = 1;
  rec.expires_at_ms = 5'000;
  ASSERT_OK_AND_ASSIGN(auto created, store_->CreateRequest(rec, 1'000));
  EXPECT_EQ(created, WriteOutcome::kApplied);

  ASSERT_TRUE(Raw("PutItem", Json{{"TableName", table_}, {"Item", item}}).ok());
  ASSERT_OK_AND_ASSIGN(auto expired, store_->ExpireRequests(1'000));
  EXPECT_EQ(expired, 1);
}

TEST_F(DynamoDbServer, ListDueUsesTheIndexAndNeverScans) {
  ASSERT_OK(store_->Init());
  for (int i = 0; i < 12; ++i) {
    JobState s = Idle(fmt::format("job{:02}", i), 1);
    s.next_fire_ts = 100 * i + 1;  // 0 would be unscheduled
    if (i % 4 == 3) s.status = JobStatus::kPaused;
    ASSERT_OK_AND_ASSIGN(auto outcome, store_->CreateState(s));
    ASSERT_EQ(outcome, WriteOutcome::kApplied);
  }
  store_->client().ResetRequestCounts();
  ASSERT_OK_AND_ASSIGN(auto due, store_->ListDue(650, 100));
  EXPECT_EQ(due, (std::vector<DueJob>{{"job00", 1}, {"job01", 101}, {"job02", 201}, {"job04", 401}, {"job05", 501},
                                      {"job06", 601}}));
  EXPECT_EQ(store_->client().RequestCount("Scan"), 0);
  EXPECT_EQ(store_->client().RequestCount("Query"), kDueShards);
  EXPECT_EQ(store_->client().RequestCounts().size(), 1u);
}

TEST_F(DynamoDbServer, SkipCostsOneBatchGetItemAndARunOneReadAndThreeWrites) {
  ASSERT_OK(store_->Init());
  ASSERT_OK_AND_ASSIGN(auto created, store_->CreateState(Idle("j", 1)));
  ASSERT_EQ(created, WriteOutcome::kApplied);
  SystemClock clock;
  SeededRandom random(2);
  Controller controller(*store_, clock, random);
  RunRequest req;
  req.job = "j";
  req.holder = "test:2";

  store_->client().ResetRequestCounts();
  ASSERT_OK_AND_ASSIGN(Outcome ran, controller.Run(req, [](const Lease&, const std::atomic<bool>&) { return WorkResult{}; }));
  EXPECT_EQ(ran.kind, RunOutcomeKind::kSucceeded);
  EXPECT_EQ(store_->client().RequestCounts(),
            (std::map<std::string, int64_t>{{"BatchGetItem", 1}, {"UpdateItem", 2}, {"PutItem", 1}}));
  EXPECT_EQ(ran.store_reads, 1);

  ASSERT_OK_AND_ASSIGN(Acquisition held, controller.Acquire(req));
  ASSERT_TRUE(held.lease.has_value());
  store_->client().ResetRequestCounts();
  ASSERT_OK_AND_ASSIGN(Acquisition skipped, controller.Acquire(req));
  EXPECT_FALSE(skipped.lease.has_value());
  EXPECT_EQ(skipped.outcome.reason, SkipReason::kRunning);
  EXPECT_EQ(store_->client().RequestCounts(), (std::map<std::string, int64_t>{{"BatchGetItem", 1}}));
  ASSERT_TRUE(skipped.outcome.clock_offset_ms.has_value());
  ASSERT_TRUE(skipped.outcome.clock_uncertainty_ms.has_value());
  // Same host: the true offset is 0, and within the estimate's bounds.
  EXPECT_LE(std::abs(*skipped.outcome.clock_offset_ms), *skipped.outcome.clock_uncertainty_ms);
  EXPECT_LE(*skipped.outcome.clock_uncertainty_ms, 1'000);
}

TEST_F(DynamoDbServer, MissingTableIsUnavailableAndSaysRunInit) {
  auto record = store_->ReadJob("j", "");
  ASSERT_FALSE(record.ok());
  EXPECT_EQ(record.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(record.status().message().find("jobgate --store"), std::string::npos) << record.status().message();
  EXPECT_NE(record.status().message().find(" init"), std::string::npos) << record.status().message();
  store_.reset();  // nothing to delete
}

TEST_F(DynamoDbServer, InitCreatesTheTableWithTheDueIndexAndIsIdempotent) {
  ASSERT_OK(store_->Init());
  DynamoDbReply d = Raw("DescribeTable", Json{{"TableName", table_}});
  ASSERT_TRUE(d.ok());
  const Json& t = d.body["Table"];
  EXPECT_EQ(t["TableStatus"], "ACTIVE");
  EXPECT_EQ(t["BillingModeSummary"]["BillingMode"], "PAY_PER_REQUEST");
  ASSERT_EQ(t["GlobalSecondaryIndexes"].size(), 1u);
  EXPECT_EQ(t["GlobalSecondaryIndexes"][0]["IndexName"], "due_index");
  ASSERT_OK_AND_ASSIGN(auto created, store_->CreateState(Idle("j", 1)));
  ASSERT_EQ(created, WriteOutcome::kApplied);
  ASSERT_OK(store_->Init());
  ASSERT_OK_AND_ASSIGN(auto state, store_->ReadState("j"));
  EXPECT_EQ(state, Idle("j", 1));
}

}  // namespace
}  // namespace jobgate
