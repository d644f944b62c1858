#include "store/dynamodb_client.h"

#include "core/log.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <random>
#include <thread>

#include <fmt/format.h>

#include "aws/sigv4.h"
#include "util/numbers.h"

namespace jobgate {

namespace {

using Json = nlohmann::json;

constexpr size_t kMaxMessageBytes = 300;

// The first line of `text`, at most kMaxMessageBytes.
std::string OneLine(std::string_view text) {
  text = text.substr(0, text.find_first_of("\r\n"));
  if (text.size() <= kMaxMessageBytes) return std::string(text);
  return std::string(text.substr(0, kMaxMessageBytes)) + "...";
}

bool Contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

template <size_t N>
bool OneOf(std::string_view type, const std::array<std::string_view, N>& names) {
  for (std::string_view n : names) {
    if (type == n) return true;
  }
  return false;
}

// Error codes the AWS SDKs retry as throttling (standard retry mode).
constexpr std::array<std::string_view, 6> kThrottlingTypes = {
    "ProvisionedThroughputExceededException", "ThrottlingException", "ThrottledException",
    "RequestLimitExceeded", "TooManyRequestsException", "Throttling"};
// Codes by which AWS says the request's credentials were not accepted.
constexpr std::array<std::string_view, 9> kCredentialTypes = {
    "UnrecognizedClientException", "InvalidSignatureException", "AccessDeniedException",
    "MissingAuthenticationTokenException", "ExpiredTokenException", "InvalidClientTokenId",
    "IncompleteSignatureException", "SignatureDoesNotMatch", "AuthFailure"};
// Codes the SDKs treat as clock skew.
constexpr std::array<std::string_view, 3> kClockSkewTypes = {"RequestTimeTooSkewed", "RequestExpired",
                                                             "RequestInTheFuture"};

DynamoDbErrorKind KindOf(int http_status, std::string_view type, std::string_view message) {
  if (type == "ConditionalCheckFailedException") return DynamoDbErrorKind::kConditionFailed;
  if (type == "TransactionCanceledException") return DynamoDbErrorKind::kTransactionCanceled;
  if (OneOf(type, kThrottlingTypes) || http_status == 429) return DynamoDbErrorKind::kThrottled;
  if (OneOf(type, kClockSkewTypes)) return DynamoDbErrorKind::kClockSkew;
  // "Signature expired: 20240101T000000Z is now earlier than ..." and
  // "Signature not yet current: ..." are the clock, not the key.
  if (type == "InvalidSignatureException" &&
      (Contains(message, "Signature expired") || Contains(message, "Signature not yet current"))) {
    return DynamoDbErrorKind::kClockSkew;
  }
  if (OneOf(type, kCredentialTypes)) return DynamoDbErrorKind::kCredentials;
  if (type == "ResourceNotFoundException") return DynamoDbErrorKind::kResourceNotFound;
  if (type == "ResourceInUseException") return DynamoDbErrorKind::kResourceInUse;
  if (type == "ValidationException") return DynamoDbErrorKind::kValidation;
  if (type == "UnknownOperationException") return DynamoDbErrorKind::kUnknownOperation;
  if (http_status >= 500) return DynamoDbErrorKind::kServerError;
  return DynamoDbErrorKind::kOther;
}

}  // namespace

int64_t RetryPolicy::DelayMs(int retry, uint64_t random) const {
  if (retry <= 0 || base_ms <= 0 || cap_ms <= 0) return 0;
  int64_t ceiling = base_ms;
  for (int i = 1; i < retry && ceiling < cap_ms; ++i) ceiling *= 2;
  ceiling = std::min(ceiling, cap_ms);
  return static_cast<int64_t>(random % static_cast<uint64_t>(ceiling + 1));
}

DynamoDbError ClassifyErrorResponse(int http_status, std::string_view body) {
  DynamoDbError e;
  e.http_status = http_status;
  const Json j = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_object()) {
    std::string type = j.value("__type", std::string());
    e.type = type.substr(type.find('#') == std::string::npos ? 0 : type.find('#') + 1);
    std::string message = j.value("message", std::string());
    if (message.empty()) message = j.value("Message", std::string());
    e.message = OneLine(message);
    if (const auto item = j.find("Item"); item != j.end() && item->is_object()) e.item = *item;
    if (const auto reasons = j.find("CancellationReasons"); reasons != j.end() && reasons->is_array()) {
      for (const Json& r : *reasons) {
        e.cancellation_codes.push_back(r.is_object() ? r.value("Code", std::string()) : std::string());
      }
    }
  } else {
    e.message = OneLine(body);  // a proxy's HTML page, an empty 503, ...
  }
  if (e.type.empty()) e.type = fmt::format("HTTP {}", http_status);
  e.kind = KindOf(http_status, e.type, e.message);
  // A 5xx may come after the write was applied (FACTS.md): the caller must
  // not trust a later ConditionalCheckFailed.
  e.maybe_applied = e.kind == DynamoDbErrorKind::kServerError;
  return e;
}

DynamoDbError ClassifyTransportError(const TransportError& error) {
  DynamoDbError e;
  e.kind = DynamoDbErrorKind::kTransport;
  e.type = TransportErrorKindName(error.kind);
  e.message = OneLine(error.message);
  e.maybe_applied = error.request_sent && error.kind != TransportErrorKind::kConnectFailed &&
                    error.kind != TransportErrorKind::kResolveFailed;
  return e;
}

std::optional<EpochMs> ParseHttpDateMs(std::string_view v) {
  // "Sun, 06 Nov 1994 08:49:37 GMT" (RFC 9110 IMF-fixdate), 29 bytes.
  static constexpr std::array<std::string_view, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                               "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  if (v.size() != 29 || v.substr(3, 2) != ", " || v.substr(25) != " GMT") return std::nullopt;
  int day = 0, year = 0, hour = 0, minute = 0, second = 0;
  if (!ParseFixedDigits(v, 5, 2, &day) || v[7] != ' ' || v[11] != ' ' || !ParseFixedDigits(v, 12, 4, &year) ||
      v[16] != ' ' || !ParseFixedDigits(v, 17, 2, &hour) || v[19] != ':' || !ParseFixedDigits(v, 20, 2, &minute) ||
      v[22] != ':' || !ParseFixedDigits(v, 23, 2, &second)) {
    return std::nullopt;
  }
  unsigned month = 0;
  for (unsigned i = 0; i < kMonths.size(); ++i) {
    if (v.substr(8, 3) == kMonths[i]) month = i + 1;
  }
  if (month == 0 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return std::nullopt;
  const int64_t days = DaysFromCivil(year, static_cast<int>(month), day);
  return ((days * 24 + hour) * 60 + minute) * 60'000 + int64_t{second} * 1000;
}

Status ErrorStatus(const DynamoDbError& e, std::string_view op, const AwsConfig& config) {
  const std::string rid = e.request_id.empty() ? "" : fmt::format(" (request id {})", e.request_id);
  const std::string tries = e.attempts > 1 ? fmt::format(" after {} attempts", e.attempts) : "";
  const std::string detail = e.message.empty() ? e.type : fmt::format("{}: {}", e.type, e.message);
  switch (e.kind) {
    case DynamoDbErrorKind::kTransport:
      return Status::Unavailable(fmt::format("DynamoDB endpoint {} unreachable{}: {}", config.endpoint_url, tries,
                                             detail));
    case DynamoDbErrorKind::kServerError:
      return Status::Unavailable(fmt::format("DynamoDB {} failed with HTTP {} ({}){}{}", op, e.http_status, detail,
                                             tries, rid));
    case DynamoDbErrorKind::kThrottled:
      return Status::Unavailable(fmt::format("DynamoDB throttled {}{} ({}){}", op, tries, detail, rid));
    case DynamoDbErrorKind::kCredentials:
      return Status::Unavailable(fmt::format("DynamoDB credentials rejected ({}); credentials from {}{}", detail,
                                             config.credentials_source, rid));
    case DynamoDbErrorKind::kClockSkew:
      return Status::Unavailable(fmt::format(
          "DynamoDB refused the request's signing time ({}): this host's clock is off; fix its time sync (NTP){}",
          detail, rid));
    case DynamoDbErrorKind::kResourceNotFound:
      return Status::Unavailable(fmt::format("DynamoDB {} at {} (region {}): {}{}", op, config.endpoint_url,
                                             config.region, detail, rid));
    case DynamoDbErrorKind::kValidation:
      return Status::InvalidArgument(fmt::format("DynamoDB rejected {} as invalid ({}){}", op, detail, rid));
    case DynamoDbErrorKind::kUnknownOperation:
      return Status::Unavailable(fmt::format("the endpoint {} does not support DynamoDB {} ({})",
                                             config.endpoint_url, op, e.type));
    case DynamoDbErrorKind::kLocal: return Status::InvalidArgument(fmt::format("DynamoDB {}: {}", op, e.message));
    case DynamoDbErrorKind::kNoCredentials:
      return Status::Unavailable(fmt::format("DynamoDB {}: no AWS credentials: {}", op, e.message));
    case DynamoDbErrorKind::kConditionFailed:
      return Status::Internal(fmt::format("DynamoDB {}: unexpected ConditionalCheckFailedException", op));
    case DynamoDbErrorKind::kTransactionCanceled:
    case DynamoDbErrorKind::kResourceInUse:
    case DynamoDbErrorKind::kBadResponse:
    case DynamoDbErrorKind::kOther: break;
  }
  return Status::Unavailable(fmt::format("DynamoDB {} failed (HTTP {}, {}){}", op, e.http_status, detail, rid));
}

// ---- client ------------------------------------------------------------------

std::vector<std::unique_ptr<HttpTransport>> OneLane(std::unique_ptr<HttpTransport> transport) {
  std::vector<std::unique_ptr<HttpTransport>> transports;
  transports.push_back(std::move(transport));
  return transports;
}

DynamoDbClient::DynamoDbClient(AwsConfig config, std::unique_ptr<HttpTransport> transport, Clock& clock,
                               DynamoDbClientOptions options)
    : DynamoDbClient(std::move(config), OneLane(std::move(transport)), clock, std::move(options)) {}

DynamoDbClient::DynamoDbClient(AwsConfig config, std::vector<std::unique_ptr<HttpTransport>> transports, Clock& clock,
                               DynamoDbClientOptions options)
    : config_(std::move(config)), clock_(clock), options_(std::move(options)) {
  for (auto& transport : transports) {
    lanes_.push_back(std::make_unique<Lane>());
    lanes_.back()->transport = std::move(transport);
  }
  // aws_config.h guarantees "http[s]://host[...]" without a trailing '/'.
  const size_t scheme_end = config_.endpoint_url.find("://");
  const size_t authority = scheme_end == std::string::npos ? 0 : scheme_end + 3;
  const size_t slash = config_.endpoint_url.find('/', authority);
  host_ = config_.endpoint_url.substr(authority, slash == std::string::npos ? std::string::npos : slash - authority);
  path_ = slash == std::string::npos ? "/" : config_.endpoint_url.substr(slash);
  url_ = slash == std::string::npos ? config_.endpoint_url + "/" : config_.endpoint_url;
  if (!options_.sleep) {
    options_.sleep = [](int64_t ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); };
  }
  if (!options_.random) {
    auto gen = std::make_shared<std::mt19937_64>(std::random_device{}());
    options_.random = [gen] { return (*gen)(); };
  }
}

DynamoDbClient::~DynamoDbClient() {
  std::lock_guard lock(opener_mu_);
  opener_.Join();
}

JoinedThread DynamoDbClient::StartThread(std::function<void()> fn) {
  std::thread thread;
  Status started = jobgate::StartThread(options_.start_thread, thread, std::move(fn), "a DynamoDB client thread");
  if (!started.ok()) Log(logger(), LogLevel::kDebug, "{}: the work is done in line", started.message());
  return JoinedThread(std::move(thread));
}

// The first idle lane, waiting for one when all are taken.
DynamoDbClient::Lane* DynamoDbClient::TakeLane() {
  std::unique_lock lock(lanes_mu_);
  Lane* idle = nullptr;
  lane_given_back_.wait(lock, [&] {
    for (auto& lane : lanes_) {
      if (!lane->busy) {
        idle = lane.get();
        return true;
      }
    }
    return false;
  });
  idle->busy = true;
  idle->used = true;
  return idle;
}

DynamoDbClient::TakenLane::~TakenLane() {
  {
    std::lock_guard lock(client_.lanes_mu_);
    lane_->busy = false;
  }
  client_.lane_given_back_.notify_all();
}

void DynamoDbClient::OpenSpareLanes() {
  std::lock_guard opener_lock(opener_mu_);
  opener_.Join();
  std::vector<Lane*> cold;
  {
    std::lock_guard lock(lanes_mu_);
    for (auto& lane : lanes_) {
      if (lane->busy || lane->used) continue;
      lane->busy = lane->used = true;
      cold.push_back(lane.get());
    }
  }
  if (cold.empty()) return;
  opener_ = StartThread([this, cold] { OpenLanes(cold); });
  if (opener_.started()) return;
  {
    std::lock_guard lock(lanes_mu_);
    for (Lane* lane : cold) lane->busy = lane->used = false;
  }
  lane_given_back_.notify_all();
}

void DynamoDbClient::OpenLanes(const std::vector<Lane*>& lanes) {
  for (Lane* lane : lanes) {
    TakenLane taken(*this, lane);
    HttpRequest request;
    request.url = url_;
    request.method = "GET";
    request.headers = {{"Host", host_}};
    // Whatever the answer (DynamoDB: 200 "healthy: ..."), the connection
    // stays open for the next call; a failure is the next call's to report.
    (void)taken.transport().Send(request);
  }
}

HttpRequest DynamoDbClient::BuildRequest(std::string_view op, const std::string& body, EpochMs now_ms,
                                         const AwsCredentials& credentials, Status* error) const {
  SigningRequest signing;
  signing.method = "POST";
  signing.path = path_;
  signing.headers = {{"Host", host_},
                     {"Content-Type", "application/x-amz-json-1.0"},
                     {"X-Amz-Target", fmt::format("DynamoDB_20120810.{}", op)}};
  signing.body = body;
  Result<HttpRequest> request = SignedRequest(url_, std::move(signing), credentials, config_.region, "dynamodb", now_ms);
  if (!request.ok()) {
    *error = request.status();
    return {};
  }
  return std::move(*request);
}

void DynamoDbClient::ObserveDate(const HttpResponse& response, int64_t sent_mono, int64_t received_mono) {
  auto date = response.Header("Date");
  if (!date) return;
  auto server_ms = ParseHttpDateMs(*date);
  if (!server_ms) return;
  std::lock_guard lock(state_mu_);
  clock_estimator_.AddSample(sent_mono, received_mono, *server_ms, 1000);  // the header has whole seconds
}

DynamoDbReply DynamoDbClient::Attempt(HttpTransport& transport, std::string_view op, const std::string& body) {
  DynamoDbReply reply;
  const EpochMs sent_ms = clock_.NowMs();
  const int64_t sent_mono = clock_.MonotonicMs();
  Result<AwsCredentials> credentials =
      config_.credentials ? config_.credentials->Get() : Status::Unavailable("no credentials provider configured");
  if (!credentials.ok()) {
    DynamoDbError e;
    e.kind = DynamoDbErrorKind::kNoCredentials;
    e.type = "NoCredentials";
    e.message = credentials.status().message();  // credentials_provider.h: never a secret
    reply.error = e;
    return reply;
  }
  reply.signed_with = credentials->access_key_id;
  Status build_error;
  HttpRequest request = BuildRequest(op, body, sent_ms, *credentials, &build_error);
  if (!build_error.ok()) {
    DynamoDbError e;
    e.kind = DynamoDbErrorKind::kLocal;
    e.type = "SigningError";
    e.message = build_error.message();  // sigv4.h: never a secret
    reply.error = e;
    return reply;
  }
  {
    std::lock_guard lock(state_mu_);
    ++request_counts_[std::string(op)];
  }
  HttpResult result = transport.Send(request);
  const int64_t received_mono = clock_.MonotonicMs();
  if (auto* te = std::get_if<TransportError>(&result)) {
    reply.error = ClassifyTransportError(*te);
    return reply;
  }
  const HttpResponse& response = std::get<HttpResponse>(result);
  ObserveDate(response, sent_mono, received_mono);
  if (response.status == 200) {
    reply.body = Json::parse(response.body, nullptr, /*allow_exceptions=*/false);
    if (!reply.body.is_discarded() && reply.body.is_object()) return reply;
    DynamoDbError e;
    e.kind = DynamoDbErrorKind::kBadResponse;
    e.type = "BadResponse";
    e.message = fmt::format("HTTP 200 with a body that is not a JSON object ({} bytes)", response.body.size());
    e.http_status = 200;
    e.maybe_applied = true;
    reply.error = e;
    return reply;
  }
  reply.error = ClassifyErrorResponse(response.status, response.body);
  reply.error->request_id = response.Header("x-amzn-RequestId").value_or("");
  // An InvalidSignatureException can quote the canonical request, session
  // token included: no message leaves with the credentials it was signed with.
  ScrubSecret(reply.error->message, credentials->secret_access_key);
  ScrubSecret(reply.error->message, credentials->session_token);
  return reply;
}

namespace {

// The operations that take ReturnConsumedCapacity, and whether they read.
std::optional<bool> CapacityOp(std::string_view op) {
  static constexpr std::string_view kReads[] = {"GetItem", "BatchGetItem", "Query", "Scan"};
  static constexpr std::string_view kWrites[] = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem",
                                                 "TransactWriteItems"};
  if (std::find(std::begin(kReads), std::end(kReads), op) != std::end(kReads)) return true;
  if (std::find(std::begin(kWrites), std::end(kWrites), op) != std::end(kWrites)) return false;
  return std::nullopt;
}

std::string RequestBody(std::string_view op, const nlohmann::json& request) {
  // Strings we store are UTF-8 clean by contract; a stray invalid byte is
  // replaced (DynamoDB would refuse it) instead of throwing.
  if (!CapacityOp(op) || request.contains("ReturnConsumedCapacity")) {
    return request.dump(-1, ' ', false, Json::error_handler_t::replace);
  }
  Json with_capacity = request;
  with_capacity["ReturnConsumedCapacity"] = "TOTAL";
  return with_capacity.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace

// ConsumedCapacity is one object, or one per table (batches, transactions).
void DynamoDbClient::AddCapacity(std::string_view op, const nlohmann::json& body) {
  const std::optional<bool> is_read = CapacityOp(op);
  auto it = body.find("ConsumedCapacity");
  if (!is_read || it == body.end()) return;
  Capacity add;
  for (const Json& c : it->is_array() ? *it : Json::array({*it})) {
    if (!c.is_object()) continue;
    auto units = [&](const char* key) { return c.contains(key) && c[key].is_number() ? c[key].get<double>() : 0.0; };
    const double read = units("ReadCapacityUnits"), write = units("WriteCapacityUnits");
    if (read > 0 || write > 0) {
      add.read += read;
      add.write += write;
    } else {
      (*is_read ? add.read : add.write) += units("CapacityUnits");
    }
  }
  std::lock_guard lock(state_mu_);
  capacity_.read += add.read;
  capacity_.write += add.write;
}

DynamoDbClient::Capacity DynamoDbClient::ConsumedCapacity() const {
  std::lock_guard lock(state_mu_);
  return capacity_;
}

DynamoDbReply DynamoDbClient::Call(std::string_view op, const nlohmann::json& request) {
  TakenLane lane(*this, TakeLane());
  const std::string body = RequestBody(op, request);
  bool maybe_applied = false;
  bool fetched_anew = false;
  for (int attempt = 1;; ++attempt) {
    DynamoDbReply reply = Attempt(lane.transport(), op, body);
    if (reply.ok()) {
      AddCapacity(op, reply.body);
      return reply;
    }
    DynamoDbError& e = *reply.error;
    e.attempts = attempt;
    maybe_applied = maybe_applied || e.maybe_applied;
    // Temporary credentials AWS says have expired before their time: fetch
    // others and try once more at once (nothing was applied).
    if (e.type == "ExpiredTokenException" && !fetched_anew && config_.credentials &&
        config_.credentials->Reject(reply.signed_with)) {
      fetched_anew = true;
      Log(logger(), LogLevel::kInfo,
          "dynamodb {}: AWS says the credentials from {} have expired; fetching new ones", op,
          config_.credentials->description());
      continue;
    }
    if (!e.retryable() || attempt >= options_.retry.max_attempts) {
      e.maybe_applied = maybe_applied;  // any attempt of this call, not only the last
      return reply;
    }
    const int64_t delay_ms = options_.retry.DelayMs(attempt, NextRandom());
    Log(logger(), LogLevel::kDebug,
        "dynamodb {}: attempt {} failed ({}: {}); retrying in {} ms", op, attempt, e.type, e.message, delay_ms);
    options_.sleep(delay_ms);
  }
}

uint64_t DynamoDbClient::NextRandom() {
  std::lock_guard lock(state_mu_);  // the default generator is not thread-safe
  return options_.random();
}

void DynamoDbClient::BackoffBeforeRetry(int retry) { options_.sleep(options_.retry.DelayMs(retry, NextRandom())); }

void DynamoDbClient::Sleep(int64_t ms) { options_.sleep(ms); }

std::optional<ClockEstimate> DynamoDbClient::ObservedClock() const {
  std::lock_guard lock(state_mu_);
  return clock_estimator_.Estimate(clock_.NowMs(), clock_.MonotonicMs());
}

std::map<std::string, int64_t> DynamoDbClient::RequestCounts() const {
  std::lock_guard lock(state_mu_);
  return {request_counts_.begin(), request_counts_.end()};
}

int64_t DynamoDbClient::RequestCount(std::string_view op) const {
  std::lock_guard lock(state_mu_);
  auto it = request_counts_.find(op);
  return it == request_counts_.end() ? 0 : it->second;
}

void DynamoDbClient::ResetRequestCounts() {
  std::lock_guard lock(state_mu_);
  request_counts_.clear();
  capacity_ = {};
}

}  // namespace jobgate
