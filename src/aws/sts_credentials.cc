// STS AssumeRoleWithWebIdentity (the Query API, unsigned: the web identity
// token is the proof) and the few elements of its XML answer we need.
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
// because EKS and other issuers rotate it in place.
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

}  // namespace

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
    if (!code) return Status::Unavailable(fmt::format("{}: HTTP {}: {}", what, http_status, BodySnippet(xml)));
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
