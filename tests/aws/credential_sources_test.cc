// Each credential source against a local server on 127.0.0.1 or local
// files: its success, its failures, and that no error quotes a secret.
#include "aws/credential_sources.h"

#include <sys/stat.h>

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <vector>

#include <nlohmann/json.hpp>

#include "aws/credentials_test_support.h"

namespace jobgate {
namespace {

using namespace credentials_test;

constexpr EpochMs kStart = 1'700'000'000'000;          // 2023-11-14T22:13:20Z
constexpr const char* kInOneHour = "2023-11-14T23:13:20Z";

CredentialSourceDeps Deps(Clock& clock) { return CredentialSourceDeps{CurlTransportFactory(), &clock}; }

// Fetches and checks that an error, if any, quotes no secret.
Result<TimedCredentials> FetchChecked(CredentialSource& source) {
  Result<TimedCredentials> r = source.Fetch();
  if (!r.ok()) ExpectNoSecret(r.status().message());
  ExpectNoSecret(source.Describe());
  return r;
}

std::string ErrorOf(const Result<TimedCredentials>& r) { return r.ok() ? "(no error)" : r.status().message(); }

// ---- STS XML -----------------------------------------------------------------------

std::string StsSuccess(const std::string& id) {
  return std::string(R"(<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleWithWebIdentityResult>
    <SubjectFromWebIdentityToken>system:serviceaccount:jobs:jobgate</SubjectFromWebIdentityToken>
    <Audience>sts.amazonaws.com</Audience>
    <AssumedRoleUser>
      <Arn>arn:aws:sts::123456789012:assumed-role/jobgate/jobgate-session</Arn>
      <AssumedRoleId>AROACLKWSDQRAOEXAMPLE:jobgate-session</AssumedRoleId>
    </AssumedRoleUser>
    <Credentials>
      <SessionToken>)") + kSessionToken + R"(</SessionToken>
      <SecretAccessKey>)" + kSecretKey + R"(</SecretAccessKey>
      <Expiration>)" + kInOneHour + R"(</Expiration>
      <AccessKeyId>)" + id + R"(</AccessKeyId>
    </Credentials>
    <Provider>arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE</Provider>
  </AssumeRoleWithWebIdentityResult>
  <ResponseMetadata>
    <RequestId>ad4156e9-bce1-11e2-82e6-6b6efEXAMPLE</RequestId>
  </ResponseMetadata>
</AssumeRoleWithWebIdentityResponse>
)";
}

constexpr const char* kStsError = R"(<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <Error>
    <Type>Sender</Type>
    <Code>InvalidIdentityToken</Code>
    <Message>Incorrect token audience</Message>
  </Error>
  <RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId>
</ErrorResponse>
)";

TEST(CredentialsSts, ParsesARealShapedAnswer) {
  Result<TimedCredentials> r = ParseStsResponse(200, StsSuccess("ASIAWEBIDENTITY"), "STS");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->credentials.access_key_id, "ASIAWEBIDENTITY");
  EXPECT_EQ(r->credentials.secret_access_key, kSecretKey);
  EXPECT_EQ(r->credentials.session_token, kSessionToken);
  EXPECT_EQ(r->expires_at_ms, kStart + 3'600'000);
}

TEST(CredentialsSts, ErrorResponseGivesCodeAndMessage) {
  Result<TimedCredentials> r = ParseStsResponse(400, kStsError, "STS AssumeRoleWithWebIdentity");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(r.status().message(),
            "STS AssumeRoleWithWebIdentity: HTTP 400: InvalidIdentityToken: Incorrect token audience");
}

TEST(CredentialsSts, DecodesEntitiesAndRefusesMalformedAnswers) {
  std::string with_entity = StsSuccess("ASIA&amp;X");
  Result<TimedCredentials> r = ParseStsResponse(200, with_entity, "STS");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->credentials.access_key_id, "ASIA&X");
  for (const std::string& bad : {std::string("<html>proxy</html>"), StsSuccess("ASIA&bogus;X"),
                                 std::string("<Credentials><AccessKeyId>A</AccessKeyId></Credentials>")}) {
    Result<TimedCredentials> b = ParseStsResponse(200, bad, "STS");
    EXPECT_FALSE(b.ok()) << bad;
  }
  Result<TimedCredentials> html = ParseStsResponse(503, "<html>Service Unavailable</html>", "STS");
  EXPECT_EQ(ErrorOf(html), "STS: HTTP 503: <html>Service Unavailable</html>");
}

TEST(CredentialsSts, EndpointIsRegionalUnlessOverridden) {
  EXPECT_EQ(StsEndpoint({}, "eu-west-1"), "https://sts.eu-west-1.amazonaws.com");
  EXPECT_EQ(StsEndpoint({}, "cn-north-1"), "https://sts.cn-north-1.amazonaws.com.cn");
  EXPECT_EQ(StsEndpoint({}, ""), "https://sts.amazonaws.com");
  EXPECT_EQ(StsEndpoint({{"AWS_ENDPOINT_URL", "http://127.0.0.1:1/"}}, "eu-west-1"), "http://127.0.0.1:1");
  EXPECT_EQ(StsEndpoint({{"AWS_ENDPOINT_URL", "http://a"}, {"AWS_ENDPOINT_URL_STS", "http://b"}}, "x"), "http://b");
}

// ---- web identity -------------------------------------------------------------------

struct WebIdentityFixture {
  WebIdentityFixture() {
    token_file = dir.Write("token", std::string(kWebIdentityToken) + "1\n");
    server.server().Post("/", [this](const httplib::Request& req, httplib::Response& res) {
      server.Hit();
      tokens.push_back(req.get_param_value("WebIdentityToken"));
      EXPECT_EQ(req.get_param_value("Action"), "AssumeRoleWithWebIdentity");
      EXPECT_EQ(req.get_param_value("Version"), "2011-06-15");
      EXPECT_EQ(req.get_param_value("RoleArn"), "arn:aws:iam::123456789012:role/jobgate");
      session_names.push_back(req.get_param_value("RoleSessionName"));
      EXPECT_FALSE(req.has_header("Authorization"));  // unsigned: the token is the proof
      if (fail) {
        res.status = 400;
        res.set_content(kStsError, "text/xml");
      } else {
        res.set_content(StsSuccess("ASIAWEB" + std::to_string(server.hits())), "text/xml");
      }
    });
    server.Start();
  }
  std::unique_ptr<CredentialSource> Source(const std::string& session_name = "") {
    return MakeWebIdentitySource({token_file, "arn:aws:iam::123456789012:role/jobgate", session_name, server.url(),
                                  "environment"},
                                 Deps(clock));
  }
  ManualClock clock{kStart};
  TempDir dir;
  std::string token_file;
  LocalServer server;
  std::vector<std::string> tokens, session_names;
  bool fail = false;
};

TEST(CredentialsWebIdentity, AssumesTheRoleAndRereadsTheTokenFileOnEachFetch) {
  WebIdentityFixture f;
  auto source = f.Source();
  Result<TimedCredentials> first = FetchChecked(*source);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->credentials.access_key_id, "ASIAWEB1");
  EXPECT_EQ(first->credentials.session_token, kSessionToken);
  EXPECT_EQ(first->expires_at_ms, kStart + 3'600'000);
  f.dir.Write("token", std::string(kWebIdentityToken) + "2");  // EKS rotated it
  ASSERT_TRUE(FetchChecked(*source).ok());
  EXPECT_EQ(f.tokens, (std::vector<std::string>{std::string(kWebIdentityToken) + "1",
                                                std::string(kWebIdentityToken) + "2"}));
  EXPECT_EQ(f.session_names[0], "jobgate-1700000000000");  // generated when not configured
}

TEST(CredentialsWebIdentity, UsesTheConfiguredSessionName) {
  WebIdentityFixture f;
  ASSERT_TRUE(FetchChecked(*f.Source("nightly")).ok());
  EXPECT_EQ(f.session_names, std::vector<std::string>{"nightly"});
}

TEST(CredentialsWebIdentity, StsErrorIsUnavailableWithCodeAndNoToken) {
  WebIdentityFixture f;
  f.fail = true;
  Result<TimedCredentials> r = FetchChecked(*f.Source());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(ErrorOf(r).find("InvalidIdentityToken: Incorrect token audience"), std::string::npos) << ErrorOf(r);
  EXPECT_NE(ErrorOf(r).find("role arn:aws:iam::123456789012:role/jobgate"), std::string::npos) << ErrorOf(r);
}

TEST(CredentialsWebIdentity, MissingTokenFileNamesIt) {
  WebIdentityFixture f;
  f.token_file = (f.dir.path() / "absent").string();
  Result<TimedCredentials> r = FetchChecked(*f.Source());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(ErrorOf(r).find("cannot read the web identity token file " + f.token_file), std::string::npos)
      << ErrorOf(r);
  EXPECT_EQ(f.server.hits(), 0);
}

TEST(CredentialsWebIdentity, StsDownFailsFast) {
  ManualClock clock{kStart};
  TempDir dir;
  auto source = MakeWebIdentitySource({dir.Write("token", kWebIdentityToken), "arn:aws:iam::1:role/r", "",
                                       "http://127.0.0.1:" + std::to_string(ClosedPort()), "environment"},
                                      Deps(clock));
  const auto start = std::chrono::steady_clock::now();
  Result<TimedCredentials> r = FetchChecked(*source);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(ErrorOf(r).find("connection refused"), std::string::npos) << ErrorOf(r);
}

// ---- credential_process -------------------------------------------------------------------

std::string ProcessJson(const std::string& expiration_field) {
  return std::string(R"({"Version": 1, "AccessKeyId": "ASIAPROC", "SecretAccessKey": ")") + kSecretKey +
         R"(", "SessionToken": ")" + kSessionToken + "\"" + expiration_field + "}";
}

std::string Script(const TempDir& dir, const std::string& body) {
  return dir.Write("helper.sh", "#!/bin/sh\n" + body, fs::perms::owner_all);
}

Result<TimedCredentials> RunProcess(const std::string& command, Environment env = {}) {
  auto source = MakeProcessSource({command, "batch", std::move(env)});
  EXPECT_EQ(source->Describe(), "credential_process of profile batch");
  return FetchChecked(*source);
}

TEST(CredentialsProcess, ParsesTheDocumentWithArgumentsAndEnvironment) {
  TempDir dir;
  const std::string script = Script(dir,
                                    "[ \"$1\" = '--name' ] && [ \"$2\" = 'two words' ] && [ \"$JG_X\" = y ] || exit 3\n"
                                    "cat <<'EOF'\n" + ProcessJson(R"(, "Expiration": "2023-11-14T23:13:20Z")") + "\nEOF\n");
  Result<TimedCredentials> r = RunProcess("'" + script + "' --name \"two words\"", {{"JG_X", "y"}});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->credentials.access_key_id, "ASIAPROC");
  EXPECT_EQ(r->credentials.secret_access_key, kSecretKey);
  EXPECT_EQ(r->credentials.session_token, kSessionToken);
  EXPECT_EQ(r->expires_at_ms, kStart + 3'600'000);
}

TEST(CredentialsProcess, WithoutExpirationTheCredentialsAreLongTerm) {
  TempDir dir;
  Result<TimedCredentials> r = RunProcess(Script(dir, "echo '" + ProcessJson("") + "'\n"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->expires_at_ms, std::nullopt);
}

TEST(CredentialsProcess, NonZeroExitIsAnErrorNamingTheProfileNotTheOutput) {
  TempDir dir;
  Result<TimedCredentials> r =
      RunProcess(Script(dir, "echo '" + ProcessJson("") + "'\necho " + kSessionToken + " >&2\nexit 1\n"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(ErrorOf(r), "credential_process of profile batch: the command exited with status 1");
}

TEST(CredentialsProcess, BadJsonOrVersionIsAnErrorThatQuotesNothing) {
  TempDir dir;
  for (const std::string& out : {std::string("not json ") + kSecretKey,
                                 std::string(R"({"Version": 2, "AccessKeyId": "A", "SecretAccessKey": ")") + kSecretKey + "\"}",
                                 std::string(R"({"Version": 1, "AccessKeyId": "A"})"),
                                 ProcessJson(R"(, "Expiration": "tomorrow")")}) {
    Result<TimedCredentials> r = RunProcess(Script(dir, "cat <<'EOF'\n" + out + "\nEOF\n"));
    ASSERT_FALSE(r.ok()) << out;
    EXPECT_EQ(ErrorOf(r).find("credential_process of profile batch: "), 0u) << ErrorOf(r);
  }
}

TEST(CredentialsProcess, AHungCommandIsKilledAtItsTimeout) {
  TempDir dir;
  ProcessSettings settings{Script(dir, "exec sleep 30\n"), "batch", {}};
  settings.timeout_ms = 300;
  auto source = MakeProcessSource(settings);
  const auto start = std::chrono::steady_clock::now();
  Result<TimedCredentials> r = source->Fetch();
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(ErrorOf(r).find("did not finish within 300 ms and was killed"), std::string::npos) << ErrorOf(r);
  EXPECT_LT(took, std::chrono::seconds(10));
}

TEST(CredentialsProcess, MissingCommandAndBadQuotingAreErrors) {
  Result<TimedCredentials> missing = RunProcess("/nonexistent/helper --x");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(ErrorOf(missing).find("cannot run /nonexistent/helper"), std::string::npos) << ErrorOf(missing);
  Result<TimedCredentials> quoting = RunProcess("helper 'unterminated");
  ASSERT_FALSE(quoting.ok());
  EXPECT_EQ(quoting.status().code(), StatusCode::kInvalidArgument);
}

TEST(CredentialsProcess, SplitsCommandLinesLikeAShell) {
  auto words = SplitCommandLine(R"(  /bin/tool  --a 'b c' "d \"e\" \\f" g\ h ''  )");
  ASSERT_TRUE(words.ok());
  EXPECT_EQ(*words, (std::vector<std::string>{"/bin/tool", "--a", "b c", "d \"e\" \\f", "g h", ""}));
  EXPECT_FALSE(SplitCommandLine("\"open").ok());
}

// ---- SSO -------------------------------------------------------------------------------

struct SsoFixture {
  SsoFixture() {
    server.server().Get("/federation/credentials", [this](const httplib::Request& req, httplib::Response& res) {
      server.Hit();
      EXPECT_EQ(req.get_param_value("role_name"), "ReadOnly");
      EXPECT_EQ(req.get_param_value("account_id"), "123456789012");
      if (req.get_header_value("x-amz-sso_bearer_token") != kSsoAccessToken) {
        res.status = 401;
        res.set_content(R"({"message":"Session token not found or invalid"})", "application/json");
        return;
      }
      res.status = status;
      res.set_content(body, "application/json");
    });
    server.server().Post("/oidc/token", [this](const httplib::Request& req, httplib::Response& res) {
      ++oidc_calls;
      oidc_requests.push_back(nlohmann::json::parse(req.body, nullptr, false));
      res.status = oidc_status;
      res.set_content(oidc_body, "application/json");
    });
    server.Start();
  }
  std::string CachePath() {
    auto name = SsoCacheFileName("my-sso");
    EXPECT_TRUE(name.ok()) << name.status().ToString();
    return (dir.path() / "cache" / (name.ok() ? *name : std::string())).string();
  }
  // `refresh`: the fields `aws sso login` caches for an [sso-session] profile.
  void WriteToken(const std::string& expires_at, const std::string& token = kSsoAccessToken,
                  const std::string& refresh = "") {
    auto name = SsoCacheFileName("my-sso");
    ASSERT_TRUE(name.ok()) << name.status().ToString();
    dir.Write("cache/" + *name, R"({"startUrl": "https://d-123.awsapps.com/start", "region": "us-east-1",
      "accessToken": ")" + token + R"(", "expiresAt": ")" + expires_at + "\"" + refresh + "}");
  }
  Result<TimedCredentials> Fetch() {
    if (!source) {
      source = MakeSsoSource({"dev", "my-sso", "123456789012", "ReadOnly", (dir.path() / "cache").string(),
                              server.url(), legacy ? "" : server.url() + "/oidc"},
                             Deps(clock));
    }
    return FetchChecked(*source);
  }
  ManualClock clock{kStart};
  TempDir dir;
  LocalServer server;
  bool legacy = false;  // the legacy format (no refresh) rather than [sso-session]
  std::unique_ptr<CredentialSource> source;
  int oidc_calls = 0;
  std::vector<nlohmann::json> oidc_requests;
  int oidc_status = 200;
  std::string oidc_body = std::string(R"({"accessToken": ")") + kSsoAccessToken +
                          R"(", "expiresIn": 28800, "refreshToken": "ROTATEDrefresh", "tokenType": "Bearer"})";
  int status = 200;
  std::string body = std::string(R"({"roleCredentials": {"accessKeyId": "ASIASSO", "secretAccessKey": ")") +
                     kSecretKey + R"(", "sessionToken": ")" + kSessionToken + R"(", "expiration": 1700003600000}})";
};

TEST(CredentialsSso, CacheFileIsTheSha1OfTheSessionName) {
  auto name = SsoCacheFileName("abc");
  ASSERT_TRUE(name.ok()) << name.status().ToString();
  EXPECT_EQ(*name, "a9993e364706816aba3e25717850c26c9cd0d89d.json");
}

TEST(CredentialsSso, ExchangesTheCachedTokenForRoleCredentials) {
  SsoFixture f;
  f.WriteToken(kInOneHour);
  Result<TimedCredentials> r = f.Fetch();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->credentials.access_key_id, "ASIASSO");
  EXPECT_EQ(r->credentials.session_token, kSessionToken);
  EXPECT_EQ(r->expires_at_ms, kStart + 3'600'000);
}

TEST(CredentialsSso, ExpiredTokenSaysRunAwsSsoLoginWithoutCallingThePortal) {
  SsoFixture f;
  f.WriteToken("2023-11-14T22:13:19Z");
  Result<TimedCredentials> r = f.Fetch();
  ASSERT_FALSE(r.ok());
  EXPECT_NE(ErrorOf(r).find("the SSO session has expired"), std::string::npos) << ErrorOf(r);
  EXPECT_NE(ErrorOf(r).find("run `aws sso login --profile dev`"), std::string::npos) << ErrorOf(r);
  EXPECT_EQ(f.server.hits(), 0);
}

TEST(CredentialsSso, MissingCacheRefusedTokenAndPortalErrorsAreClear) {
  SsoFixture f;
  Result<TimedCredentials> missing = f.Fetch();
  EXPECT_NE(ErrorOf(missing).find("cannot read the SSO token cache"), std::string::npos) << ErrorOf(missing);
  EXPECT_NE(ErrorOf(missing).find("aws sso login --profile dev"), std::string::npos) << ErrorOf(missing);

  f.WriteToken(kInOneHour, "someOTHERtokenWHICHisREVOKED");
  Result<TimedCredentials> refused = f.Fetch();
  EXPECT_NE(ErrorOf(refused).find("refused the cached access token (HTTP 401)"), std::string::npos)
      << ErrorOf(refused);
  EXPECT_EQ(ErrorOf(refused).find("someOTHERtokenWHICHisREVOKED"), std::string::npos);

  f.WriteToken(kInOneHour);
  f.status = 500;
  f.body = "internal error";
  EXPECT_NE(ErrorOf(f.Fetch()).find("HTTP 500: internal error"), std::string::npos);
  f.status = 200;
  f.body = "{}";
  EXPECT_NE(ErrorOf(f.Fetch()).find("not JSON with roleCredentials"), std::string::npos);
}

constexpr const char* kRefreshFields =
    R"(, "refreshToken": "REFRESHsecretTOKEN", "clientId": "client-1", "clientSecret": "CLIENTsecretXYZ",
      "registrationExpiresAt": "2024-02-01T00:00:00Z")";

nlohmann::json ReadJsonFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return nlohmann::json::parse(text.str(), nullptr, false);
}

// Within 5 minutes of its expiry an [sso-session] token is refreshed with
// SSO OIDC CreateToken; the new token is used and written back to the cache,
// the other fields kept, owner-only.
TEST(CredentialsSso, ATokenNearItsExpiryIsRefreshedAndWrittenBack) {
  SsoFixture f;
  f.WriteToken("2023-11-14T22:17:20Z", "oldTOKENsoonEXPIRED", kRefreshFields);  // 4 minutes left
  Result<TimedCredentials> r = f.Fetch();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->credentials.access_key_id, "ASIASSO");
  ASSERT_EQ(f.oidc_calls, 1);
  const nlohmann::json& sent = f.oidc_requests.at(0);
  EXPECT_EQ(sent.value("grantType", ""), "refresh_token");
  EXPECT_EQ(sent.value("refreshToken", ""), "REFRESHsecretTOKEN");
  EXPECT_EQ(sent.value("clientId", ""), "client-1");
  EXPECT_EQ(sent.value("clientSecret", ""), "CLIENTsecretXYZ");

  const nlohmann::json cache = ReadJsonFile(f.CachePath());
  EXPECT_EQ(cache.value("accessToken", ""), kSsoAccessToken);
  EXPECT_EQ(cache.value("expiresAt", ""), "2023-11-15T06:13:20Z");  // kStart + 28800 s
  EXPECT_EQ(cache.value("refreshToken", ""), "ROTATEDrefresh");
  EXPECT_EQ(cache.value("clientId", ""), "client-1");
  EXPECT_EQ(cache.value("startUrl", ""), "https://d-123.awsapps.com/start");
  struct stat st {};
  ASSERT_EQ(stat(f.CachePath().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  // The written token is good for 8 hours: the next fetch reads it, no call.
  ASSERT_TRUE(f.Fetch().ok());
  EXPECT_EQ(f.oidc_calls, 1);
}

// An expired token is refreshed too; a refresh that fails uses a token
// that is still valid, and after expiry says why, without quoting secrets.
// At most one CreateToken every 30 seconds.
TEST(CredentialsSso, AFailedRefreshUsesAValidTokenAndExplainsAnExpiredOne) {
  SsoFixture f;
  f.WriteToken("2023-11-14T22:13:00Z", "oldTOKENexpired", kRefreshFields);
  ASSERT_TRUE(f.Fetch().ok());
  EXPECT_EQ(f.oidc_calls, 1);

  f.oidc_status = 400;
  f.oidc_body = R"({"error": "invalid_grant", "error_description": "REFRESHsecretTOKEN is revoked"})";
  f.clock.Advance(60'000);
  f.WriteToken("2023-11-14T22:15:20Z", kSsoAccessToken, kRefreshFields);  // 1 minute left
  Result<TimedCredentials> still_valid = f.Fetch();
  ASSERT_TRUE(still_valid.ok()) << still_valid.status().ToString();
  EXPECT_EQ(f.oidc_calls, 2);

  f.clock.Advance(20'000);  // 40 s left, but the last refresh was 20 s ago
  ASSERT_TRUE(f.Fetch().ok());
  EXPECT_EQ(f.oidc_calls, 2);

  f.clock.Advance(60'000);  // expired
  Result<TimedCredentials> expired = f.Fetch();
  ASSERT_FALSE(expired.ok());
  EXPECT_EQ(f.oidc_calls, 3);
  EXPECT_NE(ErrorOf(expired).find("the SSO session has expired and its refresh failed: SSO OIDC CreateToken: HTTP 400"),
            std::string::npos)
      << ErrorOf(expired);
  EXPECT_NE(ErrorOf(expired).find("aws sso login --profile dev"), std::string::npos) << ErrorOf(expired);
  EXPECT_EQ(ErrorOf(expired).find("REFRESHsecretTOKEN"), std::string::npos) << ErrorOf(expired);
  EXPECT_EQ(ErrorOf(expired).find("CLIENTsecretXYZ"), std::string::npos) << ErrorOf(expired);
}

// No refresh for the legacy format, a cache without a refresh token, or a
// client registration that has expired: the token is used until it expires.
TEST(CredentialsSso, NoRefreshWithoutWhatItNeeds) {
  SsoFixture legacy;
  legacy.legacy = true;
  legacy.WriteToken("2023-11-14T22:13:00Z", "oldTOKENexpired", kRefreshFields);
  EXPECT_NE(ErrorOf(legacy.Fetch()).find("the SSO session has expired (token cache"), std::string::npos);
  EXPECT_EQ(legacy.oidc_calls, 0);

  SsoFixture no_refresh_token;
  no_refresh_token.WriteToken("2023-11-14T22:14:20Z");  // 1 minute left, nothing to refresh with
  EXPECT_TRUE(no_refresh_token.Fetch().ok());
  EXPECT_EQ(no_refresh_token.oidc_calls, 0);

  SsoFixture registration_expired;
  registration_expired.clock.Set(1'710'000'000'000);  // 2024-03-09, after registrationExpiresAt
  registration_expired.WriteToken("2024-03-09T16:00:00Z", "oldTOKENexpired", kRefreshFields);
  EXPECT_FALSE(registration_expired.Fetch().ok());
  EXPECT_EQ(registration_expired.oidc_calls, 0);
}

// ---- container -----------------------------------------------------------------------------

struct ContainerFixture {
  ContainerFixture() {
    server.server().Get("/creds", [this](const httplib::Request& req, httplib::Response& res) {
      server.Hit();
      authorizations.push_back(req.get_header_value("Authorization"));
      res.status = status;
      // A broken agent that echoes the header must not get it into our message.
      res.set_content(status == 200 ? body : "denied for " + req.get_header_value("Authorization"), "text/plain");
    });
    server.Start();
  }
  Result<TimedCredentials> Fetch(const std::string& token_file, const std::string& token) {
    auto source = MakeContainerSource(
        {server.url() + "/creds", "AWS_CONTAINER_CREDENTIALS_FULL_URI", token_file, token}, Deps(clock));
    return FetchChecked(*source);
  }
  ManualClock clock{kStart};
  TempDir dir;
  LocalServer server;
  int status = 200;
  std::string body = CredentialsJson("ASIACONTAINER", kInOneHour);
  std::vector<std::string> authorizations;
};

TEST(CredentialsContainer, SendsTheTokenFromTheFileRereadOnEachFetch) {
  ContainerFixture f;
  const std::string file = f.dir.Write("auth", std::string(kContainerToken) + "A\n");
  Result<TimedCredentials> r = f.Fetch(file, "ignored-when-a-file-is-set");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->credentials.access_key_id, "ASIACONTAINER");
  EXPECT_EQ(r->credentials.session_token, kSessionToken);
  EXPECT_EQ(r->expires_at_ms, kStart + 3'600'000);
  f.dir.Write("auth", std::string(kContainerToken) + "B");
  ASSERT_TRUE(f.Fetch(file, "").ok());
  EXPECT_EQ(f.authorizations,
            (std::vector<std::string>{std::string(kContainerToken) + "A", std::string(kContainerToken) + "B"}));
}

TEST(CredentialsContainer, SendsTheTokenVariableOrNothing) {
  ContainerFixture f;
  ASSERT_TRUE(f.Fetch("", kContainerToken).ok());
  ASSERT_TRUE(f.Fetch("", "").ok());
  EXPECT_EQ(f.authorizations, (std::vector<std::string>{kContainerToken, ""}));
}

TEST(CredentialsContainer, HttpErrorsAndBadJsonAreUnavailableWithoutTheToken) {
  ContainerFixture f;
  f.status = 403;
  Result<TimedCredentials> denied = f.Fetch("", kContainerToken);
  EXPECT_NE(ErrorOf(denied).find("HTTP 403: (39 bytes, not shown: they mention a secret or a token)"),
            std::string::npos)
      << ErrorOf(denied);
  Result<TimedCredentials> echoed = f.Fetch("", "opaque-0123456789");
  EXPECT_NE(ErrorOf(echoed).find("HTTP 403: denied for [redacted]"), std::string::npos) << ErrorOf(echoed);
  f.status = 200;
  f.body = "{\"AccessKeyId\": ";
  Result<TimedCredentials> bad = f.Fetch("", kContainerToken);
  EXPECT_NE(ErrorOf(bad).find("not a JSON object"), std::string::npos) << ErrorOf(bad);
  EXPECT_EQ(bad.status().code(), StatusCode::kUnavailable);
}

TEST(CredentialsContainer, MissingTokenFileAndDeadAgentFailFast) {
  ContainerFixture f;
  Result<TimedCredentials> no_file = f.Fetch((f.dir.path() / "absent").string(), "");
  EXPECT_NE(ErrorOf(no_file).find("cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"), std::string::npos)
      << ErrorOf(no_file);
  ManualClock clock{kStart};
  const std::string url = "http://127.0.0.1:" + std::to_string(ClosedPort()) + "/creds";
  auto source = MakeContainerSource({url, "AWS_CONTAINER_CREDENTIALS_FULL_URI", "", kContainerToken}, Deps(clock));
  const auto start = std::chrono::steady_clock::now();
  Result<TimedCredentials> down = FetchChecked(*source);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  EXPECT_NE(ErrorOf(down).find("container credentials (AWS_CONTAINER_CREDENTIALS_FULL_URI " + url + ")"),
            std::string::npos)
      << ErrorOf(down);
}

TEST(CredentialsContainer, FullUriAllowsPlainHttpOnlyToLoopbackAndTheAgents) {
  for (const char* ok : {"http://127.0.0.1:8080/creds", "http://127.1.2.3/x", "http://localhost/x",
                         "http://[::1]:80/x", "http://169.254.170.2/v2/credentials", "http://169.254.170.23/v1/x",
                         "http://[fd00:ec2::23]/v1/x", "https://creds.example.com/x", "HTTPS://10.0.0.1/x"}) {
    EXPECT_TRUE(CheckContainerUrl(ok, "AWS_CONTAINER_CREDENTIALS_FULL_URI").ok()) << ok;
  }
  Status bad = CheckContainerUrl("http://10.0.0.1/x", "AWS_CONTAINER_CREDENTIALS_FULL_URI");
  EXPECT_EQ(bad.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.message(),
            "AWS_CONTAINER_CREDENTIALS_FULL_URI \"http://10.0.0.1/x\": plain http is allowed only to loopback or the "
            "ECS/EKS agent addresses");
  for (const char* no : {"http://127.0.0.1.evil.com/x", "http://169.254.170.3/x", "ftp://127.0.0.1/x", "127.0.0.1/x",
                         "http://user@10.0.0.1/x"}) {
    EXPECT_FALSE(CheckContainerUrl(no, "V").ok()) << no;
  }
}

// ---- IMDS ------------------------------------------------------------------------------------

struct ImdsFixture {
  ImdsFixture() {
    auto& s = server.server();
    s.Put("/latest/api/token", [this](const httplib::Request& req, httplib::Response& res) {
      server.Hit();
      EXPECT_EQ(req.get_header_value("X-aws-ec2-metadata-token-ttl-seconds"), "21600");
      res.set_content("IMDSSESSION", "text/plain");
    });
    auto authorized = [](const httplib::Request& req, httplib::Response& res) {
      if (req.get_header_value("X-aws-ec2-metadata-token") == "IMDSSESSION") return true;
      res.status = 401;
      return false;
    };
    s.Get("/latest/meta-data/iam/security-credentials/", [this, authorized](const httplib::Request& req,
                                                                           httplib::Response& res) {
      server.Hit();
      if (!authorized(req, res)) return;
      res.status = role.empty() ? 404 : 200;
      res.set_content(role, "text/plain");
    });
    s.Get("/latest/meta-data/iam/security-credentials/jobgate-role", [this, authorized](const httplib::Request& req,
                                                                                       httplib::Response& res) {
      server.Hit();
      if (authorized(req, res)) res.set_content(document, "text/plain");
    });
    s.Get("/latest/meta-data/placement/region", [this, authorized](const httplib::Request& req, httplib::Response& res) {
      server.Hit();
      if (authorized(req, res)) res.set_content("eu-west-3", "text/plain");
    });
    server.Start();
  }
  Result<TimedCredentials> Fetch(const std::string& endpoint) {
    auto source = MakeImdsSource({endpoint, ""}, Deps(clock));
    return FetchChecked(*source);
  }
  ManualClock clock{kStart};
  LocalServer server;
  std::string role = "jobgate-role";
  std::string document = CredentialsJson("ASIAIMDS", kInOneHour);
};

TEST(CredentialsImds, GetsATokenThenTheRoleThenItsCredentials) {
  ImdsFixture f;
  Result<TimedCredentials> r = f.Fetch(f.server.url());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->credentials.access_key_id, "ASIAIMDS");
  EXPECT_EQ(r->credentials.secret_access_key, kSecretKey);
  EXPECT_EQ(r->credentials.session_token, kSessionToken);
  EXPECT_EQ(r->expires_at_ms, kStart + 3'600'000);
  EXPECT_EQ(f.server.hits(), 3);
}

TEST(CredentialsImds, GivesTheInstanceRegion) {
  ImdsFixture f;
  Result<std::string> region = ImdsRegion(f.server.url(), Deps(f.clock));
  ASSERT_TRUE(region.ok()) << region.status().ToString();
  EXPECT_EQ(*region, "eu-west-3");
}

TEST(CredentialsImds, NoRoleAndBadDocumentsAreClear) {
  ImdsFixture f;
  f.role = "";
  EXPECT_NE(ErrorOf(f.Fetch(f.server.url())).find("HTTP 404 (no IAM role is attached to this instance)"),
            std::string::npos);
  f.role = "jobgate-role";
  f.document = R"({"Code": "AssumeRoleUnauthorizedAccess", "Message": "denied"})";
  EXPECT_NE(ErrorOf(f.Fetch(f.server.url())).find("role jobgate-role: the answer's Code is AssumeRoleUnauthorizedAccess"),
            std::string::npos);
  f.document = "<html>";
  EXPECT_NE(ErrorOf(f.Fetch(f.server.url())).find("not a JSON object"), std::string::npos);
}

TEST(CredentialsImds, NoMetadataServiceFailsFast) {
  ManualClock clock{kStart};
  const auto start = std::chrono::steady_clock::now();
  auto source = MakeImdsSource({"http://127.0.0.1:" + std::to_string(ClosedPort()), "no AWS credentials found; tried: x"},
                               Deps(clock));
  Result<TimedCredentials> r = FetchChecked(*source);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(ErrorOf(r).find("no AWS credentials found; tried: x; EC2 instance metadata http://127.0.0.1:"), 0u)
      << ErrorOf(r);
  EXPECT_NE(ErrorOf(r).find("PUT"), std::string::npos) << ErrorOf(r);
}

TEST(CredentialsImds, AnEndpointThatNeverAnswersTimesOutWithinSeconds) {
  ManualClock clock{kStart};
  SilentListener silent;
  const auto start = std::chrono::steady_clock::now();
  Result<TimedCredentials> r = FetchChecked(*MakeImdsSource({silent.url(), ""}, Deps(clock)));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(4));
  EXPECT_NE(ErrorOf(r).find("timed out"), std::string::npos) << ErrorOf(r);
}

}  // namespace
}  // namespace jobgate
