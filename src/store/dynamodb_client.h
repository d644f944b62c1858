// The DynamoDB JSON 1.0 protocol ("X-Amz-Target: DynamoDB_20120810.<Op>",
// "Content-Type: application/x-amz-json-1.0"), SigV4-signed (sigv4.h),
// with the AWS SDKs' "standard" retry mode and the error mapping the store
// needs. Knows nothing about jobgate's items: dynamodb_store.cc builds the
// requests.
//
// Retries (AWS SDKs and Tools Reference Guide, "Retry behavior", standard
// mode): at most 3 attempts in all; throttling errors, HTTP 5xx and
// transport errors are retried after a full-jitter exponential backoff,
// uniform in [0, min(cap, base * 2^(retry-1))]. The guide's base is 1 s
// (the Java SDK v2 uses 100 ms); we use 100 ms by default because a CLI
// gate that waits seconds on a dead endpoint is worse than one that fails
// closed quickly, and the cap (20 s) never binds with 3 attempts. The
// retry quota (token bucket) of standard mode is not implemented: an
// invocation is short-lived and makes a handful of calls.
// ConditionalCheckFailedException is never retried.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "aws/aws_config.h"
#include "aws/http_client.h"
#include "jobgate/clock.h"
#include "jobgate/logger.h"
#include "jobgate/status.h"
#include "sys/thread.h"

namespace jobgate {

// How failed calls are retried.
struct RetryPolicy {
  int max_attempts = 3;      // attempts in all, the first included
  int64_t base_ms = 100;
  int64_t cap_ms = 20'000;

  // The delay before retry number `retry` (1 for the first retry), given a
  // uniformly random 64-bit value: full jitter, uniform in
  // [0, min(cap, base * 2^(retry-1))].
  int64_t DelayMs(int retry, uint64_t random) const;
};

enum class DynamoDbErrorKind {
  kConditionFailed,      // ConditionalCheckFailedException: an outcome, not an error
  kTransactionCanceled,  // TransactionCanceledException: see `cancellation_codes`
  kThrottled,            // ProvisionedThroughputExceeded, Throttling, RequestLimitExceeded, HTTP 429
  kServerError,          // HTTP 5xx
  kTransport,            // no HTTP response (TransportError)
  kCredentials,          // signature / key / token / permission rejected
  kClockSkew,            // InvalidSignatureException for an expired / future signature
  kResourceNotFound,     // the table (or index) does not exist
  kResourceInUse,        // CreateTable of a table that exists or is being created
  kValidation,           // ValidationException: a request DynamoDB refuses as malformed
  kUnknownOperation,     // the endpoint lacks the operation (dynalite: TTL, transactions)
  kBadResponse,          // a 200 whose body is not JSON
  kLocal,                // the request could not be built or signed (bad region, ...)
  kNoCredentials,        // the credentials provider had none to give (its message says why)
  kOther,                // any other 4xx
};

// One failed call, after classification. `message` is cut to one line;
// DynamoDbClient::Call also scrubs the attempt's credentials out of it, so a message
// it returns never holds a secret (an InvalidSignatureException can quote
// the canonical request, session token included).
struct DynamoDbError {
  DynamoDbErrorKind kind = DynamoDbErrorKind::kOther;
  std::string type;        // short exception name, "ValidationException"; transport: the kind's name
  std::string message;
  int http_status = 0;     // 0 for transport errors
  std::string request_id;  // x-amzn-RequestId, when there was a response
  int attempts = 1;        // how many attempts the call made
  std::vector<std::string> cancellation_codes;  // per TransactItem, for kTransactionCanceled
  // For a ConditionalCheckFailed of a request that asked for it
  // (ReturnValuesOnConditionCheckFailure = ALL_OLD): the item that failed
  // the condition, as DynamoDB answered; null when the answer had none (no
  // item, or an endpoint that ignores the parameter, like dynalite).
  nlohmann::json item;
  // True when an attempt of this call may have been applied although its
  // response was lost (5xx, timeout or reset after sending). On a
  // ConditionalCheckFailed this means the condition may have failed because
  // of our own earlier attempt: the outcome is unknown, not a lost race.
  bool maybe_applied = false;

  bool retryable() const {
    return kind == DynamoDbErrorKind::kThrottled || kind == DynamoDbErrorKind::kServerError ||
           kind == DynamoDbErrorKind::kTransport;
  }
};

// Classifies a non-200 response from its status and JSON error body
// ({"__type": "com.amazonaws.dynamodb.v20120810#Name", "message": ...}).
DynamoDbError ClassifyErrorResponse(int http_status, std::string_view body);
DynamoDbError ClassifyTransportError(const TransportError& error);

// Parses an HTTP Date header (IMF-fixdate, "Sun, 06 Nov 1994 08:49:37 GMT")
// into epoch milliseconds; nullopt when it is not one.
std::optional<EpochMs> ParseHttpDateMs(std::string_view value);

// The DynamoDB status a failed call turns into (kConditionFailed excepted,
// which callers handle as an outcome):
//  - kUnavailable (CLI exit 69, fail closed) for an unreachable endpoint, 5xx,
//    throttling and rejected credentials, each saying which;
//  - kInvalidArgument for ValidationException (a malformed request, an item
//    too large, a table whose key schema is not PK/SK strings);
//  - kUnavailable naming the table for ResourceNotFoundException (the store
//    rewrites it to tell the user to run `jobgate init`).
Status ErrorStatus(const DynamoDbError& error, std::string_view op, const AwsConfig& config);

struct DynamoDbClientOptions {
  RetryPolicy retry;
  // Both default to the real thing; tests inject them so retries do not wait.
  std::function<void(int64_t ms)> sleep;
  std::function<uint64_t()> random;
  // Starts the client's threads (StartThread); empty: std::thread's. Tests
  // inject FailingThreadStarter(), a process at its thread limit.
  ThreadStarter start_thread;
  Logger* logger = nullptr;  // retries are logged at debug; nullptr: DefaultLogger()
};

// What one call (after its retries) came to.
struct DynamoDbReply {
  nlohmann::json body;                 // the response, when `error` is empty
  std::optional<DynamoDbError> error;  // the last attempt's error
  std::string signed_with;             // the access key id the last attempt was signed with (not a secret)

  bool ok() const { return !error.has_value(); }
  bool condition_failed() const { return error && error->kind == DynamoDbErrorKind::kConditionFailed; }
};

// One transport as the only lane of a client.
std::vector<std::unique_ptr<HttpTransport>> OneLane(std::unique_ptr<HttpTransport> transport);

// A signed, retrying DynamoDB caller. Thread-safe: each transport given
// is one "lane" (one connection) carrying one exchange at a time, so up to
// that many calls are in flight at once; the clock offset and counters may
// be read any time. Each attempt asks the config's CredentialsProvider for
// credentials, so temporary ones are refreshed as they near expiry,
// mid-process.
class DynamoDbClient {
 public:
  DynamoDbClient(AwsConfig config, std::unique_ptr<HttpTransport> transport, Clock& clock,
                 DynamoDbClientOptions options = {});
  // `transports` (at least one): a call takes the first idle lane, in this
  // order, or waits for the first one to become idle.
  DynamoDbClient(AwsConfig config, std::vector<std::unique_ptr<HttpTransport>> transports, Clock& clock,
                 DynamoDbClientOptions options = {});
  ~DynamoDbClient();
  DynamoDbClient(const DynamoDbClient&) = delete;
  DynamoDbClient& operator=(const DynamoDbClient&) = delete;

  // Opens the connection of every lane that has not carried a request yet,
  // on a thread of its own, with one unsigned `GET /` each (DynamoDB answers
  // it without an operation: no capacity, no credentials), so that a later
  // concurrent call does not pay a TCP and TLS handshake. Returns at once;
  // a lane being opened counts as busy. No-op with one lane.
  // When no thread can be started, the lanes stay unopened and a later call
  // opens its lane itself.
  void OpenSpareLanes();
  size_t lane_count() const { return lanes_.size(); }

  // Starts `fn` on a thread joined when the result goes out of scope; an
  // empty one (logged at debug) when none can be started (a thread limit):
  // the caller then does the work on its own thread. Never throws.
  JoinedThread StartThread(std::function<void()> fn);

  // Sends operation `op` ("GetItem", ...) with `request` as its body,
  // retrying per the policy. Never throws.
  DynamoDbReply Call(std::string_view op, const nlohmann::json& request);

  // This host's clock against DynamoDB's, from the Date headers of the
  // responses so far (ClockEstimator); nullopt before the first.
  std::optional<ClockEstimate> ObservedClock() const;

  // The capacity units DynamoDB said the calls so far consumed: every
  // data-plane call asks for them (ReturnConsumedCapacity = TOTAL). Only
  // answered calls report any; a failed conditional write consumes write
  // units that its error does not report. Endpoints that report none
  // (or tests) leave both at 0.
  struct Capacity {
    double read = 0;
    double write = 0;
  };
  Capacity ConsumedCapacity() const;

  // HTTP requests sent per operation name, retries included.
  std::map<std::string, int64_t> RequestCounts() const;
  int64_t RequestCount(std::string_view op) const;
  void ResetRequestCounts();

  const AwsConfig& config() const { return config_; }
  const RetryPolicy& retry_policy() const { return options_.retry; }

  // Waits before retry number `retry` of something the caller retries itself
  // (BatchGetItem's UnprocessedKeys, BatchWriteItem's UnprocessedItems).
  void BackoffBeforeRetry(int retry);
  // Waits `ms` through the injected sleep (Init's polling).
  void Sleep(int64_t ms);

 private:
  HttpRequest BuildRequest(std::string_view op, const std::string& body, EpochMs now_ms,
                           const AwsCredentials& credentials, Status* error) const;
  struct Lane {
    std::unique_ptr<HttpTransport> transport;  // one exchange at a time: used by whoever took the lane
    bool busy = false;                         // taken (guarded by lanes_mu_)
    bool used = false;                         // has carried a request (guarded by lanes_mu_)
  };
  // A lane taken for one exchange, given back when it goes out of scope.
  class TakenLane {
   public:
    TakenLane(DynamoDbClient& client, Lane* lane) : client_(client), lane_(lane) {}
    ~TakenLane();
    TakenLane(const TakenLane&) = delete;
    TakenLane& operator=(const TakenLane&) = delete;
    HttpTransport& transport() { return *lane_->transport; }

   private:
    DynamoDbClient& client_;
    Lane* lane_;
  };
  Lane* TakeLane();
  void OpenLanes(const std::vector<Lane*>& lanes);
  DynamoDbReply Attempt(HttpTransport& transport, std::string_view op, const std::string& body);
  void ObserveDate(const HttpResponse& response, int64_t sent_mono, int64_t received_mono);
  void AddCapacity(std::string_view op, const nlohmann::json& body);
  uint64_t NextRandom();
  Logger& logger() const { return options_.logger != nullptr ? *options_.logger : DefaultLogger(); }

  const AwsConfig config_;
  std::string url_;    // endpoint + "/"
  std::string host_;   // authority of the endpoint, as sent in Host
  std::string path_;   // request path of the endpoint, "/" unless it has one
  std::vector<std::unique_ptr<Lane>> lanes_;
  Clock& clock_;
  DynamoDbClientOptions options_;

  std::mutex lanes_mu_;
  std::condition_variable lane_given_back_;
  std::mutex opener_mu_;
  JoinedThread opener_;  // OpenSpareLanes' thread, joined by the next call of it and the destructor
  mutable std::mutex state_mu_;
  ClockEstimator clock_estimator_;
  std::map<std::string, int64_t, std::less<>> request_counts_;
  Capacity capacity_;
};

}  // namespace jobgate
