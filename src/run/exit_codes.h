// Exit codes of DESIGN.md, in one place.
#pragma once

#include "jobgate/controller.h"
#include "jobgate/status.h"

namespace jobgate {

inline constexpr int kExitOk = 0;
inline constexpr int kExitUsage = 2;         // bad usage, config or input
inline constexpr int kExitStoreDown = 69;    // EX_UNAVAILABLE: fail closed, nothing ran
inline constexpr int kExitInternal = 70;     // EX_SOFTWARE
inline constexpr int kExitLeaseLost = 75;    // EX_TEMPFAIL
inline constexpr int kExitContended = 75;    // EX_TEMPFAIL: the job kept changing under us; try again
inline constexpr int kExitTimedOut = 124;    // like timeout(1)

inline int ExitCodeFor(const Status& s) {
  switch (s.code()) {
    case StatusCode::kOk: return kExitOk;
    case StatusCode::kInvalidArgument:
    case StatusCode::kCorrupt:
    case StatusCode::kNotFound: return kExitUsage;
    case StatusCode::kUnavailable: return kExitStoreDown;
    case StatusCode::kContended: return kExitContended;
    case StatusCode::kInternal: return kExitInternal;
  }
  return kExitInternal;
}

inline int ExitCodeFor(const Outcome& o, int skip_exit_code) {
  switch (o.kind) {
    case RunOutcomeKind::kSucceeded: return kExitOk;
    // Lost to nobody: the job cannot be acquired, which is no normal skip.
    case RunOutcomeKind::kSkipped: return o.contended ? kExitContended : skip_exit_code;
    case RunOutcomeKind::kFailed: return o.exit_code != 0 ? static_cast<int>(o.exit_code) : 1;
    case RunOutcomeKind::kTimedOut: return kExitTimedOut;
    case RunOutcomeKind::kLeaseLost: return kExitLeaseLost;
  }
  return kExitInternal;
}

}  // namespace jobgate
