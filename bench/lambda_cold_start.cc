// Cold start of the Lambda runtime against its floor, in one run
// (docs/benchmarks.md, "Lambda"). Each round starts every candidate once,
// in a shuffled order, against one Runtime API emulator on 127.0.0.1, and
// measures:
//  - init: from just before the spawn (posix_spawn, then exec) to the
//    arrival of its first invocation/next;
//  - RSS after the first invocation: VmRSS once its second invocation/next
//    has arrived (the first invocation answered, the process waiting).
// The first invocation of `jobgate` is a gated one (its slot is done before
// the rounds start): one store read.
//
//   lambda_cold_start --rounds N --store URL [--env NAME=VALUE]... LABEL:ARGV... [LABEL:ARGV...]
//
// --env adds to the candidates' environment (e.g. the AWS keys Lambda sets,
// and a DynamoDB endpoint).
//
// ARGV is split on spaces. Prints one line per candidate:
//   RESULT LABEL init_median_us init_p10_us init_p90_us rss_median_kib runs
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "support/runtime_api_emulator.h"

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;

struct Candidate {
  std::string label;
  std::vector<std::string> argv;
  std::vector<double> init_us;
  std::vector<double> rss_kib;
};

long RssKib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  }
  return -1;
}

pid_t Spawn(const std::vector<std::string>& argv, const std::vector<std::string>& env) {
  std::vector<char*> args, envp;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  for (const auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", 1 /*O_WRONLY*/, 0);
  if (std::getenv("LAMBDA_COLD_START_STDERR") == nullptr) {
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", 1, 0);
  }
  pid_t pid = -1;
  if (posix_spawn(&pid, args[0], &actions, nullptr, args.data(), envp.data()) != 0) pid = -1;
  posix_spawn_file_actions_destroy(&actions);
  return pid;
}

// One start of `c`: false if it did not reach the Runtime API in time.
bool Measure(jobgate::test::RuntimeApiEmulator& api, Candidate& c, const std::vector<std::string>& env,
             int& calls) {
  const std::string event = R"({"job": "bench", "slot": "2026-01-01T00:00:00Z"})";
  api.Push(event);
  const auto start = Clock::now();
  const pid_t pid = Spawn(c.argv, env);
  if (pid < 0) return false;
  auto first = api.WaitNextCall(++calls, 20'000);
  auto second = first ? api.WaitNextCall(++calls, 20'000) : std::nullopt;
  const long rss = second ? RssKib(pid) : -1;
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  api.DropWaiting();  // its second invocation/next must not take the next candidate's event
  if (!second) return false;
  c.init_us.push_back(std::chrono::duration<double, std::micro>(*first - start).count());
  c.rss_kib.push_back(static_cast<double>(rss));
  return true;
}

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

std::vector<std::string> Split(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = 30;
  std::string store;
  std::vector<std::string> extra_env;
  std::vector<Candidate> candidates;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--rounds" && i + 1 < argc) {
      rounds = std::atoi(argv[++i]);
    } else if (a == "--store" && i + 1 < argc) {
      store = argv[++i];
    } else if (a == "--env" && i + 1 < argc) {
      extra_env.push_back(argv[++i]);
    } else if (a.find(':') != std::string::npos) {
      candidates.push_back({a.substr(0, a.find(':')), Split(a.substr(a.find(':') + 1)), {}, {}});
    } else {
      std::fprintf(stderr, "usage: lambda_cold_start --rounds N --store URL [--env NAME=VALUE]... LABEL:ARGV...\n");
      return 2;
    }
  }
  jobgate::test::RuntimeApiEmulator api;
  // What Lambda sets, and the store: nothing of this shell's environment.
  std::vector<std::string> env = {"AWS_LAMBDA_RUNTIME_API=" + api.address(), "JOBGATE_STORE=" + store,
                                  "PATH=/usr/local/bin:/usr/bin/:/bin:/opt/bin", "LANG=en_US.UTF-8",
                                  "TZ=:UTC", "AWS_REGION=us-east-1"};
  env.insert(env.end(), extra_env.begin(), extra_env.end());
  int calls = 0;
  std::mt19937 shuffle(42);
  std::vector<size_t> order(candidates.size());
  for (int r = 0; r < rounds; ++r) {
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::shuffle(order.begin(), order.end(), shuffle);
    for (size_t i : order) {
      if (!Measure(api, candidates[i], env, calls)) {
        std::fprintf(stderr, "lambda_cold_start: %s did not reach the Runtime API\n", candidates[i].label.c_str());
        return 1;
      }
    }
  }
  for (const Candidate& c : candidates) {
    std::printf("RESULT %s %.0f %.0f %.0f %.0f %zu\n", c.label.c_str(), Percentile(c.init_us, 0.5),
                Percentile(c.init_us, 0.1), Percentile(c.init_us, 0.9), Percentile(c.rss_kib, 0.5),
                c.init_us.size());
  }
  return 0;
}
