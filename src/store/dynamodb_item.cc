#include "store/dynamodb_item.h"

#include <span>

#include <fmt/format.h>

#include "store/item_codec.h"
#include "util/numbers.h"

namespace jobgate::dynamodb_item {

namespace {

// How long after its logical end (expires_at_ms) DynamoDB's TTL may delete a
// request record: more than any sensible max_clock_skew.
constexpr int64_t kRequestTtlSlackS = 24 * 3600;

using QF = FieldSpec<RequestRecord>;

template <typename Item>
void PutFields(Json& attrs, std::span<const FieldSpec<Item>> fields, const Item& item) {
  for (const auto& f : fields) attrs[f.name] = f.type == FieldType::kInt ? N(item.*f.int_member) : S(StringField(item, f));
}

// An attribute value as people would write it: S "abc", N 1.5, BOOL true.
std::string Describe(const Json& attr) {
  if (attr.is_object() && attr.size() == 1) {
    const auto first = attr.begin();  // an iterator, not items(): that proxy would dangle here
    const std::string& type = first.key();
    const Json& value = first.value();
    std::string text = value.is_string() && type == "N" ? value.get<std::string>()
                                                        : value.dump(-1, ' ', false, Json::error_handler_t::replace);
    if (text.size() > 64) text = text.substr(0, 64) + "...";
    return fmt::format("{} {}", type, text);
  }
  return attr.dump(-1, ' ', false, Json::error_handler_t::replace).substr(0, 64);
}

bool HasType(const Json& attr, const char* type) {
  return attr.is_object() && attr.size() == 1 && attr.contains(type) && attr[type].is_string();
}


template <typename Item>
Status Assign(Item& item, const FieldSpec<Item>& f, const FieldValue& v, const std::string& where) {
  return SetField(item, f, v, where);  // item_codec.cc's checks (ranges)
}

template <typename Item>
Status DecodeFields(const Json& item, std::span<const FieldSpec<Item>> fields, const std::string& where, Item* out) {
  for (const auto& f : fields) {
    auto v = Attribute(item, f.name, f.type, where);
    if (!v.ok()) return v.status();
    if (v->has_value()) JOBGATE_RETURN_IF_ERROR(Assign(*out, f, **v, where));
  }
  return Status::Ok();
}

// Decodes `status` through its enum's parser (item_codec.h: any case);
// absent or NULL keeps the zero value.
template <typename Enum>
Status DecodeStatus(const Json& item, const std::string& where, Result<Enum> (*parse)(const std::string&), Enum* out) {
  auto v = Attribute(item, "status", FieldType::kString, where);
  if (!v.ok()) return v.status();
  if (!v->has_value()) return Status::Ok();
  return SetStatus(*out, **v, parse, where);
}

}  // namespace

// Attribute `name` of `item` as a field value; nullopt when absent or NULL
// (the zero value). DynamoDB types are checked strictly: a number stored as
// S would never match the N in a condition (`version = :v`), so accepting it
// would make the job unwritable instead of reporting it.
Result<std::optional<FieldValue>> Attribute(const Json& item, const char* name, FieldType type,
                                            const std::string& where) {
  auto it = item.find(name);
  if (it == item.end() || (it->is_object() && it->contains("NULL"))) return std::optional<FieldValue>();
  const Json& attr = *it;
  if (type == FieldType::kString) {
    if (HasType(attr, "S")) return std::optional<FieldValue>(attr["S"].get<std::string>());
    return Status::Corrupt(fmt::format("{}: field '{}' must be a string (S), got {}", where, name, Describe(attr)));
  }
  if (!HasType(attr, "N")) {
    return Status::Corrupt(fmt::format("{}: field '{}' must be a number (N), got {}", where, name, Describe(attr)));
  }
  int64_t n = 0;
  if (!ParseInt64(attr["N"].get<std::string>(), &n)) {
    return Status::Corrupt(fmt::format("{}: field '{}' must be an integer, got {}", where, name, Describe(attr)));
  }
  return std::optional<FieldValue>(n);
}

Json S(std::string_view v) { return Json{{"S", std::string(v)}}; }
Json N(int64_t v) { return Json{{"N", std::to_string(v)}}; }
Json Key(const std::string& pk, const std::string& sk) { return Json{{"PK", S(pk)}, {"SK", S(sk)}}; }

std::string Expr::Name(const std::string& attr) {
  auto [it, inserted] = names_.try_emplace(attr, fmt::format("#n{}", names_.size()));
  return it->second;
}

std::string Expr::Value(Json v) {
  std::string placeholder = fmt::format(":v{}", values_.size());
  values_[placeholder] = std::move(v);
  return placeholder;
}

void Expr::AddTo(Json& request) const {
  if (!names_.empty()) {
    Json names = Json::object();
    for (const auto& [attr, placeholder] : names_) names[placeholder] = attr;
    request["ExpressionAttributeNames"] = std::move(names);
  }
  if (!values_.empty()) request["ExpressionAttributeValues"] = values_;
}

std::string SortKeyOf(const Json& item) {
  auto it = item.find("SK");
  return it != item.end() && HasType(*it, "S") ? (*it)["S"].get<std::string>() : std::string();
}

// "version = :v", or for 0 also "no version attribute" on an existing item
// (DESIGN.md: a hand-made item has none). UpdateItem would create a missing
// item, so version 0 must also demand that the item exists.
std::string VersionCondition(Expr& x, int64_t expected) {
  const std::string version = x.Name("version");
  const std::string v = x.Value(N(expected));
  if (expected != 0) return fmt::format("{} = {}", version, v);
  return fmt::format("attribute_exists({}) AND ({} OR {} = {})", x.Name("PK"), Absent(x, version), version, v);
}

// The decoder reads a NULL attribute as a missing one (its zero value), so
// a condition on "missing" must match NULL too: `attribute_not_exists` alone
// is false for {"NULL": true}, and a CAS against such an item failed every
// time (lost_race, exit 0, the job never ran).
std::string Absent(Expr& x, const std::string& name_placeholder) {
  return fmt::format("attribute_not_exists({0}) OR attribute_type({0}, {1})", name_placeholder, x.Value(S("NULL")));
}

std::string JobPk(const std::string& job) { return "JOB#" + job; }

Result<std::string> JobFromPk(const Json& item) {
  auto it = item.find("PK");
  if (it != item.end() && HasType(*it, "S")) {
    const std::string pk = (*it)["S"].get<std::string>();
    if (pk.starts_with("JOB#")) return pk.substr(4);
    return Status::Corrupt(fmt::format("item with PK \"{}\" is not a job's item (PK must be JOB#<name>)", pk));
  }
  return Status::Corrupt("item without a string PK");
}

std::string RunSk(EpochMs start_ms, const std::string& run_id) {
  // Zero-padded to the width of INT64_MAX so that the string order of the
  // sort key is the numeric order of start times.
  return fmt::format("{}{:019}#{}", kRunPrefix, start_ms, run_id);
}

std::string RequestSk(const std::string& key) { return kRequestPrefix + key; }

int DueShard(const std::string& job) {
  uint32_t h = 2166136261u;  // FNV-1a: stable across builds and platforms
  for (unsigned char c : job) {
    h ^= c;
    h *= 16777619u;
  }
  return static_cast<int>(h % kDueShards);
}

std::string DueShardKey(int shard) { return fmt::format("DUE#{}", shard); }

Json StateAttributes(const JobState& state, std::optional<EpochMs> due_at) {
  Json attrs = Json::object();
  attrs["status"] = S(JobStatusName(state.status));
  PutFields(attrs, StateFields(), state);
  if (due_at) {
    attrs["due_shard"] = S(DueShardKey(DueShard(state.job)));
    attrs["due_at"] = N(*due_at);
  }
  return attrs;
}

Result<JobState> DecodeState(const Json& item, const std::string& job) {
  JobState s;
  s.job = job;
  const std::string where = fmt::format("job '{}'", job);
  JOBGATE_RETURN_IF_ERROR(DecodeStatus(item, where, &ParseJobStatus, &s.status));
  JOBGATE_RETURN_IF_ERROR(DecodeFields(item, StateFields(), where, &s));
  return s;
}

Json StateUpdate(const std::string& table, const JobState& state, int64_t expected_version,
                 std::optional<EpochMs> due_at) {
  Expr x;
  std::vector<std::string> sets;
  const Json attrs = StateAttributes(state, due_at);  // a named object: items() refers to it
  for (const auto& [name, value] : attrs.items()) {
    sets.push_back(fmt::format("{} = {}", x.Name(name), x.Value(value)));
  }
  std::string update = fmt::format("SET {}", fmt::join(sets, ", "));
  // Not due (PAUSED): out of the sparse index.
  if (!due_at) update += fmt::format(" REMOVE {}, {}", x.Name("due_shard"), x.Name("due_at"));
  Json request = {{"TableName", table},
                  {"Key", Key(JobPk(state.job), kStateSk)},
                  {"UpdateExpression", update},
                  {"ConditionExpression", VersionCondition(x, expected_version)}};
  x.AddTo(request);
  return request;
}

Json DefinitionItem(const JobDefinition& def) {
  Json item = Key(JobPk(def.job), kDefinitionSk);
  item["definition"] = S(DefinitionToJson(def));
  return item;
}

Result<JobDefinition> DecodeDefinition(const Json& item, const std::string& job) {
  const std::string where = fmt::format("definition of job '{}'", job);
  auto v = Attribute(item, "definition", FieldType::kString, where);
  if (!v.ok()) return v.status();
  JobDefinition def;
  if (v->has_value()) {
    auto parsed = DefinitionFromJson(std::get<std::string>(**v), where);
    if (!parsed.ok()) return parsed.status();
    def = std::move(parsed.value());
  }
  def.job = job;  // the key is authoritative
  return def;
}

Json RunItem(const RunRecord& run, int64_t expires_at_s) {
  Json item = Key(JobPk(run.job), RunSk(run.start_ms, run.run_id));
  PutFields(item, RunFields(), run);
  if (expires_at_s > 0) item[kTtlAttribute] = N(expires_at_s);
  return item;
}

Result<RunRecord> DecodeRun(const Json& item, const std::string& job) {
  RunRecord run;
  run.job = job;
  JOBGATE_RETURN_IF_ERROR(DecodeFields(item, RunFields(), fmt::format("run of job '{}'", job), &run));
  return run;
}

Json RequestItem(const RequestRecord& rec) {
  Json item = Key(JobPk(rec.job), RequestSk(rec.key));
  item["status"] = S(RequestStatusName(rec.status));
  PutFields(item, RequestFields(), rec);
  // Rounded up, plus a day: DynamoDB's TTL must not delete a record before
  // any host counts it expired, and hosts add max_clock_skew to
  // expires_at_ms (the logical end, which every read checks); TTL is only
  // the clean-up.
  const int64_t ms = std::max<int64_t>(rec.expires_at_ms, 0);
  item[kTtlAttribute] = N(ms / 1000 + (ms % 1000 != 0 ? 1 : 0) + kRequestTtlSlackS);
  return item;
}

Result<RequestRecord> DecodeRequest(const Json& item, const std::string& job, const std::string& key) {
  RequestRecord rec;
  rec.job = job;
  rec.key = key;
  const std::string where = fmt::format("request '{}' of job '{}'", key, job);
  JOBGATE_RETURN_IF_ERROR(DecodeStatus(item, where, &ParseRequestStatus, &rec.status));
  JOBGATE_RETURN_IF_ERROR(DecodeFields(item, RequestFields(), where, &rec));
  return rec;
}

}  // namespace jobgate::dynamodb_item
