#include "sys/thread.h"

#include <pthread.h>
#include <signal.h>

#include <cerrno>
#include <string>
#include <system_error>
#include <utility>

namespace jobgate {

namespace {

// The thread starts with every signal blocked (a new thread inherits its
// creator's mask), so that signals meant for the process (SIGCHLD, SIGTERM,
// SIGINT) reach the thread that waits for them, never one of ours, where
// the default action would drop SIGCHLD or end the process on SIGTERM.
Status StartStdThread(std::thread& out, std::function<void()> body) {
  sigset_t all, before;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &before);
  Status started = Status::Ok();
  try {
    out = std::thread(std::move(body));
  } catch (const std::system_error& e) {
    // The only exception of std::thread's constructor (EAGAIN: a thread limit).
    started = Status::Internal(e.what());
  }
  pthread_sigmask(SIG_SETMASK, &before, nullptr);
  return started;
}

}  // namespace

Status StartThread(const ThreadStarter& start, std::thread& out, std::function<void()> body, std::string_view what) {
  Status started = start ? start(out, std::move(body)) : StartStdThread(out, std::move(body));
  if (started.ok()) return started;
  return Status::Internal("cannot start " + std::string(what) + ": " + started.message());
}

ThreadStarter FailingThreadStarter() {
  return [](std::thread&, std::function<void()>) {
    return Status::Internal(std::system_error(EAGAIN, std::generic_category(), "thread").what());
  };
}

}  // namespace jobgate
