// Starting a thread without an exception: std::thread's constructor throws
// std::system_error when the process is at its thread limit (EAGAIN), and
// every thread jobgate starts has a way to do without it (report an error
// before the workload starts, or do the work in line). Tests inject a
// starter that fails.
#pragma once

#include <functional>
#include <string_view>
#include <thread>
#include <utility>

#include "jobgate/status.h"

namespace jobgate {

// Starts `body` on a new thread moved into `out`. Empty: std::thread's.
using ThreadStarter = std::function<Status(std::thread& out, std::function<void()> body)>;

// Starts `body` into `out` through `start` (std::thread's when empty, with
// every signal blocked in the new thread).
// kInternal "cannot start <what>: <reason>" when no thread can be started.
// Never throws.
Status StartThread(const ThreadStarter& start, std::thread& out, std::function<void()> body, std::string_view what);

// A thread joined when it goes out of scope or is assigned over; empty when
// it was never started.
class JoinedThread {
 public:
  JoinedThread() = default;
  explicit JoinedThread(std::thread thread) : thread_(std::move(thread)) {}
  JoinedThread(JoinedThread&&) = default;
  JoinedThread& operator=(JoinedThread&& other) noexcept {
    Join();
    thread_ = std::move(other.thread_);
    return *this;
  }
  ~JoinedThread() { Join(); }
  bool started() const { return thread_.joinable(); }
  void Join() {
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::thread thread_;
};

// A starter that always fails as a process at its thread limit does: for tests.
ThreadStarter FailingThreadStarter();

}  // namespace jobgate
