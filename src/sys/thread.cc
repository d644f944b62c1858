#include "sys/thread.h"

#include <cerrno>
#include <string>
#include <system_error>
#include <utility>

namespace jobgate {

namespace {

Status StartStdThread(std::thread& out, std::function<void()> body) {
  try {
    out = std::thread(std::move(body));
  } catch (const std::system_error& e) {
    // The only exception of std::thread's constructor (EAGAIN: a thread limit).
    return Status::Internal(e.what());
  }
  return Status::Ok();
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
