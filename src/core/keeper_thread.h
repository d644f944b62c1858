// Keeps a lease for work that runs on another thread and can only be asked
// to stop (the library's Controller::Run): a thread of its own carries out
// the LeaseKeeper's orders, with the beats on a BeatThread, so a heartbeat
// that hangs in the store never delays the stop. The work is asked to stop
// (the flag turns true) at the keeper's first order, which comes by the end
// of this holder's own lease at the latest, whatever the store does.
//
// Thread-safe: the owner calls only Start and Finish.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include "core/beat_thread.h"
#include "core/lease_keeper.h"
#include "jobgate/clock.h"
#include "jobgate/status.h"

namespace jobgate {

class KeeperThread {
 public:
  // `start_ms`: when `terms.lease_left_ms` was measured (clock.MonotonicMs).
  static Result<std::unique_ptr<KeeperThread>> Start(const LeaseTerms& terms, int64_t start_ms,
                                                     BeatThread::BeatFn beat, Clock& clock,
                                                     std::atomic<bool>& stop);
  // Finish()es.
  ~KeeperThread();
  KeeperThread(const KeeperThread&) = delete;
  KeeperThread& operator=(const KeeperThread&) = delete;

  // The work returned: no more beats or orders. Returns once the keeper's
  // thread and a beat in progress (it may be hung in the store) are done,
  // so the caller may use the store again.
  void Finish();

 private:
  KeeperThread(const LeaseTerms& terms, int64_t start_ms, Clock& clock, std::atomic<bool>& stop)
      : keeper_(terms, start_ms), clock_(clock), stop_(stop) {}
  void Loop();
  void Wake();

  LeaseKeeper keeper_;  // guarded by mu_
  Clock& clock_;
  std::atomic<bool>& stop_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  bool answered_ = false;  // the beat thread has an answer waiting
  std::unique_ptr<BeatThread> beats_;
  std::thread thread_;
};

}  // namespace jobgate
