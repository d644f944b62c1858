// DynamoDbStore::Init: the table, its due index and TTL (table
// administration; docs/backends/dynamodb.md, "init").
#include <fmt/format.h>

#include "core/log.h"
#include "store/dynamodb_store.h"

namespace jobgate {

using namespace dynamodb_item;  // NOLINT: the encoding of the items this store writes

Result<std::optional<Json>> DynamoDbStore::DescribeTable() {
  DynamoDbReply reply = client_.Call("DescribeTable", Json{{"TableName", options_.table}});
  if (reply.ok()) return std::optional<Json>(reply.body.value("Table", Json::object()));
  if (reply.error->kind == DynamoDbErrorKind::kResourceNotFound) return std::optional<Json>();
  return ErrorStatus(*reply.error, "DescribeTable", client_.config());
}

namespace {

Json DueIndexAttributeDefinitions() {
  return Json::array({Json{{"AttributeName", "due_shard"}, {"AttributeType", "S"}},
                      Json{{"AttributeName", "due_at"}, {"AttributeType", "N"}}});
}

Json DueIndex() {
  return Json{{"IndexName", kDueIndexName},
              {"KeySchema", Json::array({Json{{"AttributeName", "due_shard"}, {"KeyType", "HASH"}},
                                         Json{{"AttributeName", "due_at"}, {"KeyType", "RANGE"}}})},
              // KEYS_ONLY: ListDue needs the job name (PK) and due_at, nothing else.
              {"Projection", {{"ProjectionType", "KEYS_ONLY"}}}};
}

const Json* FindIndex(const Json& table, std::string_view name) {
  auto it = table.find("GlobalSecondaryIndexes");
  if (it == table.end() || !it->is_array()) return nullptr;
  for (const Json& index : *it) {
    if (index.value("IndexName", "") == name) return &index;
  }
  return nullptr;
}

// True when the table's keys are PK (S, HASH) and SK (S, RANGE).
bool HasJobgateKeys(const Json& table) {
  auto type_of = [&](const std::string& attr) {
    for (const Json& d : table.value("AttributeDefinitions", Json::array())) {
      if (d.value("AttributeName", "") == attr) return d.value("AttributeType", "");
    }
    return std::string();
  };
  std::string hash, range;
  for (const Json& k : table.value("KeySchema", Json::array())) {
    (k.value("KeyType", "") == "HASH" ? hash : range) = k.value("AttributeName", "");
  }
  return hash == "PK" && range == "SK" && type_of("PK") == "S" && type_of("SK") == "S";
}

}  // namespace

Status DynamoDbStore::CreateTable() {
  Json attrs = Json::array({Json{{"AttributeName", "PK"}, {"AttributeType", "S"}},
                            Json{{"AttributeName", "SK"}, {"AttributeType", "S"}}});
  for (const Json& a : DueIndexAttributeDefinitions()) attrs.push_back(a);
  Json request = {{"TableName", options_.table},
                  {"BillingMode", "PAY_PER_REQUEST"},
                  {"AttributeDefinitions", attrs},
                  {"KeySchema", Json::array({Json{{"AttributeName", "PK"}, {"KeyType", "HASH"}},
                                             Json{{"AttributeName", "SK"}, {"KeyType", "RANGE"}}})},
                  {"GlobalSecondaryIndexes", Json::array({DueIndex()})}};
  DynamoDbReply reply = client_.Call("CreateTable", request);
  // Another `init` got there first: fine, we wait for it like for ours.
  if (reply.ok() || reply.error->kind == DynamoDbErrorKind::kResourceInUse) {
    Log(logger_, LogLevel::kInfo, "creating DynamoDB table '{}' (PAY_PER_REQUEST, index {})", options_.table, kDueIndexName);
    return Status::Ok();
  }
  return ErrorStatus(*reply.error, "CreateTable", client_.config());
}

Status DynamoDbStore::WaitUntilActive() {
  Clock& clock = options_.clock != nullptr ? *options_.clock : *owned_clock_;
  const EpochMs deadline = clock.NowMs() + options_.init_timeout_ms;
  int64_t interval_ms = 50;
  for (;;) {
    auto table = DescribeTable();
    if (!table.ok()) return table.status();
    // Right after CreateTable, DescribeTable may not see the table yet.
    if (table->has_value()) {
      const Json* index = FindIndex(**table, kDueIndexName);
      const bool index_ready = index == nullptr || index->value("IndexStatus", "") != "CREATING";
      if ((*table)->value("TableStatus", "") == "ACTIVE" && index_ready) return Status::Ok();
    }
    if (clock.NowMs() >= deadline) {
      return Status::Unavailable(fmt::format("DynamoDB table '{}' did not become ACTIVE within {} ms", options_.table,
                                             options_.init_timeout_ms));
    }
    client_.Sleep(interval_ms);
    interval_ms = std::min<int64_t>(interval_ms * 2, 1'000);
  }
}

Status DynamoDbStore::AddDueIndex(const Json& table) {
  Json create = DueIndex();
  // A table made by hand may use provisioned capacity: the index must say
  // its own. On-demand tables must not.
  const std::string billing = table.value("BillingModeSummary", Json::object()).value("BillingMode", "PROVISIONED");
  if (billing != "PAY_PER_REQUEST") {
    const Json throughput = table.value("ProvisionedThroughput", Json::object());
    create["ProvisionedThroughput"] = {
        {"ReadCapacityUnits", std::max<int64_t>(1, throughput.value("ReadCapacityUnits", int64_t{1}))},
        {"WriteCapacityUnits", std::max<int64_t>(1, throughput.value("WriteCapacityUnits", int64_t{1}))}};
  }
  Json request = {{"TableName", options_.table},
                  {"AttributeDefinitions", DueIndexAttributeDefinitions()},
                  {"GlobalSecondaryIndexUpdates", Json::array({Json{{"Create", create}}})}};
  DynamoDbReply reply = client_.Call("UpdateTable", request);
  if (!reply.ok()) {
    if (reply.error->kind == DynamoDbErrorKind::kValidation || reply.error->kind == DynamoDbErrorKind::kUnknownOperation) {
      Log(logger_, LogLevel::kWarn, "table '{}' has no index {} and adding it failed ({}): `tick` and `serve` need it; run, status "
                   "and the other commands work without it",
                   options_.table, kDueIndexName, reply.error->message);
      return Status::Ok();
    }
    return ErrorStatus(*reply.error, "UpdateTable", client_.config());
  }
  auto after = DescribeTable();
  if (!after.ok()) return after.status();
  if (after->has_value() && FindIndex(**after, kDueIndexName) != nullptr) {
    Log(logger_, LogLevel::kInfo, "adding index {} to table '{}': DynamoDB builds it from the existing items; `tick` works once it is "
                 "ACTIVE",
                 kDueIndexName, options_.table);
  } else {
    // dynalite answers UpdateTable but ignores index creation.
    Log(logger_, LogLevel::kWarn, "the endpoint accepted UpdateTable but did not add index {} to table '{}': `tick` and `serve` need "
                 "it; recreate the table with `jobgate init`",
                 kDueIndexName, options_.table);
  }
  return Status::Ok();
}

Status DynamoDbStore::EnableTtl() {
  DynamoDbReply described = client_.Call("DescribeTimeToLive", Json{{"TableName", options_.table}});
  auto unsupported = [&](const DynamoDbError& e) {
    if (e.kind != DynamoDbErrorKind::kUnknownOperation) return false;
    Log(logger_, LogLevel::kInfo, "the endpoint {} does not support DynamoDB TTL: expired run and request records stay until jobgate "
                 "trims or expires them",
                 client_.config().endpoint_url);
    return true;
  };
  if (!described.ok()) {
    if (unsupported(*described.error)) return Status::Ok();
    return ErrorStatus(*described.error, "DescribeTimeToLive", client_.config());
  }
  const Json ttl = described.body.value("TimeToLiveDescription", Json::object());
  const std::string status = ttl.value("TimeToLiveStatus", "DISABLED");
  const std::string attribute = ttl.value("AttributeName", "");
  if (status == "ENABLED" || status == "ENABLING") {
    if (attribute != kTtlAttribute) {
      Log(logger_, LogLevel::kWarn, "table '{}' has TTL on attribute '{}', jobgate writes '{}': leaving the table's TTL as it is",
                   options_.table, attribute, kTtlAttribute);
    }
    return Status::Ok();
  }
  if (status == "DISABLING") {
    Log(logger_, LogLevel::kWarn, "table '{}': TTL is being disabled; run `jobgate init` again later to enable it on '{}'",
                 options_.table, kTtlAttribute);
    return Status::Ok();
  }
  DynamoDbReply updated = client_.Call(
      "UpdateTimeToLive", Json{{"TableName", options_.table},
                               {"TimeToLiveSpecification", {{"Enabled", true}, {"AttributeName", kTtlAttribute}}}});
  if (updated.ok()) {
    Log(logger_, LogLevel::kInfo, "enabled TTL on attribute '{}' of table '{}'", kTtlAttribute, options_.table);
    return Status::Ok();
  }
  if (unsupported(*updated.error)) return Status::Ok();
  return ErrorStatus(*updated.error, "UpdateTimeToLive", client_.config());
}

Status DynamoDbStore::Init() {
  auto table = DescribeTable();
  if (!table.ok()) return table.status();
  if (!table->has_value()) JOBGATE_RETURN_IF_ERROR(CreateTable());
  JOBGATE_RETURN_IF_ERROR(WaitUntilActive());
  table = DescribeTable();
  if (!table.ok()) return table.status();
  if (!table->has_value()) {
    return Status::Unavailable(fmt::format("DynamoDB table '{}' disappeared while `init` ran", options_.table));
  }
  if (!HasJobgateKeys(**table)) {
    return Status::InvalidArgument(fmt::format(
        "DynamoDB table '{}' exists but its key is not PK (string, partition) + SK (string, sort); jobgate cannot use "
        "it: pick another table name in the store URL",
        options_.table));
  }
  if (FindIndex(**table, kDueIndexName) == nullptr) JOBGATE_RETURN_IF_ERROR(AddDueIndex(**table));
  return EnableTtl();
}

}  // namespace jobgate
