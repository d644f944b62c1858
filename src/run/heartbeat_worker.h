// Runs a workload's heartbeat on a thread of its own, so that a beat
// blocked in the store (a SQLite busy_timeout, HTTP retries) never delays
// what the runner's wait loop must do on time: stop the workload when its
// lease runs out, forward signals, enforce the timeout.
//
// The worker calls the heartbeat every interval on a fixed cadence from the
// start (a late beat skips, never bursts), hands each reply to the loop and
// wakes it through an eventfd. Thread-safe between the one loop thread and
// the worker; the heartbeat function itself only ever runs on the worker.
#pragma once

#include <chrono>
#include <memory>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>

#include "jobgate/status.h"
#include "run/process_runner.h"

namespace jobgate {

class HeartbeatWorker {
 public:
  // Starts beating `interval` from now. The thread starts with the calling
  // thread's signal mask: the runner's, with every signal it handles
  // blocked, so they stay for its signalfd. kInternal when the eventfd or
  // the thread cannot be made (fd or thread limits).
  static Result<std::unique_ptr<HeartbeatWorker>> Start(const HeartbeatFn& heartbeat,
                                                        std::chrono::milliseconds interval);
  // Stops the beats and joins: waits for a beat in progress to return.
  ~HeartbeatWorker();
  HeartbeatWorker(const HeartbeatWorker&) = delete;
  HeartbeatWorker& operator=(const HeartbeatWorker&) = delete;

  // Readable when a reply is waiting (poll it with POLLIN).
  int fd() const { return event_fd_; }
  // A reply and when the beat returned it (lease_left_ms counts from then).
  struct Stamped {
    HeartbeatReply reply;
    std::chrono::steady_clock::time_point at;
  };
  // The newest reply since the last call, if any (an older unread one is
  // superseded: only the newest lease deadline matters).
  std::optional<Stamped> Take();
  // No more beats after the one in progress (the lease is gone).
  void Stop();

 private:
  HeartbeatWorker(const HeartbeatFn& heartbeat, int event_fd) : heartbeat_(heartbeat), event_fd_(event_fd) {}
  void Loop(std::chrono::milliseconds interval);

  const HeartbeatFn& heartbeat_;
  int event_fd_ = -1;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::optional<Stamped> reply_;
  bool lost_ = false;  // a reply said lost: later ones cannot undo it
  std::thread thread_;
};

}  // namespace jobgate
