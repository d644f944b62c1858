// `jobgate tick` and `jobgate serve`: the scheduler (src/scheduler) with
// the process launcher, signals, and systemd's notify protocol.
#include <signal.h>
#include <stdlib.h>
#include <systemd/sd-daemon.h>

#include <atomic>
#include <iostream>
#include <mutex>

#include <fmt/format.h>

#include "sys/shared_library.h"
#include "cli/commands.h"
#include "run/exit_codes.h"
#include "scheduler/scheduler.h"

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
      std::cerr << "jobgate: warn: $NOTIFY_SOCKET is set but "
                << (lib.ok() ? "sd_notify is missing" : lib.status().message()) << "; not notifying systemd\n";
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
  lo.global_args = {"--store", g.store_url, "--log-format", g.log_format, "--log-level", g.log_level};
  return MakeProcessLauncher(std::move(lo));
}

EventSink Lines() {
  return [](const std::string& line) {
    static std::mutex mu;
    std::lock_guard lock(mu);
    std::cout << line << '\n' << std::flush;
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
  Scheduler scheduler(**store, clock, *launcher, Options(g, a), Lines());
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
