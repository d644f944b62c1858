// Credentials served over HTTP by the platform: the container agent (ECS,
// EKS Pod Identity) and EC2 instance metadata (IMDSv2).
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "aws/credential_sources.h"
#include "aws/credential_util.h"

namespace jobgate {

namespace {

// IMDS is link-local: on a host that is not EC2 the connect must fail fast
// (the SDKs use 1 s), or every chain that ends there would hang.
// Functions, not globals: a global with a string needs an initialiser at
// every process start.
HttpClientOptions ImdsHttp() { return HttpClientOptions{1'000, 2'000, ""}; }
HttpClientOptions ContainerHttp() { return HttpClientOptions{2'000, 5'000, ""}; }

std::string EnvValue(const Environment& env, std::string_view name) {
  auto it = env.find(name);
  return it == env.end() ? std::string() : it->second;
}

std::string LowerAscii(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  return out;
}

// The host of an http(s) URL: "[v6]" unbracketed, a port dropped.
std::string UrlHost(std::string_view url) {
  const size_t scheme_end = url.find("://");
  std::string_view rest = scheme_end == std::string_view::npos ? url : url.substr(scheme_end + 3);
  rest = rest.substr(0, rest.find_first_of("/?#"));
  if (const size_t at = rest.rfind('@'); at != std::string_view::npos) rest = rest.substr(at + 1);
  if (rest.starts_with('[')) return std::string(rest.substr(1, rest.find(']') - 1));
  return std::string(rest.substr(0, rest.find(':')));
}

bool IsLoopbackV4(std::string_view host) {
  if (!host.starts_with("127.")) return false;
  int dots = 0;
  for (char c : host) {
    if (c == '.') ++dots;
    else if (c < '0' || c > '9') return false;
  }
  return dots == 3;
}

// "Container credential provider": GET the agent's URL, with the
// authorization token read per fetch (EKS Pod Identity rotates its file).
// Thread-compatible: the provider calls it under its lock.
class ContainerSource final : public CredentialSource {
 public:
  ContainerSource(ContainerSettings settings, CredentialSourceDeps deps)
      : s_(std::move(settings)), deps_(std::move(deps)) {}

  Result<TimedCredentials> Fetch() override {
    std::string token = s_.token;
    if (!s_.token_file.empty()) {
      auto read = ReadSmallFile(s_.token_file, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
      if (!read.ok()) return Status(read.status().code(), Describe() + ": " + read.status().message());
      token = std::move(read).value();
    }
    if (token.find_first_of("\r\n") != std::string::npos) {
      return Status::InvalidArgument(Describe() + ": the authorization token contains a line break");
    }
    HttpRequest request;
    request.method = "GET";
    request.url = s_.url;
    request.headers = {{"Accept", "application/json"}};
    if (!token.empty()) request.headers.emplace_back("Authorization", token);
    auto response = SendCredentialRequest(deps_, ContainerHttp(), request, Describe());
    if (!response.ok()) return response.status();
    if (response->status != 200) {
      return Status::Unavailable(
          fmt::format("{}: HTTP {}: {}", Describe(), response->status, RawBodySnippet(response->body, token)));
    }
    return ParseJsonCredentials(response->body, JsonCredentialNames{}, Describe());
  }

  std::string Describe() const override {
    return fmt::format("container credentials ({} {})", s_.url_origin, s_.url);
  }

 private:
  ContainerSettings s_;
  CredentialSourceDeps deps_;
};

// IMDSv2: a session token from PUT /latest/api/token, then GETs with it.
// One per fetch (the session token is not kept between fetches); not
// thread-safe.
class ImdsClient {
 public:
  ImdsClient(std::string endpoint, const CredentialSourceDeps& deps, std::string what)
      : endpoint_(std::move(endpoint)), deps_(deps), what_(std::move(what)) {}

  // The body of a 200 answer to GET `path`.
  Result<std::string> Get(const std::string& path) {
    if (token_.empty()) {
      HttpRequest put{endpoint_ + "/latest/api/token", "PUT", {{"X-aws-ec2-metadata-token-ttl-seconds", "21600"}}, ""};
      auto token = Send(put);
      if (!token.ok()) return token.status();
      token_ = std::move(token).value();
    }
    return Send(HttpRequest{endpoint_ + path, "GET", {{"X-aws-ec2-metadata-token", token_}}, ""});
  }

 private:
  Result<std::string> Send(const HttpRequest& request) {
    auto response = SendCredentialRequest(deps_, ImdsHttp(), request, what_);
    if (!response.ok()) return response.status();
    if (response->status == 200) return std::move(response->body);
    const std::string hint = response->status == 404 && request.url.find("security-credentials") != std::string::npos
                                 ? " (no IAM role is attached to this instance)"
                                 : "";
    return Status::Unavailable(fmt::format("{} ({} {}): HTTP {}{}", what_, request.method, request.url,
                                           response->status, hint));
  }

  std::string endpoint_;
  const CredentialSourceDeps& deps_;
  std::string what_;
  std::string token_;
};

// "IMDS credential provider": the first role the instance profile lists,
// and its credentials. Thread-compatible: the provider calls it under its
// lock.
class ImdsSource final : public CredentialSource {
 public:
  ImdsSource(ImdsSettings settings, CredentialSourceDeps deps) : s_(std::move(settings)), deps_(std::move(deps)) {}

  Result<TimedCredentials> Fetch() override {
    auto fetched = FetchFromImds();
    if (fetched.ok() || s_.tried_before.empty()) return fetched;
    return Status(fetched.status().code(), s_.tried_before + "; " + fetched.status().message());
  }

  std::string Describe() const override { return fmt::format("EC2 instance metadata {}", s_.endpoint); }

 private:
  Result<TimedCredentials> FetchFromImds() {
    ImdsClient imds(s_.endpoint, deps_, Describe());
    const std::string base = "/latest/meta-data/iam/security-credentials/";
    auto roles = imds.Get(base);
    if (!roles.ok()) return roles.status();
    const std::string role = roles->substr(0, roles->find_first_of("\r\n"));
    if (role.empty()) return Status::Unavailable(Describe() + ": no IAM role is attached to this instance");
    auto document = imds.Get(base + role);
    if (!document.ok()) return document.status();
    // {"Code": "Success", "AccessKeyId": ..., "Token": ..., "Expiration": ...}
    const auto j = nlohmann::json::parse(*document, nullptr, /*allow_exceptions=*/false);
    if (j.is_object() && j.contains("Code") && j["Code"] != "Success") {
      return Status::Unavailable(fmt::format("{}: role {}: the answer's Code is {}", Describe(), role,
                                             j["Code"].is_string() ? j["Code"].get<std::string>() : j["Code"].dump()));
    }
    return ParseJsonCredentials(*document, JsonCredentialNames{}, fmt::format("{} role {}", Describe(), role));
  }

  ImdsSettings s_;
  CredentialSourceDeps deps_;
};

}  // namespace

std::unique_ptr<CredentialSource> MakeContainerSource(ContainerSettings settings, CredentialSourceDeps deps) {
  return std::make_unique<ContainerSource>(std::move(settings), std::move(deps));
}

Status CheckContainerUrl(std::string_view url, std::string_view variable) {
  const std::string lower = LowerAscii(url);
  const std::string host = UrlHost(lower);
  if (!(lower.starts_with("http://") || lower.starts_with("https://")) || host.empty()) {
    return Status::InvalidArgument(
        fmt::format("{} \"{}\": must be an http:// or https:// URL with a host", variable, url));
  }
  if (lower.starts_with("https://")) return Status::Ok();
  // The SDKs allow plain http only where no one else can listen: this host,
  // or the ECS (169.254.170.2) and EKS Pod Identity (169.254.170.23,
  // fd00:ec2::23) agents.
  const bool allowed = IsLoopbackV4(host) || host == "localhost" || host == "::1" || host == "169.254.170.2" ||
                       host == "169.254.170.23" || host == "fd00:ec2::23";
  if (allowed) return Status::Ok();
  return Status::InvalidArgument(fmt::format(
      "{} \"{}\": plain http is allowed only to loopback or the ECS/EKS agent addresses", variable, url));
}

std::unique_ptr<CredentialSource> MakeImdsSource(ImdsSettings settings, CredentialSourceDeps deps) {
  return std::make_unique<ImdsSource>(std::move(settings), std::move(deps));
}

Result<std::string> ImdsRegion(const std::string& endpoint, const CredentialSourceDeps& deps) {
  ImdsClient imds(endpoint, deps, fmt::format("EC2 instance metadata {} (region)", endpoint));
  auto region = imds.Get("/latest/meta-data/placement/region");
  if (!region.ok()) return region.status();
  return region->substr(0, region->find_first_of("\r\n \t"));
}

std::string ImdsEndpoint(const Environment& env) {
  std::string endpoint = EnvValue(env, "AWS_EC2_METADATA_SERVICE_ENDPOINT");
  if (endpoint.empty()) endpoint = "http://169.254.169.254";
  while (endpoint.ends_with('/')) endpoint.pop_back();
  return endpoint;
}

bool ImdsDisabled(const Environment& env) { return LowerAscii(EnvValue(env, "AWS_EC2_METADATA_DISABLED")) == "true"; }

}  // namespace jobgate
