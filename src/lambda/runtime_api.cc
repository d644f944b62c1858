#include "lambda/runtime_api.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "util/numbers.h"

namespace jobgate::lambda {

namespace {

std::string Describe(const HttpResult& result) {
  if (const auto* e = std::get_if<TransportError>(&result)) {
    return fmt::format("{} ({})", TransportErrorKindName(e->kind), e->message);
  }
  const auto& r = std::get<HttpResponse>(result);
  return fmt::format("HTTP {}: {}", r.status, r.body.substr(0, 200));
}

}  // namespace

Status ValidateRuntimeApiAddress(std::string_view address) {
  const size_t colon = address.rfind(':');
  const bool ok = colon != std::string_view::npos && colon > 0 && colon + 1 < address.size() &&
                  address.find_first_of("/?#@ ") == std::string_view::npos &&
                  address.substr(colon + 1).find_first_not_of("0123456789") == std::string_view::npos;
  if (ok) return Status::Ok();
  return Status::InvalidArgument(
      fmt::format("AWS_LAMBDA_RUNTIME_API \"{}\" is not HOST:PORT (Lambda sets it; set it by hand only to "
                  "run against a Runtime API emulator)",
                  address));
}

RuntimeApi::RuntimeApi(HttpTransport& http, std::string address)
    : http_(http), base_(fmt::format("http://{}/2018-06-01/runtime", address)) {}

Result<Invocation> RuntimeApi::Next() {
  HttpRequest request;
  request.url = base_ + "/invocation/next";
  request.method = "GET";
  HttpResult result = http_.Send(request);
  const auto* response = std::get_if<HttpResponse>(&result);
  if (response == nullptr || response->status != 200) {
    return Status::Unavailable("Runtime API invocation/next: " + Describe(result));
  }
  Invocation inv;
  inv.aws_request_id = response->Header("Lambda-Runtime-Aws-Request-Id").value_or("");
  if (inv.aws_request_id.empty()) {
    return Status::Unavailable("Runtime API invocation/next: no Lambda-Runtime-Aws-Request-Id header");
  }
  const std::string deadline = response->Header("Lambda-Runtime-Deadline-Ms").value_or("");
  int64_t ms = 0;
  if (!ParseInt64(deadline, &ms) || ms <= 0) {
    return Status::Unavailable(
        fmt::format("Runtime API invocation/next: Lambda-Runtime-Deadline-Ms \"{}\" is not epoch milliseconds",
                    deadline));
  }
  inv.deadline_ms = ms;
  inv.function_arn = response->Header("Lambda-Runtime-Invoked-Function-Arn").value_or("");
  inv.trace_id = response->Header("Lambda-Runtime-Trace-Id").value_or("");
  inv.body = response->body;
  return inv;
}

std::string RuntimeApi::ErrorBody(const ErrorReply& error) {
  nlohmann::ordered_json j = {{"errorMessage", error.message}, {"errorType", error.type},
                              {"stackTrace", nlohmann::json::array()}};
  if (!error.outcome_json.empty()) {
    j["outcome"] = nlohmann::ordered_json::parse(error.outcome_json, nullptr, false);
  }
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Status RuntimeApi::Respond(const std::string& aws_request_id, const std::string& body) {
  return Post(fmt::format("/invocation/{}/response", aws_request_id), body, "");
}

Status RuntimeApi::RespondError(const std::string& aws_request_id, const ErrorReply& error) {
  return Post(fmt::format("/invocation/{}/error", aws_request_id), ErrorBody(error), error.type);
}

Status RuntimeApi::InitError(const ErrorReply& error) { return Post("/init/error", ErrorBody(error), error.type); }

Status RuntimeApi::Post(const std::string& path, const std::string& body, const std::string& error_type) {
  HttpRequest request;
  request.url = base_ + path;
  request.method = "POST";
  request.headers = {{"Content-Type", "application/json"}};
  if (!error_type.empty()) request.headers.emplace_back("Lambda-Runtime-Function-Error-Type", error_type);
  request.body = body;
  HttpResult result = http_.Send(request);
  const auto* response = std::get_if<HttpResponse>(&result);
  if (response != nullptr && response->status / 100 == 2) return Status::Ok();
  return Status::Unavailable(fmt::format("Runtime API {}: {}", path, Describe(result)));
}

}  // namespace jobgate::lambda
