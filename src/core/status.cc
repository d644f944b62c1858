#include "jobgate/status.h"

namespace jobgate {

const char* StatusCodeName(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return "ok";
    case StatusCode::kInvalidArgument: return "invalid argument";
    case StatusCode::kCorrupt: return "corrupt item";
    case StatusCode::kNotFound: return "not found";
    case StatusCode::kUnavailable: return "store unavailable";
    case StatusCode::kContended: return "contended";
    case StatusCode::kInternal: return "internal error";
  }
  return "unknown";
}

std::string Status::ToString() const {
  if (ok()) return "ok";
  return std::string(StatusCodeName(code_)) + ": " + message_;
}

}  // namespace jobgate
