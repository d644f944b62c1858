#include "aws/credential_util.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace jobgate {

Result<HttpResponse> SendCredentialRequest(const CredentialSourceDeps& deps, const HttpClientOptions& options,
                                           const HttpRequest& request, std::string_view what) {
  const HttpTransportFactory factory = deps.http ? deps.http : CurlTransportFactory();
  auto transport = factory(options);
  if (!transport.ok()) return transport.status();
  HttpResult result = (*transport)->Send(request);
  if (const auto* error = std::get_if<TransportError>(&result)) {
    return Status::Unavailable(fmt::format("{} ({} {}): {}: {}", what, request.method, request.url,
                                           TransportErrorKindName(error->kind), error->message));
  }
  return std::get<HttpResponse>(std::move(result));
}

Result<TimedCredentials> ParseJsonCredentials(std::string_view body, const JsonCredentialNames& names,
                                              std::string_view what) {
  const auto j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return Status::Unavailable(fmt::format("{}: the answer is not a JSON object", what));
  auto text = [&j](const char* name) -> std::optional<std::string> {
    auto it = j.find(name);
    if (it == j.end() || !it->is_string()) return std::nullopt;
    return it->get<std::string>();
  };
  TimedCredentials out;
  auto id = text(names.access_key_id);
  auto secret = text(names.secret_access_key);
  if (!id || id->empty() || !secret || secret->empty()) {
    return Status::Unavailable(fmt::format("{}: the answer lacks {} or {}", what, names.access_key_id,
                                           names.secret_access_key));
  }
  out.credentials = {std::move(*id), std::move(*secret), text(names.session_token).value_or("")};
  if (auto it = j.find(names.expiration); it != j.end() && !it->is_null()) {
    auto when = it->is_string() ? ParseIso8601Ms(it->get<std::string>()) : std::nullopt;
    if (!when) return Status::Unavailable(fmt::format("{}: {} is not an RFC 3339 time", what, names.expiration));
    out.expires_at_ms = *when;
  }
  return out;
}

Result<std::string> ReadSmallFile(const std::string& path, std::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::Unavailable(fmt::format("cannot read {} {}: {}", what, path, std::strerror(errno)));
  std::stringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return Status::Unavailable(fmt::format("cannot read {} {}: read error", what, path));
  std::string text = ss.str();
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ' || text.back() == '\t')) {
    text.pop_back();
  }
  if (text.empty()) return Status::Unavailable(fmt::format("{} {} is empty", what, path));
  return text;
}

std::string BodySnippet(std::string_view body, std::string_view secret) {
  body = body.substr(0, body.find_first_of("\r\n"));
  std::string out(body.substr(0, 200));
  if (body.size() > 200) out += "...";
  ScrubSecret(out, secret);
  return out;
}

std::string RawBodySnippet(std::string_view body, std::string_view secret) {
  std::string lower(body);
  for (char& c : lower) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  if (lower.find("secret") != std::string::npos || lower.find("token") != std::string::npos) {
    return fmt::format("({} bytes, not shown: they mention a secret or a token)", body.size());
  }
  return BodySnippet(body, secret);
}

Clock& SourceClock(const CredentialSourceDeps& deps) {
  // SystemClock has no state: one instance serves every source.
  static SystemClock system_clock;
  return deps.clock != nullptr ? *deps.clock : system_clock;
}

}  // namespace jobgate
