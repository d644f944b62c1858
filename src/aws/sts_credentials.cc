// STS AssumeRoleWithWebIdentity (the Query API, unsigned: the web identity
// token is the proof), AssumeRole (signed with SigV4 by a source
// credential), and the few elements of their XML answers we need.
#include <chrono>

#include <fmt/format.h>

#include "aws/credential_sources.h"
#include "aws/credential_util.h"
#include "aws/sigv4.h"

namespace jobgate {

namespace {

std::string EnvValue(const Environment& env, std::string_view name) {
  auto it = env.find(name);
  return it == env.end() ? std::string() : it->second;
}

// The text of the first <name>...</name> inside `xml`, entities decoded;
// nullopt when absent. STS answers are flat and machine-written: no
// attributes on these elements, no CDATA, no nesting of the same name.
std::optional<std::string> ElementText(std::string_view xml, std::string_view name) {
  const std::string open = fmt::format("<{}>", name);
  const std::string close = fmt::format("</{}>", name);
  const size_t start = xml.find(open);
  if (start == std::string_view::npos) return std::nullopt;
  const size_t from = start + open.size();
  const size_t end = xml.find(close, from);
  if (end == std::string_view::npos) return std::nullopt;
  std::string_view raw = xml.substr(from, end - from);
  std::string out;
  for (size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] != '&') {
      out.push_back(raw[i]);
      continue;
    }
    static constexpr std::pair<std::string_view, char> kEntities[] = {
        {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
    bool known = false;
    for (const auto& [entity, c] : kEntities) {
      if (raw.substr(i).starts_with(entity)) {
        out.push_back(c);
        i += entity.size() - 1;
        known = true;
        break;
      }
    }
    if (!known) return std::nullopt;  // strict: an entity we do not know means we misread
  }
  return out;
}

// The part of `xml` between <name> and </name>, or empty.
std::string_view Element(std::string_view xml, std::string_view name) {
  const std::string open = fmt::format("<{}>", name);
  const size_t start = xml.find(open);
  if (start == std::string_view::npos) return {};
  const size_t end = xml.find(fmt::format("</{}>", name), start);
  if (end == std::string_view::npos) return {};
  return xml.substr(start + open.size(), end - start - open.size());
}

std::string FormEncode(std::initializer_list<std::pair<std::string_view, std::string_view>> fields) {
  std::string out;
  for (const auto& [k, v] : fields) {
    if (!out.empty()) out += '&';
    out += UriEncode(k, false) + "=" + UriEncode(v, false);
  }
  return out;
}

// "Assume role with web identity": the token file is read on every fetch,
// because EKS and other issuers rotate it in place. Thread-compatible: the
// provider calls it under its lock.
class WebIdentitySource final : public CredentialSource {
 public:
  WebIdentitySource(WebIdentitySettings settings, CredentialSourceDeps deps)
      : s_(std::move(settings)), deps_(std::move(deps)) {}

  Result<TimedCredentials> Fetch() override {
    const std::string what = Describe();
    auto token = ReadSmallFile(s_.token_file, "the web identity token file");
    if (!token.ok()) return Status(token.status().code(), what + ": " + token.status().message());
    std::string session = s_.session_name;
    if (session.empty()) session = fmt::format("jobgate-{}", SourceClock(deps_).NowMs());
    HttpRequest request;
    request.url = s_.sts_endpoint + "/";
    request.method = "POST";
    request.headers = {{"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"},
                       {"Accept", "text/xml"}};
    request.body = FormEncode({{"Action", "AssumeRoleWithWebIdentity"},
                               {"Version", "2011-06-15"},
                               {"RoleArn", s_.role_arn},
                               {"RoleSessionName", session},
                               {"WebIdentityToken", *token}});
    auto response = SendCredentialRequest(deps_, HttpClientOptions{}, request, what);
    if (!response.ok()) return response.status();
    auto parsed = ParseStsResponse(response->status, response->body, what);
    if (parsed.ok()) return parsed;
    std::string message = parsed.status().message();
    ScrubSecret(message, *token);  // an identity provider's error could quote it
    return Status(parsed.status().code(), std::move(message));
  }

  std::string Describe() const override {
    return fmt::format("web identity (role {}, token file {}, from {}; STS {})", s_.role_arn, s_.token_file, s_.origin,
                       s_.sts_endpoint);
  }

 private:
  WebIdentitySettings s_;
  CredentialSourceDeps deps_;
};

// The authority ("host[:port]") of an http(s) URL.
std::string Authority(std::string_view url) {
  const size_t scheme_end = url.find("://");
  std::string_view rest = scheme_end == std::string_view::npos ? url : url.substr(scheme_end + 3);
  return std::string(rest.substr(0, rest.find_first_of("/?#")));
}

// "Assume a role" (profile role_arn with source_profile or
// credential_source): STS AssumeRole, signed with the base credentials,
// which are fetched afresh each time. Thread-compatible: the provider
// calls it under its lock.
class AssumeRoleSource final : public CredentialSource {
 public:
  AssumeRoleSource(AssumeRoleSettings settings, std::unique_ptr<CredentialSource> base, CredentialSourceDeps deps)
      : s_(std::move(settings)), base_(std::move(base)), deps_(std::move(deps)) {}

  Result<TimedCredentials> Fetch() override {
    const std::string what = Describe();
    auto base = base_->Fetch();
    if (!base.ok()) return Status(base.status().code(), what + ": " + base.status().message());
    const EpochMs now_ms = SourceClock(deps_).NowMs();
    auto request = SignedRequest(base->credentials, now_ms);
    if (!request.ok()) return Status(request.status().code(), what + ": " + request.status().message());
    auto response = SendCredentialRequest(deps_, HttpClientOptions{}, *request, what);
    if (!response.ok()) return response.status();
    auto parsed = ParseStsResponse(response->status, response->body, what);
    if (parsed.ok()) return parsed;
    std::string message = parsed.status().message();
    ScrubSecret(message, base->credentials.secret_access_key);
    ScrubSecret(message, base->credentials.session_token);
    return Status(parsed.status().code(), std::move(message));
  }

  std::string Describe() const override {
    return fmt::format("assumed role {} (profile {}, with credentials from {}; STS {})", s_.role_arn, s_.profile,
                       base_->Describe(), s_.sts_endpoint);
  }

 private:
  Result<HttpRequest> SignedRequest(const AwsCredentials& base, EpochMs now_ms) const {
    std::string session = s_.session_name.empty() ? fmt::format("jobgate-{}", now_ms) : s_.session_name;
    std::string body = FormEncode({{"Action", "AssumeRole"},
                                   {"Version", "2011-06-15"},
                                   {"RoleArn", s_.role_arn},
                                   {"RoleSessionName", session}});
    if (!s_.external_id.empty()) body += "&" + FormEncode({{"ExternalId", s_.external_id}});
    if (s_.duration_s > 0) body += "&" + FormEncode({{"DurationSeconds", std::to_string(s_.duration_s)}});
    SigningRequest signing;
    signing.method = "POST";
    signing.path = "/";
    signing.headers = {{"Host", Authority(s_.sts_endpoint)},
                       {"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"}};
    signing.body = std::move(body);
    return jobgate::SignedRequest(s_.sts_endpoint + "/", std::move(signing), base, s_.sts_region, "sts", now_ms);
  }

  AssumeRoleSettings s_;
  std::unique_ptr<CredentialSource> base_;
  CredentialSourceDeps deps_;
};

}  // namespace

std::unique_ptr<CredentialSource> MakeAssumeRoleSource(AssumeRoleSettings settings,
                                                       std::unique_ptr<CredentialSource> base,
                                                       CredentialSourceDeps deps) {
  return std::make_unique<AssumeRoleSource>(std::move(settings), std::move(base), std::move(deps));
}

std::string StsEndpoint(const Environment& env, const std::string& region) {
  std::string url = EnvValue(env, "AWS_ENDPOINT_URL_STS");
  if (url.empty()) url = EnvValue(env, "AWS_ENDPOINT_URL");
  if (url.empty()) {
    if (region.empty()) return "https://sts.amazonaws.com";
    url = fmt::format("https://sts.{}.{}", region, region.starts_with("cn-") ? "amazonaws.com.cn" : "amazonaws.com");
  }
  while (url.ends_with('/')) url.pop_back();
  return url;
}

Result<TimedCredentials> ParseStsResponse(int http_status, std::string_view xml, std::string_view what) {
  if (http_status != 200) {
    std::string_view error = Element(xml, "Error");
    auto code = ElementText(error, "Code");
    auto message = ElementText(error, "Message");
    if (!code) return Status::Unavailable(fmt::format("{}: HTTP {}: {}", what, http_status, RawBodySnippet(xml)));
    return Status::Unavailable(fmt::format("{}: HTTP {}: {}: {}", what, http_status, *code,
                                           BodySnippet(message.value_or(""))));
  }
  std::string_view creds = Element(xml, "Credentials");
  auto id = ElementText(creds, "AccessKeyId");
  auto secret = ElementText(creds, "SecretAccessKey");
  auto token = ElementText(creds, "SessionToken");
  auto expiration = ElementText(creds, "Expiration");
  if (!id || !secret || !token || id->empty() || secret->empty() || token->empty()) {
    return Status::Unavailable(fmt::format(
        "{}: the answer has no Credentials with AccessKeyId, SecretAccessKey and SessionToken", what));
  }
  auto expires = expiration ? ParseIso8601Ms(*expiration) : std::nullopt;
  if (!expires) return Status::Unavailable(fmt::format("{}: the answer's Expiration is not an RFC 3339 time", what));
  return TimedCredentials{{std::move(*id), std::move(*secret), std::move(*token)}, *expires};
}

std::unique_ptr<CredentialSource> MakeWebIdentitySource(WebIdentitySettings settings, CredentialSourceDeps deps) {
  return std::make_unique<WebIdentitySource>(std::move(settings), std::move(deps));
}

}  // namespace jobgate
