// The one lease-keeping policy of every holder: the process runner (`jobgate
// run`), the library's Controller::Run, the simulation, and later `serve`
// and `lambda`. It decides, from events and the passing of time alone, when
// to renew the lease, when to ask the work to stop and when to kill it, so
// that whatever the store does (answers, fails, hangs) the work is over by
// the end of this holder's own lease: from then on another invoker may take
// the job over (DESIGN.md invariant 1).
//
// It reads no clock and starts no thread. Callers feed it times from one
// monotonic source (Clock::MonotonicMs) and carry out its orders; tests drive
// it with a ManualClock, the simulation with its virtual time.
//
// Timing, from the lease length L and the stop grace G:
// - a beat every L/3 on a fixed cadence from the start (a late beat skips
//   the beats it missed, it never bursts);
// - a lease that is not being renewed gets a graceful stop (terminate) once
//   less than min(G, L/6) of it is left, which with beats every L/3 is after
//   two beats in a row failed (or one hung for L/6): one missed beat never
//   stops a healthy run;
// - kill at the lease's end, whatever else is under way;
// - a stop for any other reason (timeout, signal, lost lease) terminates at
//   once and kills after G, or at the lease's end if that comes first; the
//   beats go on meanwhile, so a stop keeps its grace while the lease is
//   renewed;
// - a second interrupt during a stop kills at once (^C ^C).
//
// Thread-compatible: one owner thread, or external locking.
#pragma once

#include <cstdint>
#include <optional>

namespace jobgate {

// Beat cadence and the lead of the graceful stop, for a lease of lease_ms.
int64_t HeartbeatIntervalMs(int64_t lease_ms);
int64_t TerminateLeadMs(int64_t lease_ms, int64_t kill_grace_ms);

// What one heartbeat learned.
struct HeartbeatReply {
  bool held = true;  // false: another owner holds the job; stop the work now
  // What is left of this holder's own lease after the beat (renewed or not),
  // by its own clock; nullopt keeps the deadline the keeper has.
  std::optional<int64_t> lease_left_ms;
};

// What one holder works under.
struct LeaseTerms {
  int64_t lease_ms = 0;          // full lease length; 0 = no lease (no beats, no lease deadline)
  int64_t lease_left_ms = 0;     // left of the lease when the keeper starts
  int64_t timeout_ms = 0;        // 0 = no timeout
  int64_t kill_grace_ms = 10'000;
};

// Why the work was asked to stop.
enum class StopCause {
  kTimedOut,     // timeout_ms passed
  kLeaseLost,    // a beat found another owner, or the lease was not renewed in time
  kInterrupted,  // the holder itself was told to stop (SIGTERM, ...)
};

// What to do now. Both may be set (a second interrupt).
struct KeeperOrders {
  bool terminate = false;  // ask the work to stop (SIGTERM; the library's stop flag)
  bool kill = false;       // end it now (SIGKILL)
  bool any() const { return terminate || kill; }
};

class LeaseKeeper {
 public:
  LeaseKeeper(const LeaseTerms& terms, int64_t start_ms);

  // --- events ---
  // A beat was handed to the store (none is due again until it answers).
  void BeatStarted(int64_t now_ms);
  // The beat returned at `at_ms`; the reply's lease_left_ms is measured then.
  KeeperOrders BeatAnswered(int64_t at_ms, const HeartbeatReply& reply);
  // The holder was told to stop (a termination signal).
  KeeperOrders Interrupted(int64_t now_ms, int signal);
  // Time passed: the timeout, the lease running out, the end of a grace.
  KeeperOrders Tick(int64_t now_ms);

  // --- outputs ---
  // When the next beat is due; nullopt when none is (no lease, lease lost,
  // one in flight). A due time in the past means now.
  std::optional<int64_t> NextBeatAt() const;
  // The next time Tick has something to do; nullopt when nothing is pending.
  std::optional<int64_t> NextDeadline() const;
  // The sooner of the two: when the owner's loop must wake next.
  std::optional<int64_t> NextWake() const;

  std::optional<StopCause> stop_cause() const { return stop_cause_; }
  int stop_signal() const { return stop_signal_; }
  bool killed() const { return killed_; }
  // This holder's own lease end, as last renewed (nullopt: no lease).
  std::optional<int64_t> lease_end() const { return lease_end_; }

 private:
  KeeperOrders Stop(int64_t now_ms, StopCause why, int signal);
  void SetLeaseEnd(int64_t end_ms);
  KeeperOrders Kill();

  const LeaseTerms terms_;
  const int64_t interval_ms_;
  const int64_t terminate_lead_ms_;
  std::optional<int64_t> next_beat_;     // nullopt: no more beats
  bool beat_in_flight_ = false;
  std::optional<int64_t> timeout_at_;
  std::optional<int64_t> lease_end_;
  std::optional<int64_t> terminate_at_;  // lease_end_ - lead: a lease not renewed starts its stop
  std::optional<int64_t> kill_at_;
  int64_t grace_end_ = 0;
  std::optional<StopCause> stop_cause_;
  int stop_signal_ = 0;
  bool killed_ = false;
};

}  // namespace jobgate
