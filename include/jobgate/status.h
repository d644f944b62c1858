// Status and Result<T>: errors travel as values across module boundaries.
// A CAS that loses a race is not an error; see store.h (WriteOutcome).
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace jobgate {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,  // bad usage, config, flag or input: CLI exit 2
  kCorrupt,          // a store item that cannot be decoded: CLI exit 2
  kNotFound,         // the named item does not exist
  kUnavailable,      // store down / unreachable / I/O error: fail closed, exit 69
  kContended,        // the item kept changing under us (others writing): try again, exit 75
  kInternal,         // a bug or an impossible state
};

// Success, or an error kind with a human message. Cheap to copy; thread-compatible.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
  static Status Corrupt(std::string m) { return {StatusCode::kCorrupt, std::move(m)}; }
  static Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
  static Status Unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
  static Status Contended(std::string m) { return {StatusCode::kContended, std::move(m)}; }
  static Status Internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  std::string ToString() const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

const char* StatusCodeName(StatusCode code);

// A value or an error Status (g++ 12 has no std::expected).
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}                 // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {}          // NOLINT: implicit by design

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOkStatus;
    return ok() ? kOkStatus : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace jobgate

#define JOBGATE_CONCAT_INNER(a, b) a##b
#define JOBGATE_CONCAT(a, b) JOBGATE_CONCAT_INNER(a, b)

// Evaluates `expr` (a Result<T>); returns its error Status, or moves its
// value into `lhs` (a declaration such as `auto x`, or an lvalue):
//   JOBGATE_ASSIGN_OR_RETURN(auto state, store.ReadState(job));
#define JOBGATE_ASSIGN_OR_RETURN(lhs, expr) \
  JOBGATE_ASSIGN_OR_RETURN_IMPL(JOBGATE_CONCAT(_jg_result_, __LINE__), lhs, expr)
#define JOBGATE_ASSIGN_OR_RETURN_IMPL(result, lhs, expr) \
  auto result = (expr);                                  \
  if (!result.ok()) return result.status();              \
  lhs = std::move(result).value()

// Propagates an error Status from an expression returning Status.
#define JOBGATE_RETURN_IF_ERROR(expr)          \
  do {                                         \
    ::jobgate::Status _jg_st = (expr);         \
    if (!_jg_st.ok()) return _jg_st;           \
  } while (0)
