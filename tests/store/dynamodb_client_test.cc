// The DynamoDB client and the store's calls over a scripted transport (no
// server): error classification like the AWS SDK's standard retry mode,
// retries with injected sleep and randomness, lost responses, credential
// errors, the Date header and the clock offset, and the requests each
// store operation makes.
#include "store/dynamodb_client.h"

// g++ 12 reports a false -Wmaybe-uninitialized on moving the HttpResult
// variant of a scripted response (TransportError::kind has an initializer),
// depending on how much it inlines into this file's tests.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "core/random.h"
#include "jobgate/controller.h"
#include "store/conformance.h"
#include "store/dynamodb_store.h"
#include "store/dynamodb_test_support.h"

namespace jobgate {
namespace {

using namespace dynamodb_test;  // NOLINT
using Json = nlohmann::json;
using namespace dynamodb_item;  // NOLINT

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
  auto job = s.store->ReadJob("j", "");
  ASSERT_FALSE(job.ok());
  EXPECT_EQ(job.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(job.status().message().find("'job_control' not found"), std::string::npos) << job.status().message();
  EXPECT_NE(job.status().message().find("init"), std::string::npos) << job.status().message();
}

TEST(DynamoDbClient, PlacesTheStoresClockFromTheDateHeaderWithItsUncertainty) {
  ScriptedStore s;
  s.clock.Set(1'700'000'010'000);  // local clock 10 s ahead of the server's
  s.transport->script = {Response(200, "{}", {{"Date", "Tue, 14 Nov 2023 22:13:20 GMT"}})};  // 1'700'000'000 s
  EXPECT_TRUE(s.store->ReportsTime());
  EXPECT_EQ(s.store->ObservedClock(), std::nullopt);
  ASSERT_OK(s.store->ReadState("j").status());
  // The server read its clock somewhere in [1'700'000'000'000, +999] while
  // the (instant) exchange happened: 10 s minus up to 999 ms.
  auto first = s.store->ObservedClock();
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->offset_ms, 10'000 - 499);
  EXPECT_EQ(first->uncertainty_ms, 500);
  EXPECT_LE(first->offset_ms - first->uncertainty_ms, 10'000 - 999);
  EXPECT_GE(first->offset_ms + first->uncertainty_ms, 10'000);
  // 700 ms later the header reads the next second: the server's second
  // turned within the last 700 ms of its clock, so the offset is within
  // 10'000 - 999 .. 10'000 - 300: the estimate tightens.
  s.clock.Advance(700);
  s.transport->script = {Response(200, "{}", {{"Date", "Tue, 14 Nov 2023 22:13:21 GMT"}})};
  ASSERT_OK(s.store->ReadState("j").status());
  auto second = s.store->ObservedClock();
  ASSERT_TRUE(second.has_value());
  EXPECT_LE(second->uncertainty_ms, 351);  // 350, and 1 ms of drift allowance
  EXPECT_LE(second->offset_ms - second->uncertainty_ms, 10'000 - 999);
  EXPECT_GE(second->offset_ms + second->uncertainty_ms, 10'000 - 300);
  s.transport->script = {Response(200, "{}", {{"Date", "garbage"}})};
  ASSERT_OK(s.store->ReadState("j").status());
  EXPECT_EQ(s.store->ObservedClock()->uncertainty_ms, second->uncertainty_ms);  // a bad header adds nothing
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
  ASSERT_OK_AND_ASSIGN(JobRecord record, s.store->ReadJob("j", ""));
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

// ---- two connections: the commit and its run record at once -------------------------------

// One scripted server behind several lanes: answers by operation, and holds
// each request of `together` until all of them are in flight (or 2 s pass),
// so a test sees whether the client sent them at once.
class TwoLaneServer {
 public:
  HttpResult Answer(const HttpRequest& request) {
    std::unique_lock lock(mu_);
    const std::string op = OpOf(request);
    sent.push_back(op);
    if (together.count(op) != 0) {
      ++in_flight_;
      cv_.notify_all();
      met_together = cv_.wait_for(lock, std::chrono::seconds(2), [&] { return in_flight_ >= together.size(); }) &&
                     met_together;
    }
    bodies[op] = request.body;
    auto it = answers.find(op);
    if (it == answers.end()) return Response(200, request.method == "GET" ? "healthy: test" : "{}");
    return it->second;
  }
  std::vector<std::string> Sent() {
    std::lock_guard lock(mu_);
    return sent;
  }

  std::set<std::string> together;
  std::map<std::string, HttpResult> answers;  // by operation; default 200 "{}"
  std::vector<std::string> sent;              // operations in arrival order, "GET" for a bare GET
  std::map<std::string, std::string> bodies;  // the last body per operation
  bool met_together = true;

 private:
  static std::string OpOf(const HttpRequest& request) {
    for (const auto& [k, v] : request.headers) {
      if (k == "X-Amz-Target") return v.substr(v.find('.') + 1);
    }
    return request.method;
  }
  std::mutex mu_;
  std::condition_variable cv_;
  size_t in_flight_ = 0;
};

class LaneTransport final : public HttpTransport {
 public:
  explicit LaneTransport(TwoLaneServer& server) : server_(server) {}
  HttpResult Send(const HttpRequest& request) override { return server_.Answer(request); }

 private:
  TwoLaneServer& server_;
};

struct TwoLaneStore {
  explicit TwoLaneStore(ThreadStarter start_thread = nullptr) {
    std::vector<std::unique_ptr<HttpTransport>> lanes;
    lanes.push_back(std::make_unique<LaneTransport>(server));
    lanes.push_back(std::make_unique<LaneTransport>(server));
    DynamoDbStoreOptions options;
    options.table = "job_control";
    options.clock = &clock;
    options.client.sleep = [](int64_t) {};
    options.client.start_thread = std::move(start_thread);
    store = std::make_unique<DynamoDbStore>(TestConfig(), std::move(lanes), std::move(options));
  }
  ManualClock clock{1'700'000'000'000};
  TwoLaneServer server;
  std::unique_ptr<DynamoDbStore> store;
};

RunRecord FinishedRun() {
  RunRecord run;
  run.job = "j";
  run.run_id = "r1";
  run.start_ms = 100;
  run.end_ms = 200;
  run.outcome = RecordedOutcome::kSucceeded;
  return run;
}

TEST(DynamoDbClient, TheCommitAndItsRunRecordAreOneRoundTrip) {
  TwoLaneStore s;
  s.server.together = {"UpdateItem", "PutItem"};
  ASSERT_OK_AND_ASSIGN(auto outcome, s.store->ReplaceStateAndAppendRun(Idle("j", 2), 1, FinishedRun()));
  EXPECT_EQ(outcome, WriteOutcome::kApplied);
  EXPECT_TRUE(s.server.met_together) << "the run record waited for the commit's answer";
  std::vector<std::string> sent = s.server.Sent();
  std::sort(sent.begin(), sent.end());
  EXPECT_EQ(sent, (std::vector<std::string>{"PutItem", "UpdateItem"}));
  // Never over another record of the run (a taker's "abandoned" one).
  Json put = Json::parse(s.server.bodies["PutItem"]);
  EXPECT_EQ(put["Item"]["SK"]["S"], RunSk(100, "r1"));
  EXPECT_EQ(put["ConditionExpression"], "attribute_not_exists(#n0)");
  EXPECT_EQ(put["ExpressionAttributeNames"]["#n0"], "PK");
}

TEST(DynamoDbClient, ACommitThatDidNotApplyTakesItsRunRecordBack) {
  TwoLaneStore s;
  s.server.answers["UpdateItem"] = AwsError(400, "ConditionalCheckFailedException");
  ASSERT_OK_AND_ASSIGN(auto outcome, s.store->ReplaceStateAndAppendRun(Idle("j", 2), 1, FinishedRun()));
  EXPECT_EQ(outcome, WriteOutcome::kConditionFailed);
  std::vector<std::string> sent = s.server.Sent();
  ASSERT_EQ(sent.size(), 3u);
  EXPECT_EQ(sent[2], "DeleteItem");
  // Only the record we wrote: not one another holder wrote since.
  Json del = Json::parse(s.server.bodies["DeleteItem"]);
  EXPECT_EQ(del["Key"]["SK"]["S"], RunSk(100, "r1"));
  EXPECT_EQ(del["ConditionExpression"], "#n0 = :v0 AND #n1 = :v1");
  EXPECT_EQ(del["ExpressionAttributeValues"][":v0"]["S"], "succeeded");
  EXPECT_EQ(del["ExpressionAttributeValues"][":v1"]["N"], "200");

  // A record was there already (the taker's): ours was not written, nothing to take back.
  TwoLaneStore refused;
  refused.server.answers["UpdateItem"] = AwsError(400, "ConditionalCheckFailedException");
  refused.server.answers["PutItem"] = AwsError(400, "ConditionalCheckFailedException");
  ASSERT_OK_AND_ASSIGN(outcome, refused.store->ReplaceStateAndAppendRun(Idle("j", 2), 1, FinishedRun()));
  EXPECT_EQ(outcome, WriteOutcome::kConditionFailed);
  EXPECT_EQ(refused.server.Sent().size(), 2u);

  // The commit's answer lost (it may have applied): taken back too; the
  // controller re-reads and appends it again if the commit did apply.
  TwoLaneStore unknown;
  unknown.server.answers["UpdateItem"] = AwsError(500, "InternalServerError");
  EXPECT_FALSE(unknown.store->ReplaceStateAndAppendRun(Idle("j", 2), 1, FinishedRun()).ok());
  EXPECT_EQ(unknown.server.Sent().back(), "DeleteItem");
}

TEST(DynamoDbClient, TakingALeaseOpensTheSecondConnectionWhileTheWorkloadRuns) {
  TwoLaneStore s;
  JobState running = Idle("j", 2);
  running.status = JobStatus::kRunning;
  running.owner = "r1";
  ASSERT_OK_AND_ASSIGN(auto outcome, s.store->ReplaceState(running, 1));
  EXPECT_EQ(outcome, WriteOutcome::kApplied);
  for (int i = 0; i < 200 && s.server.Sent().size() < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(s.server.Sent(), (std::vector<std::string>{"UpdateItem", "GET"}));
  // Once: both lanes have carried a request now.
  s.store->client().OpenSpareLanes();
  ASSERT_OK_AND_ASSIGN(outcome, s.store->ReplaceState(Idle("j", 3), 2));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(s.server.Sent().size(), 3u);
  EXPECT_EQ(s.store->client().RequestCounts(), (std::map<std::string, int64_t>{{"UpdateItem", 2}}));
}

// Fault injection: a process at its thread limit. Nothing throws; the
// second connection is not opened ahead, and the run record follows the
// commit on the caller's thread, as with one connection.
TEST(DynamoDbClient, WithoutThreadsTheRunRecordFollowsTheCommit) {
  TwoLaneStore s(FailingThreadStarter());
  JobState running = Idle("j", 2);
  running.status = JobStatus::kRunning;
  running.owner = "r1";
  ASSERT_OK_AND_ASSIGN(auto outcome, s.store->ReplaceState(running, 1));
  EXPECT_EQ(outcome, WriteOutcome::kApplied);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(s.server.Sent(), (std::vector<std::string>{"UpdateItem"}));  // no GET: no opener thread
  ASSERT_OK_AND_ASSIGN(outcome, s.store->ReplaceStateAndAppendRun(Idle("j", 3), 2, FinishedRun()));
  EXPECT_EQ(outcome, WriteOutcome::kApplied);
  EXPECT_EQ(s.server.Sent(), (std::vector<std::string>{"UpdateItem", "UpdateItem", "PutItem"}));

  // A commit that does not apply writes no run record: nothing to take back.
  TwoLaneStore lost(FailingThreadStarter());
  lost.server.answers["UpdateItem"] = AwsError(400, "ConditionalCheckFailedException");
  ASSERT_OK_AND_ASSIGN(outcome, lost.store->ReplaceStateAndAppendRun(Idle("j", 2), 1, FinishedRun()));
  EXPECT_EQ(outcome, WriteOutcome::kConditionFailed);
  EXPECT_EQ(lost.server.Sent(), (std::vector<std::string>{"UpdateItem"}));
}

TEST(DynamoDbClient, AsksForAndAddsUpTheCapacityEachCallConsumed) {
  ScriptedStore s;
  s.transport->script = {
      Response(200, R"({"ConsumedCapacity": {"TableName": "job_control", "CapacityUnits": 1.0}})"),
      Response(200, R"({"Responses": {}, "ConsumedCapacity": [{"TableName": "job_control", "CapacityUnits": 2.0}]})"),
      Response(200, R"({"ConsumedCapacity": [{"TableName": "job_control", "CapacityUnits": 4.0,
                        "ReadCapacityUnits": 0.0, "WriteCapacityUnits": 4.0}]})"),
      Response(200, R"({"Table": {}})")};
  ASSERT_TRUE(s.store->client().Call("UpdateItem", Json{{"TableName", "job_control"}}).ok());
  ASSERT_TRUE(s.store->client().Call("BatchGetItem", Json{{"RequestItems", Json::object()}}).ok());
  ASSERT_TRUE(s.store->client().Call("TransactWriteItems", Json{{"TransactItems", Json::array()}}).ok());
  ASSERT_TRUE(s.store->client().Call("DescribeTable", Json{{"TableName", "job_control"}}).ok());
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(Json::parse(s.transport->sent[i].body)["ReturnConsumedCapacity"], "TOTAL");
  EXPECT_FALSE(Json::parse(s.transport->sent[3].body).contains("ReturnConsumedCapacity"));  // not a data-plane call
  EXPECT_EQ(s.store->client().ConsumedCapacity().read, 2.0);
  EXPECT_EQ(s.store->client().ConsumedCapacity().write, 5.0);
}

// What each of DynamoDB's answers to a transactional commit comes to.
TEST(DynamoDbClient, TransactionalCommitMapsEachAnswer) {
  ScriptedStore s(/*transactions=*/true);
  RunRecord run;
  run.job = "j";
  run.run_id = "r1";
  auto canceled = [](const char* first_reason) {
    return Response(400, Json{{"__type", "com.amazonaws.dynamodb.v20120810#TransactionCanceledException"},
                              {"CancellationReasons", Json::array({Json{{"Code", first_reason}}, Json{{"Code", "None"}}})}}
                             .dump());
  };
  // The same request is sent with the same token on every retry.
  s.transport->script = {AwsError(500, "InternalServerError"), AwsError(400, "ThrottlingException"),
                         Response(200, "{}")};
  ASSERT_OK_AND_ASSIGN(auto applied, s.store->ReplaceStateAndAppendRun(Idle("j", 2), 1, run));
  EXPECT_EQ(applied, WriteOutcome::kApplied);
  ASSERT_EQ(s.transport->sent.size(), 3u);
  EXPECT_EQ(s.transport->sent[0].body, s.transport->sent[1].body);
  EXPECT_EQ(s.transport->sent[1].body, s.transport->sent[2].body);

  // The CAS failed and nothing of ours can have applied: a lost race.
  s.transport->script = {canceled("ConditionalCheckFailed")};
  ASSERT_OK_AND_ASSIGN(auto lost, s.store->ReplaceStateAndAppendRun(Idle("j", 2), 1, run));
  EXPECT_EQ(lost, WriteOutcome::kConditionFailed);
  // After a lost response: unknown, the controller re-reads.
  s.transport->script = {AwsError(500, "InternalServerError"), canceled("ConditionalCheckFailed")};
  auto unknown = s.store->ReplaceStateAndAppendRun(Idle("j", 2), 1, run);
  EXPECT_EQ(unknown.status().code(), StatusCode::kUnavailable);
  s.transport->script = {canceled("TransactionConflict")};
  EXPECT_EQ(s.store->ReplaceStateAndAppendRun(Idle("j", 2), 1, run).status().code(), StatusCode::kUnavailable);
  // Token refused: not applied now, but an earlier request with it may have been.
  for (const char* type : {"IdempotentParameterMismatchException", "TransactionInProgressException"}) {
    s.transport->script = {AwsError(400, type, "token")};
    auto refused = s.store->ReplaceStateAndAppendRun(Idle("j", 2), 1, run);
    EXPECT_EQ(refused.status().code(), StatusCode::kUnavailable) << type;
    EXPECT_NE(refused.status().message().find(type), std::string::npos) << refused.status().message();
    EXPECT_NE(refused.status().message().find("may have been applied"), std::string::npos) << refused.status().message();
  }
}

// A DynamoDB holding one job's state item that keeps TransactWriteItems'
// idempotency contract (DynamoDB API reference, TransactWriteItems,
// "ClientRequestToken"): a token already seen with another body is refused
// with IdempotentParameterMismatchException. The first `fail_transacts`
// TransactWriteItems requests get a 500 and are not applied. Enough of
// GetItem, BatchGetItem and UpdateItem (SET / REMOVE) for the controller.
class OneJobDynamo final : public HttpTransport {
 public:
  explicit OneJobDynamo(Clock& clock) : clock_(clock) {}

  // Every answer carries the store's time, as DynamoDB's do.
  HttpResult Send(const HttpRequest& request) override {
    HttpResult result = Answer(request);
    if (auto* response = std::get_if<HttpResponse>(&result)) response->headers.emplace_back("Date", HttpDate(clock_.NowMs()));
    return result;
  }

  HttpResult Answer(const HttpRequest& request) {
    std::string op;
    for (const auto& [k, v] : request.headers) {
      if (k == "X-Amz-Target") op = v.substr(v.find('.') + 1);
    }
    const Json body = Json::parse(request.body);
    if (op == "BatchGetItem") return Response(200, Json{{"Responses", {{"job_control", Json::array({state})}}}}.dump());
    if (op == "GetItem") {
      return Response(200, body["Key"]["SK"]["S"] == "STATE" ? Json{{"Item", state}}.dump() : "{}");
    }
    if (op == "UpdateItem") Apply(body);
    if (op != "TransactWriteItems") return Response(200, "{}");
    transacts.push_back(request.body);
    const std::string token = body.value("ClientRequestToken", "");
    auto [seen, fresh] = bodies_by_token.try_emplace(token, request.body);
    if (!fresh && seen->second != request.body) {
      return AwsError(400, "IdempotentParameterMismatchException",
                      "The request uses the same client token as a previous, but non-identical request.");
    }
    if (fail_transacts > 0) {
      --fail_transacts;
      return AwsError(500, "InternalServerError");
    }
    Apply(body["TransactItems"][0]["Update"]);
    return Response(200, "{}");
  }

  Json state;
  int fail_transacts = 0;
  std::vector<std::string> transacts;                   // every TransactWriteItems body, in order
  std::map<std::string, std::string> bodies_by_token;  // the first body sent with each token

 private:
  Clock& clock_;
  // "SET #n0 = :v0, #n1 = :v1 REMOVE #n2, #n3", as StateUpdate writes it.
  void Apply(const Json& update) {
    const Json& names = update["ExpressionAttributeNames"];
    const Json& values = update["ExpressionAttributeValues"];
    std::string expr = update["UpdateExpression"];
    std::string removes;
    if (size_t at = expr.find(" REMOVE "); at != std::string::npos) {
      removes = expr.substr(at + 8);
      expr.resize(at);
    }
    std::stringstream sets(expr.substr(4));
    for (std::string one; std::getline(sets, one, ',');) {
      std::stringstream parts(one);
      std::string name, eq, value;
      parts >> name >> eq >> value;
      state[names[name].get<std::string>()] = values[value];
    }
    std::stringstream gone(removes);
    for (std::string name; std::getline(gone >> std::ws, name, ',');) state.erase(names[name].get<std::string>());
  }
};

// A commit whose TransactWriteItems failed with 500s (outcome unknown) is
// re-read and re-decided by the controller at a later `now`: the new request
// differs, so it must not reuse the token of the one it replaces, or
// DynamoDB refuses it (IdempotentParameterMismatch) and the run is never
// committed. Every request that does share a token is byte-identical.
TEST(DynamoDbClient, ATransactionalCommitNeverReusesItsTokenForADifferentRequest) {
  ManualClock clock;
  auto owned = std::make_unique<OneJobDynamo>(clock);
  OneJobDynamo& dynamo = *owned;
  dynamo.state = SeedItem("j");
  dynamo.fail_transacts = 3;  // every attempt of the first commit call
  DynamoDbStoreOptions options;
  options.use_transactions = true;
  options.clock = &clock;
  options.client.sleep = [&clock](int64_t ms) { clock.Advance(ms + 1'500); };  // time passes between tries
  options.client.random = [] { return uint64_t{0}; };
  DynamoDbStore store(TestConfig(), std::move(owned), std::move(options));

  SeededRandom random(7);
  Controller controller(store, clock, random);
  RunRequest req;
  req.job = "j";
  req.holder = "test:1";
  ASSERT_OK_AND_ASSIGN(Acquisition acq, controller.Acquire(req));
  ASSERT_TRUE(acq.lease.has_value());
  clock.Advance(2'000);
  ASSERT_OK_AND_ASSIGN(Outcome out, controller.Commit(*acq.lease, WorkResult{}));
  EXPECT_EQ(out.kind, RunOutcomeKind::kSucceeded) << out.error;
  EXPECT_EQ(dynamo.state["success_count"], N(1));
  EXPECT_EQ(dynamo.state["status"], S("IDLE"));

  // Three identical attempts of the first call, then the re-decided request.
  ASSERT_GE(dynamo.transacts.size(), 4u);
  EXPECT_EQ(dynamo.transacts[0], dynamo.transacts[1]);
  EXPECT_EQ(dynamo.transacts[1], dynamo.transacts[2]);
  EXPECT_NE(dynamo.transacts[2], dynamo.transacts[3]);
  for (const std::string& sent : dynamo.transacts) {
    const std::string token = Json::parse(sent)["ClientRequestToken"];
    EXPECT_EQ(dynamo.bodies_by_token.at(token), sent) << "token " << token << " re-sent with another body";
  }
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
  EXPECT_EQ(due, (std::vector<DueJob>{{"a", 100}, {"b", 300}, {"c", 300}}));
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

// A lost condition asks for the item it lost to (ALL_OLD) and hands it to
// the writer; an answer without one (dynalite ignores the parameter)
// leaves the writer to re-read; every state write forgets the last.
TEST(DynamoDbClient, ALostConditionCarriesTheItemItLostTo) {
  ScriptedStore s;
  JobState theirs = Idle("j", 2);
  theirs.status = JobStatus::kRunning;
  theirs.owner = "run-of-another";
  Json item = SeedItem("j");
  item.update(StateAttributes(theirs, DueAt(theirs)));
  s.transport->script = {Response(400, Json{{"__type", "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException"},
                                            {"message", "The conditional request failed"},
                                            {"Item", item}}
                                           .dump())};
  ASSERT_OK_AND_ASSIGN(WriteOutcome lost, s.store->ReplaceState(Idle("j", 2), 1));
  EXPECT_EQ(lost, WriteOutcome::kConditionFailed);
  ASSERT_TRUE(s.store->ConflictingState().has_value());
  EXPECT_EQ(*s.store->ConflictingState(), theirs);
  EXPECT_EQ(Json::parse(s.transport->sent.at(0).body)["ReturnValuesOnConditionCheckFailure"], "ALL_OLD");

  s.transport->script = {AwsError(400, "ConditionalCheckFailedException", "The conditional request failed")};
  ASSERT_OK_AND_ASSIGN(WriteOutcome lost_again, s.store->CreateState(Idle("j", 1)));
  EXPECT_EQ(lost_again, WriteOutcome::kConditionFailed);
  EXPECT_FALSE(s.store->ConflictingState().has_value()) << "not in the answer: not known";
  EXPECT_EQ(Json::parse(s.transport->sent.at(1).body)["ReturnValuesOnConditionCheckFailure"], "ALL_OLD");
}

// A loser of the acquiring CAS that is told the item it lost to decides on
// it: 1 read + 1 write, no re-read; without it (dynalite), the re-read.
TEST(DynamoDbClient, ALoserSkipsOnTheItemItLostToWithoutReadingAgain) {
  for (bool item_in_answer : {true, false}) {
    ScriptedStore s;
    SeededRandom random(3);
    Controller controller(*s.store, s.clock, random);
    JobState idle = Idle("j", 1);
    JobState running = Idle("j", 2);
    running.status = JobStatus::kRunning;
    running.owner = "winner";
    running.fence = 1;
    running.lease_until = s.clock.NowMs() + 60'000;
    auto as_item = [](const JobState& st) {
      Json item = SeedItem("j");
      item.update(StateAttributes(st, DueAt(st)));
      return item;
    };
    Json lost = {{"__type", "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException"},
                 {"message", "The conditional request failed"}};
    if (item_in_answer) lost["Item"] = as_item(running);
    // Every answer carries the store's time, as DynamoDB's do (the
    // controller places the store's clock by it, or refuses to act).
    const HttpHeaders date = {{"Date", HttpDate(s.clock.NowMs())}};
    s.transport->script = {
        Response(200, Json{{"Responses", {{"job_control", Json::array({as_item(idle)})}}}}.dump(), date),
        Response(400, lost.dump(), date), Response(200, Json{{"Item", as_item(running)}}.dump(), date)};
    RunRequest req;
    req.job = "j";
    req.holder = "test:1";
    ASSERT_OK_AND_ASSIGN(Acquisition acq, controller.Acquire(req));
    EXPECT_FALSE(acq.lease.has_value());
    EXPECT_EQ(acq.outcome.reason, SkipReason::kRunning) << item_in_answer;
    EXPECT_EQ(acq.outcome.store_writes, 1);
    EXPECT_EQ(acq.outcome.store_reads, item_in_answer ? 1 : 2);
    EXPECT_EQ(s.transport->sent.size(), item_in_answer ? 2u : 3u);
  }
}

// Temporary credentials AWS refuses as expired before their time are
// fetched anew and the call tried once more at once; a second refusal is
// the caller's error. Long-term keys are not fetched again.
class TwoKeysSource final : public CredentialSource {
 public:
  explicit TwoKeysSource(EpochMs expires) : expires_(expires) {}
  Result<TimedCredentials> Fetch() override {
    ++fetches;
    return TimedCredentials{{fetches == 1 ? "ASIAFIRST" : "ASIASECOND", kSecret, kToken}, expires_};
  }
  std::string Describe() const override { return "two keys"; }
  int fetches = 0;

 private:
  EpochMs expires_;
};

TEST(DynamoDbClient, ExpiredTemporaryCredentialsAreFetchedAnewOnce) {
  ManualClock clock{1'700'000'000'000};
  auto source = std::make_unique<TwoKeysSource>(clock.NowMs() + 3'600'000);
  TwoKeysSource& keys = *source;
  AwsConfig config = TestConfig();
  config.credentials = std::make_shared<CredentialsProvider>(std::move(source), CredentialsProviderOptions{&clock});
  auto transport = std::make_unique<ScriptedTransport>();
  ScriptedTransport& sent = *transport;
  DynamoDbStoreOptions options;
  options.clock = &clock;
  options.client.sleep = [](int64_t) {};
  DynamoDbStore store(config, std::move(transport), std::move(options));
  const auto expired = [] {
    return AwsError(400, "ExpiredTokenException", "The security token included in the request is expired");
  };
  sent.script = {expired(), Response(200, "{}")};
  ASSERT_OK_AND_ASSIGN(auto state, store.ReadState("j"));
  EXPECT_FALSE(state.has_value());
  ASSERT_EQ(sent.sent.size(), 2u);
  EXPECT_EQ(keys.fetches, 2);
  auto credential = [&](size_t i) {
    for (const auto& [k, v] : sent.sent[i].headers) {
      if (k == "Authorization") return v.substr(0, v.find('/'));
    }
    return std::string();
  };
  EXPECT_EQ(credential(0), "AWS4-HMAC-SHA256 Credential=ASIAFIRST");
  EXPECT_EQ(credential(1), "AWS4-HMAC-SHA256 Credential=ASIASECOND");

  // Refused again right after: once per call, then the error.
  sent.script = {expired(), expired(), expired()};
  auto refused = store.ReadState("j");
  EXPECT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("ExpiredTokenException"), std::string::npos) << refused.status().message();
  EXPECT_EQ(sent.sent.size(), 4u);
  EXPECT_EQ(keys.fetches, 3);

  // Long-term keys: nothing to fetch, no second try.
  ScriptedStore fixed;
  fixed.transport->script = {expired()};
  EXPECT_FALSE(fixed.store->ReadState("j").ok());
  EXPECT_EQ(fixed.transport->sent.size(), 1u);
}

}  // namespace
}  // namespace jobgate
