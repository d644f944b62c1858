#include "core/lease_keeper.h"

#include <algorithm>

namespace jobgate {

namespace {

// The earlier of two optional times.
std::optional<int64_t> Earliest(std::optional<int64_t> a, std::optional<int64_t> b) {
  if (!a) return b;
  if (!b) return a;
  return std::min(*a, *b);
}

bool Reached(const std::optional<int64_t>& at, int64_t now_ms) { return at && now_ms >= *at; }

}  // namespace

int64_t HeartbeatIntervalMs(int64_t lease_ms) { return std::max<int64_t>(1, lease_ms / 3); }

int64_t TerminateLeadMs(int64_t lease_ms, int64_t kill_grace_ms) {
  return std::min(kill_grace_ms, lease_ms / 6);
}

LeaseKeeper::LeaseKeeper(const LeaseTerms& terms, int64_t start_ms)
    : terms_(terms),
      interval_ms_(HeartbeatIntervalMs(terms.lease_ms)),
      terminate_lead_ms_(TerminateLeadMs(terms.lease_ms, terms.kill_grace_ms)) {
  if (terms.timeout_ms > 0) timeout_at_ = start_ms + terms.timeout_ms;
  if (terms.lease_ms > 0) {
    next_beat_ = start_ms + interval_ms_;
    SetLeaseEnd(start_ms + terms.lease_left_ms);
  }
}

void LeaseKeeper::BeatStarted(int64_t /*now_ms*/) { beat_in_flight_ = true; }

KeeperOrders LeaseKeeper::BeatAnswered(int64_t at_ms, const HeartbeatReply& reply) {
  beat_in_flight_ = false;
  if (next_beat_) {
    // Fixed cadence from the start; a slow beat skips beats rather than
    // firing a burst to catch up.
    *next_beat_ += interval_ms_;
    if (*next_beat_ <= at_ms) *next_beat_ = at_ms + interval_ms_;
  }
  if (reply.lease_left_ms && terms_.lease_ms > 0) SetLeaseEnd(at_ms + *reply.lease_left_ms);
  if (reply.held) return {};
  next_beat_.reset();  // nothing left to renew; a later answer cannot undo it
  return Stop(at_ms, StopCause::kLeaseLost, 0);
}

KeeperOrders LeaseKeeper::Interrupted(int64_t now_ms, int signal) {
  return Stop(now_ms, StopCause::kInterrupted, signal);
}

KeeperOrders LeaseKeeper::Tick(int64_t now_ms) {
  KeeperOrders orders;
  if (Reached(kill_at_, now_ms)) {
    kill_at_.reset();
    orders.kill = Kill().kill;
  }
  if (Reached(timeout_at_, now_ms)) {
    timeout_at_.reset();
    KeeperOrders stop = Stop(now_ms, StopCause::kTimedOut, 0);
    orders.terminate |= stop.terminate;
    orders.kill |= stop.kill;
  }
  if (Reached(terminate_at_, now_ms)) {
    // Not renewed in time: the lease runs out at lease_end_ (the kill). A
    // stop already under way (timeout, signal) keeps its cause: the lease
    // is only late, not known lost, and its kill is at lease_end_ at the
    // latest already.
    terminate_at_.reset();
    if (!stop_cause_) orders.terminate |= Stop(now_ms, StopCause::kLeaseLost, 0).terminate;
  }
  return orders;
}

std::optional<int64_t> LeaseKeeper::NextBeatAt() const {
  if (beat_in_flight_) return std::nullopt;
  return next_beat_;
}

std::optional<int64_t> LeaseKeeper::NextDeadline() const {
  return Earliest(Earliest(timeout_at_, terminate_at_), kill_at_);
}

std::optional<int64_t> LeaseKeeper::NextWake() const { return Earliest(NextBeatAt(), NextDeadline()); }

KeeperOrders LeaseKeeper::Stop(int64_t now_ms, StopCause why, int signal) {
  if (!stop_cause_) {
    stop_cause_ = why;
    stop_signal_ = signal;
    grace_end_ = now_ms + terms_.kill_grace_ms;
    kill_at_ = lease_end_ ? std::min(grace_end_, *lease_end_) : grace_end_;
    if (why == StopCause::kLeaseLost) terminate_at_.reset();
    return {.terminate = true, .kill = false};
  }
  // Whatever stopped it first, a lost lease means the holder's commit would
  // be rejected: it must report lease_lost.
  if (why == StopCause::kLeaseLost) stop_cause_ = why;
  // A second interrupt (^C ^C) means now: skip the rest of the grace.
  if (why == StopCause::kInterrupted && kill_at_) {
    kill_at_.reset();
    return Kill();
  }
  return {};
}

// Moves the lease's end (a renewal, or the first deadline). Once a stop for
// the lease has begun, a later renewal does not call it off.
void LeaseKeeper::SetLeaseEnd(int64_t end_ms) {
  lease_end_ = end_ms;
  if (stop_cause_ == StopCause::kLeaseLost) return;
  terminate_at_ = end_ms - terminate_lead_ms_;
  // A stop in its grace: the kill is at the grace's end, or the lease's if
  // that comes first (a renewal may move it past the grace again).
  if (kill_at_) kill_at_ = std::min(grace_end_, end_ms);
}

KeeperOrders LeaseKeeper::Kill() {
  killed_ = true;
  return {.terminate = false, .kill = true};
}

}  // namespace jobgate
