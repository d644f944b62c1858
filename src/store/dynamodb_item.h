// The DynamoDB item encoding of the store's items (docs/backends/dynamodb.md,
// "Layout"): keys, attributes, the due index attributes, and the expression
// placeholders every request uses. Pure: no I/O. Exposed for unit tests.
// An item is DynamoDB JSON: an object of attribute name -> {"S": ...} /
// {"N": "..."}.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "jobgate/job.h"
#include "jobgate/status.h"
#include "store/item_codec.h"

namespace jobgate {

// Partitions of the due index. Each due-index write lands on one shard; a
// partition key value of a GSI takes about 1,000 writes/s, and most state
// writes move `due_at` (two index writes), so one shard would cap a fleet at
// ~500 state writes/s. Every ListDue queries all shards: raising this costs
// each tick one more Query. It is part of the table layout: every jobgate
// that writes one table must use the same value.
inline constexpr int kDueShards = 4;

namespace dynamodb_item {

using Json = nlohmann::json;

inline constexpr const char* kStateSk = "STATE";
inline constexpr const char* kDefinitionSk = "DEF";
inline constexpr const char* kRunPrefix = "RUN#";
inline constexpr const char* kRequestPrefix = "REQ#";
inline constexpr const char* kTtlAttribute = "expires_at";

Json S(std::string_view v);  // {"S": v}
Json N(int64_t v);           // {"N": "v"}
Json Key(const std::string& pk, const std::string& sk);
std::string SortKeyOf(const Json& item);  // "" when it has none

// Attribute `name` of `item` as a field value; nullopt when absent or NULL
// (the zero value). DynamoDB types are checked strictly: a number stored as
// S would never match the N in a condition (`version = :v`), so accepting it
// would make the job unwritable instead of reporting it.
Result<std::optional<FieldValue>> Attribute(const Json& item, const char* name, FieldType type,
                                            const std::string& where);

// The placeholders of one request's expressions. Every attribute name goes
// through "#nK": status, owner, version and others are reserved words.
class Expr {
 public:
  std::string Name(const std::string& attr);  // "#nK"
  std::string Value(Json v);                  // ":vK"
  // Adds ExpressionAttributeNames/Values; DynamoDB refuses empty or unused ones.
  void AddTo(Json& request) const;

 private:
  std::map<std::string, std::string> names_;
  Json values_ = Json::object();
};

// "version = :v", or for 0 also "no version attribute" (missing or NULL) on
// an existing item (DESIGN.md: a hand-made item has none). UpdateItem would
// create a missing item, so version 0 must also demand that the item exists.
std::string VersionCondition(Expr& x, int64_t expected);
// "attribute_not_exists(N) OR attribute_type(N, NULL)" for the attribute
// whose name placeholder is `name_placeholder`: what DecodeState and the
// other decoders read as a missing value (docs/design.md, "Items written by
// other tools").
std::string Absent(Expr& x, const std::string& name_placeholder);

std::string JobPk(const std::string& job);                      // "JOB#<job>"
Result<std::string> JobFromPk(const nlohmann::json& item);       // the job name of an item's PK
std::string RunSk(EpochMs start_ms, const std::string& run_id);  // "RUN#0000001700000000000#<run id>"
std::string RequestSk(const std::string& key);                   // "REQ#<key>"
int DueShard(const std::string& job);                            // 0 .. kDueShards-1, stable
std::string DueShardKey(int shard);                              // "DUE#<shard>"

// The state's attributes, keys excluded: `status`, every StateFields()
// field, and due_shard/due_at while the state is due (`due_at` set).
nlohmann::json StateAttributes(const JobState& state, std::optional<EpochMs> due_at);
// Missing (or NULL) attributes decode as zero values; attributes of the
// wrong DynamoDB type or value give kCorrupt naming the job, the field and
// the value. Attributes jobgate does not know are ignored.
Result<JobState> DecodeState(const nlohmann::json& item, const std::string& job);

// An UpdateItem request that writes `state` (every attribute SET, the due
// attributes REMOVEd when not due; attributes of others are kept) if the
// stored version is `expected_version` (0 also matches a missing version).
nlohmann::json StateUpdate(const std::string& table, const JobState& state, int64_t expected_version,
                           std::optional<EpochMs> due_at);

nlohmann::json DefinitionItem(const JobDefinition& def);
Result<JobDefinition> DecodeDefinition(const nlohmann::json& item, const std::string& job);

nlohmann::json RunItem(const RunRecord& run, int64_t expires_at_s);  // expires_at_s 0: no TTL
Result<RunRecord> DecodeRun(const nlohmann::json& item, const std::string& job);

nlohmann::json RequestItem(const RequestRecord& rec);  // expires_at = ceil(expires_at_ms / 1000)
Result<RequestRecord> DecodeRequest(const nlohmann::json& item, const std::string& job, const std::string& key);

}  // namespace dynamodb_item

}  // namespace jobgate
