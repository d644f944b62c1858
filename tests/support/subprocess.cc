#include "support/subprocess.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>
#include <thread>
#include <utility>

namespace jobgate::test {

using namespace std::chrono_literals;

namespace {

int ExitCodeOf(int wait_status) {
  return WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : 128 + WTERMSIG(wait_status);
}

std::string NameOf(const std::string& entry) { return entry.substr(0, entry.find('=')); }

// This process's environment with `changes` applied, built before fork: the
// child of a threaded parent may only call async-signal-safe functions, and
// setenv is not one.
std::vector<std::string> ChildEnvironment(const EnvChanges& changes) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry = *e;
    bool changed = false;
    for (const auto& c : changes) changed = changed || NameOf(c) == NameOf(entry);
    if (!changed) env.push_back(entry);
  }
  for (const auto& c : changes) {
    if (c.find('=') != std::string::npos) env.push_back(c);
  }
  return env;
}

std::vector<char*> Pointers(const std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (const auto& s : strings) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

}  // namespace

pid_t Spawn(const std::vector<std::string>& argv, const std::string& out_file, const std::string& err_file,
            const EnvChanges& env) {
  const std::vector<std::string> environment = ChildEnvironment(env);
  std::vector<char*> args = Pointers(argv);
  std::vector<char*> envp = Pointers(environment);
  pid_t pid = fork();
  if (pid == 0) {
    int in = open("/dev/null", O_RDONLY);
    int out = open(out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int err = open(err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (in < 0 || out < 0 || err < 0) _exit(127);
    dup2(in, 0);
    dup2(out, 1);
    dup2(err, 2);
    execvpe(args[0], args.data(), envp.data());
    _exit(127);
  }
  return pid;
}

int Wait(pid_t pid) {
  int st = 0;
  while (waitpid(pid, &st, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return ExitCodeOf(st);
}

Proc RunToFiles(const std::vector<std::string>& argv, const std::string& out_file, const std::string& err_file) {
  Proc p;
  p.exit_code = Wait(Spawn(argv, out_file, err_file));
  p.out = ReadFile(out_file);
  p.err = ReadFile(err_file);
  return p;
}

std::string ReadFile(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

bool Alive(pid_t pid) {
  if (pid <= 0) return false;
  // "PID (COMM) STATE ...": COMM may hold spaces and parentheses, so the
  // state is the first field after the last ')'.
  const std::string stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  const size_t paren = stat.rfind(')');
  if (paren != std::string::npos && paren + 2 < stat.size()) {
    const char state = stat[paren + 2];
    return state != 'Z' && state != 'X';
  }
  // No such entry: gone (reaped), unless there is no /proc to ask at all.
  if (!ReadFile("/proc/self/stat").empty()) return false;
  return kill(pid, 0) == 0;
}

// ---- Child -------------------------------------------------------------------

Child::Child(const std::vector<std::string>& argv, std::string out_file, std::string err_file, const EnvChanges& env)
    : out_file_(std::move(out_file)), err_file_(std::move(err_file)) {
  for (const auto& e : env) command_ += e + " ";
  for (const auto& a : argv) command_ += (command_.empty() || command_.back() == ' ' ? "" : " ") + a;
  pid_ = Spawn(argv, out_file_, err_file_, env);
}

Child::~Child() { Release(); }

Child::Child(Child&& other) noexcept { *this = std::move(other); }

Child& Child::operator=(Child&& other) noexcept {
  if (this != &other) {
    Release();
    pid_ = std::exchange(other.pid_, -1);
    exit_code_ = std::exchange(other.exit_code_, std::nullopt);
    command_ = std::move(other.command_);
    out_file_ = std::move(other.out_file_);
    err_file_ = std::move(other.err_file_);
  }
  return *this;
}

void Child::Release() {
  if (pid_ > 0 && !exit_code_) {
    Kill();
    Wait();
  }
  pid_ = -1;
}

std::optional<int> Child::Poll() {
  if (exit_code_ || pid_ <= 0) return exit_code_;
  int st = 0;
  pid_t r;
  do {
    r = waitpid(pid_, &st, WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r == pid_) exit_code_ = ExitCodeOf(st);
  if (r < 0) exit_code_ = -1;  // not our child (any more): nothing to wait for
  return exit_code_;
}

std::optional<int> Child::WaitFor(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!Poll() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(10ms);
  return Poll();
}

int Child::Wait() {
  if (!exit_code_ && pid_ > 0) exit_code_ = jobgate::test::Wait(pid_);
  return exit_code_.value_or(-1);
}

void Child::Kill() {
  if (pid_ > 0 && !exit_code_) kill(pid_, SIGKILL);
}

std::string Child::Describe() {
  std::ostringstream s;
  s << "process " << pid_ << " (" << command_ << ") ";
  if (auto code = Poll()) {
    s << "exited with " << *code;
    if (*code > 128) s << " (signal " << *code - 128 << ")";
  } else {
    s << "is still running";
  }
  s << "\n--- its stdout (" << out_file_ << "):\n" << Out() << "\n--- its stderr (" << err_file_ << "):\n" << Err()
    << "\n---";
  return s.str();
}

}  // namespace jobgate::test
