// `jobgate demo`: shows in a few seconds what jobgate does, by running the
// real binary against a temporary SQLite store: concurrent invocations where
// one runs, a cooldown skip, a failure with backoff, a crash and takeover.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "run/exit_codes.h"

namespace jobgate::cli {

namespace {

std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

struct Demo {
  std::string self;
  std::string store;

  std::string Line(const std::vector<std::string>& args) const {
    std::string cmd = ShellQuote(self) + " --store " + ShellQuote(store);
    for (const auto& a : args) {
      cmd += ' ';
      cmd += ShellQuote(a);
    }
    return cmd;
  }

  // Runs jobgate with args; returns its stdout (stderr passes through).
  std::pair<int, std::string> Run(const std::vector<std::string>& args) const {
    std::string out;
    std::fflush(stdout);  // keep our lines and the children's stderr in order
    FILE* p = popen(Line(args).c_str(), "r");
    if (!p) return {-1, ""};
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
    int st = pclose(p);
    return {WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), out};
  }

  static nlohmann::json Parse(const std::string& text) {
    auto j = nlohmann::json::parse(text, nullptr, false);
    return j.is_discarded() ? nlohmann::json::object() : j;
  }

  static std::string Describe(const nlohmann::json& o) {
    std::string kind = o.value("outcome", "?");
    if (kind == "skipped") {
      std::string reason = o.value("reason", "?");
      if (reason == "running") return "skipped (running: another invocation holds the lease)";
      std::string next = o["next_allowed_run"].is_string() ? ", may run from " + o["next_allowed_run"].get<std::string>() : "";
      return fmt::format("skipped ({}{})", reason, next);
    }
    return fmt::format("{} (fence {}, exit {}, {} ms)", kind, o.value("fence", 0), o.value("exit_code", 0),
                       o.value("duration_ms", 0));
  }
};

void Title(const std::string& t) {
  fmt::print(stdout, "\n== {}\n", t);
  std::fflush(stdout);
}


}  // namespace

namespace {

void ConcurrentInvocations(Demo& demo) {
  Title("1. Five invocations of job 'report' fire at the same moment (cooldown 10s)");
  std::vector<std::future<std::pair<int, std::string>>> runs;
  for (int i = 0; i < 5; ++i) {
    runs.push_back(std::async(std::launch::async, [&] {
      return demo.Run({"run", "report", "--cooldown", "10s", "--json", "--", "sh", "-c",
                       "echo \"   [workload] report running with JOBGATE_FENCE=$JOBGATE_FENCE\"; sleep 1"});
    }));
  }
  int ran = 0;
  for (int i = 0; i < 5; ++i) {
    auto [code, out] = runs[i].get();
    // The workload's own line comes first on stdout; the JSON outcome last.
    size_t cut = out.find("\n{");
    if (cut != std::string::npos) fmt::print(stdout, "{}", out.substr(0, cut + 1));
    auto o = Demo::Parse(cut == std::string::npos ? out : out.substr(cut + 1));
    ran += o.value("outcome", "") == "succeeded";
    fmt::print(stdout, "   invocation {}: {}\n", i + 1, Demo::Describe(o));
  }
  fmt::print(stdout, "   -> the workload ran {} time; the others exited at the gate.\n", ran);

  Title("2. Invoked again right away: the cooldown gates it");
  const auto again = demo.Run({"run", "report", "--cooldown", "10s", "--json", "--", "true"});
  fmt::print(stdout, "   {}\n", Demo::Describe(Demo::Parse(again.second)));
}

void FailingWorkload(Demo& demo) {
  Title("3. A failing workload: its exit code passes through, stderr becomes last_error, backoff follows");
  auto [fail_code, fail_out] =
      demo.Run({"run", "flaky", "--json", "--", "sh", "-c", "echo 'disk full on /data' >&2; exit 3"});
  fmt::print(stdout, "   exit code {}: {}\n", fail_code, Demo::Describe(Demo::Parse(fail_out)));
  const auto again = demo.Run({"run", "flaky", "--json", "--", "true"});
  fmt::print(stdout, "   again at once: {}\n", Demo::Describe(Demo::Parse(again.second)));
}

void KilledHolder(Demo& demo) {
  Title("4. A holder is killed with SIGKILL mid-run; its lease expires and the job is taken over");
  const std::vector<std::string> crashy = {"run", "crashy", "--lease", "2s", "--max-clock-skew", "500ms"};
  auto with = [&](std::vector<std::string> rest) {
    std::vector<std::string> args = crashy;
    args.insert(args.end(), rest.begin(), rest.end());
    return args;
  };
  pid_t holder = fork();
  if (holder == 0) {
    std::string cmd = demo.Line(with({"--", "sleep", "30"}));
    execl("/bin/sh", "sh", "-c", ("exec " + cmd).c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  for (int i = 0; i < 50; ++i) {
    auto s = Demo::Parse(demo.Run({"status", "crashy", "--json"}).second);
    if (s.value("status", "") == "RUNNING") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  kill(holder, SIGKILL);
  waitpid(holder, nullptr, 0);
  fmt::print(stdout, "   killed jobgate (pid {}) with SIGKILL; its `sleep 30` dies with it\n", holder);
  const auto right_after = demo.Run(with({"--json", "--", "true"}));
  fmt::print(stdout, "   right after: {}\n", Demo::Describe(Demo::Parse(right_after.second)));
  fmt::print(stdout, "   waiting for lease (2s) + clock-skew allowance (500ms) ...\n");
  std::fflush(stdout);
  std::this_thread::sleep_for(std::chrono::milliseconds(2700));
  const auto then = demo.Run(with({"--json", "--", "true"}));
  fmt::print(stdout, "   then: {}\n", Demo::Describe(Demo::Parse(then.second)));
}

}  // namespace

int CmdDemo(const GlobalOptions&, const char* argv0) {
  std::error_code ec;
  std::string self = std::filesystem::read_symlink("/proc/self/exe", ec).string();
  if (ec) self = argv0;
  char tmpl[] = "/tmp/jobgate-demo-XXXXXX";
  if (!mkdtemp(tmpl)) return Fail(Status::Unavailable("demo: cannot create a temporary directory"));
  std::string dir = tmpl;
  Demo demo{self, "sqlite:" + dir + "/demo.db"};
  fmt::print(stdout, "jobgate demo: store {}\n", demo.store);

  ConcurrentInvocations(demo);
  FailingWorkload(demo);
  KilledHolder(demo);
  Title("5. jobgate status");
  fmt::print(stdout, "{}", demo.Run({"status"}).second);
  Title("6. jobgate history crashy");
  fmt::print(stdout, "{}", demo.Run({"history", "crashy"}).second);

  std::filesystem::remove_all(dir, ec);
  fmt::print(stdout, "\nDone. Try it yourself: jobgate run NAME -- COMMAND (state lives in ./jobgate.db).\n");
  return kExitOk;
}

}  // namespace jobgate::cli
