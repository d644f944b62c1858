#include "support/serve_api_checks.h"

#include <arpa/inet.h>
#include <signal.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

namespace jobgate::test {

namespace {

using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr const char* kToken = "serve-api-test-token";

// A running `serve --listen 127.0.0.1:0` and a client of it.
class Served {
 public:
  explicit Served(const ServeApiSetup& s, bool with_token = true) : s_(s) {
    // A server that closes on a client mid-send must fail a check, not kill
    // the test binary (and leave serve running with nobody to stop it).
    signal(SIGPIPE, SIG_IGN);
    std::vector<std::string> argv = {s.binary, "--store", s.store_url, "serve", "--listen", "127.0.0.1:0", "--poll",
                                     "200ms"};
    if (with_token) {
      std::ofstream(s.dir + "/token") << kToken << "\n";
      argv.insert(argv.end(), {"--http-token-file", s.dir + "/token"});
    }
    serve_ = Child(argv, s.dir + "/serve.out", s.dir + "/serve.err", s.env);
    const auto until = Clock::now() + std::chrono::seconds(15);
    while (port_ == 0 && Clock::now() < until && !serve_.Poll()) {
      const std::string out = serve_.Out();
      const size_t at = out.find("listening address=127.0.0.1:");
      if (at != std::string::npos) port_ = std::stoi(out.substr(at + 28));
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  bool running() { return serve_.pid() > 0 && !serve_.Poll(); }
  ~Served() {
    if (serve_.pid() > 0 && !serve_.Poll()) {
      kill(serve_.pid(), SIGTERM);
      EXPECT_TRUE(serve_.WaitFor(std::chrono::seconds(20)).has_value()) << serve_.Describe();
    }
  }
  int port() const { return port_; }
  std::string Describe() { return serve_.Describe(); }
  // How many times serve has started `job` so far, by its own log.
  int Starts(const std::string& job) {
    const std::string out = serve_.Out();
    const std::string needle = "start job=" + job + " ";
    int n = 0;
    for (size_t at = out.find(needle); at != std::string::npos; at = out.find(needle, at + 1)) ++n;
    return n;
  }
  httplib::Client Client() const {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(10, 0);
    c.set_connection_timeout(5, 0);
    return c;
  }
  // `jobgate --store URL args...`.
  Proc Jobgate(std::vector<std::string> args, const std::string& name = "cli") const {
    args.insert(args.begin(), {s_.binary, "--store", s_.store_url});
    return RunToFiles(args, s_.dir + "/" + name + ".out", s_.dir + "/" + name + ".err");
  }
  Json State(const std::string& job) const {
    Proc p = Jobgate({"status", job, "--json"}, "status");
    EXPECT_EQ(p.exit_code, 0) << p.err;
    return Json::parse(p.out, nullptr, false);
  }

 private:
  const ServeApiSetup& s_;
  Child serve_;
  int port_ = 0;
};

// Sends `request` on a new connection; what the server answers until it
// closes (or 5 s pass).
std::string Exchange(int port, const std::string& request) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string answer;
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      send(fd, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size())) {
    shutdown(fd, SHUT_WR);
    char buf[4096];
    for (ssize_t n; (n = recv(fd, buf, sizeof buf, 0)) > 0;) answer.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return answer;
}

httplib::Headers Bearer(const std::string& token = kToken) { return {{"Authorization", "Bearer " + token}}; }

std::string ErrorCode(const httplib::Result& r) {
  Json j = Json::parse(r->body, nullptr, false);
  return j.is_object() && j.contains("error") ? j["error"].value("code", "") : "(not an error body: " + r->body + ")";
}

void Apply(const Served& served, const std::string& dir, const std::string& toml) {
  std::ofstream(dir + "/jobs.toml") << toml;
  Proc p = served.Jobgate({"apply", dir + "/jobs.toml"}, "apply");
  ASSERT_EQ(p.exit_code, 0) << p.err;
}

void CheckReads(const Served& served) {
  auto c = served.Client();
  auto health = c.Get("/healthz");
  ASSERT_TRUE(health) << httplib::to_string(health.error());
  EXPECT_EQ(health->status, 200);
  auto ready = c.Get("/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200) << ready->body;
  auto jobs = c.Get("/api/v1/jobs");
  ASSERT_TRUE(jobs);
  ASSERT_EQ(jobs->status, 200) << jobs->body;
  EXPECT_EQ(jobs->get_header_value("Content-Type"), "application/json");
  Json list = Json::parse(jobs->body);
  ASSERT_EQ(list["jobs"].size(), 2u) << jobs->body;
  EXPECT_EQ(list["jobs"][0]["job"], "backup");
  EXPECT_EQ(list["jobs"][0]["run_count"], 3);
  EXPECT_EQ(list["jobs"][1]["job"], "reports");
  EXPECT_EQ(list["jobs"][1]["schedule"], "rate(1 day)");
  auto filtered = c.Get("/api/v1/jobs?status=PAUSED");
  ASSERT_TRUE(filtered);
  EXPECT_EQ(Json::parse(filtered->body)["jobs"].size(), 0u);
  auto bad = c.Get("/api/v1/jobs?status=asleep");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  EXPECT_NE(bad->body.find("'status'"), std::string::npos) << bad->body;
  auto one = c.Get("/api/v1/jobs/backup");
  ASSERT_TRUE(one);
  ASSERT_EQ(one->status, 200) << one->body;
  Json job = Json::parse(one->body);
  EXPECT_EQ(job["state"]["success_count"], 2);
  EXPECT_EQ(job["state"]["last_exit_code"], 4);
  EXPECT_EQ(job["definition"]["cooldown_ms"], 0);
  auto missing = c.Get("/api/v1/jobs/nope");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_EQ(ErrorCode(missing), "not_found");
  auto page = c.Get("/api/v1/jobs/backup/runs?limit=2");
  ASSERT_TRUE(page);
  Json runs = Json::parse(page->body);
  ASSERT_EQ(runs["runs"].size(), 2u);
  EXPECT_EQ(runs["next_offset"], 2);
  auto rest = c.Get("/api/v1/jobs/backup/runs?limit=2&offset=2");
  ASSERT_TRUE(rest);
  EXPECT_EQ(Json::parse(rest->body)["runs"].size(), 1u);
  EXPECT_TRUE(Json::parse(rest->body)["next_offset"].is_null());
  // The two pages hold the three runs once each, newest first (start times
  // that never rise), with the failed run among them.
  std::set<std::string> ids;
  std::multiset<int> codes;
  std::string previous_start = "~";
  std::vector<Json> both = runs["runs"].get<std::vector<Json>>();
  const Json second = Json::parse(rest->body);
  for (const Json& r : second["runs"]) both.push_back(r);
  for (const Json& r : both) {
    ids.insert(r["run_id"].get<std::string>());
    codes.insert(r["exit_code"].get<int>());
    EXPECT_LE(r["start"].get<std::string>(), previous_start);
    previous_start = r["start"].get<std::string>();
  }
  EXPECT_EQ(ids.size(), 3u);
  EXPECT_EQ(codes, (std::multiset<int>{0, 0, 4}));
  auto bad_limit = c.Get("/api/v1/jobs/backup/runs?limit=-3");
  ASSERT_TRUE(bad_limit);
  EXPECT_EQ(bad_limit->status, 400);
  EXPECT_NE(bad_limit->body.find("'limit'"), std::string::npos);
  auto html = c.Get("/");
  ASSERT_TRUE(html);
  EXPECT_EQ(html->status, 200);
  EXPECT_NE(html->get_header_value("Content-Type").find("text/html"), std::string::npos);
  auto script = c.Get("/app.js");
  ASSERT_TRUE(script);
  EXPECT_EQ(script->status, 200);
  auto wrong_method = c.Delete("/api/v1/jobs/backup");
  ASSERT_TRUE(wrong_method);
  EXPECT_EQ(wrong_method->status, 405);
  EXPECT_EQ(wrong_method->get_header_value("Allow"), "GET");
}

void CheckChanges(const Served& served) {
  auto c = served.Client();
  auto anonymous = c.Post("/api/v1/jobs/backup/pause", "{}", "application/json");
  ASSERT_TRUE(anonymous);
  EXPECT_EQ(anonymous->status, 401);
  EXPECT_NE(anonymous->get_header_value("WWW-Authenticate").find("Bearer"), std::string::npos);
  auto wrong = c.Post("/api/v1/jobs/backup/pause", Bearer("not-the-token"), "{}", "application/json");
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 401);
  EXPECT_EQ(served.State("backup")["status"], "IDLE");
  auto malformed = c.Post("/api/v1/jobs/backup/pause", Bearer(), "{\"reason\":", "application/json");
  ASSERT_TRUE(malformed);
  EXPECT_EQ(malformed->status, 400);
  // A body over the limit: declared (refused before it is sent) and chunked
  // (read, dropped, refused).
  const std::string head = "POST /api/v1/jobs/backup/pause HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " +
                           std::string(kToken) + "\r\nContent-Type: application/json\r\n";
  const std::string declared = Exchange(served.port(), head + "Content-Length: 1048576\r\n\r\n");
  EXPECT_EQ(declared.rfind("HTTP/1.1 413", 0), 0u) << declared;
  EXPECT_NE(declared.find("payload_too_large"), std::string::npos) << declared;
  std::string chunked = head + "Transfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 20; ++i) chunked += "1000\r\n" + std::string(0x1000, ' ') + "\r\n";
  const std::string streamed = Exchange(served.port(), chunked + "0\r\n\r\n");
  EXPECT_EQ(streamed.rfind("HTTP/1.1 413", 0), 0u) << streamed;
  EXPECT_EQ(served.State("backup")["status"], "IDLE");
  auto pause = c.Post("/api/v1/jobs/backup/pause", Bearer(), R"({"reason":"maintenance"})", "application/json");
  ASSERT_TRUE(pause);
  ASSERT_EQ(pause->status, 200) << pause->body;
  Json paused = served.State("backup");
  EXPECT_EQ(paused["status"], "PAUSED");
  EXPECT_EQ(paused["paused_reason"], "maintenance");
  auto resume = c.Post("/api/v1/jobs/backup/resume", Bearer(), "", "application/json");
  ASSERT_TRUE(resume);
  EXPECT_EQ(resume->status, 200) << resume->body;
  EXPECT_EQ(served.State("backup")["status"], "IDLE");
  auto trigger = c.Post("/api/v1/jobs/backup/trigger", Bearer(), "", "application/json");
  ASSERT_TRUE(trigger);
  EXPECT_EQ(trigger->status, 200) << trigger->body;
  EXPECT_TRUE(served.State("backup")["next_allowed_run"].is_null());
  auto unknown = c.Post("/api/v1/jobs/nope/pause", Bearer(), "", "application/json");
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404);
}

// A run holding its lease is released by unlock with its own fence only.
void CheckUnlock(const Served& served, const ServeApiSetup& s) {
  Child holder({s.binary, "--store", s.store_url, "run", "held", "--lease", "2m", "--", "sleep", "60"},
               s.dir + "/held.out", s.dir + "/held.err");
  Json state;
  for (auto until = Clock::now() + std::chrono::seconds(15); Clock::now() < until;) {
    Proc p = served.Jobgate({"status", "held", "--json"}, "held-status");
    state = Json::parse(p.out, nullptr, false);
    if (p.exit_code == 0 && state.value("status", "") == "RUNNING") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_EQ(state.value("status", ""), "RUNNING") << holder.Describe();
  const int64_t fence = state["fence"];
  auto c = served.Client();
  auto no_fence = c.Post("/api/v1/jobs/held/unlock", Bearer(), "{}", "application/json");
  ASSERT_TRUE(no_fence);
  EXPECT_EQ(no_fence->status, 400);
  EXPECT_NE(no_fence->body.find("'fence'"), std::string::npos);
  auto stale = c.Post("/api/v1/jobs/held/unlock", Bearer(), Json{{"fence", fence + 1}}.dump(), "application/json");
  ASSERT_TRUE(stale);
  EXPECT_EQ(stale->status, 409);
  EXPECT_EQ(served.State("held")["status"], "RUNNING");
  auto unlock = c.Post("/api/v1/jobs/held/unlock", Bearer(), Json{{"fence", fence}}.dump(), "application/json");
  ASSERT_TRUE(unlock);
  ASSERT_EQ(unlock->status, 200) << unlock->body;
  EXPECT_EQ(Json::parse(unlock->body)["released_fence"], fence);
  Json after = served.State("held");
  EXPECT_EQ(after["status"], "IDLE");
  EXPECT_EQ(after["abandoned_count"], 1);
}

// A TCP connection to the server that sends `bytes` and then stalls.
class Stalled {
 public:
  Stalled(int port, const std::string& bytes) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ =
        connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
        (bytes.empty() || send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size()));
  }
  ~Stalled() { close(fd_); }
  bool connected() const { return connected_; }

 private:
  int fd_ = -1;
  bool connected_ = false;
};

// serve's "start"/"end" lines of `job` (text log format): how many started,
// and how many ended with each outcome ("none" when the invocation printed
// no outcome).
struct Lines {
  int starts = 0;
  std::map<std::string, int> ends;
  int ended() const {
    int n = 0;
    for (const auto& [outcome, count] : ends) n += count;
    return n;
  }
};
Lines ServeLines(const std::string& out, const std::string& job) {
  Lines l;
  std::istringstream in(out);
  const std::regex outcome(" outcome=([a-z_]+)");
  for (std::string line; std::getline(in, line);) {
    if (line.find(" job=" + job + " ") == std::string::npos) continue;
    if (line.find(" start job=") != std::string::npos) ++l.starts;
    if (line.find(" end job=") == std::string::npos) continue;
    std::smatch m;
    ++l.ends[std::regex_search(line, m, outcome) ? m[1].str() : "none"];
  }
  return l;
}

// The exposition through tools/prom/parse.mjs: sample name -> [(labels, value)].
std::multimap<std::string, std::pair<Json, double>> Parsed(const std::string& text, const std::string& dir) {
  std::ofstream(dir + "/metrics.txt") << text;
  const std::string tools = std::string(JOBGATE_SOURCE_DIR) + "/tools/prom";
  Proc npm = RunToFiles({"bash", std::string(JOBGATE_SOURCE_DIR) + "/scripts/npm-tools.sh", tools}, dir + "/npm.out",
                        dir + "/npm.err");
  EXPECT_EQ(npm.exit_code, 0) << npm.err;
  Proc p = RunToFiles({"sh", "-c", "node \"$0\"/parse.mjs < \"$1\"", tools, dir + "/metrics.txt"}, dir + "/parse.out",
                      dir + "/parse.err");
  EXPECT_EQ(p.exit_code, 0) << "the parser refused /metrics: " << p.err << "\n" << text;
  std::multimap<std::string, std::pair<Json, double>> out;
  Json j = Json::parse(p.out, nullptr, false);
  if (!j.is_object()) return out;
  for (const Json& s : j["samples"])
    out.emplace(s["name"], std::make_pair(s["labels"], std::stod(s["value"].get<std::string>())));
  return out;
}

// The value of the sample `name` whose labels include `labels`; -1 when absent.
double Sample(const std::multimap<std::string, std::pair<Json, double>>& m, const std::string& name,
              const Json& labels) {
  auto [from, to] = m.equal_range(name);
  for (auto it = from; it != to; ++it) {
    bool match = true;
    for (const auto& [k, v] : labels.items()) match = match && it->second.first.value(k, "") == v;
    if (match) return it->second.second;
  }
  return -1;
}

}  // namespace

namespace {

// A job whose holder was SIGKILLed mid-run: RUNNING under a lease of 1 s
// that nobody renews, for serve to take over.
void OrphanAJob(const Served& served, const ServeApiSetup& s, const std::string& job) {
  Apply(served, s.dir, "[jobs." + job + "]\ncommand = \"true\"\nlease = \"1s\"\nmax_clock_skew = \"0s\"\n");
  Child holder({s.binary, "--store", s.store_url, "run", job, "--", "sleep", "30"}, s.dir + "/holder.out",
               s.dir + "/holder.err");
  // No state item until the holder's first write: `status` exits 2 until then.
  auto status = [&] {
    const Json j = Json::parse(served.Jobgate({"status", job, "--json"}, "status").out, nullptr, false);
    return j.is_object() ? j.value("status", "") : "";
  };
  const auto until = Clock::now() + std::chrono::seconds(15);
  while (status() != "RUNNING" && Clock::now() < until && !holder.Poll()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_EQ(status(), "RUNNING") << holder.Describe();
  holder.Kill();
  holder.Wait();
}

// Runs `beat` (fails every third run) and takes `orphan` over, then pauses
// both and waits until every invocation serve started has ended.
std::map<std::string, Lines> RunAndSettle(Served& served, const ServeApiSetup& s) {
  std::map<std::string, Lines> lines;
  OrphanAJob(served, s, "orphan");
  Apply(served, s.dir,
        "[jobs.beat]\nschedule = \"rate(1 second)\"\ncommand = \"n=$(cat " + s.dir +
            "/n 2>/dev/null || echo 0); echo $((n + 1)) > " + s.dir + "/n; [ $((n % 3)) -ne 2 ]\"\n\n" +
            "[jobs.orphan]\nschedule = \"rate(1 second)\"\ncommand = \"true\"\nlease = \"1s\"\n" +
            "max_clock_skew = \"0s\"\n");
  const auto until = Clock::now() + std::chrono::seconds(30);
  while ((ServeLines(served.Describe(), "beat").ended() < 5 ||
          ServeLines(served.Describe(), "orphan").ends["succeeded"] < 1) &&
         Clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  auto c = served.Client();
  for (const char* job : {"beat", "orphan"}) {
    auto pause = c.Post(std::string("/api/v1/jobs/") + job + "/pause", Bearer(), "", "application/json");
    EXPECT_TRUE(pause && pause->status == 200) << job;
  }
  // Paused, the jobs leave the due index: once their last invocations end,
  // nothing changes any more.
  for (auto settle = Clock::now() + std::chrono::seconds(15); Clock::now() < settle;) {
    for (const char* job : {"beat", "orphan"}) lines[job] = ServeLines(served.Describe(), job);
    if (lines["beat"].starts == lines["beat"].ended() && lines["orphan"].starts == lines["orphan"].ended()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return lines;
}

}  // namespace

void CheckServeMetrics(const ServeApiSetup& s) {
  Served served(s);
  ASSERT_NE(served.port(), 0) << served.Describe();
  auto runs = RunAndSettle(served, s);
  const Lines& lines = runs["beat"];
  ASSERT_GE(lines.ended(), 5) << served.Describe();
  ASSERT_EQ(lines.starts, lines.ended()) << served.Describe();
  ASSERT_GE(runs["orphan"].ends["succeeded"], 1) << served.Describe();
  auto c = served.Client();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(c.Get("/healthz"));
  ASSERT_TRUE(c.Get("/api/v1/jobs/no-such-job"));
  auto scraped = c.Get("/metrics");
  ASSERT_TRUE(scraped);
  ASSERT_EQ(scraped->status, 200);
  EXPECT_EQ(scraped->get_header_value("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  const auto m = Parsed(scraped->body, s.dir);
  ASSERT_FALSE(m.empty());
  const Json state = served.State("beat");
  EXPECT_EQ(Sample(m, "jobgate_serve_starts_total", {{"job", "beat"}}), lines.starts);
  for (const char* outcome : {"succeeded", "failed"}) {
    EXPECT_EQ(Sample(m, "jobgate_runs_total", {{"job", "beat"}, {"outcome", outcome}}), runs["beat"].ends[outcome])
        << outcome << "\n"
        << scraped->body;
  }
  EXPECT_GT(runs["beat"].ends["failed"], 0);
  EXPECT_EQ(Sample(m, "jobgate_run_duration_seconds_count", {{"job", "beat"}}),
            runs["beat"].ends["succeeded"] + runs["beat"].ends["failed"]);
  EXPECT_EQ(Sample(m, "jobgate_job_runs_total", {{"job", "beat"}}), state["run_count"].get<double>());
  EXPECT_EQ(Sample(m, "jobgate_job_successes_total", {{"job", "beat"}}), state["success_count"].get<double>());
  EXPECT_EQ(Sample(m, "jobgate_job_failures_total", {{"job", "beat"}}), state["failure_count"].get<double>());
  // The killed holder's lease, taken over once by one of serve's runs.
  EXPECT_EQ(Sample(m, "jobgate_lease_takeovers_total", {{"job", "orphan"}, {"cause", "lease_expired"}}), 1)
      << scraped->body;
  EXPECT_EQ(Sample(m, "jobgate_lease_takeovers_total", {{"job", "beat"}}), -1);
  EXPECT_EQ(Sample(m, "jobgate_job_abandoned_total", {{"job", "orphan"}}), 1);
  EXPECT_EQ(served.State("orphan")["abandoned_count"], 1);
  // The API's own answers, by route and status (the pauses, the health
  // checks and the unknown job above; this scrape is counted after it).
  EXPECT_EQ(Sample(m, "jobgate_http_requests_total", {{"handler", "pause"}, {"code", "200"}}), 2) << scraped->body;
  EXPECT_EQ(Sample(m, "jobgate_http_requests_total", {{"handler", "healthz"}, {"code", "200"}}), 3);
  EXPECT_EQ(Sample(m, "jobgate_http_requests_total", {{"handler", "job"}, {"code", "404"}}), 1);
  EXPECT_EQ(Sample(m, "jobgate_http_request_duration_seconds_count", {{"handler", "healthz"}}), 3);
  EXPECT_EQ(Sample(m, "jobgate_http_requests_total", {{"handler", "metrics"}}), -1);
  EXPECT_EQ(Sample(m, "jobgate_jobs", {{"status", "PAUSED"}}), 2);
  EXPECT_EQ(Sample(m, "jobgate_jobs", {{"status", "IDLE"}}), 0);
  EXPECT_EQ(Sample(m, "jobgate_serve_running_children", Json::object()), 0);
  EXPECT_EQ(Sample(m, "jobgate_store_up", Json::object()), 1);
  EXPECT_GT(Sample(m, "jobgate_store_request_duration_seconds_count", {{"operation", "list_due"}}), 0);
  EXPECT_GT(Sample(m, "jobgate_serve_tick_lag_seconds_count", Json::object()), 0);
  EXPECT_GT(Sample(m, "jobgate_serve_last_pass_timestamp_seconds", Json::object()), 1.7e9);
  EXPECT_EQ(Sample(m, "jobgate_build_info", Json::object()), 1);
}

void CheckServeApi(const ServeApiSetup& s) {
  Served served(s);
  ASSERT_NE(served.port(), 0) << served.Describe();
  Apply(served, s.dir,
        "[jobs.backup]\ncommand = \"exit 0\"\n\n"
        "[jobs.reports]\ncommand = \"true\"\nschedule = \"rate(1 day)\"\n");
  for (const char* code : {"0", "0", "4"}) {
    Proc p = served.Jobgate({"run", "backup", "--", "sh", "-c", std::string("exit ") + code}, "run");
    ASSERT_EQ(p.exit_code, std::atoi(code)) << p.err;
  }
  CheckReads(served);
  CheckChanges(served);
  CheckUnlock(served, s);
  const std::string log = served.Describe();
  EXPECT_EQ(log.find(kToken), std::string::npos) << "the token is in serve's output";
}

void CheckSlowClientsBlockNothing(const ServeApiSetup& s) {
  Served served(s);
  ASSERT_NE(served.port(), 0) << served.Describe();
  Apply(served, s.dir, "[jobs.beat]\ncommand = \"true\"\nschedule = \"rate(1 second)\"\n");
  std::vector<std::unique_ptr<Stalled>> stalled;
  for (int i = 0; i < 8; ++i) {
    stalled.push_back(std::make_unique<Stalled>(served.port(), ""));
    stalled.push_back(std::make_unique<Stalled>(served.port(), "GET /api/v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\n"));
    stalled.push_back(std::make_unique<Stalled>(
        served.port(), "POST /api/v1/jobs/beat/pause HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " +
                           std::string(kToken) + "\r\nContent-Length: 1000\r\n\r\n{\"reason\":"));
  }
  for (const auto& c : stalled) ASSERT_TRUE(c->connected());
  const int64_t before = served.State("beat").value("run_count", 0);
  const int starts_before = served.Starts("beat");
  // While they stall: other clients are answered at once, and the scheduler
  // starts the job every second. Counted by serve's starts: how many of
  // those runs end within the window (rather than skip as running, or as
  // early by the store's clock) depends on the store's latency, not on the
  // clients.
  auto c = served.Client();
  const auto until = Clock::now() + std::chrono::seconds(5);
  int answered = 0;
  while (Clock::now() < until) {
    const auto asked = Clock::now();
    auto r = c.Get("/api/v1/jobs/beat");
    ASSERT_TRUE(r) << httplib::to_string(r.error());
    EXPECT_EQ(r->status, 200);
    EXPECT_LT(Clock::now() - asked, std::chrono::seconds(2));
    ++answered;
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  EXPECT_GE(served.Starts("beat") - starts_before, 3) << served.Describe();
  const int64_t after = served.State("beat").value("run_count", 0);
  EXPECT_GE(after - before, 1) << served.Describe();
  EXPECT_GE(answered, 10);
  // The half-sent pause never applied (the job itself may be running now).
  const Json beat = served.State("beat");
  EXPECT_NE(beat["status"], "PAUSED");
  EXPECT_EQ(beat["paused_reason"], "");
}

void CheckStoreDownAndNoToken(const ServeApiSetup& s) {
  Served served(s, /*with_token=*/false);
  ASSERT_NE(served.port(), 0) << served.Describe();
  auto c = served.Client();
  auto health = c.Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  for (const char* path : {"/readyz", "/api/v1/jobs", "/api/v1/jobs/backup", "/api/v1/jobs/backup/runs"}) {
    auto r = c.Get(path);
    ASSERT_TRUE(r) << path;
    EXPECT_EQ(r->status, 503) << path << ": " << r->body;
    EXPECT_EQ(ErrorCode(r), "unavailable") << path;
    EXPECT_NE(Json::parse(r->body, nullptr, false)["error"].value("message", "").find("127.0.0.1"), std::string::npos)
        << path << ": the message should name the store's error: " << r->body;
  }
  for (const char* action : {"pause", "resume", "trigger", "unlock"}) {
    // With a token or without: no token file, no changes.
    for (const httplib::Headers& h : {httplib::Headers{}, Bearer()}) {
      auto r = c.Post(std::string("/api/v1/jobs/backup/") + action, h, "{}", "application/json");
      ASSERT_TRUE(r) << action;
      EXPECT_EQ(r->status, 403) << action << ": " << r->body;
      EXPECT_EQ(ErrorCode(r), "forbidden") << action;
    }
  }
  // A few passes of the loop, each failing to read the due index.
  std::this_thread::sleep_for(std::chrono::milliseconds(800));
  auto scraped = c.Get("/metrics");
  ASSERT_TRUE(scraped);
  ASSERT_EQ(scraped->status, 200) << scraped->body;
  const auto m = Parsed(scraped->body, s.dir);
  EXPECT_EQ(Sample(m, "jobgate_store_up", Json::object()), 0) << scraped->body;
  EXPECT_GT(Sample(m, "jobgate_serve_due_read_errors_total", Json::object()), 0);
  EXPECT_GT(Sample(m, "jobgate_store_errors_total", {{"operation", "list_due"}, {"code", "unavailable"}}), 0);
  EXPECT_EQ(Sample(m, "jobgate_http_requests_total", {{"handler", "pause"}, {"code", "403"}}), 2);
  EXPECT_EQ(Sample(m, "jobgate_http_requests_total", {{"handler", "readyz"}, {"code", "503"}}), 1);
  EXPECT_EQ(Sample(m, "jobgate_serve_starts_total", Json::object()), -1) << "nothing may start: " << scraped->body;
  EXPECT_TRUE(served.running()) << served.Describe();
}

}  // namespace jobgate::test
