#include "core/beat_thread.h"

#include <string>
#include <system_error>
#include <utility>

namespace jobgate {

Result<std::unique_ptr<BeatThread>> BeatThread::Start(BeatFn beat, WakeFn wake, Clock& clock,
                                                      const ThreadStarter& start) {
  std::unique_ptr<BeatThread> t(new BeatThread(std::move(beat), std::move(wake), clock));
  BeatThread* self = t.get();
  Status started = StartThread(start, t->thread_, [self] { self->Loop(); }, "the heartbeat thread");
  if (!started.ok()) return started;
  return t;
}

BeatThread::~BeatThread() {
  Stop();
  if (thread_.joinable()) thread_.join();
}

void BeatThread::Request() {
  {
    std::lock_guard lock(mu_);
    requested_ = true;
  }
  cv_.notify_all();
}

std::optional<BeatThread::Answer> BeatThread::Take() {
  std::lock_guard lock(mu_);
  return std::exchange(answer_, std::nullopt);
}

void BeatThread::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
}

void BeatThread::Loop() {
  std::unique_lock lock(mu_);
  while (true) {
    cv_.wait(lock, [this] { return stop_ || requested_; });
    if (stop_) return;
    requested_ = false;
    lock.unlock();
    HeartbeatReply reply = beat_();
    const int64_t at = clock_.MonotonicMs();
    lock.lock();
    if (stop_) return;
    answer_ = Answer{reply, at};
    // Outside our lock: the owner may hold its own lock while it calls Take().
    lock.unlock();
    if (wake_) wake_();
    lock.lock();
  }
}

}  // namespace jobgate
