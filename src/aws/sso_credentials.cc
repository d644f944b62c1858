// "IAM Identity Center credential provider": the access token that
// `aws sso login` cached is exchanged for role credentials by the portal's
// GetRoleCredentials (GET /federation/credentials). The cached token is
// read on every fetch, so a later `aws sso login` is picked up.
//
// The token is refreshed as the AWS SDKs' SSO token provider does, for a
// profile with an [sso-session] (the legacy sso_start_url format has no
// refresh): within 5 minutes of its expiry, at most once every 30 seconds,
// the cache's refreshToken, clientId and clientSecret go to the SSO OIDC
// CreateToken call (POST /token, grantType refresh_token), and the new
// token is written back to the cache file (written aside, then renamed)
// for the next process and the AWS CLI. A refresh that fails while the old
// token is still valid uses the old token; once it has expired the error
// says why and to run `aws sso login`.
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <optional>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "aws/credential_sources.h"
#include "aws/credential_util.h"
#include "aws/crypto_api.h"
#include "aws/sigv4.h"
#include "jobgate/clock.h"

namespace jobgate {

namespace {

// One profile's SSO role credentials. Thread-compatible: the provider
// calls it under its lock.
class SsoSource final : public CredentialSource {
 public:
  SsoSource(SsoSettings settings, CredentialSourceDeps deps) : s_(std::move(settings)), deps_(std::move(deps)) {}

  Result<TimedCredentials> Fetch() override {
    auto token = CachedToken();
    if (!token.ok()) return token.status();
    HttpRequest request;
    request.method = "GET";
    request.url = fmt::format("{}/federation/credentials?role_name={}&account_id={}", s_.portal_endpoint,
                              UriEncode(s_.role_name, false), UriEncode(s_.account_id, false));
    request.headers = {{"x-amz-sso_bearer_token", *token}, {"Accept", "application/json"}};
    auto response = SendCredentialRequest(deps_, HttpClientOptions{}, request, Describe());
    if (!response.ok()) return response.status();
    if (response->status == 401 || response->status == 403) {
      return Status::Unavailable(
          fmt::format("{}: the SSO portal refused the cached access token (HTTP {}); run `aws sso login --profile {}`",
                      Describe(), response->status, s_.profile));
    }
    if (response->status != 200) {
      return Status::Unavailable(fmt::format("{}: HTTP {}: {}", Describe(), response->status,
                                             RawBodySnippet(response->body, *token)));
    }
    return ParseRoleCredentials(response->body);
  }

  std::string Describe() const override {
    return fmt::format("SSO of profile {} (account {}, role {})", s_.profile, s_.account_id, s_.role_name);
  }

 private:
  static constexpr int64_t kRefreshWindowMs = 5 * 60'000;
  static constexpr int64_t kRefreshEveryMs = 30'000;

  std::string Login() const { return fmt::format("run `aws sso login --profile {}`", s_.profile); }

  // The cache file's accessToken, refreshed when it is near its expiry and
  // the cache holds what a refresh needs; an error once it has expired.
  Result<std::string> CachedToken() {
    auto name = SsoCacheFileName(s_.cache_key);
    if (!name.ok()) return name.status();
    const std::string path = s_.cache_dir + "/" + *name;
    auto text = ReadSmallFile(path, "the SSO token cache");
    if (!text.ok()) return Status::Unavailable(fmt::format("{}: {}; {}", Describe(), text.status().message(), Login()));
    nlohmann::json j = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
    const std::string token = JsonText(j, "accessToken");
    const std::optional<EpochMs> expires = ParseIso8601Ms(JsonText(j, "expiresAt"));
    if (token.empty() || !expires) {
      return Status::Unavailable(
          fmt::format("{}: the SSO token cache {} lacks accessToken or expiresAt; {}", Describe(), path, Login()));
    }
    const EpochMs now = SourceClock(deps_).NowMs();
    if (*expires - now > kRefreshWindowMs) return token;
    std::string why = "the SSO session has expired";
    if (auto refreshed = Refresh(j, path, now); refreshed.ok()) {
      return refreshed;
    } else if (!refreshed.status().message().empty()) {
      why = fmt::format("the SSO session has expired and its refresh failed: {}", refreshed.status().message());
    }
    if (*expires > now) return token;
    return Status::Unavailable(fmt::format("{}: {} (token cache {}); {}", Describe(), why, path, Login()));
  }

  static std::string JsonText(const nlohmann::json& j, const char* key) {
    const auto it = j.is_object() ? j.find(key) : j.end();
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
  }

  // SSO OIDC CreateToken with the cached refresh token; the new token, also
  // written to the cache. An error with an empty message when no refresh
  // was tried (legacy profile, nothing to refresh with, tried just now).
  Result<std::string> Refresh(nlohmann::json& cache, const std::string& path, EpochMs now) {
    const std::string refresh_token = JsonText(cache, "refreshToken");
    const std::string client_id = JsonText(cache, "clientId");
    const std::string client_secret = JsonText(cache, "clientSecret");
    const std::optional<EpochMs> registration = ParseIso8601Ms(JsonText(cache, "registrationExpiresAt"));
    const bool registered = !registration || *registration > now;
    if (s_.oidc_endpoint.empty() || refresh_token.empty() || client_id.empty() || client_secret.empty() ||
        !registered || (last_refresh_ms_ && now - *last_refresh_ms_ < kRefreshEveryMs)) {
      return Status::Unavailable("");
    }
    last_refresh_ms_ = now;
    HttpRequest request;
    request.url = s_.oidc_endpoint + "/token";
    request.headers = {{"Content-Type", "application/json"}, {"Accept", "application/json"}};
    request.body = nlohmann::json{{"clientId", client_id},
                                  {"clientSecret", client_secret},
                                  {"grantType", "refresh_token"},
                                  {"refreshToken", refresh_token}}
                       .dump();
    auto response = SendCredentialRequest(deps_, HttpClientOptions{}, request, "SSO OIDC CreateToken");
    if (!response.ok()) return response.status();
    if (response->status != 200) {
      return Status::Unavailable(fmt::format("SSO OIDC CreateToken: HTTP {}: {}", response->status,
                                             RawBodySnippet(response->body, refresh_token)));
    }
    const auto answer = nlohmann::json::parse(response->body, nullptr, /*allow_exceptions=*/false);
    const std::string token = JsonText(answer, "accessToken");
    const auto expires_in = answer.is_object() ? answer.find("expiresIn") : answer.end();
    if (token.empty() || expires_in == answer.end() || !expires_in->is_number_integer()) {
      return Status::Unavailable("SSO OIDC CreateToken: the answer is not JSON with accessToken and expiresIn");
    }
    cache["accessToken"] = token;
    cache["expiresAt"] = WholeSecondsRfc3339(now + expires_in->get<int64_t>() * 1000);
    if (const std::string rotated = JsonText(answer, "refreshToken"); !rotated.empty()) cache["refreshToken"] = rotated;
    WriteCache(path, cache.dump(2));
    return token;
  }

  static std::string WholeSecondsRfc3339(EpochMs ms) {
    std::string text = FormatRfc3339(ms - ms % 1000);  // "...T22:13:20.000Z"
    return text.erase(text.size() - 5, 4);
  }

  // Written aside and renamed over the cache, readable by its owner only,
  // so a reader never sees half a file. Best effort: the token in hand is
  // good whether or not the next process finds it.
  static void WriteCache(const std::string& path, const std::string& text) {
    const std::string aside = fmt::format("{}.{}.tmp", path, getpid());
    const int fd = open(aside.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return;
    const bool written = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
    const bool closed = close(fd) == 0;
    if (!written || !closed || std::rename(aside.c_str(), path.c_str()) != 0) unlink(aside.c_str());
  }

  // {"roleCredentials": {"accessKeyId", "secretAccessKey", "sessionToken",
  //  "expiration": epoch milliseconds}}
  Result<TimedCredentials> ParseRoleCredentials(const std::string& body) const {
    const auto j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
    const nlohmann::json* rc = j.is_object() && j.contains("roleCredentials") ? &j["roleCredentials"] : nullptr;
    auto text = [rc](const char* k) {
      return rc->contains(k) && (*rc)[k].is_string() ? (*rc)[k].get<std::string>() : std::string();
    };
    if (rc == nullptr || !rc->is_object() || text("accessKeyId").empty() || text("secretAccessKey").empty() ||
        !rc->contains("expiration") || !(*rc)["expiration"].is_number_integer()) {
      return Status::Unavailable(fmt::format(
          "{}: the answer is not JSON with roleCredentials (accessKeyId, secretAccessKey, expiration)", Describe()));
    }
    return TimedCredentials{{text("accessKeyId"), text("secretAccessKey"), text("sessionToken")},
                            (*rc)["expiration"].get<int64_t>()};
  }

  SsoSettings s_;
  CredentialSourceDeps deps_;
  std::optional<EpochMs> last_refresh_ms_;  // the last CreateToken tried, at most one per kRefreshEveryMs
};

}  // namespace

Result<std::string> SsoCacheFileName(std::string_view cache_key) {
  auto crypto = LoadCryptoApi();
  if (!crypto.ok()) return crypto.status();
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if ((*crypto)->evp_digest(cache_key.data(), cache_key.size(), md, &len, (*crypto)->evp_sha1(), nullptr) != 1) {
    return Status::Internal("SHA-1 of the SSO cache key failed");
  }
  std::string hex;
  for (unsigned int i = 0; i < len; ++i) hex += fmt::format("{:02x}", md[i]);
  return hex + ".json";
}

std::unique_ptr<CredentialSource> MakeSsoSource(SsoSettings settings, CredentialSourceDeps deps) {
  return std::make_unique<SsoSource>(std::move(settings), std::move(deps));
}

}  // namespace jobgate
