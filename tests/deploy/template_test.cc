// The CloudFormation stack (deploy/template.yaml) against the code it
// deploys: the table is the one `jobgate init` makes, the function's role
// allows exactly the DynamoDB calls the store makes (derived from the
// source, so a new call without a template change fails here), every retry
// is off, and every reference resolves.
//
// The template's short-form tags (!Ref, !GetAtt, !Sub, !If, ...) come from
// yaml-cpp as Node::Tag(); the long forms ({"Ref": X}, {"Fn::If": [...]})
// are read the same way.
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "store/dynamodb_item.h"
#include "store/dynamodb_store.h"

namespace jobgate {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << "cannot read " << path;
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string Source(const std::string& relative) { return ReadFile(std::string(JOBGATE_SOURCE_DIR) + "/" + relative); }

const YAML::Node& Template() {
  static const YAML::Node t = YAML::LoadFile(std::string(JOBGATE_SOURCE_DIR) + "/deploy/template.yaml");
  return t;
}

YAML::Node Resource(const std::string& name) { return Template()["Resources"][name]; }
YAML::Node Properties(const std::string& name) { return Resource(name)["Properties"]; }

// ---- intrinsic functions ----------------------------------------------------------------

struct Intrinsic {
  std::string fn;  // "Ref", "GetAtt", "Sub", "If", ...
  YAML::Node arg;
};

std::optional<Intrinsic> AsIntrinsic(const YAML::Node& n) {
  const std::string& tag = n.Tag();
  if (tag.size() > 1 && tag[0] == '!') return Intrinsic{tag.substr(1), n};
  if (n.IsMap() && n.size() == 1) {
    const std::string key = n.begin()->first.as<std::string>();
    if (key == "Ref") return Intrinsic{"Ref", n.begin()->second};
    if (key.rfind("Fn::", 0) == 0) return Intrinsic{key.substr(4), n.begin()->second};
  }
  return std::nullopt;
}

// "!Ref X" -> X; "" when n is something else.
std::string RefTarget(const YAML::Node& n) {
  auto i = AsIntrinsic(n);
  return i && i->fn == "Ref" ? i->arg.as<std::string>() : "";
}

// "!GetAtt X.Attr" (or the list form) -> "X.Attr".
std::string GetAttTarget(const YAML::Node& n) {
  auto i = AsIntrinsic(n);
  if (!i || i->fn != "GetAtt") return "";
  if (i->arg.IsSequence()) return i->arg[0].as<std::string>() + "." + i->arg[1].as<std::string>();
  return i->arg.as<std::string>();
}

// "!Sub S" -> S.
std::string SubString(const YAML::Node& n) {
  auto i = AsIntrinsic(n);
  return i && i->fn == "Sub" && i->arg.IsScalar() ? i->arg.as<std::string>() : "";
}

// The ${Name} and ${Name.Attr} of a !Sub string (not the ${!Literal} escapes).
std::vector<std::string> SubVariables(const std::string& s) {
  static const std::regex kVar(R"(\$\{([^!}][^}]*)\})");
  std::vector<std::string> out;
  for (auto it = std::sregex_iterator(s.begin(), s.end(), kVar); it != std::sregex_iterator(); ++it) {
    out.push_back((*it)[1]);
  }
  return out;
}

std::string Substitute(std::string s, const std::map<std::string, std::string>& values) {
  for (const auto& [name, value] : values) {
    const std::string var = "${" + name + "}";
    for (size_t at = s.find(var); at != std::string::npos; at = s.find(var, at + value.size())) s.replace(at, var.size(), value);
  }
  return s;
}

// "!If [Cond, A, B]": Cond, A, B.
struct IfParts {
  std::string condition;
  YAML::Node then_value, else_value;
};
std::optional<IfParts> AsIf(const YAML::Node& n) {
  auto i = AsIntrinsic(n);
  if (!i || i->fn != "If" || !i->arg.IsSequence() || i->arg.size() != 3) return std::nullopt;
  return IfParts{i->arg[0].as<std::string>(), i->arg[1], i->arg[2]};
}

bool IsNoValue(const YAML::Node& n) { return RefTarget(n) == "AWS::NoValue"; }

// A list or a single value, as a list.
std::vector<YAML::Node> Items(const YAML::Node& n) {
  if (n.IsSequence()) return {n.begin(), n.end()};
  return {n};
}

std::set<std::string> Keys(const YAML::Node& map) {
  std::set<std::string> out;
  for (const auto& kv : map) out.insert(kv.first.as<std::string>());
  return out;
}

// ---- what the code does ---------------------------------------------------------------------

// Source text without its // comments (a comment may name an operation).
std::string WithoutComments(const std::string& text) {
  static const std::regex kComment(R"((^|[ \t])//[^\n]*)");
  return std::regex_replace(text, kComment, "$1");
}

std::set<std::string> Matches(const std::string& text, const std::regex& re) {
  std::set<std::string> out;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), re); it != std::sregex_iterator(); ++it) {
    out.insert((*it)[1]);
  }
  return out;
}

// The operations DynamoDbStore sends: the first argument of each of its
// call helpers (Call, Write, WriteState, Paginate) and of client_.Call.
std::set<std::string> StoreOperations() {
  static const std::regex kHelperCall(R"re(\b(?:Call|Write|WriteState|Paginate)\(\s*"([A-Za-z]+)")re");
  return Matches(WithoutComments(Source("src/store/dynamodb_store.cc")), kHelperCall);
}

// The operations `jobgate init` sends (DescribeTable, CreateTable, ...).
std::set<std::string> AdminOperations() {
  static const std::regex kClientCall(R"re(client_\.Call\(\s*"([A-Za-z]+)")re");
  return Matches(WithoutComments(Source("src/store/dynamodb_admin.cc")), kClientCall);
}

// Every operation of the DynamoDB API (its reference's list of actions).
const std::set<std::string>& DynamoDbApi() {
  static const std::set<std::string> api = {
      "BatchExecuteStatement", "BatchGetItem", "BatchWriteItem", "CreateBackup", "CreateGlobalTable", "CreateTable",
      "DeleteBackup", "DeleteItem", "DeleteResourcePolicy", "DeleteTable", "DescribeBackup",
      "DescribeContinuousBackups", "DescribeContributorInsights", "DescribeEndpoints", "DescribeExport",
      "DescribeGlobalTable", "DescribeGlobalTableSettings", "DescribeImport", "DescribeKinesisStreamingDestination",
      "DescribeLimits", "DescribeTable", "DescribeTableReplicaAutoScaling", "DescribeTimeToLive",
      "DisableKinesisStreamingDestination", "EnableKinesisStreamingDestination", "ExecuteStatement",
      "ExecuteTransaction", "ExportTableToPointInTime", "GetItem", "GetResourcePolicy", "ImportTable", "ListBackups",
      "ListContributorInsights", "ListExports", "ListGlobalTables", "ListImports", "ListTables", "ListTagsOfResource",
      "PutItem", "PutResourcePolicy", "Query", "RestoreTableFromBackup", "RestoreTableToPointInTime", "Scan",
      "TagResource", "TransactGetItems", "TransactWriteItems", "UntagResource", "UpdateContinuousBackups",
      "UpdateContributorInsights", "UpdateGlobalTable", "UpdateGlobalTableSettings", "UpdateItem",
      "UpdateKinesisStreamingDestination", "UpdateTable", "UpdateTableReplicaAutoScaling", "UpdateTimeToLive"};
  return api;
}

// The IAM actions an operation needs. IAM has no action for the transaction
// APIs: each item inside is authorised as its own PutItem, UpdateItem,
// DeleteItem or ConditionCheckItem ("Using IAM with DynamoDB transactions");
// the store's transaction is the state's Update and the run record's Put.
std::set<std::string> IamActionsFor(const std::string& op) {
  if (op == "TransactWriteItems") return {"dynamodb:UpdateItem", "dynamodb:PutItem"};
  return {"dynamodb:" + op};
}

// ---- checks ---------------------------------------------------------------------------------

TEST(StackTemplate, DeclaresTheStackAndNothingElse) {
  const std::map<std::string, std::string> want = {
      {"JobControlTable", "AWS::DynamoDB::Table"},
      {"FunctionLogGroup", "AWS::Logs::LogGroup"},
      {"FunctionRole", "AWS::IAM::Role"},
      {"JobFunction", "AWS::Lambda::Function"},
      {"FunctionInvokeConfig", "AWS::Lambda::EventInvokeConfig"},
      {"SchedulerRole", "AWS::IAM::Role"},
      {"Schedule", "AWS::Scheduler::Schedule"},
      {"DeadLetterQueue", "AWS::SQS::Queue"},
      {"AlarmTopic", "AWS::SNS::Topic"},
      {"ErrorsAlarm", "AWS::CloudWatch::Alarm"},
      {"DeadLetterAlarm", "AWS::CloudWatch::Alarm"},
  };
  std::map<std::string, std::string> got;
  for (const auto& kv : Template()["Resources"]) got[kv.first.as<std::string>()] = kv.second["Type"].as<std::string>();
  EXPECT_EQ(got, want);
  // Optional parts hang on their parameters.
  EXPECT_EQ(Resource("JobControlTable")["Condition"].as<std::string>(), "CreatesTable");
  EXPECT_EQ(Resource("DeadLetterQueue")["Condition"].as<std::string>(), "HasDeadLetterQueue");
  EXPECT_EQ(Resource("DeadLetterAlarm")["Condition"].as<std::string>(), "HasDeadLetterQueue");
  EXPECT_EQ(Resource("AlarmTopic")["Condition"].as<std::string>(), "HasAlarmEmail");
}

// Walks every node, checking that each !Ref, !GetAtt, ${} and !If names
// something that exists, and that a resource made under a Condition is only
// referenced where that condition holds (else the stack fails to deploy
// with the condition false).
class ReferenceChecker {
 public:
  ReferenceChecker() {
    const YAML::Node& t = Template();
    parameters_ = Keys(t["Parameters"]);
    conditions_ = Keys(t["Conditions"]);
    for (const auto& kv : t["Resources"]) {
      const std::string name = kv.first.as<std::string>();
      resource_condition_[name] = kv.second["Condition"] ? kv.second["Condition"].as<std::string>() : "";
    }
  }

  void CheckAll() {
    const YAML::Node& t = Template();
    for (const auto& kv : t["Conditions"]) Walk(kv.second, {}, "Conditions." + kv.first.as<std::string>());
    for (const auto& kv : t["Resources"]) {
      const std::string name = kv.first.as<std::string>();
      std::set<std::string> holding;
      if (!resource_condition_[name].empty()) {
        EXPECT_TRUE(conditions_.count(resource_condition_[name])) << name << ": unknown condition";
        holding.insert(resource_condition_[name]);
      }
      Walk(kv.second, holding, "Resources." + name);
    }
    for (const auto& kv : t["Outputs"]) {
      std::set<std::string> holding;
      if (kv.second["Condition"]) holding.insert(kv.second["Condition"].as<std::string>());
      Walk(kv.second, holding, "Outputs." + kv.first.as<std::string>());
    }
    EXPECT_GT(references_, 20) << "the walk found too few references: is the template read at all?";
  }

 private:
  void Name(const std::string& name, const std::set<std::string>& holding, const std::string& where) {
    ++references_;
    static const std::set<std::string> kPseudo = {"AWS::AccountId", "AWS::NoValue", "AWS::Partition", "AWS::Region",
                                                  "AWS::StackId",   "AWS::StackName", "AWS::URLSuffix"};
    if (kPseudo.count(name) || parameters_.count(name)) return;
    auto it = resource_condition_.find(name);
    if (it == resource_condition_.end()) {
      ADD_FAILURE() << where << ": '" << name << "' is no parameter, resource or pseudo parameter";
      return;
    }
    if (!it->second.empty()) {
      EXPECT_TRUE(holding.count(it->second))
          << where << ": references " << name << ", which exists only under " << it->second << ", outside !If "
          << it->second;
    }
  }

  void Walk(const YAML::Node& n, std::set<std::string> holding, const std::string& where) {
    if (auto branches = AsIf(n)) {
      EXPECT_TRUE(conditions_.count(branches->condition)) << where << ": !If on unknown " << branches->condition;
      std::set<std::string> then_holding = holding;
      then_holding.insert(branches->condition);
      Walk(branches->then_value, then_holding, where);
      Walk(branches->else_value, holding, where);
      return;
    }
    if (auto i = AsIntrinsic(n)) {
      if (i->fn == "Ref") return Name(i->arg.as<std::string>(), holding, where);
      if (i->fn == "GetAtt") {
        const std::string target = GetAttTarget(n);
        return Name(target.substr(0, target.find('.')), holding, where);
      }
      if (i->fn == "Sub" && i->arg.IsScalar()) {
        for (const std::string& var : SubVariables(i->arg.as<std::string>())) {
          Name(var.rfind("AWS::", 0) == 0 ? var : var.substr(0, var.find('.')), holding, where);
        }
        return;
      }
      if (i->fn == "Condition") {
        EXPECT_TRUE(conditions_.count(i->arg.as<std::string>())) << where;
        return;
      }
    }
    if (n.IsMap()) {
      for (const auto& kv : n) {
        if (kv.first.as<std::string>() != "Condition") Walk(kv.second, holding, where + "." + kv.first.as<std::string>());
      }
    } else if (n.IsSequence()) {
      for (const auto& item : n) Walk(item, holding, where);
    }
  }

  std::set<std::string> parameters_, conditions_;
  std::map<std::string, std::string> resource_condition_;
  int references_ = 0;
};

TEST(StackTemplate, EveryReferenceResolvesUnderItsCondition) { ReferenceChecker().CheckAll(); }

TEST(StackTemplate, ScheduleFiresOncePerSlotWithoutRetries) {
  const YAML::Node p = Properties("Schedule");
  // Quoted: unquoted OFF is a YAML 1.1 boolean to some readers.
  EXPECT_EQ(p["FlexibleTimeWindow"]["Mode"].as<std::string>(), "OFF");
  EXPECT_EQ(p["FlexibleTimeWindow"]["Mode"].Tag(), "!") << "Mode must be the quoted string \"OFF\"";
  EXPECT_EQ(p["Target"]["RetryPolicy"]["MaximumRetryAttempts"].as<int>(), 0);
  EXPECT_EQ(GetAttTarget(p["Target"]["Arn"]), "JobFunction.Arn");
  EXPECT_EQ(GetAttTarget(p["Target"]["RoleArn"]), "SchedulerRole.Arn");
  EXPECT_EQ(RefTarget(p["ScheduleExpression"]), "ScheduleExpression");
  EXPECT_EQ(RefTarget(p["ScheduleExpressionTimezone"]), "ScheduleExpressionTimezone");
  const std::string hourly = Template()["Parameters"]["ScheduleExpression"]["Default"].as<std::string>();
  EXPECT_TRUE(hourly == "rate(1 hour)" || hourly == "cron(0 * * * ? *)") << hourly;

  // The event: the job, the slot and the delivery's id, as JSON once
  // CloudFormation has put the job's name in.
  const std::string input = SubString(p["Target"]["Input"]);
  ASSERT_FALSE(input.empty()) << "Target.Input must be a !Sub string";
  EXPECT_EQ(SubVariables(input), std::vector<std::string>{"JobName"});
  const auto event = nlohmann::json::parse(Substitute(input, {{"JobName", "nightly-report"}}));
  EXPECT_EQ(event, (nlohmann::json{{"job", "nightly-report"},
                                   {"slot", "<aws.scheduler.scheduled-time>"},
                                   {"request_id", "<aws.scheduler.execution-id>"}}));

  auto dlq = AsIf(p["Target"]["DeadLetterConfig"]);
  ASSERT_TRUE(dlq);
  EXPECT_EQ(dlq->condition, "HasDeadLetterQueue");
  EXPECT_EQ(GetAttTarget(dlq->then_value["Arn"]), "DeadLetterQueue.Arn");
  EXPECT_TRUE(IsNoValue(dlq->else_value));
}

TEST(StackTemplate, LambdaDoesNotRetryTheFunction) {
  const YAML::Node p = Properties("FunctionInvokeConfig");
  EXPECT_EQ(RefTarget(p["FunctionName"]), "JobFunction");
  EXPECT_EQ(p["Qualifier"].as<std::string>(), "$LATEST");
  EXPECT_EQ(p["MaximumRetryAttempts"].as<int>(), 0);
  // Throttled events are retried regardless, up to this age (default 6 h).
  EXPECT_EQ(RefTarget(p["MaximumEventAgeInSeconds"]), "MaximumEventAgeSeconds");
  EXPECT_LE(Template()["Parameters"]["MaximumEventAgeSeconds"]["Default"].as<int>(), 3600);
  auto dest = AsIf(p["DestinationConfig"]);
  ASSERT_TRUE(dest);
  EXPECT_EQ(dest->condition, "HasDeadLetterQueue");
  EXPECT_EQ(GetAttTarget(dest->then_value["OnFailure"]["Destination"]), "DeadLetterQueue.Arn");
}

TEST(StackTemplate, FunctionRunsTheBootstrapOnAl2023WithTheStoreOfTheTable) {
  const YAML::Node p = Properties("JobFunction");
  EXPECT_EQ(p["Runtime"].as<std::string>(), "provided.al2023");
  ASSERT_TRUE(p["Architectures"].IsSequence());
  EXPECT_EQ(p["Architectures"].size(), 1u);
  EXPECT_EQ(p["Architectures"][0].as<std::string>(), "x86_64");
  EXPECT_EQ(p["Handler"].as<std::string>(), "bootstrap");
  EXPECT_EQ(RefTarget(p["Code"]["S3Bucket"]), "CodeS3Bucket");
  EXPECT_EQ(RefTarget(p["Code"]["S3Key"]), "CodeS3Key");
  EXPECT_FALSE(RefTarget(p["Timeout"]).empty());
  EXPECT_FALSE(RefTarget(p["MemorySize"]).empty());
  EXPECT_EQ(GetAttTarget(p["Role"]), "FunctionRole.Arn");
  EXPECT_EQ(RefTarget(p["LoggingConfig"]["LogGroup"]), "FunctionLogGroup");

  const YAML::Node env = p["Environment"]["Variables"];
  EXPECT_EQ(Keys(env), (std::set<std::string>{"JOBGATE_STORE", "JOBGATE_JOB", "JOBGATE_LAMBDA_COMMAND",
                                               "JOBGATE_LAMBDA_FAILED_RUN_RESPONSE", "JOBGATE_LAMBDA_METRICS",
                                               "JOBGATE_LAMBDA_DEADLINE_MARGIN"}));
  EXPECT_EQ(RefTarget(env["JOBGATE_JOB"]), "JobName");
  EXPECT_EQ(RefTarget(env["JOBGATE_LAMBDA_FAILED_RUN_RESPONSE"]), "FailedRunResponse");
  EXPECT_EQ(RefTarget(env["JOBGATE_LAMBDA_METRICS"]), "Metrics");
  EXPECT_EQ(RefTarget(env["JOBGATE_LAMBDA_DEADLINE_MARGIN"]), "DeadlineMargin");
  // The values jobgate lambda takes (cli.md), and their defaults.
  const YAML::Node params = Template()["Parameters"];
  EXPECT_EQ(params["FailedRunResponse"]["Default"].as<std::string>(), "error");
  EXPECT_EQ(params["FailedRunResponse"]["AllowedValues"].size(), 2u);
  EXPECT_EQ(params["Metrics"]["Default"].as<std::string>(), "none");
  EXPECT_EQ(params["DeadlineMargin"]["Default"].as<std::string>(), "2s");
  auto command = AsIf(env["JOBGATE_LAMBDA_COMMAND"]);
  ASSERT_TRUE(command);
  EXPECT_EQ(command->condition, "HasCommand");
  EXPECT_EQ(RefTarget(command->then_value), "LambdaCommand");
  EXPECT_TRUE(IsNoValue(command->else_value));

  // The URL jobgate parses: this table, this region.
  const std::string store = SubString(env["JOBGATE_STORE"]);
  ASSERT_FALSE(store.empty());
  auto url = ParseDynamoDbUrl(Substitute(store, {{"TableName", "job_control"}, {"AWS::Region", "eu-west-1"}}));
  ASSERT_TRUE(url.ok()) << url.status().message();
  EXPECT_EQ(url->table, "job_control");
  EXPECT_EQ(url->region, "eu-west-1");
  EXPECT_TRUE(url->endpoint.empty());
  EXPECT_EQ(SubString(Template()["Outputs"]["StoreUrl"]["Value"]), store);
}

// Pairs {"AttributeName", "X"}, {"<kind>", "Y"} in a piece of source.
std::vector<std::pair<std::string, std::string>> SourcePairs(const std::string& text, const std::string& kind) {
  const std::regex re("\\{\"AttributeName\", \"([A-Za-z_]+)\"\\}, \\{\"" + kind + "\", \"([A-Z]+)\"\\}");
  std::vector<std::pair<std::string, std::string>> out;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), re); it != std::sregex_iterator(); ++it) {
    out.emplace_back((*it)[1], (*it)[2]);
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> TemplatePairs(const YAML::Node& list, const std::string& kind) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& item : list) out.emplace_back(item["AttributeName"].as<std::string>(), item[kind].as<std::string>());
  return out;
}

// The body of the function whose definition starts with `signature`.
std::string FunctionBody(const std::string& source, const std::string& signature) {
  const size_t begin = source.find(signature);
  EXPECT_NE(begin, std::string::npos) << signature;
  if (begin == std::string::npos) return "";
  return source.substr(begin, source.find("\n}\n", begin) - begin);
}

TEST(StackTemplate, TableIsTheOneJobgateInitCreates) {
  const std::string admin = Source("src/store/dynamodb_admin.cc");
  const std::string create = FunctionBody(admin, "Status DynamoDbStore::CreateTable()");
  const std::string index = FunctionBody(admin, "Json DueIndex()");
  const std::string index_attrs = FunctionBody(admin, "Json DueIndexAttributeDefinitions()");
  const YAML::Node p = Properties("JobControlTable");

  EXPECT_NE(create.find("{\"BillingMode\", \"PAY_PER_REQUEST\"}"), std::string::npos);
  EXPECT_EQ(p["BillingMode"].as<std::string>(), "PAY_PER_REQUEST");
  const auto key_schema = SourcePairs(create, "KeyType");
  ASSERT_EQ(key_schema.size(), 2u) << "CreateTable's KeySchema not found in dynamodb_admin.cc";
  EXPECT_EQ(TemplatePairs(p["KeySchema"], "KeyType"), key_schema);

  auto attributes = SourcePairs(create, "AttributeType");
  for (const auto& a : SourcePairs(index_attrs, "AttributeType")) attributes.push_back(a);
  ASSERT_EQ(attributes.size(), 4u);
  EXPECT_EQ(TemplatePairs(p["AttributeDefinitions"], "AttributeType"), attributes);

  ASSERT_TRUE(p["GlobalSecondaryIndexes"].IsSequence());
  ASSERT_EQ(p["GlobalSecondaryIndexes"].size(), 1u);
  const YAML::Node gsi = p["GlobalSecondaryIndexes"][0];
  EXPECT_EQ(gsi["IndexName"].as<std::string>(), kDueIndexName);
  const auto index_keys = SourcePairs(index, "KeyType");
  ASSERT_EQ(index_keys.size(), 2u) << "DueIndex()'s KeySchema not found in dynamodb_admin.cc";
  EXPECT_EQ(TemplatePairs(gsi["KeySchema"], "KeyType"), index_keys);
  EXPECT_NE(index.find("{\"ProjectionType\", \"KEYS_ONLY\"}"), std::string::npos);
  EXPECT_EQ(gsi["Projection"]["ProjectionType"].as<std::string>(), "KEYS_ONLY");

  EXPECT_EQ(p["TimeToLiveSpecification"]["AttributeName"].as<std::string>(), dynamodb_item::kTtlAttribute);
  EXPECT_TRUE(p["TimeToLiveSpecification"]["Enabled"].as<bool>());
  EXPECT_EQ(RefTarget(p["TableName"]), "TableName");
}

struct Statement {
  std::set<std::string> actions;
  std::vector<YAML::Node> resources;
};

// The statements of a role's inline policies, !If branches taken (the
// optional ones count as present).
std::vector<Statement> Statements(const std::string& role) {
  std::vector<Statement> out;
  auto present = [](const YAML::Node& n) {
    auto branches = AsIf(n);
    return branches ? branches->then_value : n;
  };
  for (const YAML::Node& policy_node : Items(Properties(role)["Policies"])) {
    const YAML::Node policy = present(policy_node);
    for (const YAML::Node& st_node : Items(policy["PolicyDocument"]["Statement"])) {
      const YAML::Node st = present(st_node);
      EXPECT_EQ(st["Effect"].as<std::string>(), "Allow");
      Statement s;
      for (const YAML::Node& a : Items(st["Action"])) s.actions.insert(a.as<std::string>());
      s.resources = Items(st["Resource"]);
      out.push_back(std::move(s));
    }
  }
  return out;
}

TEST(StackTemplate, FunctionRoleAllowsExactlyTheDynamoDbCallsOfTheStore) {
  // The table's ARN from its name, whether the stack creates it or not
  // (CreateTable); the table the stack creates has that name.
  const std::string kTableArn = "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/${TableName}";
  EXPECT_EQ(RefTarget(Properties("JobControlTable")["TableName"]), "TableName");
  const std::set<std::string> ops = StoreOperations();
  // The helpers' names may change: an unchanged source would still name
  // these calls, so an empty or tiny set means the scan broke.
  ASSERT_TRUE(ops.count("BatchGetItem") && ops.count("UpdateItem") && ops.count("PutItem"))
      << "the call helpers of dynamodb_store.cc were not found";
  // A call made through a helper the scan does not know (or from another
  // file) names its operation in a literal somewhere in src/: each must be
  // a call found above or `init`'s.
  const std::set<std::string> admin = AdminOperations();
  static const std::regex kLiteral("\"([A-Z][A-Za-z]+)\"");
  for (const auto& entry : std::filesystem::recursive_directory_iterator(std::string(JOBGATE_SOURCE_DIR) + "/src")) {
    if (!entry.is_regular_file()) continue;
    const std::string path = entry.path().string();
    for (const std::string& literal : Matches(WithoutComments(ReadFile(path)), kLiteral)) {
      if (!DynamoDbApi().count(literal)) continue;
      const bool is_admin_file = path.ends_with("/src/store/dynamodb_admin.cc");
      EXPECT_TRUE(ops.count(literal) || (is_admin_file && admin.count(literal)))
          << path << " names DynamoDB operation " << literal
          << ", which is not among the store's calls found by this test (" << ::testing::PrintToString(ops)
          << "): teach StoreOperations() the new call helper, and the role the action";
    }
  }

  std::set<std::string> want;
  for (const std::string& op : ops) {
    for (const std::string& action : IamActionsFor(op)) want.insert(action);
  }
  std::set<std::string> got;
  bool index_statement = false;
  for (const Statement& s : Statements("FunctionRole")) {
    bool dynamodb = false;
    for (const std::string& a : s.actions) {
      EXPECT_EQ(a.find('*'), std::string::npos) << "wildcard action " << a;
      if (a.rfind("dynamodb:", 0) == 0) {
        dynamodb = true;
        got.insert(a);
      }
    }
    if (!dynamodb) continue;
    ASSERT_EQ(s.resources.size(), 1u) << "one resource per DynamoDB statement";
    const std::string arn = SubString(s.resources[0]);
    if (arn == kTableArn) continue;
    // The index: only its Query (ListDue).
    EXPECT_EQ(arn, kTableArn + "/index/" + kDueIndexName)
        << "DynamoDB statements name the table's ARN or its index's, nothing else";
    EXPECT_EQ(s.actions, std::set<std::string>{"dynamodb:Query"});
    index_statement = true;
  }
  EXPECT_EQ(got, want) << "the role's DynamoDB actions differ from the operations dynamodb_store.cc calls";
  EXPECT_TRUE(index_statement) << "no statement for the due index's Query";
  for (const std::string& op : admin) {
    EXPECT_FALSE(got.count("dynamodb:" + op)) << op << " is table administration (`jobgate init`), not for the function";
  }
}

TEST(StackTemplate, FunctionRoleWritesOnlyItsOwnLogGroup) {
  std::set<std::string> logs;
  for (const Statement& s : Statements("FunctionRole")) {
    for (const std::string& a : s.actions) {
      if (a.rfind("logs:", 0) != 0) continue;
      logs.insert(a);
      ASSERT_EQ(s.resources.size(), 1u);
      EXPECT_EQ(GetAttTarget(s.resources[0]), "FunctionLogGroup.Arn");
    }
  }
  EXPECT_EQ(logs, (std::set<std::string>{"logs:CreateLogStream", "logs:PutLogEvents"}));
  EXPECT_EQ(Properties("FunctionRole")["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]["Service"].as<std::string>(),
            "lambda.amazonaws.com");
}

TEST(StackTemplate, SchedulerMayInvokeTheFunctionOnly) {
  const YAML::Node trust = Properties("SchedulerRole")["AssumeRolePolicyDocument"]["Statement"][0];
  EXPECT_EQ(trust["Principal"]["Service"].as<std::string>(), "scheduler.amazonaws.com");
  EXPECT_EQ(RefTarget(trust["Condition"]["StringEquals"]["aws:SourceAccount"]), "AWS::AccountId");
  std::set<std::string> actions;
  for (const Statement& s : Statements("SchedulerRole")) {
    actions.insert(s.actions.begin(), s.actions.end());
    if (!s.actions.count("lambda:InvokeFunction")) continue;
    ASSERT_EQ(s.resources.size(), 2u);
    EXPECT_EQ(GetAttTarget(s.resources[0]), "JobFunction.Arn");
    EXPECT_EQ(SubString(s.resources[1]), "${JobFunction.Arn}:*");
  }
  EXPECT_EQ(actions, (std::set<std::string>{"lambda:InvokeFunction", "sqs:SendMessage"}));
}

TEST(StackTemplate, AlarmOnAnyFunctionErrorWithinAnHour) {
  const YAML::Node p = Properties("ErrorsAlarm");
  EXPECT_EQ(p["Namespace"].as<std::string>(), "AWS/Lambda");
  EXPECT_EQ(p["MetricName"].as<std::string>(), "Errors");
  EXPECT_EQ(p["Dimensions"][0]["Name"].as<std::string>(), "FunctionName");
  EXPECT_EQ(RefTarget(p["Dimensions"][0]["Value"]), "JobFunction");
  EXPECT_EQ(p["Statistic"].as<std::string>(), "Sum");
  EXPECT_LE(p["Period"].as<int>() * p["EvaluationPeriods"].as<int>(), 3600);
  EXPECT_EQ(p["Threshold"].as<double>(), 1.0);
  EXPECT_EQ(p["ComparisonOperator"].as<std::string>(), "GreaterThanOrEqualToThreshold");
  auto actions = AsIf(p["AlarmActions"]);
  ASSERT_TRUE(actions);
  EXPECT_EQ(actions->condition, "HasAlarmEmail");
  EXPECT_EQ(RefTarget(actions->then_value[0]), "AlarmTopic");
}

}  // namespace
}  // namespace jobgate
