// `jobgate tick` and `jobgate serve`: the scheduler (src/scheduler) with
// the process launcher, signals, and systemd's notify protocol.
#include <signal.h>
#include <stdlib.h>
#include <systemd/sd-daemon.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <mutex>
#include <sstream>

#include <fmt/format.h>

#include "sys/shared_library.h"
#include "cli/commands.h"
#include "http/api.h"
#include "http/server.h"
#include "run/exit_codes.h"
#include "scheduler/scheduler.h"
#include "scheduler/serve_metrics.h"

namespace jobgate::cli {

namespace {

std::atomic<bool> g_stop{false};

void OnStopSignal(int) { g_stop = true; }

void HandleStopSignals() {
  struct sigaction sa {};
  sa.sa_handler = OnStopSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

// systemd's notify protocol through libsystemd, loaded only when systemd
// asks for it ($NOTIFY_SOCKET): READY=1 once serving, WATCHDOG=1 every
// loop, STOPPING=1 when the stop begins (sd_notify(3): "the service is
// beginning its shutdown"), so that systemd stops expecting WATCHDOG=1
// during the grace. Without $NOTIFY_SOCKET, every call does nothing.
class SystemdNotifier {
 public:
  SystemdNotifier() {
    if (getenv("NOTIFY_SOCKET") == nullptr) return;
    auto lib = SharedLibrary::Open("libsystemd.so.0", "serve under systemd (Type=notify)");
    if (!lib.ok() || !lib->Resolve("sd_notify", &notify_).ok()) {
      fmt::print(stderr, "jobgate: warn: $NOTIFY_SOCKET is set but {}; not notifying systemd\n",
                 lib.ok() ? "sd_notify is missing" : lib.status().message());
      notify_ = nullptr;
    }
  }
  void Send(const char* state) const {
    if (notify_ != nullptr) notify_(0, state);
  }

 private:
  decltype(&sd_notify) notify_ = nullptr;
};

std::string SelfExe() {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string("jobgate");
}

std::unique_ptr<Launcher> ChildLauncher(const GlobalOptions& g) {
  LauncherOptions lo;
  lo.jobgate = SelfExe();
  lo.global_args = {"--log-format", g.log_format, "--log-level", g.log_level};
  // The store's URL may hold a password: not on a command line (ps).
  lo.env = {"JOBGATE_STORE=" + g.store_url};
  lo.unset_env = {"NOTIFY_SOCKET"};
  return MakeProcessLauncher(std::move(lo));
}

EventSink Lines() {
  return [](const std::string& line) {
    static std::mutex mu;
    std::lock_guard lock(mu);
    fmt::print(stdout, "{}\n", line);
    std::fflush(stdout);
  };
}

SchedulerOptions Options(const GlobalOptions& g, const SchedulerArgs& a) {
  SchedulerOptions o;
  o.max_concurrent = a.max_concurrent;
  o.poll_ms = a.poll_ms;
  o.grace_ms = a.grace_ms;
  o.json = g.log_format == "json";
  return o;
}

// The HTTP side of serve: the API on a store of its own (its calls never
// wait on the scheduler's, and a slow client holds neither), the server's
// threads, the token.
struct HttpSide {
  std::unique_ptr<Store> opened;
  std::unique_ptr<Store> store;  // `opened`, its calls measured
  SystemClock clock;
  std::unique_ptr<Random> random = MakeOsRandom();
  std::unique_ptr<http::Api> api;
  std::unique_ptr<http::Server> server;
};

constexpr size_t kMaxTokenBytes = 4096;

Result<std::string> ReadTokenFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::InvalidArgument(fmt::format("--http-token-file '{}': cannot read it", path));
  std::ostringstream text;
  text << in.rdbuf();
  std::string token = text.str();
  const size_t first = token.find_first_not_of(" \t\r\n");
  token = first == std::string::npos ? "" : token.substr(first, token.find_last_not_of(" \t\r\n") - first + 1);
  if (token.empty()) return Status::InvalidArgument(fmt::format("--http-token-file '{}': the file is empty", path));
  if (token.size() > kMaxTokenBytes || token.find_first_of(" \t\r\n") != std::string::npos) {
    return Status::InvalidArgument(
        fmt::format("--http-token-file '{}': the token must be one word of at most {} bytes", path, kMaxTokenBytes));
  }
  return token;
}

// The API's answers, timed and counted by route and status for /metrics.
http::Handler MeasuredHandler(http::Api& api, ServeMetrics& metrics) {
  return [&api, &metrics](const http::Request& r) {
    const auto start = std::chrono::steady_clock::now();
    http::Response answer = api.Handle(r);
    const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
    metrics.HttpRequest(http::Api::RouteName(r), answer.status, took.count());
    return answer;
  };
}

Result<std::unique_ptr<HttpSide>> StartHttp(const GlobalOptions& g, const SchedulerArgs& a, ServeMetrics& metrics) {
  http::ServerOptions so;
  JOBGATE_RETURN_IF_ERROR(http::ParseListenAddress(a.listen, &so.host, &so.port));
  http::ApiOptions ao;
  ao.store_label = RedactStoreUrl(g.store_url);
  if (!a.http_token_file.empty()) {
    JOBGATE_ASSIGN_OR_RETURN(ao.token, ReadTokenFile(a.http_token_file));
  } else if (!http::IsLoopbackHost(so.host)) {
    return Status::InvalidArgument(fmt::format(
        "--listen '{}' accepts other hosts: give --http-token-file too (their reads and every change need it)",
        a.listen));
  }
  auto side = std::make_unique<HttpSide>();
  JOBGATE_ASSIGN_OR_RETURN(side->opened, Open(g));
  side->store = std::make_unique<InstrumentedStore>(*side->opened, metrics);
  ao.metrics = [&metrics](Store& store) { return metrics.Scrape(store); };
  side->api = std::make_unique<http::Api>(*side->store, side->clock, *side->random, std::move(ao));
  JOBGATE_ASSIGN_OR_RETURN(
      side->server,
      http::Server::Start(so, MeasuredHandler(*side->api, metrics), [&metrics](int status, const std::string& message) {
        // Refused before routing (a body over the limit): no route, no time to speak of.
        metrics.HttpRequest("other", status, 0);
        return http::Api::Error(status, status == 413 ? "payload_too_large" : "internal", message);
      }));
  return side;
}

}  // namespace

int CmdTick(const GlobalOptions& g, const SchedulerArgs& a) {
  auto store = Open(g);
  if (!store.ok()) return Fail(store.status());
  SystemClock clock;
  auto launcher = ChildLauncher(g);
  Scheduler scheduler(**store, clock, *launcher, Options(g, a), Lines());
  auto report = scheduler.Tick();
  if (!report.ok()) return Fail(report.status());
  if (report->unavailable > 0) return kExitStoreDown;
  return report->failed > 0 ? 1 : kExitOk;
}

int CmdServe(const GlobalOptions& g, const SchedulerArgs& a) {
  HandleStopSignals();
  auto store = Open(g);
  if (!store.ok()) return Fail(store.status());
  SystemClock clock;
  auto launcher = ChildLauncher(g);
  SystemdNotifier systemd;
  // With --listen, the scheduler's store calls are measured for /metrics.
  ServeMetrics metrics(kJobgateVersion);
  InstrumentedStore measured(**store, metrics);
  Scheduler scheduler(a.listen.empty() ? **store : measured, clock, *launcher, Options(g, a), Lines());
  std::unique_ptr<HttpSide> web;
  if (!a.listen.empty()) {
    auto started = StartHttp(g, a, metrics);
    if (!started.ok()) return Fail(started.status());
    web = std::move(*started);
    scheduler.set_observer(&metrics);
    scheduler.Note("listening", {{"address", web->server->address()}});
  }
  bool ready = false;
  Status st = scheduler.Serve(
      g_stop,
      [&] {
        systemd.Send(ready ? "WATCHDOG=1" : "READY=1");
        ready = true;
      },
      [&] { systemd.Send("STOPPING=1"); });
  if (!st.ok()) return Fail(st);
  return kExitOk;
}

}  // namespace jobgate::cli
