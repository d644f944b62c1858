#include "store/dynamodb_store.h"

#include "core/log.h"

#include <algorithm>
#include <array>
#include <limits>
#include <span>

#include <fmt/format.h>

#include "aws/crypto_api.h"
#include "aws/sigv4.h"
#include "store/item_codec.h"
#include "util/numbers.h"

namespace jobgate {

using namespace dynamodb_item;  // NOLINT: the encoding of the items this store writes

namespace {

constexpr size_t kBatchWriteMax = 25;  // BatchWriteItem's limit per call
constexpr size_t kQueryPageMax = 1000;

Status BadUrl(const std::string& url, std::string_view why) {
  return Status::InvalidArgument(fmt::format("store URL '{}': {}", url, why));
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<std::string> PercentDecode(std::string_view in) {
  std::string out;
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out += in[i];
      continue;
    }
    if (i + 2 >= in.size()) return std::nullopt;
    const int hi = HexValue(in[i + 1]), lo = HexValue(in[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

Status IntOption(const std::string& url, std::string_view key, const std::string& value, int64_t lo, int64_t hi,
                 int64_t* out) {
  int64_t v = 0;
  if (!ParseInt64(value, &v) || v < lo || v > hi) {
    return BadUrl(url, fmt::format("{} must be an integer from {} to {}, got '{}'", key, lo, hi, value));
  }
  *out = v;
  return Status::Ok();
}

Status ApplyUrlOption(const std::string& url, std::string_view key, const std::string& value, DynamoDbUrl* out) {
  int64_t n = 0;
  if (key == "region") {
    out->region = value;
  } else if (key == "endpoint") {
    out->endpoint = value;
  } else if (key == "max_attempts") {
    JOBGATE_RETURN_IF_ERROR(IntOption(url, key, value, 1, 10, &n));
    out->max_attempts = static_cast<int>(n);
  } else if (key == "retry_base_ms") {
    JOBGATE_RETURN_IF_ERROR(IntOption(url, key, value, 0, 60'000, &out->retry_base_ms));
  } else if (key == "connect_timeout_ms") {
    JOBGATE_RETURN_IF_ERROR(IntOption(url, key, value, 1, 600'000, &out->connect_timeout_ms));
  } else if (key == "timeout_ms") {
    JOBGATE_RETURN_IF_ERROR(IntOption(url, key, value, 1, 600'000, &out->timeout_ms));
  } else if (key == "run_ttl_days") {
    JOBGATE_RETURN_IF_ERROR(IntOption(url, key, value, 0, 36'500, &out->run_ttl_days));
  } else if (key == "transactions") {
    if (value != "true" && value != "false") return BadUrl(url, fmt::format("transactions must be true or false, got '{}'", value));
    out->transactions = value == "true";
  } else {
    return BadUrl(url, fmt::format("unknown option '{}' (known: region, endpoint, max_attempts, retry_base_ms, "
                                   "connect_timeout_ms, timeout_ms, transactions, run_ttl_days)",
                                   key));
  }
  return Status::Ok();
}

bool IsTableName(std::string_view t) {
  // CreateTable's constraint: 3 to 255 of [a-zA-Z0-9_.-].
  return t.size() >= 3 && t.size() <= 255 && std::all_of(t.begin(), t.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
                  c == '-';
         });
}

}  // namespace

// ---- URL -------------------------------------------------------------------------

Result<DynamoDbUrl> ParseDynamoDbUrl(const std::string& url) {
  constexpr std::string_view kPrefix = "dynamodb://";
  if (!url.starts_with(kPrefix)) return BadUrl(url, "a DynamoDB store URL starts with dynamodb://");
  std::string_view rest = std::string_view(url).substr(kPrefix.size());
  const size_t q = rest.find('?');
  DynamoDbUrl out;
  if (q != 0 && !rest.empty()) out.table = std::string(rest.substr(0, q));
  if (!IsTableName(out.table)) {
    return BadUrl(url, fmt::format("table name '{}' must be 3 to 255 letters, digits, '_', '.' or '-'", out.table));
  }
  std::string_view query = q == std::string_view::npos ? std::string_view() : rest.substr(q + 1);
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view param = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (param.empty()) continue;
    const size_t eq = param.find('=');
    if (eq == std::string_view::npos) return BadUrl(url, fmt::format("option '{}' needs a value (key=value)", param));
    auto value = PercentDecode(param.substr(eq + 1));
    if (!value) return BadUrl(url, fmt::format("option '{}' has a malformed %-escape", param.substr(0, eq)));
    JOBGATE_RETURN_IF_ERROR(ApplyUrlOption(url, param.substr(0, eq), *value, &out));
  }
  return out;
}

// ---- store plumbing -------------------------------------------------------------------


Result<std::unique_ptr<DynamoDbStore>> DynamoDbStore::Open(const std::string& url, const StoreOptions& store_options) {
  auto parsed = ParseDynamoDbUrl(url);
  if (!parsed.ok()) return parsed.status();
  const Environment env = store_options.environment ? *store_options.environment : ProcessEnvironment();
  // The credentials provider refreshes on the store's clock and logs a
  // failed refresh to the store's logger.
  auto config = ResolveAwsConfig(env, AwsConfigOverrides{parsed->region, parsed->endpoint},
                                 AwsResolveOptions{{}, store_options.clock, store_options.logger});
  if (!config.ok()) return config.status();
  // libcurl and libcrypto are loaded here, not at start-up (curl_api.h,
  // crypto_api.h): a missing one fails the open, before any request.
  if (auto crypto = LoadCryptoApi(); !crypto.ok()) return crypto.status();
  // Two connections: a commit and its run record go out at once
  // (DoReplaceStateAndAppendRun), and a heartbeat need not wait for a call.
  std::vector<std::unique_ptr<HttpTransport>> lanes;
  for (int i = 0; i < 2; ++i) {
    auto http = CurlHttpClient::Create(HttpClientOptions{parsed->connect_timeout_ms, parsed->timeout_ms, ""});
    if (!http.ok()) return http.status();
    lanes.push_back(std::move(http.value()));
  }
  DynamoDbStoreOptions options;
  options.table = parsed->table;
  options.use_transactions = parsed->transactions;
  options.run_ttl_s = parsed->run_ttl_days * 24 * 3600;
  options.client.retry.max_attempts = parsed->max_attempts;
  options.client.retry.base_ms = parsed->retry_base_ms;
  options.client.logger = store_options.logger;
  options.clock = store_options.clock;
  options.logger = store_options.logger;
  options.url = url;
  return std::make_unique<DynamoDbStore>(std::move(config.value()), std::move(lanes), std::move(options));
}

DynamoDbStore::DynamoDbStore(AwsConfig config, std::unique_ptr<HttpTransport> transport, DynamoDbStoreOptions options)
    : DynamoDbStore(std::move(config), OneLane(std::move(transport)), std::move(options)) {}

DynamoDbStore::DynamoDbStore(AwsConfig config, std::vector<std::unique_ptr<HttpTransport>> transports,
                             DynamoDbStoreOptions options)
    : owned_clock_(options.clock != nullptr ? nullptr : std::make_unique<SystemClock>()),
      logger_(options.logger != nullptr ? *options.logger : DefaultLogger()),
      options_(std::move(options)),
      client_(std::move(config), std::move(transports), options_.clock != nullptr ? *options_.clock : *owned_clock_,
              options_.client) {}

DynamoDbStore::~DynamoDbStore() {
  // The per-invocation cost, for people comparing runs: --log-level debug.
  if (logger_.Enabled(LogLevel::kDebug)) {
    std::vector<std::string> counts;
    for (const auto& [op, n] : client_.RequestCounts()) counts.push_back(fmt::format("{}={}", op, n));
    const DynamoDbClient::Capacity used = client_.ConsumedCapacity();
    Log(logger_, LogLevel::kDebug, "dynamodb requests: {}; capacity units consumed: read {:g}, write {:g}",
        counts.empty() ? "none" : fmt::format("{}", fmt::join(counts, " ")), used.read, used.write);
  }
}

Status DynamoDbStore::Error(std::string_view op, const DynamoDbError& e) const {
  if (e.kind == DynamoDbErrorKind::kResourceNotFound) {
    const std::string url = options_.url.empty() ? fmt::format("dynamodb://{}", options_.table) : options_.url;
    return Status::Unavailable(fmt::format(
        "DynamoDB table '{}' not found at {} (region {}): create it with `jobgate --store '{}' init` ({} said: {})",
        options_.table, client_.config().endpoint_url, client_.config().region, url, op, e.message));
  }
  return ErrorStatus(e, op, client_.config());
}

Result<Json> DynamoDbStore::Call(std::string_view op, const Json& request) {
  DynamoDbReply reply = client_.Call(op, request);
  if (!reply.ok()) return Error(op, *reply.error);
  return std::move(reply.body);
}

namespace {

Status UnknownOutcome(std::string_view op, int attempts) {
  return Status::Unavailable(fmt::format(
      "DynamoDB {}: the condition failed on attempt {}, after an attempt whose response was lost; that attempt may "
      "have been applied (re-read to find out)",
      op, attempts));
}

}  // namespace

Result<WriteOutcome> DynamoDbStore::Write(std::string_view op, const Json& request) {
  DynamoDbReply reply = client_.Call(op, request);
  if (reply.ok()) return WriteOutcome::kApplied;
  if (!reply.condition_failed()) return Error(op, *reply.error);
  // The retry may have lost to our own first attempt, whose response was
  // lost. Only a re-read can tell: report "unknown", not "lost".
  if (reply.error->maybe_applied) return UnknownOutcome(op, reply.error->attempts);
  return WriteOutcome::kConditionFailed;
}

// A state write whose outcome the client could not tell (a lost response,
// then a failed condition or no answer at all) is settled by one strongly
// consistent read: versions are unique per CAS, so finding exactly what we
// wrote means our write applied. Anything else stays "unknown" for the
// caller to re-read and decide (our write may have applied and been
// overwritten since).
Result<WriteOutcome> DynamoDbStore::WriteState(std::string_view op, Json request, const JobState& intended) {
  // A lost condition answers with the item it lost to (no read capacity,
  // no round trip): the writer re-decides on it without reading again.
  // Endpoints that ignore the parameter (dynalite) answer without it, and
  // the writer re-reads (Store::ConflictingState).
  request["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD";
  DynamoDbReply reply = client_.Call(op, request);
  if (reply.ok()) return WriteOutcome::kApplied;
  if (reply.condition_failed() && !reply.error->maybe_applied) {
    if (reply.error->item.is_object()) {
      auto current = DecodeState(reply.error->item, intended.job);
      if (current.ok()) SetConflictingState(std::move(current.value()));  // else a re-read reports it
    }
    return WriteOutcome::kConditionFailed;
  }
  if (reply.error->maybe_applied) {
    auto stored = ReadState(intended.job);
    if (stored.ok() && *stored == intended) return WriteOutcome::kApplied;
  }
  if (reply.condition_failed()) return UnknownOutcome(op, reply.error->attempts);
  return Error(op, *reply.error);
}

int64_t DynamoDbStore::NowS() {
  return (options_.clock != nullptr ? *options_.clock : *owned_clock_).NowMs() / 1000;
}

Result<std::optional<Json>> DynamoDbStore::GetItem(const std::string& pk, const std::string& sk) {
  auto body = Call("GetItem", Json{{"TableName", options_.table}, {"Key", Key(pk, sk)}, {"ConsistentRead", true}});
  if (!body.ok()) return body.status();
  auto it = body->find("Item");
  if (it == body->end() || !it->is_object()) return std::optional<Json>();
  return std::optional<Json>(std::move(*it));
}

// Follows LastEvaluatedKey until `limit` items were returned or there are
// no more. With a finite limit each page asks for at most what is missing
// (Limit counts items read, so only Queries without a filter use it).
Result<std::vector<Json>> DynamoDbStore::Paginate(std::string_view op, Json request, size_t limit) {
  std::vector<Json> items;
  for (;;) {
    if (limit != std::numeric_limits<size_t>::max()) {
      request["Limit"] = std::min(limit - items.size(), kQueryPageMax);
    }
    auto body = Call(op, request);
    if (!body.ok()) return body.status();
    if (auto it = body->find("Items"); it != body->end() && it->is_array()) {
      for (Json& item : *it) {
        if (items.size() < limit) items.push_back(std::move(item));
      }
    }
    auto last = body->find("LastEvaluatedKey");
    if (items.size() >= limit || last == body->end() || last->empty()) return items;
    request["ExclusiveStartKey"] = std::move(*last);
  }
}

Result<std::vector<Json>> DynamoDbStore::ScanSortKey(const std::string& sk) {
  Expr x;
  Json request = {{"TableName", options_.table},
                  {"ConsistentRead", true},
                  {"FilterExpression", fmt::format("{} = {}", x.Name("SK"), x.Value(S(sk)))}};
  x.AddTo(request);
  return Paginate("Scan", std::move(request), std::numeric_limits<size_t>::max());
}

Status DynamoDbStore::BatchDelete(std::vector<Json> keys) {
  for (size_t begin = 0; begin < keys.size(); begin += kBatchWriteMax) {
    Json writes = Json::array();
    for (size_t i = begin; i < std::min(keys.size(), begin + kBatchWriteMax); ++i) {
      writes.push_back(Json{{"DeleteRequest", {{"Key", std::move(keys[i])}}}});
    }
    for (int attempt = 1;; ++attempt) {
      auto body = Call("BatchWriteItem", Json{{"RequestItems", {{options_.table, writes}}}});
      if (!body.ok()) return body.status();
      const Json unprocessed = body->value("UnprocessedItems", Json::object()).value(options_.table, Json::array());
      if (unprocessed.empty()) break;
      if (attempt >= client_.retry_policy().max_attempts) {
        return Status::Unavailable(fmt::format("DynamoDB throttled BatchWriteItem: {} deletes left unprocessed after {} attempts",
                                               unprocessed.size(), attempt));
      }
      writes = unprocessed;
      client_.BackoffBeforeRetry(attempt);
    }
  }
  return Status::Ok();
}

// ---- job state --------------------------------------------------------------------------

Result<std::optional<JobState>> DynamoDbStore::ReadState(const std::string& job) {
  auto item = GetItem(JobPk(job), kStateSk);
  if (!item.ok()) return item.status();
  if (!item->has_value()) return std::optional<JobState>();
  auto state = DecodeState(**item, job);
  if (!state.ok()) return state.status();
  return std::optional<JobState>(std::move(state.value()));
}

Result<WriteOutcome> DynamoDbStore::DoCreateState(const JobState& state, std::optional<EpochMs> due_at) {
  Json item = Key(JobPk(state.job), kStateSk);
  item.update(StateAttributes(state, due_at));
  Expr x;
  Json request = {{"TableName", options_.table},
                  {"Item", std::move(item)},
                  {"ConditionExpression", fmt::format("attribute_not_exists({})", x.Name("PK"))}};
  x.AddTo(request);
  auto outcome = WriteState("PutItem", std::move(request), state);
  OpenSpareLanesFor(state, outcome);
  return outcome;
}

Result<WriteOutcome> DynamoDbStore::DoReplaceState(const JobState& state, int64_t expected_version,
                                                   std::optional<EpochMs> due_at) {
  // UpdateItem, not PutItem: attributes others keep on the item (a
  // hand-made table's extra columns) survive every write.
  auto outcome = WriteState("UpdateItem", StateUpdate(options_.table, state, expected_version, due_at), state);
  OpenSpareLanesFor(state, outcome);
  return outcome;
}

// A lease taken: its commit will go out with the run record beside it
// (DoReplaceStateAndAppendRun), on a connection opened now, while the
// workload runs. Not before the write: a loser would wait for it to exit.
void DynamoDbStore::OpenSpareLanesFor(const JobState& written, const Result<WriteOutcome>& outcome) {
  if (outcome.ok() && *outcome == WriteOutcome::kApplied && written.status == JobStatus::kRunning &&
      !options_.use_transactions) {
    client_.OpenSpareLanes();
  }
}

Result<JobRecord> DynamoDbStore::ReadJob(const std::string& job, const std::string& request_key) {
  Json keys = Json::array({Key(JobPk(job), kStateSk), Key(JobPk(job), kDefinitionSk)});
  const std::string request_sk = request_key.empty() ? "" : RequestSk(request_key);
  if (!request_key.empty()) keys.push_back(Key(JobPk(job), request_sk));
  JobRecord record;
  for (int attempt = 1;; ++attempt) {
    auto body = Call("BatchGetItem",
                     Json{{"RequestItems", {{options_.table, {{"Keys", keys}, {"ConsistentRead", true}}}}}});
    if (!body.ok()) return body.status();
    for (const Json& item : body->value("Responses", Json::object()).value(options_.table, Json::array())) {
      const std::string sk = SortKeyOf(item);
      if (sk == kStateSk) {
        auto state = DecodeState(item, job);
        if (!state.ok()) return state.status();
        record.state = std::move(state.value());
      } else if (sk == kDefinitionSk) {
        auto def = DecodeDefinition(item, job);
        if (!def.ok()) return def.status();
        record.definition = std::move(def.value());
      } else if (!request_sk.empty() && sk == request_sk) {
        auto rec = DecodeRequest(item, job, request_key);
        if (!rec.ok()) return rec.status();
        record.request = std::move(rec.value());
      }
    }
    // BatchGetItem may leave keys unprocessed when throttled (it returns 200):
    // ask again for those only, with the same backoff as a retry.
    Json unprocessed = body->value("UnprocessedKeys", Json::object()).value(options_.table, Json::object());
    keys = unprocessed.value("Keys", Json::array());
    if (keys.empty()) return record;
    if (attempt >= client_.retry_policy().max_attempts) {
      return Status::Unavailable(fmt::format("DynamoDB throttled BatchGetItem of job '{}': {} keys left unprocessed "
                                             "after {} attempts",
                                             job, keys.size(), attempt));
    }
    client_.BackoffBeforeRetry(attempt);
  }
}

Result<WriteOutcome> DynamoDbStore::DoReplaceStateAndAppendRun(const JobState& state, int64_t expected_version,
                                                               std::optional<EpochMs> due_at, const RunRecord& run) {
  if (options_.use_transactions) return TransactStateAndRun(state, expected_version, due_at, run);
  // No TransactWriteItems (dynalite has none): the CAS decides. The run
  // record goes out at the same time on the other connection, one round
  // trip for both; it is conditional on no record being there, so it never
  // replaces the "abandoned" record of a holder that took the job over, and
  // it is taken back when the CAS did not apply. If only the append fails,
  // the state is still committed, and reporting an error would make the
  // caller re-read and find its own write: a lost run record only costs a
  // history row.
  if (client_.lane_count() < 2) return CommitThenAppend(state, expected_version, due_at, run);
  DynamoDbReply appended;
  JoinedThread append = client_.StartThread([&] { appended = client_.Call("PutItem", NewRunRequest(run)); });
  if (!append.started()) return CommitThenAppend(state, expected_version, due_at, run);
  auto outcome = WriteState("UpdateItem", StateUpdate(options_.table, state, expected_version, due_at), state);
  append.Join();
  const bool put_refused = appended.condition_failed() && !appended.error->maybe_applied;
  if (outcome.ok() && *outcome == WriteOutcome::kApplied) {
    if (!appended.ok() && !appended.condition_failed()) {
      Log(logger_, LogLevel::kWarn,
          "job '{}': the run was recorded in the state but its history record was not written: {}", run.job,
          Error("PutItem", *appended.error).message());
    }
    return outcome;
  }
  if (!put_refused) RetractRun(run);
  return outcome;
}

// One connection: the CAS, then (if it applied) the run record.
Result<WriteOutcome> DynamoDbStore::CommitThenAppend(const JobState& state, int64_t expected_version,
                                                     std::optional<EpochMs> due_at, const RunRecord& run) {
  auto outcome = WriteState("UpdateItem", StateUpdate(options_.table, state, expected_version, due_at), state);
  if (!outcome.ok() || *outcome != WriteOutcome::kApplied) return outcome;
  if (Status st = AppendRun(run); !st.ok()) {
    Log(logger_, LogLevel::kWarn,
        "job '{}': the run was recorded in the state but its history record was not written: {}", run.job,
        st.message());
  }
  return outcome;
}

Json DynamoDbStore::NewRunRequest(const RunRecord& run) {
  const int64_t expires = options_.run_ttl_s > 0 ? NowS() + options_.run_ttl_s : 0;
  Expr x;
  Json request = {{"TableName", options_.table},
                  {"Item", RunItem(run, expires)},
                  {"ConditionExpression", fmt::format("attribute_not_exists({})", x.Name("PK"))}};
  x.AddTo(request);
  return request;
}

// Deletes the record of a run whose commit did not apply (or whose answer
// was lost: the controller re-reads, and appends it again if its commit
// did apply), unless it is no longer the one we wrote. Best effort: a
// record left behind says the run finished when the state does not count
// it, until the run's TTL.
void DynamoDbStore::RetractRun(const RunRecord& run) {
  Expr x;
  std::string condition = fmt::format("{} = ", x.Name("outcome"));
  condition += x.Value(S(RecordedOutcomeName(run.outcome)));
  condition += fmt::format(" AND {} = ", x.Name("end_ms"));
  condition += x.Value(N(run.end_ms));
  Json request = {{"TableName", options_.table},
                  {"Key", Key(JobPk(run.job), RunSk(run.start_ms, run.run_id))},
                  {"ConditionExpression", std::move(condition)}};
  x.AddTo(request);
  DynamoDbReply reply = client_.Call("DeleteItem", request);
  if (!reply.ok() && !reply.condition_failed()) {
    Log(logger_, LogLevel::kWarn, "job '{}': the history record of run {} whose commit did not apply stays: {}",
        run.job, run.run_id, Error("DeleteItem", *reply.error).message());
  }
}

namespace {

// TransactWriteItems with a ClientRequestToken derived from the request
// itself. DynamoDB remembers a token for 10 minutes: the same token with
// the same body is answered as the first was (a retry after a lost response
// succeeds instead of failing the CAS against our own write), and the same
// token with another body is refused (IdempotentParameterMismatchException).
// The client re-sends one serialised body on every retry (dynamodb_client.cc);
// a commit the controller re-decides after an unknown outcome has a new
// `now`, hence another body, and so gets another token here. A token made
// of the job, version and run id alone was the same for both: the second
// request was refused, every time, and the run never committed.
Json TransactRequest(Json transact_items) {
  Json request = {{"TransactItems", std::move(transact_items)}};
  const std::string body = request.dump(-1, ' ', false, Json::error_handler_t::replace);
  request["ClientRequestToken"] = Sha256Hex(body).substr(0, 36);  // at most 36 characters
  return request;
}

}  // namespace

Result<WriteOutcome> DynamoDbStore::TransactStateAndRun(const JobState& state, int64_t expected_version,
                                                        std::optional<EpochMs> due_at, const RunRecord& run) {
  const int64_t expires = options_.run_ttl_s > 0 ? NowS() + options_.run_ttl_s : 0;
  const Json request = TransactRequest(Json::array(
      {Json{{"Update", StateUpdate(options_.table, state, expected_version, due_at)}},
       Json{{"Put", {{"TableName", options_.table}, {"Item", RunItem(run, expires)}}}}}));
  DynamoDbReply reply = client_.Call("TransactWriteItems", request);
  if (reply.ok()) return WriteOutcome::kApplied;
  const DynamoDbError& e = *reply.error;
  if (e.kind == DynamoDbErrorKind::kTransactionCanceled) {
    // Only the Update has a condition; a retry with our token after our own
    // write applied would have succeeded, but stay careful after a lost
    // response and let the controller re-read.
    if (!e.cancellation_codes.empty() && e.cancellation_codes[0] == "ConditionalCheckFailed" && !e.maybe_applied) {
      return WriteOutcome::kConditionFailed;
    }
    return Status::Unavailable(fmt::format("DynamoDB TransactWriteItems canceled (reasons: {}); re-read to retry",
                                           fmt::join(e.cancellation_codes, ", ")));
  }
  if (e.type == "IdempotentParameterMismatchException" || e.type == "TransactionInProgressException") {
    // Neither applied this request; an earlier one with the token may have
    // applied (or still be applying): the controller re-reads to find out.
    return Status::Unavailable(fmt::format(
        "DynamoDB TransactWriteItems refused ClientRequestToken {} ({}: {}); an earlier request with that token may "
        "have been applied (re-read to find out)",
        request["ClientRequestToken"].get<std::string>(), e.type, e.message));
  }
  return Error("TransactWriteItems", e);
}

Result<std::vector<DueJob>> DynamoDbStore::ListDue(EpochMs now_ms, size_t limit) {
  if (limit == 0) return std::vector<DueJob>();
  std::vector<std::pair<EpochMs, std::string>> due;
  // One Query per shard, each returning at most `limit` of its soonest:
  // the soonest `limit` overall are among them.
  for (int shard = 0; shard < kDueShards; ++shard) {
    Expr x;
    Json request = {{"TableName", options_.table},
                    {"IndexName", kDueIndexName},
                    {"KeyConditionExpression", fmt::format("{} = {} AND {} <= {}", x.Name("due_shard"),
                                                           x.Value(S(DueShardKey(shard))), x.Name("due_at"),
                                                           x.Value(N(now_ms)))},
                    {"ScanIndexForward", true}};
    x.AddTo(request);
    auto items = Paginate("Query", std::move(request), limit);
    if (!items.ok()) {
      if (items.status().code() == StatusCode::kInvalidArgument) {
        return Status::Unavailable(fmt::format(
            "table '{}' cannot answer ListDue from its {} index ({}): run `jobgate init` to add the index, or wait "
            "until it has been built",
            options_.table, kDueIndexName, items.status().message()));
      }
      return items.status();
    }
    for (const Json& item : *items) {
      if (SortKeyOf(item) != kStateSk) continue;  // someone else's item that happens to carry the attributes
      auto job = JobFromPk(item);
      if (!job.ok()) return job.status();
      auto at = Attribute(item, "due_at", FieldType::kInt, fmt::format("job '{}'", *job));
      if (!at.ok()) return at.status();
      if (at->has_value()) due.emplace_back(std::get<int64_t>(**at), std::move(job.value()));
    }
  }
  std::sort(due.begin(), due.end());
  std::vector<DueJob> out;
  for (size_t i = 0; i < due.size() && i < limit; ++i) out.push_back(DueJob{std::move(due[i].second), due[i].first});
  return out;
}

Result<std::vector<JobState>> DynamoDbStore::ListStates() {
  auto items = ScanSortKey(kStateSk);
  if (!items.ok()) return items.status();
  std::vector<JobState> states;
  for (const Json& item : *items) {
    auto job = JobFromPk(item);
    if (!job.ok()) continue;  // not one of ours
    auto state = DecodeState(item, *job);
    if (!state.ok()) return state.status();
    states.push_back(std::move(state.value()));
  }
  std::sort(states.begin(), states.end(), [](const JobState& a, const JobState& b) { return a.job < b.job; });
  return states;
}

// ---- definitions -------------------------------------------------------------------------

Result<std::optional<JobDefinition>> DynamoDbStore::ReadDefinition(const std::string& job) {
  auto item = GetItem(JobPk(job), kDefinitionSk);
  if (!item.ok()) return item.status();
  if (!item->has_value()) return std::optional<JobDefinition>();
  auto def = DecodeDefinition(**item, job);
  if (!def.ok()) return def.status();
  return std::optional<JobDefinition>(std::move(def.value()));
}

Status DynamoDbStore::PutDefinition(const JobDefinition& def) {
  return Call("PutItem", Json{{"TableName", options_.table}, {"Item", DefinitionItem(def)}}).status();
}

Result<std::vector<JobDefinition>> DynamoDbStore::ListDefinitions() {
  auto items = ScanSortKey(kDefinitionSk);
  if (!items.ok()) return items.status();
  std::vector<JobDefinition> defs;
  for (const Json& item : *items) {
    auto job = JobFromPk(item);
    if (!job.ok()) continue;
    auto def = DecodeDefinition(item, *job);
    if (!def.ok()) return def.status();
    defs.push_back(std::move(def.value()));
  }
  std::sort(defs.begin(), defs.end(), [](const JobDefinition& a, const JobDefinition& b) { return a.job < b.job; });
  return defs;
}

// ---- run records ----------------------------------------------------------------------------

Status DynamoDbStore::AppendRun(const RunRecord& run) {
  // Same key for the same run: re-appending after an unknown outcome replaces.
  const int64_t expires = options_.run_ttl_s > 0 ? NowS() + options_.run_ttl_s : 0;
  return Call("PutItem", Json{{"TableName", options_.table}, {"Item", RunItem(run, expires)}}).status();
}

Result<std::vector<RunRecord>> DynamoDbStore::ListRuns(const std::string& job, size_t limit) {
  if (limit == 0) return std::vector<RunRecord>();
  Expr x;
  Json request = {{"TableName", options_.table},
                  {"ConsistentRead", true},
                  {"ScanIndexForward", false},  // newest first: the sort key orders by start time
                  {"KeyConditionExpression", fmt::format("{} = {} AND begins_with({}, {})", x.Name("PK"),
                                                         x.Value(S(JobPk(job))), x.Name("SK"), x.Value(S(kRunPrefix)))}};
  x.AddTo(request);
  auto items = Paginate("Query", std::move(request), limit);
  if (!items.ok()) return items.status();
  std::vector<RunRecord> runs;
  for (const Json& item : *items) {
    auto run = DecodeRun(item, job);
    if (!run.ok()) return run.status();
    runs.push_back(std::move(run.value()));
  }
  return runs;
}

Status DynamoDbStore::TrimRuns(const std::string& job, size_t keep) {
  Expr x;
  const std::string pk = x.Name("PK"), sk = x.Name("SK");
  // Eventually consistent (half the read units): a run appended a moment
  // ago that this read misses is simply kept, never deleted.
  Json request = {{"TableName", options_.table},
                  {"ScanIndexForward", false},
                  {"ProjectionExpression", fmt::format("{}, {}", pk, sk)},
                  {"KeyConditionExpression",
                   fmt::format("{} = {} AND begins_with({}, {})", pk, x.Value(S(JobPk(job))), sk, x.Value(S(kRunPrefix)))}};
  x.AddTo(request);
  auto items = Paginate("Query", std::move(request), std::numeric_limits<size_t>::max());
  if (!items.ok()) return items.status();
  if (items->size() <= keep) return Status::Ok();
  std::vector<Json> doomed;
  for (size_t i = keep; i < items->size(); ++i) doomed.push_back(Key(JobPk(job), SortKeyOf((*items)[i])));
  return BatchDelete(std::move(doomed));
}

// ---- request records -----------------------------------------------------------------------------

Result<std::optional<RequestRecord>> DynamoDbStore::ReadRequest(const std::string& job, const std::string& key,
                                                                EpochMs now_ms) {
  auto item = GetItem(JobPk(job), RequestSk(key));
  if (!item.ok()) return item.status();
  if (!item->has_value()) return std::optional<RequestRecord>();
  auto rec = DecodeRequest(**item, job, key);
  if (!rec.ok()) return rec.status();
  // DynamoDB's TTL deletes expired items only eventually (typically within
  // days): until then an expired record counts as absent.
  if (rec->expires_at_ms <= now_ms) return std::optional<RequestRecord>();
  return std::optional<RequestRecord>(std::move(rec.value()));
}

Result<WriteOutcome> DynamoDbStore::CreateRequest(const RequestRecord& rec, EpochMs now_ms) {
  Expr x;
  const std::string exp = x.Name("expires_at_ms");
  // A missing or NULL expires_at_ms reads as 0: expired (DecodeRequest).
  Json request = {{"TableName", options_.table},
                  {"Item", RequestItem(rec)},
                  {"ConditionExpression", fmt::format("attribute_not_exists({}) OR {} OR {} <= {}", x.Name("PK"),
                                                      Absent(x, exp), exp, x.Value(N(now_ms)))}};
  x.AddTo(request);
  return Write("PutItem", request);
}

Result<WriteOutcome> DynamoDbStore::ReplaceRequest(const RequestRecord& rec, int64_t expected_version) {
  Expr x;
  Json request = {{"TableName", options_.table},
                  {"Item", RequestItem(rec)},
                  {"ConditionExpression", VersionCondition(x, expected_version)}};
  x.AddTo(request);
  return Write("PutItem", request);
}

Result<int64_t> DynamoDbStore::ExpireRequests(EpochMs now_ms) {
  // A maintenance operation, so a Scan: on AWS, TTL on expires_at deletes
  // these anyway; this is for emulators and for tests of the contract.
  Expr x;
  const std::string pk = x.Name("PK"), sk = x.Name("SK"), exp = x.Name("expires_at_ms");
  const std::string now = x.Value(N(now_ms));
  const std::string expired = fmt::format("({} OR {} <= {})", Absent(x, exp), exp, now);
  Json scan = {{"TableName", options_.table},
               {"ConsistentRead", true},
               {"ProjectionExpression", fmt::format("{}, {}", pk, sk)},
               {"FilterExpression", fmt::format("begins_with({}, {}) AND {}", sk, x.Value(S(kRequestPrefix)), expired)}};
  x.AddTo(scan);
  auto items = Paginate("Scan", std::move(scan), std::numeric_limits<size_t>::max());
  if (!items.ok()) return items.status();
  int64_t deleted = 0;
  for (const Json& item : *items) {
    // Conditional: a record re-created since the Scan is not deleted.
    Expr dx;
    const std::string dexp = dx.Name("expires_at_ms");
    Json del = {{"TableName", options_.table},
                {"Key", Key(item.value("PK", Json::object()).value("S", ""), SortKeyOf(item))},
                {"ConditionExpression", fmt::format("attribute_exists({}) AND ({} OR {} <= {})", dx.Name("PK"),
                                                    Absent(dx, dexp), dexp, dx.Value(N(now_ms)))}};
    dx.AddTo(del);
    auto outcome = Write("DeleteItem", del);
    if (!outcome.ok()) return outcome.status();
    if (*outcome == WriteOutcome::kApplied) ++deleted;
  }
  return deleted;
}

}  // namespace jobgate
