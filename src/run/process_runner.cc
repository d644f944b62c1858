#include "run/process_runner.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "core/beat_thread.h"
#include "core/lease_keeper.h"
#include "util/text.h"

extern char** environ;

namespace jobgate {
namespace {

using Kind = ProcessResult::Kind;

// Under the sanitizers, whose run-time follows each thread's stack and
// owns the heap, the workload (StartWorkload) and the sentinel
// (ProcessGroup::Start) are forked.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

// The workload's stderr is read in chunks of this size (on the stack).
constexpr size_t kReadChunk = 64 * 1024;

// Without a pidfd, the longest the wait loop sleeps between two checks of
// the workload (a SIGCHLD can go to another thread and be lost: Wait()).
constexpr int kNoPidfdCheckMs = 100;

Status ErrnoError(const char* what) {
  return Status::Internal(std::string("process runner: ") + what + ": " + std::strerror(errno));
}

// An owned file descriptor, closed when it goes out of scope.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) Reset(std::exchange(other.fd_, -1));
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { Reset(); }

  int get() const { return fd_; }
  void Reset(int fd = -1) {
    if (fd_ >= 0) close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

// The test seam: true (errno set) when the test makes `call` fail.
bool Injected(const SyscallFault& fault, std::string_view call) {
  if (!fault) return false;
  const int error = fault(call);
  if (error != 0) errno = error;
  return error != 0;
}

// Both ends O_CLOEXEC, so no workload ever inherits a pipe it was not handed.
Status MakePipe(Fd* read_end, Fd* write_end, const SyscallFault& fault) {
  int fds[2];
  if (Injected(fault, "pipe2") || pipe2(fds, O_CLOEXEC) != 0) return ErrnoError("pipe2");
  read_end->Reset(fds[0]);
  write_end->Reset(fds[1]);
  return Status::Ok();
}

// System calls for the children before they run: the workload's between
// its clone and exec, the sentinel's all its life. Both may share jobgate's
// memory and its thread pointer, so they write no errno (the spawning
// thread's) where that can be avoided: on x86-64 and arm64, where the
// sentinel shares the memory (kSharedSentinel, ProcessGroup::Start).
#if defined(__x86_64__) || defined(__aarch64__)
constexpr bool kSharedSentinel = !kSanitized;
// A system call without errno: the result, or -errno.
inline long RawSyscall(long number, long a = 0, long b = 0, long c = 0) {
#if defined(__x86_64__)
  long result;
  asm volatile("syscall" : "=a"(result) : "a"(number), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
  return result;
#else
  register long x8 asm("x8") = number;
  register long x0 asm("x0") = a;
  register long x1 asm("x1") = b;
  register long x2 asm("x2") = c;
  asm volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2) : "memory");
  return x0;
#endif
}
#else
constexpr bool kSharedSentinel = false;
// Only in a forked child, whose errno is its own, or in a clone(CLONE_VFORK)
// child, whose parent waits until it execs.
inline long RawSyscall(long number, long a = 0, long b = 0, long c = 0) {
  const long result = syscall(number, a, b, c);
  return result < 0 ? -errno : result;
}
#endif

// The highest descriptor to close one by one where close_range(2) is
// missing (Linux before 5.9): below the soft limit on open files.
unsigned FdLimit() {
  struct rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY) {
    return static_cast<unsigned>(std::min<rlim_t>(limit.rlim_cur, 1u << 20)) - 1;
  }
  return 65535;
}

// Closes [lo, hi] by system calls only (RawSyscall), up to `max_fd`
// (FdLimit(), taken by the parent) one by one without close_range.
void RawCloseRange(unsigned lo, unsigned hi, unsigned max_fd) {
  if (lo > hi) return;
  if (RawSyscall(SYS_close_range, lo, hi, 0) == 0) return;
  for (unsigned fd = lo; fd <= std::min(hi, max_fd); ++fd) RawSyscall(SYS_close, fd);
}

// Closes every fd >= `first` except `keep`: the caller's descriptors opened
// without O_CLOEXEC (by libraries, or inherited) must not leak further.
// For the workload and the sentinel before they run: no errno, no heap.
void CloseFdsFrom(int first, int keep, unsigned max_fd) {
  const unsigned from = static_cast<unsigned>(first), kept = static_cast<unsigned>(keep);
  if (keep >= first) {
    if (kept > from) RawCloseRange(from, kept - 1, max_fd);
    RawCloseRange(kept + 1, ~0u, max_fd);
  } else {
    RawCloseRange(from, ~0u, max_fd);
  }
}

// Writes all of `data` to `fd`, giving up on errors: losing pass-through
// output (a closed or broken stderr) must not stop the workload.
void WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    data.remove_prefix(static_cast<size_t>(n));
  }
}

// Keeps the last `capacity` bytes appended: memory stays bounded however
// much the workload writes.
class TailBuffer {
 public:
  explicit TailBuffer(size_t capacity) : capacity_(capacity) { bytes_.reserve(capacity); }

  void Append(std::string_view data) {
    if (data.size() >= capacity_) {
      bytes_.assign(data.substr(data.size() - capacity_));
      return;
    }
    const size_t total = bytes_.size() + data.size();
    if (total > capacity_) bytes_.erase(0, total - capacity_);
    bytes_.append(data);
  }
  const std::string& bytes() const { return bytes_; }

 private:
  size_t capacity_;
  std::string bytes_;
};

// ---------------------------------------------------------------------------
// Signals

// The signals the run loop takes through its signalfd.
sigset_t WatchedSignals() {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGCHLD, SIGTERM, SIGINT, SIGHUP}) sigaddset(&set, sig);
  return set;
}

// Blocks the watched signals (and SIGPIPE, which a write to a closed stderr
// would raise) for the duration of a run, reads them through a signalfd,
// and puts the caller's mask and SIGCHLD disposition back afterwards.
class SignalScope {
 public:
  SignalScope() = default;
  SignalScope(const SignalScope&) = delete;
  SignalScope& operator=(const SignalScope&) = delete;
  ~SignalScope() { Restore(); }

  Status Install(const SyscallFault& fault) {
    sigset_t blocked = WatchedSignals();
    sigaddset(&blocked, SIGPIPE);
    if (sigprocmask(SIG_BLOCK, &blocked, &caller_mask_) != 0) return ErrnoError("sigprocmask");
    // A caller that ignores SIGCHLD (or set SA_NOCLDWAIT) would have our
    // children reaped by the kernel, and waitpid would never see them exit.
    struct sigaction dfl = {};
    dfl.sa_handler = SIG_DFL;
    sigaction(SIGCHLD, &dfl, &caller_sigchld_);
    installed_ = true;
    const sigset_t watched = WatchedSignals();
    if (Injected(fault, "signalfd")) return ErrnoError("signalfd");
    fd_.Reset(signalfd(-1, &watched, SFD_CLOEXEC | SFD_NONBLOCK));
    if (fd_.get() < 0) return ErrnoError("signalfd");
    return Status::Ok();
  }

  int fd() const { return fd_.get(); }
  const sigset_t& caller_mask() const { return caller_mask_; }

 private:
  void Restore() {
    if (!installed_) return;
    fd_.Reset();
    // Drop what the run itself raised (our children's SIGCHLD, SIGPIPE from
    // pass-through writes). TERM/INT/HUP arriving after the workload was
    // reaped stay pending and meet the caller's own disposition.
    sigset_t ours;
    sigemptyset(&ours);
    sigaddset(&ours, SIGCHLD);
    sigaddset(&ours, SIGPIPE);
    const struct timespec zero = {0, 0};
    while (sigtimedwait(&ours, nullptr, &zero) > 0) {
    }
    sigaction(SIGCHLD, &caller_sigchld_, nullptr);
    sigprocmask(SIG_SETMASK, &caller_mask_, nullptr);
    installed_ = false;
  }

  bool installed_ = false;
  sigset_t caller_mask_;
  struct sigaction caller_sigchld_ = {};
  Fd fd_;
};

// ---------------------------------------------------------------------------
// The sentinel and the process group

// Body of the sentinel process: leader of the workload's group. It blocks on
// the read end of the "life" pipe, whose only write end is in jobgate; the
// kernel closes that end however jobgate exits (kill -9 included), the read
// returns EOF, and the sentinel SIGKILLs its whole group, grandchildren too.
// A pipe rather than PR_SET_PDEATHSIG: no race between its start and prctl
// (EOF is seen even if jobgate died first), and it tracks the process, not
// the thread that started it. No exec: FACTS.md, process start dominates a
// run. It starts with every signal blocked (ProcessGroup::Start) and keeps
// them so: immune to the SIGTERM jobgate sends the group and to terminal
// signals, only the group's SIGKILL (or its own) ends it.
//
// Where it can, the sentinel shares jobgate's memory (clone(CLONE_VM),
// without CLONE_VFORK: it runs beside jobgate, on a stack of its own). A
// fork would copy jobgate's page tables and write-protect every page, and
// each page jobgate wrote afterwards (the commit's statements, the frees,
// its stack) would take a copy-on-write fault, the sentinel its own faults
// on top: about 45 faults and 10% of a `jobgate run -- true`
// (docs/benchmarks.md). Sharing the memory, it must not write to any of
// jobgate's: no glibc call, whose errno is the spawning thread's (the
// sentinel runs with its thread pointer), only system calls made here,
// and nothing but its own stack. Where these are not written (another
// architecture), under the sanitizers and under valgrind, it is forked.
struct SentinelArgs {
  int life_fd;
  unsigned max_fd;  // the highest fd to close where close_range is missing
};

[[noreturn]] void SentinelMain(const SentinelArgs& args) {
  // Lead a group of our own, or kill(-getpid()) below would hit nothing:
  // never kill(0), which before setpgid would be jobgate's own group.
  if (RawSyscall(SYS_setpgid, 0, 0) != 0) RawSyscall(SYS_exit_group, 1);
  // Hold no store connection, terminal or pipe of jobgate's.
  CloseFdsFrom(0, args.life_fd, args.max_fd);
  char byte;
  long n;
  do {
    n = RawSyscall(SYS_read, args.life_fd, reinterpret_cast<long>(&byte), 1);
  } while (n > 0 || n == -EINTR);
  RawSyscall(SYS_kill, -RawSyscall(SYS_getpid), SIGKILL);
  for (;;) RawSyscall(SYS_exit_group, 0);
}

int SentinelEntry(void* arg) { SentinelMain(*static_cast<const SentinelArgs*>(arg)); }

// The shared sentinel's stack: its frames are small (SentinelMain and the
// system calls), and only the pages it touches are ever allocated.
constexpr size_t kSentinelStackBytes = 64 * 1024;

// Owns the sentinel, whose pid is the workload's process group id. Until
// Finish() reaps it the sentinel is our child (alive or a zombie), so that
// pid, and with it the group id, cannot be reused: kill(-pgid) is safe.
class ProcessGroup {
 public:
  ProcessGroup() = default;
  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;
  ~ProcessGroup() { Finish(); }

  Status Start(const SyscallFault& fault) {
    Fd life_read;
    JOBGATE_RETURN_IF_ERROR(MakePipe(&life_read, &life_write_, fault));
    if (Injected(fault, "spawn (sentinel)")) return ErrnoError("spawn (sentinel)");
    const bool shared = kSharedSentinel && !UnderValgrind();
    const char* how = shared ? "clone (sentinel)" : "fork (sentinel)";
    SentinelArgs args{life_read.get(), FdLimit()};
    // Every signal blocked across the start: the sentinel keeps the mask,
    // and no handler of jobgate's runs in it.
    sigset_t all, before;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &before);
    pid_t pid;
    if (shared) {
      pid = CloneSentinel(args);
    } else {
      pid = fork();
      if (pid == 0) SentinelMain(args);
    }
    const int error = errno;
    pthread_sigmask(SIG_SETMASK, &before, nullptr);
    errno = error;
    if (pid < 0) return ErrnoError(how);
    pid_ = pid;
    // Also from this side, so the group exists before the workload tries to
    // join it (the classic shell double setpgid; one of them may lose).
    setpgid(pid, pid);
    if (getpgid(pid) != pid) return ErrnoError("setpgid (sentinel)");
    return Status::Ok();
  }

  pid_t pgid() const { return pid_; }
  // The guard matters: kill(-(-1)) would signal init.
  void Signal(int sig) const {
    if (pid_ > 0) kill(-pid_, sig);
  }

  // SIGKILLs whatever is left in the group and reaps the sentinel. Leftovers
  // (`cmd &` without wait) would outlive the lease this run is fenced by, and
  // would hold the stderr pipe open; a container's processes die with its
  // PID 1 the same way.
  void Finish() {
    if (pid_ > 0) {
      Signal(SIGKILL);
      life_write_.Reset();
      while (waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
      }
      pid_ = -1;
    }
    // Only once the sentinel is reaped: it may be running on it until then.
    if (stack_ != nullptr) munmap(stack_, kSentinelStackBytes);
    stack_ = nullptr;
  }

 private:
  // Valgrind runs no clone(CLONE_VM) but a thread's or a vfork's: it would
  // stop the process. It is seen by the preload it puts in every process it
  // runs, as tools/startup-order does with callgrind.
  static bool UnderValgrind() {
    const char* preload = getenv("LD_PRELOAD");
    return preload != nullptr && strstr(preload, "/vgpreload_") != nullptr;
  }

  // clone(CLONE_VM) onto a stack mapped for it, whose top holds the
  // sentinel's arguments (this frame is gone by the time it reads them).
  pid_t CloneSentinel(const SentinelArgs& args) {
    void* stack = mmap(nullptr, kSentinelStackBytes, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED) return -1;
    stack_ = stack;
    char* top = static_cast<char*>(stack) + kSentinelStackBytes;
    auto* copy = new (top - 64) SentinelArgs(args);
    return clone(SentinelEntry, top - 64, CLONE_VM | SIGCHLD, copy);
  }

  pid_t pid_ = -1;
  Fd life_write_;
  void* stack_ = nullptr;
};

// ---------------------------------------------------------------------------
// The workload

// argv and envp as execvpe wants them, built before fork so the child only
// makes async-signal-safe calls. The pointers point into `spec` and into
// the process's own environment, which outlive the child's exec; only the
// overriding variables are made here. Few allocations: the parent frees the
// plan after its forks, and each heap page it writes then is a
// copy-on-write fault (docs/benchmarks.md, "Process start-up").
struct ExecPlan {
  std::vector<std::string> overrides;  // "NAME=value" of spec.env
  std::vector<char*> argv;
  std::vector<char*> envp;
};

ExecPlan MakeExecPlan(const ProcessSpec& spec) {
  ExecPlan plan;
  plan.argv.reserve(spec.argv.size() + 1);
  // execvpe takes char* const[] but writes through none of them.
  for (const std::string& arg : spec.argv) plan.argv.push_back(const_cast<char*>(arg.c_str()));
  plan.argv.push_back(nullptr);
  plan.overrides.reserve(spec.env.size());
  for (const auto& [name, value] : spec.env) plan.overrides.push_back(name + "=" + value);
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const std::string_view entry(*e);
    const std::string_view name = entry.substr(0, entry.find('='));
    const bool overridden = std::any_of(spec.env.begin(), spec.env.end(),
                                        [&](const auto& kv) { return kv.first == name; });
    if (!overridden) plan.envp.push_back(*e);
  }
  // Pointers into `overrides` are taken once it stops growing; moving the
  // plan moves the vector's buffer (and the strings it holds), so they stay
  // valid.
  for (std::string& entry : plan.overrides) plan.envp.push_back(entry.data());
  plan.envp.push_back(nullptr);
  return plan;
}

// What a workload child reports through the exec-status pipe when it cannot
// become the workload. Written once, atomically (< PIPE_BUF).
struct ChildFailure {
  enum Stage : int { kSetpgid = 1, kDup2, kExec } stage;
  int error;
};

[[noreturn]] void ReportFailure(int status_fd, ChildFailure::Stage stage) {
  const ChildFailure failure{stage, errno};
  const ssize_t ignored = write(status_fd, &failure, sizeof failure);
  (void)ignored;
  _exit(failure.error == ENOENT ? 127 : 126);
}

struct WorkloadFds {
  int stderr_write;
  int status_write;
  unsigned max_fd;  // FdLimit()
};

// Every signal the process catches goes back to its default action. A
// handler is jobgate's code acting on jobgate's memory: in a child of
// clone(CLONE_VM) that memory is the parent's own, and after a fork a
// handler would act for a process that is about to become the workload.
// glibc's two reserved signals fail sigaction with EINVAL and are skipped.
void DefaultCaughtSignals() {
  for (int sig = 1; sig < NSIG; ++sig) {
    struct sigaction action;
    if (sigaction(sig, nullptr, &action) != 0) continue;
    if (action.sa_handler == SIG_DFL || action.sa_handler == SIG_IGN) continue;
    action = {};
    action.sa_handler = SIG_DFL;
    sigaction(sig, &action, nullptr);
  }
}

// Body of the workload child, between its start and exec. Only
// async-signal-safe calls, and no write to memory but its own stack: the
// child may share the parent's memory (StartWorkload). Starts with every
// signal the spawning thread blocked still blocked.
[[noreturn]] void WorkloadMain(const ExecPlan& plan, pid_t jobgate, pid_t pgid,
                               WorkloadFds fds, const sigset_t& caller_mask) {
  DefaultCaughtSignals();
  // Until setpgid below we are outside the sentinel's group: if jobgate dies
  // in that window, the kernel kills us instead. The getppid check closes
  // the race of jobgate dying before prctl.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != jobgate) _exit(127);
  if (setpgid(0, pgid) != 0) ReportFailure(fds.status_write, ChildFailure::kSetpgid);
  if (fds.stderr_write == STDERR_FILENO) {
    fcntl(STDERR_FILENO, F_SETFD, 0);  // dup2 onto itself would keep O_CLOEXEC
  } else if (dup2(fds.stderr_write, STDERR_FILENO) < 0) {
    ReportFailure(fds.status_write, ChildFailure::kDup2);
  }
  // Ignored dispositions survive exec. Like Python's restore_signals: a
  // library in jobgate may ignore SIGPIPE, and `producer | head` needs it.
  signal(SIGPIPE, SIG_DFL);
  signal(SIGXFSZ, SIG_DFL);
  sigprocmask(SIG_SETMASK, &caller_mask, nullptr);
  // The caller may hold termination signals blocked (`jobgate run` does, from
  // before it takes the lock, so that a SIGTERM arriving early is forwarded
  // and committed rather than killing jobgate mid-acquire). The workload must
  // still receive them, so they are unblocked for it whatever the caller did.
  const sigset_t watched = WatchedSignals();
  sigprocmask(SIG_UNBLOCK, &watched, nullptr);
  // Keeps the status pipe: it is O_CLOEXEC, so exec closes it, and EOF on
  // the other end then tells jobgate the exec succeeded.
  CloseFdsFrom(STDERR_FILENO + 1, fds.status_write, fds.max_fd);
  execvpe(plan.argv[0], plan.argv.data(), plan.envp.data());
  ReportFailure(fds.status_write, ChildFailure::kExec);
}

struct WorkloadStart {
  const ExecPlan* plan;
  pid_t jobgate;
  pid_t pgid;
  WorkloadFds fds;
  const sigset_t* caller_mask;
};

// The clone child's stack. It takes WorkloadMain, execvpe's PATH buffer
// (at most PATH_MAX + NAME_MAX), a lazy symbol binding's saved registers,
// and, when the kernel refuses a file without "#!" (ENOEXEC) and execvpe
// retries with /bin/sh, a copy of argv: a command with more arguments than
// kCloneMaxArgs is forked instead.
constexpr size_t kCloneStackBytes = 32 * 1024;
constexpr size_t kCloneMaxArgs = 1024;

int WorkloadEntry(void* arg) {
  const WorkloadStart& start = *static_cast<const WorkloadStart*>(arg);
  WorkloadMain(*start.plan, start.jobgate, start.pgid, start.fds, *start.caller_mask);
}

// clone(CLONE_VM | CLONE_VFORK), as posix_spawn does: the child runs in
// the parent's memory until it execs, so neither copies the parent's page
// tables nor takes a copy-on-write fault, and the parent's next writes to
// its heap take none either (a fork write-protects every page: about 30
// faults and 9% of a `jobgate run -- true`, docs/benchmarks.md). The
// calling thread is suspended until the child execs or exits, so the
// child's stack is a buffer in this frame. Every signal stays blocked
// across the clone so that no handler runs in the child before
// WorkloadMain has reset it; WorkloadMain opens the mask.
__attribute__((noinline)) pid_t CloneWorkload(const WorkloadStart& start) {
  alignas(64) char stack[kCloneStackBytes];
  sigset_t all, before;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &before);
  const pid_t pid = clone(WorkloadEntry, stack + sizeof stack, CLONE_VM | CLONE_VFORK | SIGCHLD,
                          const_cast<WorkloadStart*>(&start));
  const int error = errno;
  pthread_sigmask(SIG_SETMASK, &before, nullptr);
  errno = error;
  return pid;
}

// Starts the workload's process: its pid, or -1 with errno and `*how` the
// call that failed.
pid_t StartWorkload(const WorkloadStart& start, const char** how) {
  if (!kSanitized && start.plan->argv.size() <= kCloneMaxArgs) {
    *how = "clone (workload)";
    return CloneWorkload(start);
  }
  *how = "fork (workload)";
  const pid_t pid = fork();
  if (pid == 0) WorkloadMain(*start.plan, start.jobgate, start.pgid, start.fds, *start.caller_mask);
  return pid;
}

// A started workload: its pid, and the failure it reported if it never exec'd.
struct Spawned {
  pid_t pid = -1;
  std::optional<ChildFailure> failure;
  Fd exited;  // a pidfd: readable once the workload has exited (-1: none)
};

// A pidfd for our unreaped child (its pid cannot be reused until we reap
// it), or -1 on a kernel without pidfd_open (before 5.3) or a seccomp
// filter that refuses it. By syscall: glibc's wrapper needs 2.36.
int OpenPidfd(pid_t pid, const SyscallFault& fault) {
#ifdef SYS_pidfd_open
  if (Injected(fault, "pidfd_open")) return -1;
  return static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
#else
  (void)pid;
  (void)fault;
  return -1;
#endif
}

void ReapBlocking(pid_t pid, int* wait_status) {
  while (waitpid(pid, wait_status, 0) < 0 && errno == EINTR) {
  }
}

// Starts and execs the workload into `pgid`, and waits for the exec verdict.
// Consumes `stderr_write`: jobgate must not hold it, or stderr never sees EOF.
Result<Spawned> SpawnWorkload(const ExecPlan& plan, pid_t pgid, Fd stderr_write, const sigset_t& caller_mask,
                              const SyscallFault& fault) {
  Fd status_read, status_write;
  JOBGATE_RETURN_IF_ERROR(MakePipe(&status_read, &status_write, fault));
  if (Injected(fault, "spawn (workload)")) return ErrnoError("spawn (workload)");
  const WorkloadStart start{&plan, getpid(), pgid, {stderr_write.get(), status_write.get(), FdLimit()}, &caller_mask};
  const char* how = nullptr;
  const pid_t pid = StartWorkload(start, &how);
  if (pid < 0) return ErrnoError(how);
  stderr_write.Reset();
  status_write.Reset();
  // EOF: exec succeeded (and the child had joined the group before, so
  // signals to the group reach it from now on).
  Spawned spawned{pid, std::nullopt, Fd(OpenPidfd(pid, fault))};
  ChildFailure failure;
  ssize_t n;
  do {
    n = read(status_read.get(), &failure, sizeof failure);
  } while (n < 0 && errno == EINTR);
  if (n == static_cast<ssize_t>(sizeof failure)) {
    spawned.failure = failure;
    ReapBlocking(pid, nullptr);
  }
  return spawned;
}

// The shell's answer to a failed exec: 127 and "not found", or 126.
ProcessResult SpawnFailureResult(const ProcessSpec& spec, int error, int64_t duration_ms) {
  const std::string& command = spec.argv[0];
  ProcessResult result;
  result.kind = Kind::kSpawnFailed;
  result.exit_code = error == ENOENT ? 127 : 126;
  const bool searched = command.find('/') == std::string::npos;
  const std::string message =
      command + ": " + (error == ENOENT && searched ? "command not found" : std::strerror(error));
  // Where the workload's own stderr would have gone, as a shell prints it.
  WriteAll(STDERR_FILENO, "jobgate: " + message + "\n");
  result.stderr_tail = CleanTail(message, spec.stderr_tail_bytes);
  result.duration_ms = duration_ms;
  return result;
}

// ---------------------------------------------------------------------------
// The wait loop

// Supervises one running workload until it is reaped: copies its stderr,
// takes signals, and carries out the LeaseKeeper's orders (beat, SIGTERM,
// SIGKILL), which make the lease self-fencing: whatever the heartbeat is
// doing, the workload is dead when this holder's own lease ends. One poll()
// loop; the beats run on their own thread (BeatThread) and wake the loop
// through an eventfd.
class Supervisor {
 public:
  // `start_ms`: when RunProcess began (Clock::MonotonicMs), which
  // lease_left_ms counts from.
  Supervisor(const ProcessSpec& spec, const HeartbeatFn& heartbeat, Clock& clock, int64_t start_ms,
             int signal_fd, int stderr_fd, const ProcessGroup& group, pid_t workload, int exited_fd)
      : spec_(spec),
        clock_(clock),
        keeper_(LeaseTerms{spec.lease_ms, spec.lease_left_ms, spec.timeout_ms, spec.kill_grace_ms}, start_ms),
        signal_fd_(signal_fd),
        stderr_fd_(stderr_fd),
        group_(group),
        workload_(workload),
        exited_fd_(exited_fd),
        // Four times the budget: CleanTail trims trailing blank lines first,
        // and a character cut at the ring's start must not be all we keep.
        tail_(4 * spec.stderr_tail_bytes + 4) {
    if (heartbeat && spec.lease_ms > 0) heartbeat_ = &heartbeat;
  }

  // Returns once the workload has exited and been reaped. Its exit wakes
  // the loop through its pidfd: a SIGCHLD alone is not enough, as the
  // kernel gives it to any thread that does not block it (one a library
  // started before the run), where SIGCHLD's default action drops it.
  Status Wait() {
    pollfd fds[4] = {{signal_fd_, POLLIN, 0}, {stderr_fd_, POLLIN, 0}, {-1, POLLIN, 0}, {exited_fd_, POLLIN, 0}};
    while (true) {
      // Checked on every wake, so SIGCHLD needs no handling of its own.
      const pid_t reaped = waitpid(workload_, &wait_status_, WNOHANG);
      if (reaped == workload_) {
        if (beats_) beats_->Stop();  // the workload is done: no lease to renew
        return Status::Ok();
      }
      if (reaped < 0 && errno != EINTR) return ErrnoError("waitpid (workload)");
      if (poll(fds, 4, PollTimeoutMs()) < 0 && errno != EINTR) return Abandon("poll");
      if (fds[0].revents != 0) OnSignals();
      if (fds[1].revents != 0 && ReadStderr() == ReadState::kClosed) fds[1].fd = -1;
      if (beats_) OnHeartbeat();
      Obey(keeper_.Tick(clock_.MonotonicMs()));
      JOBGATE_RETURN_IF_ERROR(RequestBeatIfDue());
      fds[2].fd = wake_fd_.get();
    }
  }

  // Reads what the (now dead) group left in the pipe. Does not wait for
  // EOF: a process that escaped the group could hold the pipe forever.
  void DrainStderr() {
    while (ReadStderr() == ReadState::kData) {
    }
  }

  ProcessResult MakeResult(int64_t duration_ms) const {
    ProcessResult result;
    if (WIFSIGNALED(wait_status_)) {
      result.kind = Kind::kSignaled;
      result.signal = WTERMSIG(wait_status_);
      result.exit_code = 128 + result.signal;
    } else {
      result.exit_code = WEXITSTATUS(wait_status_);
    }
    if (auto cause = keeper_.stop_cause()) {
      result.kind = StopKind(*cause);
      if (*cause == StopCause::kInterrupted) result.signal = keeper_.stop_signal();
    }
    result.stderr_tail = CleanTail(tail_.bytes(), spec_.stderr_tail_bytes);
    result.duration_ms = duration_ms;
    return result;
  }

 private:
  static Kind StopKind(StopCause cause) {
    switch (cause) {
      case StopCause::kTimedOut: return Kind::kTimedOut;
      case StopCause::kLeaseLost: return Kind::kLeaseLost;
      case StopCause::kInterrupted: return Kind::kInterrupted;
    }
    return Kind::kLeaseLost;
  }

  // The beat thread starts when the first beat is due, a third of the lease
  // in: a run that ends before then (most runs) starts no thread. A workload
  // whose lease nobody renews must not run: without the thread, kill it now,
  // while the lease still holds, rather than leave the lease to chance.
  Status StartBeats() {
    const int fd = Injected(spec_.fail_syscall, "eventfd") ? -1 : eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    Result<std::unique_ptr<BeatThread>> beats =
        fd < 0 ? Result<std::unique_ptr<BeatThread>>(ErrnoError("eventfd"))
               : BeatThread::Start(*heartbeat_, [fd] { WakeUp(fd); }, clock_, spec_.start_thread);
    if (fd >= 0) wake_fd_ = Fd(fd);
    if (!beats.ok()) {
      KillWorkload(SIGKILL);
      ReapBlocking(workload_, &wait_status_);
      return beats.status();
    }
    beats_ = std::move(*beats);
    return Status::Ok();
  }

  static void WakeUp(int fd) {
    const uint64_t one = 1;
    (void)!write(fd, &one, sizeof one);
  }

  // A broken poll() cannot be waited out: kill the group, reap, report.
  Status Abandon(const char* what) {
    const Status error = ErrnoError(what);
    KillWorkload(SIGKILL);
    ReapBlocking(workload_, &wait_status_);
    return error;
  }

  // The group, and the workload by its pid if it left the group (setsid,
  // setpgid): it is ours until it is reaped, so its pid is safe to signal.
  // Not both when it stayed in: a TERM trap must not run twice.
  void KillWorkload(int sig) const {
    group_.Signal(sig);
    if (getpgid(workload_) != group_.pgid()) kill(workload_, sig);
  }

  void Obey(const KeeperOrders& orders) const {
    if (orders.terminate) KillWorkload(SIGTERM);
    if (orders.kill) KillWorkload(SIGKILL);
  }

  Status RequestBeatIfDue() {
    if (heartbeat_ == nullptr) return Status::Ok();
    const auto due = keeper_.NextBeatAt();
    if (!due || clock_.MonotonicMs() < *due) return Status::Ok();
    if (!beats_) JOBGATE_RETURN_IF_ERROR(StartBeats());
    keeper_.BeatStarted(clock_.MonotonicMs());
    beats_->Request();
    return Status::Ok();
  }

  int PollTimeoutMs() const {
    const std::optional<int64_t> next = heartbeat_ != nullptr ? keeper_.NextWake() : keeper_.NextDeadline();
    if (!next) return exited_fd_ < 0 ? kNoPidfdCheckMs : -1;
    const int no_pidfd_cap = exited_fd_ < 0 ? kNoPidfdCheckMs : INT_MAX;
    // Whole milliseconds: waking before the deadline would spin until it.
    return static_cast<int>(std::clamp<int64_t>(*next - clock_.MonotonicMs(), 0, no_pidfd_cap));
  }

  void OnSignals() {
    signalfd_siginfo info;
    while (read(signal_fd_, &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
      // SIGCHLD needs nothing here: Wait() tries waitpid on every wake.
      if (info.ssi_signo != SIGCHLD) {
        Obey(keeper_.Interrupted(clock_.MonotonicMs(), static_cast<int>(info.ssi_signo)));
      }
    }
  }

  enum class ReadState { kData, kEmpty, kClosed };

  // Copies one chunk from the (non-blocking) pipe to jobgate's stderr and
  // the tail. kClosed at EOF, and on errors, which would only repeat.
  ReadState ReadStderr() {
    char chunk[kReadChunk];
    ssize_t n;
    do {
      n = read(stderr_fd_, chunk, sizeof chunk);
    } while (n < 0 && errno == EINTR);
    if (n < 0 && errno == EAGAIN) return ReadState::kEmpty;
    if (n <= 0) return ReadState::kClosed;
    const std::string_view data(chunk, static_cast<size_t>(n));
    WriteAll(STDERR_FILENO, data);
    tail_.Append(data);
    return ReadState::kData;
  }

  // Beats continue while a timed-out or interrupted workload is being
  // stopped, so the lease does not lapse during the grace period.
  void OnHeartbeat() {
    uint64_t count = 0;
    (void)!read(wake_fd_.get(), &count, sizeof count);  // reset; EAGAIN when nothing was posted
    const auto answer = beats_->Take();
    if (!answer) return;
    Obey(keeper_.BeatAnswered(answer->at_ms, answer->reply));
    if (!keeper_.NextBeatAt() && keeper_.stop_cause() == StopCause::kLeaseLost) beats_->Stop();
  }

  const ProcessSpec& spec_;
  Clock& clock_;
  LeaseKeeper keeper_;
  const int signal_fd_;
  const int stderr_fd_;
  const ProcessGroup& group_;
  const pid_t workload_;
  const int exited_fd_;
  int wait_status_ = 0;
  TailBuffer tail_;
  const HeartbeatFn* heartbeat_ = nullptr;
  Fd wake_fd_;
  // Last member: destroyed first, so the beat thread is joined before
  // anything a beat in progress could still be reading.
  std::unique_ptr<BeatThread> beats_;
};

Status ValidateSpec(const ProcessSpec& spec) {
  if (spec.argv.empty() || spec.argv[0].empty()) {
    return Status::InvalidArgument("process runner: empty command");
  }
  if (spec.timeout_ms < 0 || spec.kill_grace_ms < 0 || spec.lease_ms < 0) {
    return Status::InvalidArgument("process runner: negative timeout, grace or lease");
  }
  const auto has_nul = [](const std::string& s) { return s.find('\0') != std::string::npos; };
  if (std::any_of(spec.argv.begin(), spec.argv.end(), has_nul)) {
    return Status::InvalidArgument("process runner: NUL byte in a command argument");
  }
  for (const auto& [name, value] : spec.env) {
    if (name.empty() || name.find('=') != std::string::npos || has_nul(name) || has_nul(value)) {
      return Status::InvalidArgument("process runner: bad environment variable " + Quote(name));
    }
  }
  return Status::Ok();
}

}  // namespace

const char* ProcessResultKindName(ProcessResult::Kind kind) {
  switch (kind) {
    case Kind::kExited: return "exited";
    case Kind::kSignaled: return "signaled";
    case Kind::kTimedOut: return "timed_out";
    case Kind::kLeaseLost: return "lease_lost";
    case Kind::kInterrupted: return "interrupted";
    case Kind::kSpawnFailed: return "spawn_failed";
  }
  return "unknown";
}

Result<ProcessResult> RunProcess(const ProcessSpec& spec, const HeartbeatFn& heartbeat) {
  JOBGATE_RETURN_IF_ERROR(ValidateSpec(spec));
  const ExecPlan plan = MakeExecPlan(spec);
  SystemClock system_clock;
  Clock& clock = spec.clock != nullptr ? *spec.clock : system_clock;
  const int64_t start_ms = clock.MonotonicMs();
  // Declared first, destroyed last: the mask is restored only after every
  // child is reaped, so no SIGCHLD of ours reaches the caller's handler.
  SignalScope signals;
  JOBGATE_RETURN_IF_ERROR(signals.Install(spec.fail_syscall));
  ProcessGroup group;
  JOBGATE_RETURN_IF_ERROR(group.Start(spec.fail_syscall));
  Fd stderr_read, stderr_write;
  JOBGATE_RETURN_IF_ERROR(MakePipe(&stderr_read, &stderr_write, spec.fail_syscall));
  // Only our end: the workload's stderr must stay blocking, or its writes
  // would fail with EAGAIN whenever we fall behind.
  if (fcntl(stderr_read.get(), F_SETFL, O_NONBLOCK) != 0) return ErrnoError("fcntl");
  Result<Spawned> spawned =
      SpawnWorkload(plan, group.pgid(), std::move(stderr_write), signals.caller_mask(), spec.fail_syscall);
  if (!spawned.ok()) return spawned.status();
  if (const auto& failure = spawned->failure) {
    if (failure->stage != ChildFailure::kExec) {
      errno = failure->error;
      return ErrnoError(failure->stage == ChildFailure::kSetpgid ? "setpgid (workload)" : "dup2");
    }
    return SpawnFailureResult(spec, failure->error, clock.MonotonicMs() - start_ms);
  }
  Supervisor supervisor(spec, heartbeat, clock, start_ms, signals.fd(), stderr_read.get(), group, spawned->pid,
                        spawned->exited.get());
  JOBGATE_RETURN_IF_ERROR(supervisor.Wait());
  const int64_t duration_ms = clock.MonotonicMs() - start_ms;
  group.Finish();
  supervisor.DrainStderr();
  return supervisor.MakeResult(duration_ms);
}

}  // namespace jobgate
