// Runs a holder's heartbeats on a thread of their own, one at a time and
// only when asked, so that a beat blocked in the store (a SQLite
// busy_timeout, HTTP retries, a hung connection) never delays what the
// holder's loop must do on time: stop the work when its lease runs out
// (LeaseKeeper). The loop asks for a beat when the keeper says one is due,
// and is woken through `wake` when its answer is ready.
//
// Thread-safe between the one owner thread and the beat thread; the beat
// function only ever runs on the beat thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "core/lease_keeper.h"
#include "sys/thread.h"
#include "jobgate/clock.h"
#include "jobgate/status.h"

namespace jobgate {

class BeatThread {
 public:
  using BeatFn = std::function<HeartbeatReply()>;
  // Called on the beat thread after each answer is stored, without this
  // object's lock held (write an eventfd; lock the owner's mutex and notify
  // its condition variable). Must not block for long.
  using WakeFn = std::function<void()>;
  // The thread starts with the calling thread's signal mask. kInternal when
  // it cannot be started (a thread limit).
  static Result<std::unique_ptr<BeatThread>> Start(BeatFn beat, WakeFn wake, Clock& clock,
                                                   const ThreadStarter& start = nullptr);
  // Stops and joins: waits for a beat in progress to return.
  ~BeatThread();
  BeatThread(const BeatThread&) = delete;
  BeatThread& operator=(const BeatThread&) = delete;

  // Runs one beat (a no-op while one is asked for or running).
  void Request();
  // An answer and when it came (Clock::MonotonicMs).
  struct Answer {
    HeartbeatReply reply;
    int64_t at_ms = 0;
  };
  // The answer of the last beat, once, if it has come.
  std::optional<Answer> Take();
  // No beats after the one in progress.
  void Stop();

 private:
  BeatThread(BeatFn beat, WakeFn wake, Clock& clock)
      : beat_(std::move(beat)), wake_(std::move(wake)), clock_(clock) {}
  void Loop();

  const BeatFn beat_;
  const WakeFn wake_;
  Clock& clock_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool requested_ = false;
  std::optional<Answer> answer_;
  std::thread thread_;
};

}  // namespace jobgate
