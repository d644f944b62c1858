// Amazon DynamoDB backend ("dynamodb://TABLE?region=R&endpoint=URL"), over
// the JSON 1.0 protocol (dynamodb_client.h). One table, wire-compatible
// with the classic `job_control` layout of DESIGN.md; the layout, the due
// index, costs, IAM policy and emulator notes are in docs/backends/dynamodb.md.
//
//   PK = JOB#<name>  SK = STATE                      the state item (UpdateItem CAS on `version`)
//                    SK = DEF                        the definition, JSON in attribute `definition`
//                    SK = RUN#<start_ms:019>#<run id> run records, TTL `expires_at`
//                    SK = REQ#<key>                  request records, TTL `expires_at`
//   GSI due_index: due_shard (S) / due_at (N), KEYS_ONLY, sparse: only
//   state items whose DueAt() is set carry the two attributes.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "aws/aws_config.h"
#include "jobgate/store.h"
#include "store/dynamodb_client.h"
#include "store/dynamodb_item.h"

namespace jobgate {

inline constexpr const char* kDefaultDynamoDbTable = "job_control";
inline constexpr const char* kDueIndexName = "due_index";

// What a dynamodb:// URL says.
struct DynamoDbUrl {
  std::string table = kDefaultDynamoDbTable;
  std::string region;                // empty: from the environment / profile
  std::string endpoint;              // empty: from the environment / profile / region default
  int max_attempts = 3;
  int64_t retry_base_ms = 100;
  int64_t connect_timeout_ms = 2'000;
  int64_t timeout_ms = 10'000;
  bool transactions = false;         // commit = one TransactWriteItems (real DynamoDB only)
  int64_t run_ttl_days = 90;         // expires_at of run records; 0 = none
};

// Parses "dynamodb://[TABLE][?key=value&...]" with keys region, endpoint,
// max_attempts, retry_base_ms, connect_timeout_ms, timeout_ms, transactions
// and run_ttl_days (values percent-decoded). kInvalidArgument naming the
// URL and the offending part.
Result<DynamoDbUrl> ParseDynamoDbUrl(const std::string& url);

struct DynamoDbStoreOptions {
  std::string table = kDefaultDynamoDbTable;
  // ReplaceStateAndAppendRun as one TransactWriteItems (both or neither,
  // twice the write units). Off: the CAS, then a PutItem of the run record
  // (dynalite has no transactions; the state stays authoritative).
  bool use_transactions = false;
  int64_t run_ttl_s = 90LL * 24 * 3600;  // 0: run records get no expires_at
  int64_t init_timeout_ms = 300'000;      // how long Init waits for a new table to become ACTIVE
  DynamoDbClientOptions client;           // retry policy; sleep and random for tests
  Clock* clock = nullptr;                 // default: the system clock
  Logger* logger = nullptr;               // default: DefaultLogger()
  std::string url;                        // the store URL, for messages
};

// The DynamoDB store. Thread-safe (its client carries one call at a time
// on each of its connections, two when opened from a URL). Opening makes no network call (except asking EC2 instance
// metadata for the region when nothing else names one); the first
// operation does, fetching temporary credentials first if it needs them.
class DynamoDbStore final : public Store {
 public:
  // From a dynamodb:// URL; credentials, region and endpoint as aws_config.h
  // resolves them from the options' environment and the URL.
  static Result<std::unique_ptr<DynamoDbStore>> Open(const std::string& url, const StoreOptions& options);

  DynamoDbStore(AwsConfig config, std::unique_ptr<HttpTransport> transport, DynamoDbStoreOptions options);
  // One lane (connection) per transport: DynamoDbClient.
  DynamoDbStore(AwsConfig config, std::vector<std::unique_ptr<HttpTransport>> transports,
                DynamoDbStoreOptions options);
  ~DynamoDbStore() override;
  DynamoDbStore(const DynamoDbStore&) = delete;
  DynamoDbStore& operator=(const DynamoDbStore&) = delete;

  // Creates the table (PAY_PER_REQUEST, with due_index) if absent and waits
  // until it is ACTIVE; adds due_index to a table that lacks it; enables TTL
  // on expires_at where the endpoint supports it. Never touches items.
  Status Init() override;

  Result<std::optional<JobState>> ReadState(const std::string& job) override;
  Result<JobRecord> ReadJob(const std::string& job, const std::string& request_key) override;  // one BatchGetItem
  Result<std::vector<DueJob>> ListDue(EpochMs now_ms, size_t limit) override;  // kDueShards Queries
  Result<std::vector<JobState>> ListStates() override;  // a Scan: O(table), see the doc

  Result<std::optional<JobDefinition>> ReadDefinition(const std::string& job) override;
  Status PutDefinition(const JobDefinition& def) override;
  Result<std::vector<JobDefinition>> ListDefinitions() override;  // a Scan

  Status AppendRun(const RunRecord& run) override;
  Result<std::vector<RunRecord>> ListRuns(const std::string& job, size_t limit) override;
  Status TrimRuns(const std::string& job, size_t keep) override;

  Result<std::optional<RequestRecord>> ReadRequest(const std::string& job, const std::string& key,
                                                   EpochMs now_ms) override;
  Result<WriteOutcome> CreateRequest(const RequestRecord& rec, EpochMs now_ms) override;
  Result<WriteOutcome> ReplaceRequest(const RequestRecord& rec, int64_t expected_version) override;
  Result<int64_t> ExpireRequests(EpochMs now_ms) override;  // a Scan; DynamoDB TTL does it for real

  bool ReportsTime() const override { return true; }
  std::optional<ClockEstimate> ObservedClock() const override { return client_.ObservedClock(); }

  // The client, for its per-operation request counters and raw calls in tests.
  DynamoDbClient& client() { return client_; }
  const std::string& table() const { return options_.table; }

 protected:
  Result<WriteOutcome> DoCreateState(const JobState& state, std::optional<EpochMs> due_at) override;
  Result<WriteOutcome> DoReplaceState(const JobState& state, int64_t expected_version,
                                      std::optional<EpochMs> due_at) override;
  Result<WriteOutcome> DoReplaceStateAndAppendRun(const JobState& state, int64_t expected_version,
                                                  std::optional<EpochMs> due_at, const RunRecord& run) override;

 private:
  Status Error(std::string_view op, const DynamoDbError& error) const;
  Result<nlohmann::json> Call(std::string_view op, const nlohmann::json& request);
  Result<WriteOutcome> Write(std::string_view op, const nlohmann::json& request);
  Result<WriteOutcome> WriteState(std::string_view op, nlohmann::json request, const JobState& intended);
  Result<std::optional<nlohmann::json>> GetItem(const std::string& pk, const std::string& sk);
  Result<std::vector<nlohmann::json>> Paginate(std::string_view op, nlohmann::json request, size_t limit);
  Result<std::vector<nlohmann::json>> ScanSortKey(const std::string& sk);
  Status BatchDelete(std::vector<nlohmann::json> keys);
  Result<WriteOutcome> TransactStateAndRun(const JobState& state, int64_t expected_version,
                                           std::optional<EpochMs> due_at, const RunRecord& run);
  Result<WriteOutcome> CommitThenAppend(const JobState& state, int64_t expected_version,
                                        std::optional<EpochMs> due_at, const RunRecord& run);
  nlohmann::json NewRunRequest(const RunRecord& run);
  void OpenSpareLanesFor(const JobState& written, const Result<WriteOutcome>& outcome);
  void RetractRun(const RunRecord& run);
  int64_t NowS();

  Result<std::optional<nlohmann::json>> DescribeTable();
  Status CreateTable();
  Status WaitUntilActive();
  Status AddDueIndex(const nlohmann::json& table);
  Status EnableTtl();

  std::unique_ptr<Clock> owned_clock_;
  Logger& logger_;
  DynamoDbStoreOptions options_;
  DynamoDbClient client_;
};


}  // namespace jobgate
