#include "run/heartbeat_worker.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <system_error>

namespace jobgate {

Result<std::unique_ptr<HeartbeatWorker>> HeartbeatWorker::Start(const HeartbeatFn& heartbeat,
                                                                 std::chrono::milliseconds interval) {
  const int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd < 0) return Status::Internal(std::string("process runner: eventfd: ") + std::strerror(errno));
  std::unique_ptr<HeartbeatWorker> worker(new HeartbeatWorker(heartbeat, fd));
  try {
    worker->thread_ = std::thread([w = worker.get(), interval] { w->Loop(interval); });
  } catch (const std::system_error& e) {
    // The only exception of std::thread's constructor (EAGAIN: a thread limit).
    return Status::Internal(std::string("process runner: cannot start the heartbeat thread: ") + e.what());
  }
  return worker;
}

HeartbeatWorker::~HeartbeatWorker() {
  Stop();
  if (thread_.joinable()) thread_.join();
  close(event_fd_);
}

void HeartbeatWorker::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
}

std::optional<HeartbeatWorker::Stamped> HeartbeatWorker::Take() {
  uint64_t count = 0;
  (void)!read(event_fd_, &count, sizeof count);  // reset; EAGAIN when nothing was posted
  std::lock_guard lock(mu_);
  return std::exchange(reply_, std::nullopt);
}

void HeartbeatWorker::Loop(std::chrono::milliseconds interval) {
  using Clock = std::chrono::steady_clock;
  auto due = Clock::now() + interval;
  std::unique_lock lock(mu_);
  while (!cv_.wait_until(lock, due, [this] { return stop_; })) {
    lock.unlock();
    HeartbeatReply reply = heartbeat_();
    const auto at = Clock::now();
    lock.lock();
    if (stop_) return;
    if (!lost_) reply_ = Stamped{reply, at};
    lost_ = lost_ || !reply.held;
    const uint64_t one = 1;
    (void)!write(event_fd_, &one, sizeof one);
    if (lost_) return;  // nothing left to renew
    // A slow beat skips beats rather than firing a burst to catch up.
    due += interval;
    const auto now = Clock::now();
    if (due <= now) due = now + interval;
  }
}

}  // namespace jobgate
