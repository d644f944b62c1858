// The HTTP API's routes, checks and errors, in process: http::Api::Handle
// on a memory store (tests/serve_http holds the real server over loopback).
#include "http/api.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/random.h"
#include "http/server.h"
#include "store/memory_store.h"

namespace jobgate::http {
namespace {

using Json = nlohmann::json;

// A store that can be switched off: every read answers kUnavailable.
class SwitchableStore : public StoreWrapper {
 public:
  using StoreWrapper::StoreWrapper;
  bool down = false;
  Result<std::optional<JobState>> ReadState(const std::string& job) override {
    if (down) return Status::Unavailable("store down (test)");
    return StoreWrapper::ReadState(job);
  }
  Result<std::vector<JobState>> ListStates() override {
    if (down) return Status::Unavailable("store down (test)");
    return StoreWrapper::ListStates();
  }
};

class ApiTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(store_.Init().ok()); }

  Request Get(const std::string& path) {
    Request r;
    r.method = "GET";
    r.raw_path = path;
    r.from_loopback = true;
    r.headers["host"] = "127.0.0.1:8080";
    size_t q = path.find('?');
    std::string p = path.substr(0, q);
    for (size_t start = 1; start <= p.size();) {
      size_t slash = std::min(p.find('/', start), p.size());
      if (slash > start) r.path.push_back(PercentDecode(p.substr(start, slash - start), false));
      start = slash + 1;
    }
    if (q != std::string::npos) {
      std::string query = path.substr(q + 1);
      for (size_t start = 0; start < query.size();) {
        size_t amp = std::min(query.find('&', start), query.size());
        std::string pair = query.substr(start, amp - start);
        size_t eq = pair.find('=');
        r.query[pair.substr(0, eq)] = eq == std::string::npos ? "" : pair.substr(eq + 1);
        start = amp + 1;
      }
    }
    return r;
  }
  Request Post(const std::string& path, const std::string& body = "", const std::string& token = "s3cret") {
    Request r = Get(path);
    r.method = "POST";
    r.body = body;
    if (!token.empty()) r.headers["authorization"] = "Bearer " + token;
    return r;
  }
  Response Call(const Request& r) { return api_.Handle(r); }
  static Json Body(const Response& r) { return Json::parse(r.body); }
  static std::string Code(const Response& r) { return Body(r)["error"]["code"]; }

  // A finished run of `job` (state and run record), through the controller.
  void RunOnce(const std::string& job, int exit_code = 0) {
    Controller c(store_, clock_, random_);
    RunRequest req;
    req.job = job;
    req.holder = "host:1";
    auto out = c.Run(req, [&](const Lease&, const std::atomic<bool>&) {
      WorkResult w;
      w.exit_code = exit_code;
      return w;
    });
    ASSERT_TRUE(out.ok()) << out.status().message();
    clock_.Advance(1'000);
  }
  Lease Hold(const std::string& job) {
    Controller c(store_, clock_, random_);
    RunRequest req;
    req.job = job;
    req.holder = "host:2";
    auto a = c.Acquire(req);
    EXPECT_TRUE(a.ok() && a->lease.has_value());
    return *a->lease;
  }
  JobState State(const std::string& job) { return **store_.ReadState(job); }

  MemoryStore memory_;
  SwitchableStore store_{memory_};
  ManualClock clock_;
  SeededRandom random_{7};
  Api api_{store_, clock_, random_, ApiOptions{"s3cret", "memory:", {}}};
};

TEST_F(ApiTest, HealthAndReadiness) {
  EXPECT_EQ(Call(Get("/healthz")).status, 200);
  EXPECT_EQ(Body(Call(Get("/healthz")))["status"], "ok");
  EXPECT_EQ(Call(Get("/readyz")).status, 200);
  store_.down = true;
  Response r = Call(Get("/readyz"));
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(Code(r), "unavailable");
  EXPECT_EQ(Call(Get("/healthz")).status, 200);  // the process is up all the same
  EXPECT_EQ(Call(Post("/healthz")).status, 405);
}

TEST_F(ApiTest, ListsJobsWithStateAndDefinitionOnlyJobs) {
  RunOnce("nightly");
  JobDefinition def;
  def.job = "hourly";
  def.schedule = "rate(1 hour)";
  def.command = {"true"};
  ASSERT_TRUE(store_.PutDefinition(def).ok());
  Response r = Call(Get("/api/v1/jobs"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.content_type, "application/json");
  Json j = Body(r);
  ASSERT_EQ(j["jobs"].size(), 2u);
  EXPECT_EQ(j["jobs"][0]["job"], "hourly");
  EXPECT_EQ(j["jobs"][0]["status"], "IDLE");
  EXPECT_EQ(j["jobs"][0]["schedule"], "rate(1 hour)");
  EXPECT_EQ(j["jobs"][1]["job"], "nightly");
  EXPECT_EQ(j["jobs"][1]["run_count"], 1);
  EXPECT_EQ(j["jobs"][1]["last_outcome"], "succeeded");
  EXPECT_TRUE(j["jobs"][1]["schedule"].is_null());
  EXPECT_TRUE(j["now"].is_string());
}

TEST_F(ApiTest, FiltersJobsByStatusAndNamesABadFilter) {
  RunOnce("a");
  RunOnce("b");
  ASSERT_EQ(Call(Post("/api/v1/jobs/b/pause")).status, 200);
  Json paused = Body(Call(Get("/api/v1/jobs?status=paused")));
  ASSERT_EQ(paused["jobs"].size(), 1u);
  EXPECT_EQ(paused["jobs"][0]["job"], "b");
  EXPECT_EQ(Body(Call(Get("/api/v1/jobs?status=IDLE")))["jobs"].size(), 1u);
  Response bad = Call(Get("/api/v1/jobs?status=sleeping"));
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(Code(bad), "bad_request");
  EXPECT_NE(Body(bad)["error"]["message"].get<std::string>().find("'status': 'sleeping'"), std::string::npos);
}

TEST_F(ApiTest, OneJobWithItsDefinition) {
  JobDefinition def;
  def.job = "etl/daily";  // a '/' in a name: sent as etl%2Fdaily
  def.command = {"/usr/bin/etl", "--all"};
  ASSERT_TRUE(store_.PutDefinition(def).ok());
  RunOnce("etl/daily");
  Response r = Call(Get("/api/v1/jobs/etl%2Fdaily"));
  ASSERT_EQ(r.status, 200) << r.body;
  Json j = Body(r);
  EXPECT_EQ(j["job"], "etl/daily");
  EXPECT_EQ(j["state"]["run_count"], 1);
  EXPECT_EQ(j["definition"]["command"], Json::array({"/usr/bin/etl", "--all"}));
  Response missing = Call(Get("/api/v1/jobs/nope"));
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(Code(missing), "not_found");
  EXPECT_EQ(Call(Get("/api/v1/jobs/nope/runs")).status, 404);
}

TEST_F(ApiTest, RunsArePagedNewestFirst) {
  for (int i = 0; i < 5; ++i) RunOnce("j", i % 2);
  Json first = Body(Call(Get("/api/v1/jobs/j/runs?limit=2")));
  ASSERT_EQ(first["runs"].size(), 2u);
  EXPECT_EQ(first["next_offset"], 2);
  EXPECT_EQ(first["runs"][0]["fence"], 5);
  EXPECT_EQ(first["runs"][1]["fence"], 4);
  Json last = Body(Call(Get("/api/v1/jobs/j/runs?limit=2&offset=4")));
  ASSERT_EQ(last["runs"].size(), 1u);
  EXPECT_EQ(last["runs"][0]["fence"], 1);
  EXPECT_TRUE(last["next_offset"].is_null());
  EXPECT_EQ(Body(Call(Get("/api/v1/jobs/j/runs")))["runs"].size(), 5u);
  for (const char* bad : {"limit=0", "limit=201", "limit=x", "offset=-1", "offset=1e3"}) {
    Response r = Call(Get(std::string("/api/v1/jobs/j/runs?") + bad));
    EXPECT_EQ(r.status, 400) << bad;
    EXPECT_NE(Body(r)["error"]["message"].get<std::string>().find(std::string(bad).substr(0, 5)), std::string::npos);
  }
}

TEST_F(ApiTest, PauseResumeTrigger) {
  RunOnce("j");
  Response p = Call(Post("/api/v1/jobs/j/pause", R"({"reason": "disk full"})"));
  ASSERT_EQ(p.status, 200) << p.body;
  EXPECT_EQ(Body(p)["status"], "PAUSED");
  EXPECT_EQ(State("j").status, JobStatus::kPaused);
  EXPECT_EQ(State("j").paused_reason, "disk full");
  ASSERT_EQ(Call(Post("/api/v1/jobs/j/resume")).status, 200);
  EXPECT_EQ(State("j").status, JobStatus::kIdle);
  JobState s = State("j");
  s.next_allowed_run = clock_.NowMs() + 3'600'000;
  s.version += 1;
  ASSERT_TRUE(store_.ReplaceState(s, s.version - 1).ok());
  Response t = Call(Post("/api/v1/jobs/j/trigger", "{}"));
  ASSERT_EQ(t.status, 200) << t.body;
  EXPECT_EQ(Body(t)["triggered"], true);
  EXPECT_EQ(State("j").next_allowed_run, 0);
  EXPECT_EQ(Call(Post("/api/v1/jobs/unknown/pause")).status, 404);
}

TEST_F(ApiTest, UnlockTakesTheFenceItReleases) {
  Lease lease = Hold("j");
  Response missing = Call(Post("/api/v1/jobs/j/unlock"));
  EXPECT_EQ(missing.status, 400);
  EXPECT_NE(missing.body.find("'fence'"), std::string::npos);
  EXPECT_EQ(Call(Post("/api/v1/jobs/j/unlock", R"({"fence": "1"})")).status, 400);
  Response wrong = Call(Post("/api/v1/jobs/j/unlock", R"({"fence": 99})"));
  EXPECT_EQ(wrong.status, 409);
  EXPECT_EQ(Code(wrong), "conflict");
  EXPECT_EQ(State("j").status, JobStatus::kRunning);
  Response ok = Call(Post("/api/v1/jobs/j/unlock", "{\"fence\": " + std::to_string(lease.fence()) + "}"));
  ASSERT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(Body(ok)["released_fence"], lease.fence());
  EXPECT_EQ(State("j").status, JobStatus::kIdle);
  EXPECT_EQ(State("j").abandoned_count, 1);
}

TEST_F(ApiTest, BadBodiesNameWhatIsWrong) {
  RunOnce("j");
  struct Case {
    const char* body;
    const char* says;
  };
  for (const Case& c : {Case{"{", "not a JSON object"}, Case{"[1]", "not a JSON object"},
                        Case{R"({"reason": 3})", "'reason'"}, Case{R"({"reasn": "x"})", "unknown field 'reasn'"}}) {
    Response r = Call(Post("/api/v1/jobs/j/pause", c.body));
    EXPECT_EQ(r.status, 400) << c.body;
    EXPECT_EQ(Code(r), "bad_request");
    EXPECT_NE(r.body.find(c.says), std::string::npos) << r.body;
  }
  EXPECT_EQ(Call(Post("/api/v1/jobs/j/resume", R"({"fence": 1})")).status, 400);
  EXPECT_EQ(State("j").status, JobStatus::kIdle);  // nothing changed
}

TEST_F(ApiTest, MutationsNeedTheToken) {
  RunOnce("j");
  Response none = Call(Post("/api/v1/jobs/j/pause", "", ""));
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(Code(none), "unauthorized");
  bool challenged = false;
  for (const auto& [k, v] : none.headers) challenged |= k == "WWW-Authenticate" && v.rfind("Bearer", 0) == 0;
  EXPECT_TRUE(challenged);
  EXPECT_EQ(Call(Post("/api/v1/jobs/j/pause", "", "s3cre")).status, 401);
  EXPECT_EQ(Call(Post("/api/v1/jobs/j/pause", "", "s3cret2")).status, 401);
  Request basic = Post("/api/v1/jobs/j/pause", "", "");
  basic.headers["authorization"] = "Basic czNjcmV0";
  EXPECT_EQ(Call(basic).status, 401);
  EXPECT_EQ(State("j").status, JobStatus::kIdle);
  Request lower = Post("/api/v1/jobs/j/pause", "", "");
  lower.headers["authorization"] = "bearer s3cret";  // the scheme is case-insensitive (RFC 9110)
  EXPECT_EQ(Call(lower).status, 200);

  Api no_token(store_, clock_, random_, ApiOptions{"", "memory:", {}});
  Response forbidden = no_token.Handle(Post("/api/v1/jobs/j/resume", "", "anything"));
  EXPECT_EQ(forbidden.status, 403);
  EXPECT_NE(forbidden.body.find("--http-token-file"), std::string::npos);
}

TEST_F(ApiTest, ReadsAreOpenOnLoopbackOnly) {
  RunOnce("j");
  EXPECT_EQ(Call(Get("/api/v1/jobs")).status, 200);
  Request remote = Get("/api/v1/jobs");
  remote.from_loopback = false;
  EXPECT_EQ(Call(remote).status, 401);
  remote.headers["authorization"] = "Bearer s3cret";
  EXPECT_EQ(Call(remote).status, 200);
  // A page of another site whose name resolves to 127.0.0.1 (DNS rebinding)
  // names its own host: refused without the token.
  Request rebound = Get("/api/v1/jobs/j");
  rebound.headers["host"] = "evil.example:8080";
  EXPECT_EQ(Call(rebound).status, 401);
  for (const char* host : {"localhost:8080", "127.0.0.1", "[::1]:8080", "127.1.2.3:80"}) {
    Request local = Get("/api/v1/jobs/j");
    local.headers["host"] = host;
    EXPECT_EQ(Call(local).status, 200) << host;
  }
}

TEST_F(ApiTest, MethodsAndRoutes) {
  Request del = Get("/api/v1/jobs");
  del.method = "DELETE";
  Response r = Call(del);
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(Code(r), "method_not_allowed");
  EXPECT_EQ(Call(Get("/api/v1/jobs/j/pause")).status, 405);
  EXPECT_EQ(Call(Post("/api/v1/jobs")).status, 405);
  EXPECT_EQ(Call(Get("/api/v2/jobs")).status, 404);
  EXPECT_EQ(Call(Get("/api/v1/jobs/j/runs/x")).status, 404);
  RunOnce("j");
  Response action = Call(Post("/api/v1/jobs/j/explode"));
  EXPECT_EQ(action.status, 404);
  EXPECT_NE(action.body.find("explode"), std::string::npos);
  EXPECT_EQ(Call(Get("/nothing-here")).status, 404);
}

TEST_F(ApiTest, RouteNamesAreAFixedSetWhateverThePath) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"/healthz", "healthz"},
      {"/readyz", "readyz"},
      {"/metrics", "metrics"},
      {"/api/v1/jobs", "jobs"},
      {"/api/v1/jobs/backup", "job"},
      {"/api/v1/jobs/any%20name", "job"},
      {"/api/v1/jobs/backup/runs", "runs"},
      {"/api/v1/jobs/backup/pause", "pause"},
      {"/api/v1/jobs/backup/resume", "resume"},
      {"/api/v1/jobs/backup/trigger", "trigger"},
      {"/api/v1/jobs/backup/unlock", "unlock"},
      {"/api/v1/jobs/backup/explode", "other"},
      {"/api/v1/jobs/backup/runs/x", "other"},
      {"/api/v2/jobs", "other"},
      {"/", "asset"},
      {"/app.js", "asset"},
      {"/style.css", "asset"},
      {"/nothing-here", "other"},
      {"/healthz/x", "other"},
  };
  for (const auto& [path, route] : cases) EXPECT_EQ(Api::RouteName(Get(path)), route) << path;
}

TEST_F(ApiTest, AStoreThatIsDownIs503) {
  RunOnce("j");
  store_.down = true;
  for (const char* path : {"/api/v1/jobs", "/api/v1/jobs/j", "/api/v1/jobs/j/runs"}) {
    Response r = Call(Get(path));
    EXPECT_EQ(r.status, 503) << path;
    EXPECT_EQ(Code(r), "unavailable") << path;
  }
  Response p = Call(Post("/api/v1/jobs/j/pause"));
  EXPECT_EQ(p.status, 503);
  store_.down = false;
  EXPECT_EQ(State("j").status, JobStatus::kIdle);
}

TEST_F(ApiTest, MetricsWhenConfigured) {
  EXPECT_EQ(Call(Get("/metrics")).status, 404);
  Api with(store_, clock_, random_, ApiOptions{"s3cret", "memory:", [](Store&) { return std::string("up 1\n"); }});
  Response r = with.Handle(Get("/metrics"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "up 1\n");
  EXPECT_NE(r.content_type.find("version=0.0.4"), std::string::npos);
  Request remote = Get("/metrics");
  remote.from_loopback = false;
  EXPECT_EQ(with.Handle(remote).status, 401);
}

TEST(TokenEqualsTest, ComparesWholeTokens) {
  EXPECT_TRUE(TokenEquals("abc", "abc"));
  EXPECT_FALSE(TokenEquals("abd", "abc"));
  EXPECT_FALSE(TokenEquals("ab", "abc"));
  EXPECT_FALSE(TokenEquals("abcd", "abc"));
  EXPECT_FALSE(TokenEquals("", "abc"));
  EXPECT_FALSE(TokenEquals(std::string("ab\0", 3), "ab"));
}

TEST(ListenAddressTest, ParsesAndNamesTheValue) {
  std::string host;
  uint16_t port = 0;
  ASSERT_TRUE(ParseListenAddress("127.0.0.1:8080", &host, &port).ok());
  EXPECT_EQ(host, "127.0.0.1");
  EXPECT_EQ(port, 8080);
  ASSERT_TRUE(ParseListenAddress("[::1]:0", &host, &port).ok());
  EXPECT_EQ(host, "::1");
  EXPECT_EQ(port, 0);
  ASSERT_TRUE(ParseListenAddress(":9090", &host, &port).ok());
  EXPECT_EQ(host, "127.0.0.1");
  for (const char* bad : {"8080", "host:", "host:99999", "host:80x"}) {
    Status s = ParseListenAddress(bad, &host, &port);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(s.message().find(bad), std::string::npos) << s.message();
  }
  EXPECT_TRUE(IsLoopbackHost("127.0.0.1"));
  EXPECT_TRUE(IsLoopbackHost("127.9.9.9"));
  EXPECT_TRUE(IsLoopbackHost("::1"));
  EXPECT_TRUE(IsLoopbackHost("localhost"));
  EXPECT_FALSE(IsLoopbackHost("0.0.0.0"));
  EXPECT_FALSE(IsLoopbackHost("::"));
  EXPECT_FALSE(IsLoopbackHost("10.0.0.1"));
  EXPECT_FALSE(IsLoopbackHost("example.com"));
}

TEST(PercentDecodeTest, DecodesEscapesAndKeepsMalformedOnes) {
  EXPECT_EQ(PercentDecode("a%2Fb", false), "a/b");
  EXPECT_EQ(PercentDecode("a+b%20c", true), "a b c");
  EXPECT_EQ(PercentDecode("a+b", false), "a+b");
  EXPECT_EQ(PercentDecode("100%", false), "100%");
  EXPECT_EQ(PercentDecode("%zz%4", false), "%zz%4");
  EXPECT_EQ(PercentDecode("%e2%82%ac", false), "\xe2\x82\xac");
}

}  // namespace
}  // namespace jobgate::http
