// "IAM Identity Center credential provider": the access token that
// `aws sso login` cached is exchanged for role credentials by the portal's
// GetRoleCredentials (GET /federation/credentials). The cached token is
// read on every fetch, so a later `aws sso login` is picked up; jobgate
// does not refresh the token itself (the CLI's OIDC refresh is not
// implemented): an expired one is an error telling the user to log in.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "aws/credential_sources.h"
#include "aws/credential_util.h"
#include "aws/crypto_api.h"
#include "aws/sigv4.h"

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
  // The cache file's accessToken, if it has not expired.
  Result<std::string> CachedToken() {
    auto name = SsoCacheFileName(s_.cache_key);
    if (!name.ok()) return name.status();
    const std::string path = s_.cache_dir + "/" + *name;
    const std::string login = fmt::format("run `aws sso login --profile {}`", s_.profile);
    auto text = ReadSmallFile(path, "the SSO token cache");
    if (!text.ok()) return Status::Unavailable(fmt::format("{}: {}; {}", Describe(), text.status().message(), login));
    const auto j = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
    const bool shaped = j.is_object() && j.contains("accessToken") && j["accessToken"].is_string() &&
                        j.contains("expiresAt") && j["expiresAt"].is_string();
    if (!shaped) {
      return Status::Unavailable(
          fmt::format("{}: the SSO token cache {} lacks accessToken or expiresAt; {}", Describe(), path, login));
    }
    auto expires = ParseIso8601Ms(j["expiresAt"].get<std::string>());
    if (!expires || *expires <= SourceClock(deps_).NowMs()) {
      return Status::Unavailable(fmt::format("{}: the SSO session has expired (token cache {}); {}", Describe(), path,
                                             login));
    }
    return j["accessToken"].get<std::string>();
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
