// Measures whole-process commands against each other in one run: every
// round runs each command once, in a shuffled order, so that load from
// other work on the machine lands on all of them alike (hyperfine runs one
// command's runs back to back). Wall time from spawn to exit, stdout and
// stderr to /dev/null; a command that exits with an unexpected code stops
// the benchmark, so a skip can never pass for a run. Besides wall time it
// records each child's CPU time (user + sys, from wait4): that is what the
// process itself costs, and it moves much less than wall time when other
// work competes for the CPUs (time spent waiting for fsync is not in it).
//
//   cli_bench [--rounds N] [--warmup N] LABEL:RC:ARGV... [LABEL:RC:ARGV...]
//
// Each command is one argument: a label, the expected exit code and the
// argv split on spaces (no quoting). Prints one line per command:
//   RESULT LABEL mean_us median_us p10_us p90_us runs cpu_mean_us cpu_median_us
#include <fcntl.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <random>
#include <sstream>
#include <string>
#include <vector>

extern char** environ;

namespace {

struct Command {
  std::string label;
  int expected_rc = 0;
  std::vector<std::string> argv;
  std::vector<double> us;      // wall time per run
  std::vector<double> cpu_us;  // the child's user + sys time per run
};

bool Parse(const std::string& spec, Command* cmd) {
  const size_t a = spec.find(':');
  const size_t b = a == std::string::npos ? a : spec.find(':', a + 1);
  if (b == std::string::npos) return false;
  cmd->label = spec.substr(0, a);
  cmd->expected_rc = std::atoi(spec.substr(a + 1, b - a - 1).c_str());
  std::istringstream words(spec.substr(b + 1));
  for (std::string w; words >> w;) cmd->argv.push_back(w);
  return !cmd->label.empty() && !cmd->argv.empty();
}

double NowUs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) * 1e6 + static_cast<double>(ts.tv_nsec) / 1e3;
}

double Us(const timeval& tv) { return static_cast<double>(tv.tv_sec) * 1e6 + static_cast<double>(tv.tv_usec); }

// Runs the command once; returns its wall time in µs (and its CPU time in
// *cpu_us), or -1 after printing why it failed.
double RunOnce(const Command& cmd, double* cpu_us) {
  std::vector<char*> argv;
  for (const std::string& w : cmd.argv) argv.push_back(const_cast<char*>(w.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid = 0;
  const double start = NowUs();
  int err = posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (err != 0) {
    std::fprintf(stderr, "cli_bench: %s: cannot start %s: %s\n", cmd.label.c_str(), argv[0], std::strerror(err));
    return -1;
  }
  int status = 0;
  rusage usage{};
  while (wait4(pid, &status, 0, &usage) < 0) {
  }
  const double elapsed = NowUs() - start;
  *cpu_us = Us(usage.ru_utime) + Us(usage.ru_stime);
  const int rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  if (rc != cmd.expected_rc) {
    std::fprintf(stderr, "cli_bench: %s exited %d, expected %d\n", cmd.label.c_str(), rc, cmd.expected_rc);
    return -1;
  }
  return elapsed;
}

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  const double at = p * static_cast<double>(v.size() - 1);
  const size_t lo = static_cast<size_t>(at);
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (at - static_cast<double>(lo));
}

double Mean(const std::vector<double>& v) {
  return std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = 200, warmup = 10;
  std::vector<Command> cmds;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--rounds" && i + 1 < argc) {
      rounds = std::atoi(argv[++i]);
    } else if (arg == "--warmup" && i + 1 < argc) {
      warmup = std::atoi(argv[++i]);
    } else {
      Command cmd;
      if (!Parse(arg, &cmd)) {
        std::fprintf(stderr, "cli_bench: bad command '%s' (want LABEL:RC:ARGV...)\n", arg.c_str());
        return 2;
      }
      cmds.push_back(std::move(cmd));
    }
  }
  if (cmds.empty() || rounds < 1) {
    std::fprintf(stderr, "usage: cli_bench [--rounds N] [--warmup N] LABEL:RC:ARGV...\n");
    return 2;
  }
  std::vector<size_t> order(cmds.size());
  std::iota(order.begin(), order.end(), 0);
  std::mt19937 shuffle(12345);
  for (int r = 0; r < warmup + rounds; ++r) {
    std::shuffle(order.begin(), order.end(), shuffle);
    for (size_t i : order) {
      double cpu_us = 0;
      const double us = RunOnce(cmds[i], &cpu_us);
      if (us < 0) return 1;
      if (r >= warmup) {
        cmds[i].us.push_back(us);
        cmds[i].cpu_us.push_back(cpu_us);
      }
    }
  }
  std::printf("%-25s %10s %10s %10s %10s %6s %10s %10s\n", "wall time:", "mean us", "median us", "p10 us",
              "p90 us", "runs", "cpu mean", "cpu median");
  for (const Command& c : cmds) {
    std::printf("RESULT %-18s %10.0f %10.0f %10.0f %10.0f %6zu %10.0f %10.0f\n", c.label.c_str(), Mean(c.us),
                Percentile(c.us, 0.5), Percentile(c.us, 0.1), Percentile(c.us, 0.9), c.us.size(), Mean(c.cpu_us),
                Percentile(c.cpu_us, 0.5));
  }
  return 0;
}
