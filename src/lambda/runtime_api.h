// The Lambda Runtime API (version 2018-06-01) as a custom runtime uses it:
// fetch the next invocation, answer it, or report an error (of the
// invocation, or of the runtime's start-up). One HTTP connection, kept for
// the process's lifetime (HttpTransport reuses it).
//
// Thread-compatible: the runtime loop is its only user.
#pragma once

#include <string>
#include <string_view>

#include "aws/http_client.h"
#include "jobgate/clock.h"
#include "jobgate/status.h"

namespace jobgate::lambda {

// One invocation, as `invocation/next` hands it over.
struct Invocation {
  std::string aws_request_id;  // Lambda-Runtime-Aws-Request-Id
  EpochMs deadline_ms = 0;     // Lambda-Runtime-Deadline-Ms: wall-clock ms when Lambda stops the sandbox
  std::string function_arn;    // Lambda-Runtime-Invoked-Function-Arn
  std::string trace_id;        // Lambda-Runtime-Trace-Id (X-Ray), passed on as _X_AMZN_TRACE_ID
  std::string body;            // the event
};

// An error answer: Lambda's error shape {"errorMessage", "errorType",
// "stackTrace"} plus, when the run got that far, the outcome.
struct ErrorReply {
  std::string type;     // "jobgate.BadEvent", "jobgate.RunFailed", ...
  std::string message;
  std::string outcome_json;  // the --json outcome, or empty
};

class RuntimeApi {
 public:
  // `address` is AWS_LAMBDA_RUNTIME_API ("127.0.0.1:9001").
  RuntimeApi(HttpTransport& http, std::string address);

  // Blocks until Lambda hands over an invocation. kUnavailable when the API
  // cannot be reached or answers badly (the sandbox is going away).
  Result<Invocation> Next();
  Status Respond(const std::string& aws_request_id, const std::string& body);
  Status RespondError(const std::string& aws_request_id, const ErrorReply& error);
  // Before the first Next(): the runtime cannot start (bad configuration).
  Status InitError(const ErrorReply& error);

  // The JSON body of an error answer.
  static std::string ErrorBody(const ErrorReply& error);

 private:
  Status Post(const std::string& path, const std::string& body, const std::string& error_type);

  HttpTransport& http_;
  std::string base_;  // "http://ADDRESS/2018-06-01/runtime"
};

// Checks AWS_LAMBDA_RUNTIME_API's value: HOST:PORT, nothing else.
Status ValidateRuntimeApiAddress(std::string_view address);

}  // namespace jobgate::lambda
