// The Launcher of `tick` and `serve`: each scheduled invocation is a child
// process, `jobgate [global args] run NAME --scheduled --json-fd 3`, in a
// process group of its own (a Ctrl-C or a signal meant for the scheduler
// does not reach it; the scheduler decides when its runs are stopped). Its
// workload's output goes where the scheduler's goes; its outcome comes back
// on a pipe, as fd 3.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include <fmt/format.h>

#include "scheduler/scheduler.h"

extern char** environ;

namespace jobgate {

namespace {

constexpr int kOutcomeFd = 3;
constexpr int64_t kReapStepMs = 10;

int64_t MonotonicMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string ReadAvailable(int fd) {
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n > 0) {
      out.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    return out;  // EOF, or nothing more without waiting (O_NONBLOCK)
  }
}

// The environment of an invocation: ours, without `unset` and the names
// `set` gives, then `set`.
std::vector<std::string> ChildEnvironment(const std::vector<std::string>& set, const std::vector<std::string>& unset) {
  auto named = [](const std::string& entry, const std::string& name) {
    return entry.size() > name.size() && entry[name.size()] == '=' && entry.compare(0, name.size(), name) == 0;
  };
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry = *e;
    bool drop = false;
    for (const std::string& name : unset) drop = drop || named(entry, name);
    for (const std::string& s : set) drop = drop || named(entry, s.substr(0, s.find('=')));
    if (!drop) env.push_back(entry);
  }
  env.insert(env.end(), set.begin(), set.end());
  return env;
}

class ProcessLauncher final : public Launcher {
 public:
  explicit ProcessLauncher(LauncherOptions options) : options_(std::move(options)) {}
  ~ProcessLauncher() override {
    for (auto& [pid, child] : children_) close(child.outcome_fd);
  }

  Result<int64_t> Start(const std::string& job) override {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return Status::Unavailable(fmt::format("pipe2: {}", std::strerror(errno)));
    std::vector<std::string> args{options_.jobgate};
    args.insert(args.end(), options_.global_args.begin(), options_.global_args.end());
    args.insert(args.end(), {"run", job, "--scheduled", "--json-fd", std::to_string(kOutcomeFd)});
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<std::string> env = ChildEnvironment(options_.env, options_.unset_env);
    std::vector<char*> envp;
    for (std::string& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], kOutcomeFd);  // dup2 clears FD_CLOEXEC
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&attr, 0);
    pid_t pid = 0;
    const int rc = posix_spawn(&pid, argv[0], &actions, &attr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    close(fds[1]);
    if (rc != 0) {
      close(fds[0]);
      return Status::Unavailable(fmt::format("cannot start {}: {}", options_.jobgate, std::strerror(rc)));
    }
    fcntl(fds[0], F_SETFL, O_NONBLOCK);
    children_[pid] = Child{job, fds[0], MonotonicMs(), {}};
    return static_cast<int64_t>(pid);
  }

  std::vector<EndedRun> Reap(int64_t wait_ms) override {
    const int64_t until = MonotonicMs() + std::max<int64_t>(0, wait_ms);
    std::vector<EndedRun> ended;
    for (;;) {
      for (auto it = children_.begin(); it != children_.end();) {
        it->second.outcome += ReadAvailable(it->second.outcome_fd);  // keep the pipe from filling
        int status = 0;
        pid_t r = waitpid(it->first, &status, WNOHANG);
        if (r == 0 || (r < 0 && errno == EINTR)) {
          ++it;
          continue;
        }
        ended.push_back(Finish(it->second, status, r < 0));
        it = children_.erase(it);
      }
      if (!ended.empty() || MonotonicMs() >= until) return ended;
      // With no child, nothing can end: sleep the whole wait (returning at
      // once made an idle `serve` spin on a core between due times).
      const int64_t step = children_.empty() ? until - MonotonicMs() : std::min(kReapStepMs, until - MonotonicMs());
      std::this_thread::sleep_for(std::chrono::milliseconds(step));
    }
  }

  void SignalAll(int signal) override {
    for (const auto& [pid, child] : children_) kill(pid, signal);
  }

  size_t running() const override { return children_.size(); }

 private:
  struct Child {
    std::string job;
    int outcome_fd = -1;
    int64_t started_ms = 0;
    std::string outcome;
  };

  static EndedRun Finish(Child& child, int status, bool lost) {
    EndedRun e;
    e.job = child.job;
    child.outcome += ReadAvailable(child.outcome_fd);
    close(child.outcome_fd);
    e.outcome_json = std::move(child.outcome);
    while (!e.outcome_json.empty() && (e.outcome_json.back() == '\n' || e.outcome_json.back() == '\r')) {
      e.outcome_json.pop_back();
    }
    e.duration_ms = MonotonicMs() - child.started_ms;
    if (lost) {
      e.exit_code = 70;  // reaped elsewhere: its status is unknown
    } else if (WIFEXITED(status)) {
      e.exit_code = WEXITSTATUS(status);
    } else {
      e.exit_code = 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    }
    return e;
  }

  const LauncherOptions options_;
  std::map<pid_t, Child> children_;
};

}  // namespace

std::unique_ptr<Launcher> MakeProcessLauncher(LauncherOptions options) {
  return std::make_unique<ProcessLauncher>(std::move(options));
}

}  // namespace jobgate
