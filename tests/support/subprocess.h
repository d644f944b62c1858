// Child processes for the tests that run the real jobgate binary (tests/cli,
// tests/dynamo): start one with its output captured in files, wait for it
// with or without a deadline, read what it wrote, and say all of that when a
// test fails.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace jobgate::test {

// A finished child process.
struct Proc {
  int exit_code = -1;  // 128 + signal when killed
  std::string out;
  std::string err;
};

// Changes to the environment a child starts with: "NAME=VALUE" sets NAME,
// "NAME" alone removes it; everything else is inherited.
using EnvChanges = std::vector<std::string>;

// Starts argv (argv[0] looked up on PATH unless it holds a '/') with stdin
// from /dev/null and stdout/stderr to files, so no pipe can fill up and
// block it.
pid_t Spawn(const std::vector<std::string>& argv, const std::string& out_file, const std::string& err_file,
            const EnvChanges& env = {});
// Waits for pid; its exit code, or 128 + signal (-1 if it is not our child).
int Wait(pid_t pid);
// Spawn, Wait, and read both files.
Proc RunToFiles(const std::vector<std::string>& argv, const std::string& out_file, const std::string& err_file);
// The whole file; empty when it cannot be read.
std::string ReadFile(const std::string& path);

// Whether pid is a live process. A zombie is not: it has exited and only
// waits for its parent to reap it. A process whose parent died is reaped by
// PID 1, on its own schedule (in some VMs and containers only every couple
// of seconds), so kill(pid, 0), which succeeds on zombies, can report a
// killed process as alive long after it died.
bool Alive(pid_t pid);

// A started child that is reaped once: Poll/WaitFor/Wait remember its exit.
// The destructor SIGKILLs and reaps it if it is still running, so a failed
// assertion leaves no process behind.
class Child {
 public:
  Child() = default;
  Child(const std::vector<std::string>& argv, std::string out_file, std::string err_file, const EnvChanges& env = {});
  ~Child();
  Child(Child&& other) noexcept;
  Child& operator=(Child&& other) noexcept;
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  pid_t pid() const { return pid_; }
  // The exit code (128 + signal) once it has exited; does not block.
  std::optional<int> Poll();
  // Waits up to `timeout` for it to exit.
  std::optional<int> WaitFor(std::chrono::milliseconds timeout);
  // Waits as long as it takes.
  int Wait();
  // SIGKILL if it is still running (and not yet reaped); the exit is still
  // to be collected with Poll/WaitFor/Wait.
  void Kill();

  std::string Out() const { return ReadFile(out_file_); }
  std::string Err() const { return ReadFile(err_file_); }
  // For failure messages: the command, whether and how it exited, and what
  // it wrote to stdout and stderr.
  std::string Describe();

 private:
  void Release();

  pid_t pid_ = -1;
  std::optional<int> exit_code_;
  std::string command_;
  std::string out_file_;
  std::string err_file_;
};

}  // namespace jobgate::test
