// Helpers of the DynamoDB tests that run without a server: test
// credentials, scripted responses and a store over a scripted transport.
#pragma once

#include <ctime>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "store/dynamodb_store.h"

namespace jobgate::dynamodb_test {

inline StoreOptions WithEnvironment(const Environment& env) {
  StoreOptions options;
  options.environment = env;
  return options;
}

using Json = nlohmann::json;

// ---- helpers ----------------------------------------------------------------------

inline constexpr const char* kSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
inline constexpr const char* kToken = "FwoGZXIvYXdzEXAMPLESESSIONTOKEN0123456789";

inline AwsConfig TestConfig(const std::string& endpoint = "http://127.0.0.1:8123") {
  AwsConfig c;
  c.credentials = CredentialsProvider::Static({"AKIDEXAMPLE", kSecret, kToken}, "environment");
  c.credentials_source = "environment";
  c.region = "us-east-1";
  c.endpoint_url = endpoint;
  return c;
}

// An HTTP Date header's value (IMF-fixdate) for epoch milliseconds.
inline std::string HttpDate(EpochMs ms) {
  std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return buf;
}

inline HttpResponse Response(int status, std::string body, HttpHeaders headers = {}) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  r.headers = std::move(headers);
  r.headers.emplace_back("x-amzn-RequestId", "REQ123");
  return r;
}

inline HttpResponse AwsError(int status, const std::string& type, const std::string& message = "") {
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

inline JobState Idle(const std::string& job, int64_t version) {
  JobState s;
  s.job = job;
  s.version = version;
  return s;
}

inline Json SeedItem(const std::string& job) {
  return Json{{"PK", {{"S", "JOB#" + job}}}, {"SK", {{"S", "STATE"}}}, {"status", {{"S", "IDLE"}}}};
}

}  // namespace jobgate::dynamodb_test
