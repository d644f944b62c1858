#include "core/keeper_thread.h"

#include <chrono>
#include <string>
#include <system_error>

namespace jobgate {

Result<std::unique_ptr<KeeperThread>> KeeperThread::Start(const LeaseTerms& terms, int64_t start_ms,
                                                         BeatThread::BeatFn beat, Clock& clock,
                                                         std::atomic<bool>& stop) {
  std::unique_ptr<KeeperThread> k(new KeeperThread(terms, start_ms, clock, stop));
  KeeperThread* self = k.get();
  auto beats = BeatThread::Start(std::move(beat), [self] { self->Wake(); }, clock);
  if (!beats.ok()) return beats.status();
  k->beats_ = std::move(*beats);
  Status started = StartThread(nullptr, k->thread_, [self] { self->Loop(); }, "the lease keeper's thread");
  if (!started.ok()) return started;
  return k;
}

KeeperThread::~KeeperThread() { Finish(); }

void KeeperThread::Finish() {
  {
    std::lock_guard lock(mu_);
    done_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  beats_.reset();  // joins: waits for a beat in progress
}

void KeeperThread::Wake() {
  {
    std::lock_guard lock(mu_);
    answered_ = true;
  }
  cv_.notify_all();
}

void KeeperThread::Loop() {
  std::unique_lock lock(mu_);
  while (!done_) {
    KeeperOrders orders;
    if (answered_) {
      answered_ = false;
      if (auto answer = beats_->Take()) orders = keeper_.BeatAnswered(answer->at_ms, answer->reply);
    }
    const int64_t now = clock_.MonotonicMs();
    const KeeperOrders timed = keeper_.Tick(now);
    // Cooperative work has one order: stop. A kill can only repeat it.
    if (orders.any() || timed.any()) stop_ = true;
    if (auto due = keeper_.NextBeatAt(); due && now >= *due) {
      keeper_.BeatStarted(now);
      beats_->Request();
    }
    const auto wake = keeper_.NextWake();
    auto ready = [this] { return done_ || answered_; };
    if (!wake) {
      cv_.wait(lock, ready);
    } else if (*wake > now) {
      cv_.wait_for(lock, std::chrono::milliseconds(*wake - now), ready);
    }
  }
}

}  // namespace jobgate
