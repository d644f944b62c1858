// "Process credential provider": the profile's credential_process is run
// (split into words, without a shell, as the AWS SDKs do) and prints
// {"Version": 1, "AccessKeyId": ..., "SecretAccessKey": ...,
//  "SessionToken": ..., "Expiration": "RFC 3339"} on stdout.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "aws/credential_sources.h"
#include "aws/credential_util.h"

namespace jobgate {

namespace {

// More than any credential document; a process printing more is broken.
constexpr size_t kMaxOutputBytes = 1 << 20;

// What the child did: its stdout and how it ended.
struct ChildResult {
  std::string out;
  int wait_status = 0;
};

// A NULL-terminated argv/envp view over strings that outlive the spawn.
std::vector<char*> CStrings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// Reads the child's stdout until it closes it or `timeout_ms` pass; false
// on the timeout.
bool ReadUntilClosed(int fd, int64_t timeout_ms, std::string* out) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  char buf[4096];
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    const int ready = poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), INT32_MAX)));
    if (ready < 0 && errno == EINTR) continue;
    if (ready == 0) return false;
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) return true;
    if (out->size() < kMaxOutputBytes) out->append(buf, static_cast<size_t>(n));
  }
}

// Runs argv with stdout to a pipe, stdin from /dev/null, stderr shared with
// ours (the tool's own prompts and messages reach the user, not our logs).
// Killed when it has not closed its stdout within `timeout_ms`.
Result<ChildResult> RunCapturingStdout(std::vector<std::string> argv, std::vector<std::string> envp,
                                       int64_t timeout_ms) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return Status::Unavailable(fmt::format("pipe: {}", std::strerror(errno)));
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
  std::vector<char*> c_argv = CStrings(argv);
  std::vector<char*> c_envp = CStrings(envp);
  pid_t pid = 0;
  const int rc = posix_spawnp(&pid, c_argv[0], &actions, nullptr, c_argv.data(), c_envp.data());
  posix_spawn_file_actions_destroy(&actions);
  close(fds[1]);
  if (rc != 0) {
    close(fds[0]);
    return Status::Unavailable(fmt::format("cannot run {}: {}", argv[0], std::strerror(rc)));
  }
  ChildResult result;
  const bool finished = ReadUntilClosed(fds[0], timeout_ms, &result.out);
  close(fds[0]);
  if (!finished) kill(pid, SIGKILL);
  while (waitpid(pid, &result.wait_status, 0) < 0 && errno == EINTR) {
  }
  if (!finished) {
    return Status::Unavailable(fmt::format("{} did not finish within {} ms and was killed", argv[0], timeout_ms));
  }
  return result;
}

std::string HowItEnded(int wait_status) {
  if (WIFEXITED(wait_status)) return fmt::format("exited with status {}", WEXITSTATUS(wait_status));
  if (WIFSIGNALED(wait_status)) return fmt::format("was killed by signal {}", WTERMSIG(wait_status));
  return "ended abnormally";
}

// Runs the command on every fetch (the tool does its own caching, as the
// SDKs assume). Thread-compatible: the provider calls it under its lock.
class ProcessSource final : public CredentialSource {
 public:
  explicit ProcessSource(ProcessSettings settings) : s_(std::move(settings)) {}

  Result<TimedCredentials> Fetch() override {
    const std::string what = Describe();
    auto argv = SplitCommandLine(s_.command);
    if (!argv.ok()) return Status::InvalidArgument(fmt::format("{}: {}", what, argv.status().message()));
    if (argv->empty()) return Status::InvalidArgument(fmt::format("{}: the command is empty", what));
    std::vector<std::string> envp;
    for (const auto& [k, v] : s_.env) envp.push_back(k + "=" + v);
    auto child = RunCapturingStdout(std::move(argv).value(), std::move(envp), s_.timeout_ms);
    if (!child.ok()) return Status::Unavailable(fmt::format("{}: {}", what, child.status().message()));
    // The output is never quoted: it is, or is near to, a secret.
    if (!WIFEXITED(child->wait_status) || WEXITSTATUS(child->wait_status) != 0) {
      return Status::Unavailable(fmt::format("{}: the command {}", what, HowItEnded(child->wait_status)));
    }
    const auto j = nlohmann::json::parse(child->out, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object() || !j.contains("Version") || j["Version"] != 1) {
      return Status::Unavailable(
          fmt::format("{}: the command's output is not a JSON object with \"Version\": 1", what));
    }
    JsonCredentialNames names;
    names.session_token = "SessionToken";
    return ParseJsonCredentials(child->out, names, what);
  }

  std::string Describe() const override { return fmt::format("credential_process of profile {}", s_.profile); }

 private:
  ProcessSettings s_;
};

}  // namespace

Result<std::vector<std::string>> SplitCommandLine(std::string_view command) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  for (size_t i = 0; i < command.size(); ++i) {
    const char c = command[i];
    if (c == ' ' || c == '\t' || c == '\n') {
      if (in_word) words.push_back(std::move(word));
      word.clear();
      in_word = false;
    } else if (c == '\'' || c == '"') {
      size_t k = i + 1;
      for (; k < command.size() && command[k] != c; ++k) {
        // Inside double quotes a backslash escapes only \ " $ `, as in sh.
        if (c == '"' && command[k] == '\\' && k + 1 < command.size() && std::strchr("\\\"$`", command[k + 1])) ++k;
        word.push_back(command[k]);
      }
      if (k >= command.size()) return Status::InvalidArgument(fmt::format("unterminated {} quote", c));
      i = k;
      in_word = true;
    } else if (c == '\\' && i + 1 < command.size()) {
      word.push_back(command[++i]);
      in_word = true;
    } else {
      word.push_back(c);
      in_word = true;
    }
  }
  if (in_word) words.push_back(std::move(word));
  return words;
}

std::unique_ptr<CredentialSource> MakeProcessSource(ProcessSettings settings) {
  return std::make_unique<ProcessSource>(std::move(settings));
}

}  // namespace jobgate
