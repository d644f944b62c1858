// DynamoDB backend beyond the conformance suite. Without a server: URL
// parsing, the item encoding (hand-made and damaged items), error
// classification, the retry policy (injected sleep and randomness, a
// scripted transport), the Date header and the clock offset, and an
// unreachable endpoint. With JOBGATE_TEST_DYNAMODB_ENDPOINT (e.g.
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
#include "store/item_codec.h"

namespace jobgate {
namespace {

StoreOptions WithEnvironment(const Environment& env) {
  StoreOptions options;
  options.environment = env;
  return options;
}

using Json = nlohmann::json;
using namespace dynamodb_item;  // NOLINT

// ---- helpers ----------------------------------------------------------------------

constexpr const char* kSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
constexpr const char* kToken = "FwoGZXIvYXdzEXAMPLESESSIONTOKEN0123456789";

AwsConfig TestConfig(const std::string& endpoint = "http://127.0.0.1:8123") {
  AwsConfig c;
  c.credentials = {"AKIDEXAMPLE", kSecret, kToken};
  c.credentials_source = "environment";
  c.region = "us-east-1";
  c.endpoint_url = endpoint;
  return c;
}

HttpResponse Response(int status, std::string body, HttpHeaders headers = {}) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  r.headers = std::move(headers);
  r.headers.emplace_back("x-amzn-RequestId", "REQ123");
  return r;
}

HttpResponse AwsError(int status, const std::string& type, const std::string& message = "") {
  return Response(status, Json{{"__type", "com.amazonaws.dynamodb.v20120810#" + type}, {"message", message}}.dump());
}

// A transport that answers from a script and records what was sent.
class ScriptedTransport final : public HttpTransport {
 public:
  HttpResult Send(const HttpRequest& request) override {
    sent.push_back(request);
    if (script.empty()) return Response(200, "{}");
    HttpResult next = std::move(script.front());
    script.pop_front();
    return next;
  }
  std::string Target(size_t i) const {
    for (const auto& [k, v] : sent.at(i).headers) {
      if (k == "X-Amz-Target") return v;
    }
    return "";
  }
  std::deque<HttpResult> script;
  std::vector<HttpRequest> sent;
};

// A DynamoDbStore over a ScriptedTransport; sleeps are recorded, not slept.
struct ScriptedStore {
  explicit ScriptedStore(bool transactions = false) {
    auto t = std::make_unique<ScriptedTransport>();
    transport = t.get();
    DynamoDbStoreOptions options;
    options.table = "job_control";
    options.use_transactions = transactions;
    options.clock = &clock;
    options.client.sleep = [this](int64_t ms) { sleeps.push_back(ms); };
    options.client.random = [this] {
      if (randoms.empty()) return uint64_t{0};
      uint64_t r = randoms.front();
      randoms.pop_front();
      return r;
    };
    store = std::make_unique<DynamoDbStore>(TestConfig(), std::move(t), std::move(options));
  }
  ManualClock clock{1'700'000'000'000};
  ScriptedTransport* transport = nullptr;
  std::vector<int64_t> sleeps;
  std::deque<uint64_t> randoms;  // what the jitter draws, in order; then 0
  std::unique_ptr<DynamoDbStore> store;
};

JobState Idle(const std::string& job, int64_t version) {
  JobState s;
  s.job = job;
  s.version = version;
  return s;
}

Json SeedItem(const std::string& job) {
  return Json{{"PK", {{"S", "JOB#" + job}}}, {"SK", {{"S", "STATE"}}}, {"status", {{"S", "IDLE"}}}};
}

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
  Environment none = {{"HOME", "/nonexistent"}, {"AWS_REGION", "us-east-1"}};
  auto no_credentials = DynamoDbStore::Open("dynamodb://job_control", WithEnvironment(none));
  ASSERT_FALSE(no_credentials.ok());
  EXPECT_EQ(no_credentials.status().code(), StatusCode::kUnavailable);

  Environment no_region = {{"HOME", "/nonexistent"}, {"AWS_ACCESS_KEY_ID", "AKID"}, {"AWS_SECRET_ACCESS_KEY", kSecret}};
  auto missing_region = DynamoDbStore::Open("dynamodb://job_control", WithEnvironment(no_region));
  ASSERT_FALSE(missing_region.ok());
  EXPECT_EQ(missing_region.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(missing_region.status().message().find(kSecret), std::string::npos);

  ASSERT_OK_AND_ASSIGN(auto store, DynamoDbStore::Open("dynamodb://jobs?region=eu-central-1", WithEnvironment(no_region)));
  EXPECT_EQ(store->table(), "jobs");
  EXPECT_EQ(store->client().config().endpoint_url, "https://dynamodb.eu-central-1.amazonaws.com");
  EXPECT_EQ(store->ObservedClockOffsetMs(), std::nullopt);  // no call made yet
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
    } else {
      s.*f.string_member = std::string("v\xC3\xA9 \"") + f.name;
    }
  }
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

// ---- errors, retries, clock ------------------------------------------------------------------

TEST(DynamoDbClient, ClassifiesErrorsLikeTheSdkStandardRetryMode) {
  struct Case {
    int status;
    const char* type;
    DynamoDbErrorKind kind;
    bool retryable;
  };
  for (const Case& c : {Case{400, "ConditionalCheckFailedException", DynamoDbErrorKind::kConditionFailed, false},
                        Case{400, "ProvisionedThroughputExceededException", DynamoDbErrorKind::kThrottled, true},
                        Case{400, "ThrottlingException", DynamoDbErrorKind::kThrottled, true},
                        Case{400, "RequestLimitExceeded", DynamoDbErrorKind::kThrottled, true},
                        Case{500, "InternalServerError", DynamoDbErrorKind::kServerError, true},
                        Case{503, "ServiceUnavailable", DynamoDbErrorKind::kServerError, true},
                        Case{400, "UnrecognizedClientException", DynamoDbErrorKind::kCredentials, false},
                        Case{400, "InvalidSignatureException", DynamoDbErrorKind::kCredentials, false},
                        Case{400, "AccessDeniedException", DynamoDbErrorKind::kCredentials, false},
                        Case{400, "ResourceNotFoundException", DynamoDbErrorKind::kResourceNotFound, false},
                        Case{400, "ValidationException", DynamoDbErrorKind::kValidation, false},
                        Case{400, "UnknownOperationException", DynamoDbErrorKind::kUnknownOperation, false},
                        Case{400, "TransactionCanceledException", DynamoDbErrorKind::kTransactionCanceled, false},
                        Case{400, "SerializationException", DynamoDbErrorKind::kOther, false}}) {
    DynamoDbError e = ClassifyErrorResponse(c.status, AwsError(c.status, c.type, "m").body);
    EXPECT_EQ(e.kind, c.kind) << c.type;
    EXPECT_EQ(e.type, c.type);
    EXPECT_EQ(e.retryable(), c.retryable) << c.type;
  }
  // Not JSON at all: a load balancer's page.
  DynamoDbError html = ClassifyErrorResponse(502, "<html>\n<h1>Bad Gateway</h1></html>");
  EXPECT_EQ(html.kind, DynamoDbErrorKind::kServerError);
  EXPECT_TRUE(html.maybe_applied);
  EXPECT_EQ(html.message, "<html>");
  // A signature outside AWS's 15-minute window is the clock, not the key.
  DynamoDbError skew = ClassifyErrorResponse(
      400, AwsError(400, "InvalidSignatureException", "Signature expired: 20240101T000000Z is now earlier than ...").body);
  EXPECT_EQ(skew.kind, DynamoDbErrorKind::kClockSkew);
  DynamoDbError canceled = ClassifyErrorResponse(
      400, Json{{"__type", "com.amazonaws.dynamodb.v20120810#TransactionCanceledException"},
                {"CancellationReasons", Json::array({Json{{"Code", "ConditionalCheckFailed"}}, Json{{"Code", "None"}}})}}
               .dump());
  EXPECT_EQ(canceled.cancellation_codes, (std::vector<std::string>{"ConditionalCheckFailed", "None"}));
}

TEST(DynamoDbClient, TransportErrorsSayWhetherTheRequestMayHaveBeenApplied) {
  EXPECT_FALSE(ClassifyTransportError({TransportErrorKind::kConnectFailed, "refused", false}).maybe_applied);
  EXPECT_FALSE(ClassifyTransportError({TransportErrorKind::kResolveFailed, "nxdomain", false}).maybe_applied);
  EXPECT_TRUE(ClassifyTransportError({TransportErrorKind::kTimedOut, "timeout", true}).maybe_applied);
  EXPECT_TRUE(ClassifyTransportError({TransportErrorKind::kConnectionReset, "reset", true}).maybe_applied);
  EXPECT_FALSE(ClassifyTransportError({TransportErrorKind::kTimedOut, "connect timeout", false}).maybe_applied);
}

TEST(DynamoDbClient, StatusMessagesSayWhatWentWrong) {
  const AwsConfig config = TestConfig("http://127.0.0.1:1");
  struct Case {
    DynamoDbError error;
    StatusCode code;
    const char* mentions;
  };
  DynamoDbError transport = ClassifyTransportError({TransportErrorKind::kConnectFailed, "Connection refused", false});
  transport.attempts = 3;
  for (const Case& c : {Case{transport, StatusCode::kUnavailable, "unreachable"},
                        Case{ClassifyErrorResponse(500, AwsError(500, "InternalServerError").body),
                             StatusCode::kUnavailable, "HTTP 500"},
                        Case{ClassifyErrorResponse(400, AwsError(400, "ThrottlingException").body),
                             StatusCode::kUnavailable, "throttled"},
                        Case{ClassifyErrorResponse(400, AwsError(400, "UnrecognizedClientException").body),
                             StatusCode::kUnavailable, "credentials rejected"},
                        Case{ClassifyErrorResponse(400, AwsError(400, "ValidationException", "bad").body),
                             StatusCode::kInvalidArgument, "ValidationException: bad"}}) {
    Status st = ErrorStatus(c.error, "GetItem", config);
    EXPECT_EQ(st.code(), c.code) << st.ToString();
    EXPECT_NE(st.message().find(c.mentions), std::string::npos) << st.message();
  }
}

TEST(DynamoDbClient, RetryDelaysUseFullJitterUnderAnExponentialCeiling) {
  RetryPolicy p;  // 3 attempts, base 100 ms, cap 20 s
  const uint64_t max = std::numeric_limits<uint64_t>::max();
  EXPECT_EQ(p.DelayMs(1, 0), 0);
  EXPECT_EQ(p.DelayMs(1, 100), 100);
  EXPECT_EQ(p.DelayMs(1, 101), 0);  // uniform in [0, 100]
  EXPECT_LE(p.DelayMs(1, max), 100);
  EXPECT_EQ(p.DelayMs(2, 200), 200);
  EXPECT_EQ(p.DelayMs(3, 400), 400);
  EXPECT_LE(p.DelayMs(40, max), 20'000);
  EXPECT_EQ(p.DelayMs(40, 20'000), 20'000);
  p.base_ms = 0;
  EXPECT_EQ(p.DelayMs(2, max), 0);
}

TEST(DynamoDbClient, ParsesTheHttpDateHeader) {
  EXPECT_EQ(ParseHttpDateMs("Sun, 06 Nov 1994 08:49:37 GMT"), 784'111'777'000);
  EXPECT_EQ(ParseHttpDateMs("Mon, 23 Nov 2026 16:53:59 GMT"), 1'795'452'839'000);
  EXPECT_EQ(ParseHttpDateMs("Thu, 01 Jan 1970 00:00:00 GMT"), 0);
  for (const char* bad : {"", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994",
                          "Sun, 06 Nov 1994 08:49:37 UTC", "Sun, 06 Foo 1994 08:49:37 GMT", "Sun, 06 Nov 1994 25:49:37 GMT"}) {
    EXPECT_EQ(ParseHttpDateMs(bad), std::nullopt) << bad;
  }
  // The server's second is truncated: compare with its middle.
  EXPECT_EQ(EstimateClockOffsetMs(10'000, 10'000, 10'000), -500);
  EXPECT_EQ(EstimateClockOffsetMs(15'000, 15'100, 10'000), 15'050 - 10'500);
}

TEST(DynamoDbClient, RetriesServerErrorsWithBackoffAndSignsEveryAttempt) {
  ScriptedStore s;
  s.randoms = {100, 200 + 201};  // uniform in [0, 100], then in [0, 200]
  s.transport->script = {AwsError(500, "InternalServerError"),
                         TransportError{TransportErrorKind::kConnectionReset, "reset", false},
                         Response(200, R"({"Item": {"PK": {"S": "JOB#j"}, "SK": {"S": "STATE"}, "status": {"S": "PAUSED"}}})")};
  ASSERT_OK_AND_ASSIGN(auto state, s.store->ReadState("j"));
  ASSERT_TRUE(state.has_value());
  EXPECT_EQ(state->status, JobStatus::kPaused);
  ASSERT_EQ(s.transport->sent.size(), 3u);
  EXPECT_EQ(s.sleeps, (std::vector<int64_t>{100, 200}));  // full jitter, at its ceilings here
  EXPECT_EQ(s.store->client().RequestCount("GetItem"), 3);
  const HttpRequest& r = s.transport->sent[2];
  EXPECT_EQ(r.url, "http://127.0.0.1:8123/");
  EXPECT_EQ(s.transport->Target(2), "DynamoDB_20120810.GetItem");
  auto header = [&](const char* name) {
    for (const auto& [k, v] : r.headers) {
      if (k == name) return v;
    }
    return std::string();
  };
  EXPECT_EQ(header("Host"), "127.0.0.1:8123");
  EXPECT_EQ(header("Content-Type"), "application/x-amz-json-1.0");
  EXPECT_TRUE(header("Authorization").starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20231114/us-east-1/dynamodb/aws4_request"))
      << header("Authorization");
  EXPECT_EQ(header("X-Amz-Date"), "20231114T221320Z");
  EXPECT_EQ(header("X-Amz-Security-Token"), kToken);
  EXPECT_EQ(Json::parse(r.body)["ConsistentRead"], true);
}

TEST(DynamoDbClient, GivesUpAfterThreeAttemptsWithUnavailable) {
  ScriptedStore s;
  s.transport->script = {AwsError(400, "ProvisionedThroughputExceededException"),
                         AwsError(400, "ThrottlingException"), AwsError(400, "RequestLimitExceeded"),
                         Response(200, "{}")};
  auto state = s.store->ReadState("j");
  ASSERT_FALSE(state.ok());
  EXPECT_EQ(state.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(state.status().message().find("throttled"), std::string::npos) << state.status().message();
  EXPECT_NE(state.status().message().find("3 attempts"), std::string::npos) << state.status().message();
  EXPECT_EQ(s.transport->sent.size(), 3u);
  EXPECT_EQ(s.sleeps.size(), 2u);
}

TEST(DynamoDbClient, NeverRetriesAConditionFailureOrABadRequest) {
  ScriptedStore s;
  s.transport->script = {AwsError(400, "ConditionalCheckFailedException", "The conditional request failed")};
  ASSERT_OK_AND_ASSIGN(auto outcome, s.store->ReplaceState(Idle("j", 2), 1));
  EXPECT_EQ(outcome, WriteOutcome::kConditionFailed);
  EXPECT_EQ(s.transport->sent.size(), 1u);

  s.transport->script = {AwsError(400, "ValidationException", "Item size has exceeded the maximum allowed size")};
  auto invalid = s.store->ReplaceState(Idle("j", 2), 1);
  EXPECT_EQ(invalid.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.transport->sent.size(), 2u);
  EXPECT_TRUE(s.sleeps.empty());
}

// FACTS.md: a write that returned 500 may have been applied. If its retry
// then fails the condition, that may be our own first write: the store must
// say "unknown" (the controller re-reads and recognises its owner/fence),
// never "lost race".
TEST(DynamoDbClient, AConditionFailureAfterALostResponseIsReportedAsUnknown) {
  ScriptedStore s;
  s.transport->script = {AwsError(500, "InternalServerError"), AwsError(400, "ConditionalCheckFailedException")};
  auto outcome = s.store->ReplaceState(Idle("j", 2), 1);
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(outcome.status().message().find("may have been applied"), std::string::npos);

  // Throttling rejects before applying: a later condition failure is real.
  s.transport->script = {AwsError(400, "ThrottlingException"), AwsError(400, "ConditionalCheckFailedException")};
  ASSERT_OK_AND_ASSIGN(auto lost, s.store->ReplaceState(Idle("j", 2), 1));
  EXPECT_EQ(lost, WriteOutcome::kConditionFailed);
  // So does a connection that was refused.
  s.transport->script = {TransportError{TransportErrorKind::kConnectFailed, "refused", false},
                         AwsError(400, "ConditionalCheckFailedException")};
  ASSERT_OK_AND_ASSIGN(lost, s.store->CreateState(Idle("j", 1)));
  EXPECT_EQ(lost, WriteOutcome::kConditionFailed);
  // A timeout after the request went out is ambiguous again.
  s.transport->script = {TransportError{TransportErrorKind::kTimedOut, "timed out", true},
                         AwsError(400, "ConditionalCheckFailedException")};
  EXPECT_EQ(s.store->CreateState(Idle("j", 1)).status().code(), StatusCode::kUnavailable);
}

Json StoredItem(const JobState& s) {
  Json item = SeedItem(s.job);
  item.update(StateAttributes(s, DueAt(s)));
  return Json{{"Item", item}};
}

// The store settles an unknown outcome with one consistent read: finding
// exactly what it wrote (versions are unique per CAS) means it applied, and
// then the commit's run record is written too.
TEST(DynamoDbClient, ALostResponseIsSettledByReadingBackExactlyWhatWasWritten) {
  ScriptedStore s;
  JobState done = Idle("j", 2);
  done.success_count = done.run_count = 1;
  RunRecord run;
  run.job = "j";
  run.run_id = "r1";
  s.transport->script = {TransportError{TransportErrorKind::kConnectionReset, "closed mid-write", true},
                         AwsError(400, "ConditionalCheckFailedException"), Response(200, StoredItem(done).dump()),
                         Response(200, "{}")};
  ASSERT_OK_AND_ASSIGN(auto outcome, s.store->ReplaceStateAndAppendRun(done, 1, run));
  EXPECT_EQ(outcome, WriteOutcome::kApplied);
  EXPECT_EQ(s.store->client().RequestCounts(),
            (std::map<std::string, int64_t>{{"UpdateItem", 2}, {"GetItem", 1}, {"PutItem", 1}}));

  // Someone else's item at that version: still unknown (ours may have been
  // applied and overwritten since), and no run record.
  JobState theirs = done;
  theirs.owner = "someone else";
  s.store->client().ResetRequestCounts();
  s.transport->script = {AwsError(503, "ServiceUnavailable"), AwsError(400, "ConditionalCheckFailedException"),
                         Response(200, StoredItem(theirs).dump())};
  auto unknown = s.store->ReplaceStateAndAppendRun(done, 1, run);
  EXPECT_EQ(unknown.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(s.store->client().RequestCount("PutItem"), 0);

  // Every attempt lost: if the read-back finds our state, it applied.
  s.transport->script = {AwsError(500, "InternalServerError"), AwsError(500, "InternalServerError"),
                         AwsError(500, "InternalServerError"), Response(200, StoredItem(done).dump())};
  ASSERT_OK_AND_ASSIGN(outcome, s.store->ReplaceState(done, 1));
  EXPECT_EQ(outcome, WriteOutcome::kApplied);
}

TEST(DynamoDbClient, CredentialErrorsSaySoAndNeverLeakSecrets) {
  ScriptedStore s;
  s.transport->script = {AwsError(400, "InvalidSignatureException",
                                  std::string("The request signature we calculated does not match. The Canonical "
                                              "String was 'x-amz-security-token:") +
                                      kToken + "' key " + kSecret + "\nmore lines " + kSecret)};
  auto state = s.store->ReadState("j");
  ASSERT_FALSE(state.ok());
  EXPECT_EQ(state.status().code(), StatusCode::kUnavailable);
  const std::string& m = state.status().message();
  EXPECT_NE(m.find("credentials rejected"), std::string::npos) << m;
  EXPECT_NE(m.find("environment"), std::string::npos) << m;  // where the credentials came from
  EXPECT_EQ(m.find(kSecret), std::string::npos) << m;
  EXPECT_EQ(m.find(kToken), std::string::npos) << m;
  EXPECT_EQ(s.transport->sent.size(), 1u);  // not retried
}

TEST(DynamoDbClient, MissingTableTellsTheUserToRunInit) {
  ScriptedStore s;
  s.transport->script = {AwsError(400, "ResourceNotFoundException", "Requested resource not found")};
  auto job = s.store->ReadJob("j");
  ASSERT_FALSE(job.ok());
  EXPECT_EQ(job.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(job.status().message().find("'job_control' not found"), std::string::npos) << job.status().message();
  EXPECT_NE(job.status().message().find("init"), std::string::npos) << job.status().message();
}

TEST(DynamoDbClient, ObservesTheClockOffsetFromTheDateHeader) {
  ScriptedStore s;
  s.clock.Set(1'700'000'010'000);  // local clock 10 s ahead of the server's
  s.transport->script = {Response(200, "{}", {{"Date", "Tue, 14 Nov 2023 22:13:20 GMT"}})};  // 1'700'000'000 s
  EXPECT_EQ(s.store->ObservedClockOffsetMs(), std::nullopt);
  ASSERT_OK(s.store->ReadState("j").status());
  EXPECT_EQ(s.store->ObservedClockOffsetMs(), 9'500);  // +-500 ms: the header has whole seconds
  s.transport->script = {Response(200, "{}", {{"Date", "garbage"}})};
  ASSERT_OK(s.store->ReadState("j").status());
  EXPECT_EQ(s.store->ObservedClockOffsetMs(), 9'500);  // the last good observation stays
}

TEST(DynamoDbClient, ReadJobIsOneBatchGetItemAndAsksAgainForUnprocessedKeys) {
  ScriptedStore s;
  Json first = {{"Responses", {{"job_control", Json::array({SeedItem("j")})}}},
                {"UnprocessedKeys",
                 {{"job_control", {{"Keys", Json::array({Json{{"PK", {{"S", "JOB#j"}}}, {"SK", {{"S", "DEF"}}}}})},
                                   {"ConsistentRead", true}}}}}};
  JobDefinition hourly;
  hourly.job = "j";
  hourly.schedule = "rate(1 hour)";
  Json def = DefinitionItem(hourly);
  Json second = {{"Responses", {{"job_control", Json::array({def})}}}, {"UnprocessedKeys", Json::object()}};
  s.transport->script = {Response(200, first.dump()), Response(200, second.dump())};
  ASSERT_OK_AND_ASSIGN(JobRecord record, s.store->ReadJob("j"));
  EXPECT_EQ(record.state, Idle("j", 0));
  ASSERT_TRUE(record.definition.has_value());
  EXPECT_EQ(record.definition->schedule, "rate(1 hour)");
  ASSERT_EQ(s.transport->sent.size(), 2u);
  EXPECT_EQ(s.transport->Target(0), "DynamoDB_20120810.BatchGetItem");
  Json asked = Json::parse(s.transport->sent[1].body)["RequestItems"]["job_control"];
  EXPECT_EQ(asked["Keys"].size(), 1u);
  EXPECT_EQ(asked["ConsistentRead"], true);
  EXPECT_EQ(s.sleeps.size(), 1u);
}

TEST(DynamoDbClient, TransactionalCommitIsOneTransactWriteItems) {
  ScriptedStore s(/*transactions=*/true);
  RunRecord run;
  run.job = "j";
  run.run_id = "r1";
  run.start_ms = 100;
  s.transport->script = {Response(200, "{}")};
  ASSERT_OK_AND_ASSIGN(auto applied, s.store->ReplaceStateAndAppendRun(Idle("j", 2), 1, run));
  EXPECT_EQ(applied, WriteOutcome::kApplied);
  ASSERT_EQ(s.transport->sent.size(), 1u);
  EXPECT_EQ(s.transport->Target(0), "DynamoDB_20120810.TransactWriteItems");
  Json body = Json::parse(s.transport->sent[0].body);
  ASSERT_EQ(body["TransactItems"].size(), 2u);
  EXPECT_TRUE(body["TransactItems"][0].contains("Update"));
  EXPECT_EQ(body["TransactItems"][1]["Put"]["Item"]["SK"]["S"], RunSk(100, "r1"));
  EXPECT_EQ(body["ClientRequestToken"].get<std::string>().size(), 36u);

  s.transport->script = {Response(400, Json{{"__type", "com.amazonaws.dynamodb.v20120810#TransactionCanceledException"},
                                            {"CancellationReasons", Json::array({Json{{"Code", "ConditionalCheckFailed"}},
                                                                                 Json{{"Code", "None"}}})}}
                                           .dump())};
  ASSERT_OK_AND_ASSIGN(auto lost, s.store->ReplaceStateAndAppendRun(Idle("j", 2), 1, run));
  EXPECT_EQ(lost, WriteOutcome::kConditionFailed);
}

TEST(DynamoDbClient, ListDueQueriesEveryShardOfTheIndexAndMerges) {
  ScriptedStore s;
  auto due_item = [](const std::string& job, int64_t at) {
    return Json{{"PK", {{"S", "JOB#" + job}}}, {"SK", {{"S", "STATE"}}}, {"due_at", {{"N", std::to_string(at)}}},
                {"due_shard", {{"S", DueShardKey(DueShard(job))}}}};
  };
  for (int shard = 0; shard < kDueShards; ++shard) {
    Json items = Json::array();
    if (shard == 0) items = Json::array({due_item("b", 300), due_item("d", 900)});
    if (shard == 1) items = Json::array({due_item("a", 100)});
    if (shard == 3) items = Json::array({due_item("c", 300)});
    s.transport->script.push_back(Response(200, Json{{"Items", items}}.dump()));
  }
  ASSERT_OK_AND_ASSIGN(auto due, s.store->ListDue(1'000, 3));
  EXPECT_EQ(due, (std::vector<std::string>{"a", "b", "c"}));
  ASSERT_EQ(s.transport->sent.size(), static_cast<size_t>(kDueShards));
  for (size_t i = 0; i < s.transport->sent.size(); ++i) {
    EXPECT_EQ(s.transport->Target(i), "DynamoDB_20120810.Query");
    Json q = Json::parse(s.transport->sent[i].body);
    EXPECT_EQ(q["IndexName"], "due_index");
    EXPECT_EQ(q["Limit"], 3);
    EXPECT_FALSE(q.contains("ConsistentRead"));  // GSIs only serve eventually consistent reads
  }
  ASSERT_OK_AND_ASSIGN(auto none, s.store->ListDue(1'000, 0));
  EXPECT_TRUE(none.empty());
  EXPECT_EQ(s.transport->sent.size(), static_cast<size_t>(kDueShards));
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
  auto record = store->ReadJob("j");
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
            return StoreUnderTest{*store, open, cleanup};
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
  EXPECT_EQ(runs[0].outcome, "succeeded");

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

TEST_F(DynamoDbServer, ListDueUsesTheIndexAndNeverScans) {
  ASSERT_OK(store_->Init());
  for (int i = 0; i < 12; ++i) {
    JobState s = Idle(fmt::format("job{:02}", i), 1);
    s.next_allowed_run = 100 * i;
    if (i % 4 == 3) s.status = JobStatus::kPaused;
    ASSERT_OK_AND_ASSIGN(auto outcome, store_->CreateState(s));
    ASSERT_EQ(outcome, WriteOutcome::kApplied);
  }
  store_->client().ResetRequestCounts();
  ASSERT_OK_AND_ASSIGN(auto due, store_->ListDue(650, 100));
  EXPECT_EQ(due, (std::vector<std::string>{"job00", "job01", "job02", "job04", "job05", "job06"}));
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
  EXPECT_LT(std::abs(*skipped.outcome.clock_offset_ms), 2'000);  // same host: only the Date header's rounding
}

TEST_F(DynamoDbServer, MissingTableIsUnavailableAndSaysRunInit) {
  auto record = store_->ReadJob("j");
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
