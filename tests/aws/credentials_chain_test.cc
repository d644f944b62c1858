// The standard credential provider chain through ResolveAwsConfig: which
// source wins, that choosing makes no network call, that the chosen source
// really fetches (local servers and files only; never the real ~/.aws),
// and that a DynamoDB client signs with refreshed credentials.
#include <gtest/gtest.h>

#include "aws/aws_config.h"
#include "aws/credential_sources.h"
#include "aws/credentials_test_support.h"
#include "aws/sigv4.h"
#include "store/dynamodb_client.h"

namespace jobgate {
namespace {

using namespace credentials_test;

constexpr EpochMs kStart = 1'700'000'000'000;  // 2023-11-14T22:13:20Z

// A HOME of our own, every server on 127.0.0.1, and every source's settings
// one call away.
class CredentialsChainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    env_ = {{"HOME", dir_.path().string()}, {"AWS_REGION", "us-east-1"}};
    auto& s = server_.server();
    s.Post("/sts/", [this](const httplib::Request&, httplib::Response& res) {
      Hit("sts");
      res.set_content(Sts(), "text/xml");
    });
    s.Get("/container", [this](const httplib::Request&, httplib::Response& res) {
      Hit("container");
      res.set_content(CredentialsJson("ASIACONTAINER", Expiration()), "application/json");
    });
    s.Put("/imds/latest/api/token", [this](const httplib::Request&, httplib::Response& res) {
      Hit("imds");
      res.set_content("T", "text/plain");
    });
    s.Get("/imds/latest/meta-data/iam/security-credentials/", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("r", "text/plain");
    });
    s.Get("/imds/latest/meta-data/iam/security-credentials/r", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(CredentialsJson("ASIAIMDS" + std::to_string(hits_["imds"]), Expiration()), "text/plain");
    });
    s.Get("/imds/latest/meta-data/placement/region", [this](const httplib::Request&, httplib::Response& res) {
      Hit("imds-region");
      res.set_content("ap-south-1", "text/plain");
    });
    server_.Start();
  }

  void Hit(const std::string& what) {
    std::lock_guard lock(mu_);
    ++hits_[what];
  }
  int Hits(const std::string& what) {
    std::lock_guard lock(mu_);
    return hits_[what];
  }
  std::string Expiration() { return FormatRfc3339(clock_.NowMs() + 3'600'000); }
  std::string Sts() {
    return std::string("<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult><Credentials>"
                       "<AccessKeyId>ASIAWEB</AccessKeyId><SecretAccessKey>") +
           kSecretKey + "</SecretAccessKey><SessionToken>" + kSessionToken + "</SessionToken><Expiration>" +
           Expiration() + "</Expiration></Credentials></AssumeRoleWithWebIdentityResult>"
                          "</AssumeRoleWithWebIdentityResponse>";
  }

  void SetEnvKeys() {
    env_["AWS_ACCESS_KEY_ID"] = "AKIDENV";
    env_["AWS_SECRET_ACCESS_KEY"] = kSecretKey;
  }
  void SetWebIdentity() {
    env_["AWS_WEB_IDENTITY_TOKEN_FILE"] = dir_.Write("token", kWebIdentityToken);
    env_["AWS_ROLE_ARN"] = "arn:aws:iam::123456789012:role/jobgate";
    env_["AWS_ENDPOINT_URL_STS"] = server_.url() + "/sts";
  }
  void SetProfileKeys() {
    dir_.Write(".aws/credentials", std::string("[default]\naws_access_key_id = AKIDFILE\naws_secret_access_key = ") +
                                       kSecretKey + "\n");
  }
  void SetContainer() {
    env_["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = server_.url() + "/container";
    env_["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = kContainerToken;
  }
  void SetImds() { env_["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = server_.url() + "/imds"; }

  Result<AwsConfig> Resolve() {
    Result<AwsConfig> cfg = ResolveAwsConfig(env_, {}, AwsResolveOptions{CurlTransportFactory(), &clock_, &logger_});
    if (!cfg.ok()) ExpectNoSecret(cfg.status().message());
    if (cfg.ok()) ExpectNoSecret(cfg->credentials_source);
    return cfg;
  }
  // The access key id of the first source configured, "error: ..." if none.
  std::string Winner() {
    Result<AwsConfig> cfg = Resolve();
    if (!cfg.ok()) return "error: " + cfg.status().message();
    Result<AwsCredentials> c = cfg->credentials->Get();
    if (!c.ok()) ExpectNoSecret(c.status().message());
    return c.ok() ? c->access_key_id : "error: " + c.status().message();
  }

  TempDir dir_;
  Environment env_;
  ManualClock clock_{kStart};
  CapturingLogger logger_;
  LocalServer server_;
  std::mutex mu_;
  std::map<std::string, int> hits_;
};

TEST_F(CredentialsChainTest, EachSourceWinsOverEveryLaterOne) {
  SetImds();
  EXPECT_EQ(Winner(), "ASIAIMDS1");
  SetContainer();
  EXPECT_EQ(Winner(), "ASIACONTAINER");
  SetProfileKeys();
  EXPECT_EQ(Winner(), "AKIDFILE");
  SetWebIdentity();
  EXPECT_EQ(Winner(), "ASIAWEB");
  SetEnvKeys();
  EXPECT_EQ(Winner(), "AKIDENV");
  // Each later source was only asked while nothing before it was configured.
  EXPECT_EQ(Hits("imds"), 1);
  EXPECT_EQ(Hits("container"), 1);
  EXPECT_EQ(Hits("sts"), 1);
}

TEST_F(CredentialsChainTest, ResolvingMakesNoNetworkCallTheFirstGetDoes) {
  SetWebIdentity();
  Result<AwsConfig> cfg = Resolve();
  ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
  EXPECT_EQ(Hits("sts"), 0);
  EXPECT_NE(cfg->credentials_source.find("web identity (role arn:aws:iam::123456789012:role/jobgate"),
            std::string::npos)
      << cfg->credentials_source;
  ASSERT_TRUE(cfg->credentials->Get().ok());
  EXPECT_EQ(Hits("sts"), 1);
}

TEST_F(CredentialsChainTest, ProfileSourcesInOrderKeysThenProcessThenSso) {
  const std::string script = dir_.Write("proc.sh", std::string("#!/bin/sh\necho '{\"Version\": 1, \"AccessKeyId\": "
                                                               "\"ASIAPROC\", \"SecretAccessKey\": \"") +
                                                       kSecretKey + "\"}'\n",
                                        fs::perms::owner_all);
  auto name = SsoCacheFileName("corp");
  ASSERT_TRUE(name.ok());
  dir_.Write(".aws/sso/cache/" + *name,
             std::string(R"({"accessToken": ")") + kSsoAccessToken + R"(", "expiresAt": "2023-11-14T23:00:00Z"})");
  server_.server().Get("/sso/federation/credentials", [](const httplib::Request& req, httplib::Response& res) {
    EXPECT_EQ(req.get_header_value("x-amz-sso_bearer_token"), kSsoAccessToken);
    res.set_content(std::string(R"({"roleCredentials": {"accessKeyId": "ASIASSO", "secretAccessKey": ")") +
                        kSecretKey + R"(", "sessionToken": "t", "expiration": 1700003600000}})",
                    "application/json");
  });
  env_["AWS_ENDPOINT_URL_SSO"] = server_.url() + "/sso";
  env_["AWS_PROFILE"] = "dev";
  env_["AWS_EC2_METADATA_DISABLED"] = "true";
  const std::string sso = "sso_session = corp\nsso_account_id = 123456789012\nsso_role_name = ReadOnly\n"
                          "[sso-session corp]\nsso_region = us-east-1\nsso_start_url = https://d-1.awsapps.com/start\n";
  dir_.Write(".aws/config", "[profile dev]\n" + sso);
  EXPECT_EQ(Winner(), "ASIASSO");
  dir_.Write(".aws/config", "[profile dev]\ncredential_process = " + script + "\n" + sso);
  EXPECT_EQ(Winner(), "ASIAPROC");
  dir_.Write(".aws/credentials", std::string("[dev]\naws_access_key_id = AKIDDEV\naws_secret_access_key = ") +
                                     kSecretKey + "\n");
  EXPECT_EQ(Winner(), "AKIDDEV");
}

// An [sso-session] profile's token near its expiry is refreshed at
// AWS_ENDPOINT_URL_SSO_OIDC before the portal is asked.
TEST_F(CredentialsChainTest, SsoSessionTokenIsRefreshedAtTheOidcEndpoint) {
  auto name = SsoCacheFileName("corp");
  ASSERT_TRUE(name.ok());
  dir_.Write(".aws/sso/cache/" + *name,
             R"({"accessToken": "oldTOKEN", "expiresAt": ")" + FormatRfc3339(clock_.NowMs() + 60'000) +
                 R"(", "refreshToken": "r", "clientId": "c", "clientSecret": "s"})");
  int refreshes = 0;
  server_.server().Post("/oidc/token", [&](const httplib::Request&, httplib::Response& res) {
    ++refreshes;
    res.set_content(std::string(R"({"accessToken": ")") + kSsoAccessToken + R"(", "expiresIn": 3600})",
                    "application/json");
  });
  server_.server().Get("/sso/federation/credentials", [](const httplib::Request& req, httplib::Response& res) {
    res.status = req.get_header_value("x-amz-sso_bearer_token") == kSsoAccessToken ? 200 : 401;
    res.set_content(std::string(R"({"roleCredentials": {"accessKeyId": "ASIASSO", "secretAccessKey": ")") +
                        kSecretKey + R"(", "sessionToken": "t", "expiration": 1700003600000}})",
                    "application/json");
  });
  env_["AWS_ENDPOINT_URL_SSO"] = server_.url() + "/sso";
  env_["AWS_ENDPOINT_URL_SSO_OIDC"] = server_.url() + "/oidc/";
  env_["AWS_PROFILE"] = "dev";
  env_["AWS_EC2_METADATA_DISABLED"] = "true";
  dir_.Write(".aws/config", "[profile dev]\nsso_session = corp\nsso_account_id = 123456789012\n"
                            "sso_role_name = ReadOnly\n[sso-session corp]\nsso_region = us-east-1\n");
  EXPECT_EQ(Winner(), "ASIASSO");
  EXPECT_EQ(refreshes, 1);
}

TEST_F(CredentialsChainTest, LegacySsoProfileAndMissingSsoSettings) {
  env_["AWS_EC2_METADATA_DISABLED"] = "true";
  dir_.Write(".aws/config", "[default]\nsso_start_url = https://d-1.awsapps.com/start\nsso_region = us-east-1\n"
                            "sso_account_id = 1\n");
  Result<AwsConfig> missing = Resolve();
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(missing.status().message().find("sets SSO but not sso_role_name"), std::string::npos)
      << missing.status().message();
  dir_.Write(".aws/config", "[default]\nsso_session = nowhere\n");
  EXPECT_NE(Winner().find("no [sso-session nowhere] section"), std::string::npos);
  dir_.Write(".aws/config", "[default]\nsso_start_url = https://d-1.awsapps.com/start\nsso_region = us-east-1\n"
                            "sso_account_id = 1\nsso_role_name = R\n");
  // The legacy form keys its cache by the start URL; there is none here.
  auto name = SsoCacheFileName("https://d-1.awsapps.com/start");
  ASSERT_TRUE(name.ok());
  EXPECT_NE(Winner().find(*name), std::string::npos);
}

TEST_F(CredentialsChainTest, ProfileWebIdentityRoleIsSupported) {
  env_["AWS_EC2_METADATA_DISABLED"] = "true";
  env_["AWS_ENDPOINT_URL_STS"] = server_.url() + "/sts";
  dir_.Write(".aws/config", "[default]\nrole_arn = arn:aws:iam::1:role/r\nweb_identity_token_file = " +
                                dir_.Write("tok", kWebIdentityToken) + "\n");
  EXPECT_EQ(Winner(), "ASIAWEB");
}

TEST_F(CredentialsChainTest, IncompleteWebIdentityAndBadContainerUriAreConfigurationErrors) {
  env_["AWS_WEB_IDENTITY_TOKEN_FILE"] = "/var/run/token";
  Result<AwsConfig> web = Resolve();
  ASSERT_FALSE(web.ok());
  EXPECT_EQ(web.status().message(), "the environment sets AWS_WEB_IDENTITY_TOKEN_FILE but not AWS_ROLE_ARN");
  env_.erase("AWS_WEB_IDENTITY_TOKEN_FILE");
  env_["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = "http://10.0.0.1/x";
  Result<AwsConfig> container = Resolve();
  ASSERT_FALSE(container.ok());
  EXPECT_EQ(container.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(container.status().message().find("plain http is allowed only to loopback"), std::string::npos);
}

TEST_F(CredentialsChainTest, RelativeUriGoesToTheEcsAgent) {
  env_["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"] = "/v2/credentials/abc";
  env_["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = server_.url() + "/container";  // RELATIVE_URI wins
  Result<AwsConfig> cfg = Resolve();
  ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
  EXPECT_EQ(cfg->credentials_source,
            "container credentials (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI http://169.254.170.2/v2/credentials/abc)");
}

TEST_F(CredentialsChainTest, NothingConfiguredListsEverySourceTried) {
  env_["AWS_EC2_METADATA_DISABLED"] = "TRUE";
  Result<AwsConfig> cfg = Resolve();
  ASSERT_FALSE(cfg.ok());
  EXPECT_EQ(cfg.status().code(), StatusCode::kUnavailable);
  const std::string& m = cfg.status().message();
  for (const char* source : {"AWS_ACCESS_KEY_ID", "web identity", "shared credentials file", "config file",
                             "container credentials", "EC2 instance metadata (disabled by AWS_EC2_METADATA_DISABLED)",
                             "aws configure export-credentials"}) {
    EXPECT_NE(m.find(source), std::string::npos) << source << " in " << m;
  }
}

TEST_F(CredentialsChainTest, ImdsFailureListsEverySourceTriedToo) {
  env_["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = "http://127.0.0.1:" + std::to_string(ClosedPort());
  const std::string m = Winner();
  EXPECT_EQ(m.find("error: no AWS credentials found; tried: environment variables"), 0u) << m;
  EXPECT_NE(m.find("container credentials (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and _FULL_URI not set); EC2 "
                   "instance metadata http://127.0.0.1:"),
            std::string::npos)
      << m;
}

TEST_F(CredentialsChainTest, RegionComesFromImdsWhenNothingElseGivesOne) {
  SetEnvKeys();
  SetImds();
  env_.erase("AWS_REGION");
  Result<AwsConfig> cfg = Resolve();
  ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
  EXPECT_EQ(cfg->region, "ap-south-1");
  EXPECT_EQ(cfg->endpoint_url, "https://dynamodb.ap-south-1.amazonaws.com");
  env_["AWS_REGION"] = "eu-west-1";
  ASSERT_TRUE(Resolve().ok());
  EXPECT_EQ(Hits("imds-region"), 1);  // asked only when nothing else named a region
  env_.erase("AWS_REGION");
  env_["AWS_EC2_METADATA_DISABLED"] = "true";
  Result<AwsConfig> none = Resolve();
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("no AWS region"), std::string::npos);
}

// ---- assumed roles (STS AssumeRole) ------------------------------------------------------

// An STS that checks each AssumeRole's SigV4 signature by signing the
// request it received again, and answers with credentials named after the
// role (the role "arn:aws:iam::1:role/NAME" gets access key id "ASIA-NAME").
class AssumeRoleTest : public CredentialsChainTest {
 protected:
  void SetUp() override {
    CredentialsChainTest::SetUp();
    sts_.server().Post("/", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mu_);
      calls_.push_back(req.get_param_value("RoleArn") + " signed by " + SignerKeyId(req));
      if (req.get_param_value("RoleArn").ends_with("/denied")) {
        res.status = 403;
        res.set_content("<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>User is not "
                        "authorized to perform: sts:AssumeRole</Message></Error></ErrorResponse>",
                        "text/xml");
        return;
      }
      const std::string role = req.get_param_value("RoleArn").substr(req.get_param_value("RoleArn").rfind('/') + 1);
      session_names_.push_back(req.get_param_value("RoleSessionName"));
      external_ids_.push_back(req.get_param_value("ExternalId"));
      res.set_content("<AssumeRoleResponse><AssumeRoleResult><Credentials><AccessKeyId>ASIA-" + role +
                          "</AccessKeyId><SecretAccessKey>" + kSecretKey + "</SecretAccessKey><SessionToken>" +
                          kSessionToken + "</SessionToken><Expiration>" + FormatRfc3339(kStart + 3'600'000) +
                          "</Expiration></Credentials></AssumeRoleResult></AssumeRoleResponse>",
                      "text/xml");
    });
    sts_.Start();
    env_["AWS_ENDPOINT_URL_STS"] = sts_.url();
    env_["AWS_EC2_METADATA_DISABLED"] = "true";
  }

  // The key id of the request's signature, after checking the signature:
  // "bad signature" if it is not what SigV4 gives for what arrived.
  std::string SignerKeyId(const httplib::Request& req) {
    const std::string auth = req.get_header_value("Authorization");
    const size_t at = auth.find("Credential=");
    if (at == std::string::npos) return "nobody";
    const std::string key_id = auth.substr(at + 11, auth.find('/', at) - at - 11);
    SigningRequest signing;
    signing.method = "POST";
    signing.path = "/";
    signing.headers = {{"Host", req.get_header_value("Host")}, {"Content-Type", req.get_header_value("Content-Type")}};
    signing.body = req.body;
    SigV4Params params;
    params.region = "us-east-1";
    params.service = "sts";
    params.amz_date = req.get_header_value("X-Amz-Date");
    // The secret of every key in these tests is kSecretKey; a session token
    // is sent with temporary ones.
    AwsCredentials creds{key_id, kSecretKey, req.get_header_value("X-Amz-Security-Token")};
    Result<SigV4Signature> expected = SignRequest(signing, creds, params);
    if (!expected.ok() || expected->authorization != auth) return "bad signature";
    return key_id;
  }

  std::vector<std::string> Calls() {
    std::lock_guard lock(mu_);
    return calls_;
  }

  LocalServer sts_;
  std::vector<std::string> calls_, session_names_, external_ids_;
};

TEST_F(AssumeRoleTest, SourceProfileKeysSignTheAssumeRoleCall) {
  dir_.Write(".aws/credentials", std::string("[base]\naws_access_key_id = AKIDBASE\naws_secret_access_key = ") +
                                     kSecretKey + "\n");
  dir_.Write(".aws/config", "[default]\nrole_arn = arn:aws:iam::1:role/app\nsource_profile = base\n"
                            "role_session_name = nightly\nexternal_id = xyz\nduration_seconds = 1800\n");
  EXPECT_EQ(Winner(), "ASIA-app");
  EXPECT_EQ(Calls(), std::vector<std::string>{"arn:aws:iam::1:role/app signed by AKIDBASE"});
  EXPECT_EQ(session_names_, std::vector<std::string>{"nightly"});
  EXPECT_EQ(external_ids_, std::vector<std::string>{"xyz"});
}

TEST_F(AssumeRoleTest, RolesChainThroughSourceProfiles) {
  dir_.Write(".aws/config", std::string("[default]\nrole_arn = arn:aws:iam::1:role/top\nsource_profile = mid\n"
                                        "[profile mid]\nrole_arn = arn:aws:iam::1:role/mid\nsource_profile = root\n"
                                        "[profile root]\naws_access_key_id = AKIDROOT\naws_secret_access_key = ") +
                                kSecretKey + "\n");
  EXPECT_EQ(Winner(), "ASIA-top");
  EXPECT_EQ(Calls(), (std::vector<std::string>{"arn:aws:iam::1:role/mid signed by AKIDROOT",
                                               "arn:aws:iam::1:role/top signed by ASIA-mid"}));
}

TEST_F(AssumeRoleTest, AProfileThatIsItsOwnSourceUsesItsKeys) {
  dir_.Write(".aws/config", std::string("[default]\nrole_arn = arn:aws:iam::1:role/self\nsource_profile = default\n"
                                        "aws_access_key_id = AKIDSELF\naws_secret_access_key = ") +
                                kSecretKey + "\n");
  EXPECT_EQ(Winner(), "ASIA-self");
  EXPECT_EQ(Calls(), std::vector<std::string>{"arn:aws:iam::1:role/self signed by AKIDSELF"});
}

TEST_F(AssumeRoleTest, CredentialSourceNamesAPlatformSourceToSignWith) {
  SetContainer();  // the profile comes first in the chain, and takes the container's credentials to sign
  dir_.Write(".aws/config", "[default]\nrole_arn = arn:aws:iam::1:role/task\ncredential_source = EcsContainer\n");
  EXPECT_EQ(Winner(), "ASIA-task");
  EXPECT_EQ(Calls(), std::vector<std::string>{"arn:aws:iam::1:role/task signed by ASIACONTAINER"});
  dir_.Write(".aws/config", "[default]\nrole_arn = arn:aws:iam::1:role/ci\ncredential_source = Environment\n");
  EXPECT_NE(Winner().find("the role's source (Environment) has no credentials"), std::string::npos);
  dir_.Write(".aws/config", "[default]\nrole_arn = arn:aws:iam::1:role/ci\ncredential_source = Laptop\n");
  EXPECT_NE(Winner().find("credential_source \"Laptop\" is not one of"), std::string::npos);
}

TEST_F(AssumeRoleTest, LoopsMfaAndStsRefusalsAreClearErrors) {
  dir_.Write(".aws/config", "[default]\nrole_arn = arn:aws:iam::1:role/a\nsource_profile = b\n"
                            "[profile b]\nrole_arn = arn:aws:iam::1:role/b\nsource_profile = default\n");
  EXPECT_NE(Winner().find("source_profile default leads back to a profile already on the way (default -> b)"),
            std::string::npos);
  dir_.Write(".aws/config", "[default]\nrole_arn = arn:aws:iam::1:role/a\nsource_profile = default\n"
                            "mfa_serial = arn:aws:iam::1:mfa/me\n");
  EXPECT_NE(Winner().find("uses mfa_serial"), std::string::npos);
  dir_.Write(".aws/config", "[default]\nrole_arn = arn:aws:iam::1:role/a\n");
  EXPECT_NE(Winner().find("sets role_arn without source_profile, credential_source or web_identity_token_file"),
            std::string::npos);
  dir_.Write(".aws/config", std::string("[default]\nrole_arn = arn:aws:iam::1:role/denied\nsource_profile = k\n"
                                        "[profile k]\naws_access_key_id = AKIDK\naws_secret_access_key = ") +
                                kSecretKey + "\n");
  const std::string denied = Winner();
  EXPECT_NE(denied.find("assumed role arn:aws:iam::1:role/denied (profile default, with credentials from config "
                        "file"),
            std::string::npos)
      << denied;
  EXPECT_NE(denied.find("HTTP 403: AccessDenied: User is not authorized to perform: sts:AssumeRole"),
            std::string::npos)
      << denied;
}

// ---- secrets --------------------------------------------------------------------------------

// A container agent that hands out credentials once, then fails with a
// body quoting every secret it knows; the provider keeps the old
// credentials (logging why) until they expire, then errs. Neither the log
// lines nor the errors may hold a secret.
TEST_F(CredentialsChainTest, NoSecretInAnyErrorOrLogLineAcrossAFailingRefresh) {
  server_.server().Get("/flaky", [this](const httplib::Request& req, httplib::Response& res) {
    Hit("flaky");
    if (Hits("flaky") == 1) {
      res.set_content(CredentialsJson("ASIAFLAKY", Expiration()), "application/json");
      return;
    }
    res.status = 500;
    res.set_content(req.get_header_value("Authorization") + " " + kSecretKey + " " + kSessionToken, "text/plain");
  });
  env_["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = server_.url() + "/flaky";
  env_["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = kContainerToken;
  Result<AwsConfig> cfg = Resolve();
  ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
  ASSERT_TRUE(cfg->credentials->Get().ok());
  clock_.Advance(56 * 60'000);  // 4 minutes left: a refresh is due and fails
  Result<AwsCredentials> kept = cfg->credentials->Get();
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(kept->access_key_id, "ASIAFLAKY");
  clock_.Advance(5 * 60'000);  // expired: the failure is the answer now
  Result<AwsCredentials> failed = cfg->credentials->Get();
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.status().message().find("HTTP 500"), std::string::npos) << failed.status().message();
  ExpectNoSecret(failed.status().message());
  ASSERT_FALSE(logger_.lines().empty());
  for (const std::string& line : logger_.lines()) ExpectNoSecret(line);
  EXPECT_EQ(Hits("flaky"), 3);
}

// ---- refresh through the DynamoDB client -------------------------------------------------

// Answers every DynamoDB request with {} and keeps its Authorization.
class RecordingTransport final : public HttpTransport {
 public:
  HttpResult Send(const HttpRequest& request) override {
    for (const auto& [k, v] : request.headers) {
      if (k == "Authorization") authorizations.push_back(v);
    }
    HttpResponse r;
    r.status = 200;
    r.body = "{}";
    return r;
  }
  std::vector<std::string> authorizations;
};

TEST_F(CredentialsChainTest, DynamoDbClientSignsWithRefreshedCredentials) {
  server_.server().Get("/rotating", [this](const httplib::Request&, httplib::Response& res) {
    Hit("rotating");
    res.set_content(CredentialsJson("ASIAROT" + std::to_string(Hits("rotating")), Expiration()), "application/json");
  });
  env_["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = server_.url() + "/rotating";
  Result<AwsConfig> cfg = Resolve();
  ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
  auto transport = std::make_unique<RecordingTransport>();
  RecordingTransport* sent = transport.get();
  DynamoDbClient client(*cfg, std::move(transport), clock_);
  ASSERT_TRUE(client.Call("GetItem", nlohmann::json::object()).ok());
  clock_.Advance(30 * 60'000);
  ASSERT_TRUE(client.Call("GetItem", nlohmann::json::object()).ok());
  EXPECT_EQ(Hits("rotating"), 1);  // still 30 minutes left
  clock_.Advance(26 * 60'000);      // 4 minutes left: refreshed before the call
  ASSERT_TRUE(client.Call("GetItem", nlohmann::json::object()).ok());
  EXPECT_EQ(Hits("rotating"), 2);
  ASSERT_EQ(sent->authorizations.size(), 3u);
  EXPECT_NE(sent->authorizations[0].find("Credential=ASIAROT1/20231114/"), std::string::npos);
  EXPECT_NE(sent->authorizations[1].find("Credential=ASIAROT1/20231114/"), std::string::npos);
  EXPECT_NE(sent->authorizations[2].find("Credential=ASIAROT2/20231114/"), std::string::npos);
}

TEST_F(CredentialsChainTest, DynamoDbCallWithoutCredentialsIsUnavailableAndNamesTheSource) {
  env_["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = "http://127.0.0.1:" + std::to_string(ClosedPort()) + "/c";
  env_["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = kContainerToken;
  Result<AwsConfig> cfg = Resolve();
  ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
  DynamoDbClient client(*cfg, std::make_unique<RecordingTransport>(), clock_);
  DynamoDbReply reply = client.Call("GetItem", nlohmann::json::object());
  ASSERT_FALSE(reply.ok());
  Status st = ErrorStatus(*reply.error, "GetItem", *cfg);
  EXPECT_EQ(st.code(), StatusCode::kUnavailable);
  EXPECT_NE(st.message().find("DynamoDB GetItem: no AWS credentials: container credentials"), std::string::npos)
      << st.message();
  ExpectNoSecret(st.message());
  for (const std::string& line : logger_.lines()) ExpectNoSecret(line);
}

}  // namespace
}  // namespace jobgate
