// Credential, region and endpoint discovery, with the environment passed
// as a map and the shared files written to a fresh temporary HOME.
#include "aws/aws_config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace jobgate {
namespace {

namespace fs = std::filesystem;

constexpr const char* kEnvSecret = "envSECRETenvSECRETenvSECRET";
constexpr const char* kFileSecret = "fileSECRETfileSECRETfileSECRET";
constexpr const char* kConfigSecret = "cfgSECRETcfgSECRETcfgSECRET";
constexpr const char* kToken = "TOKENtokenTOKENtoken";

// --- INI parser ---------------------------------------------------------

IniFile MustParse(std::string_view text) {
  Result<IniFile> ini = ParseIni(text, "test.ini");
  EXPECT_TRUE(ini.ok()) << ini.status().ToString();
  return ini.ok() ? *ini : IniFile{};
}

TEST(AwsConfigIni, ParsesSectionsCommentsAndWhitespace) {
  IniFile ini = MustParse(
      "# comment\n"
      "; another\n"
      "\n"
      "  [ default ]   # trailing comment\n"
      "Region=eu-west-1\n"
      "output   =   json  \t\n"
      "[profile dev]\n"
      "region = us-west-2 ; inline comment\n"
      "note = a#b;c\n"
      "empty =\n");
  EXPECT_EQ(ini["default"]["region"], "eu-west-1");  // keys are case-insensitive
  EXPECT_EQ(ini["default"]["output"], "json");
  EXPECT_EQ(ini["profile dev"]["region"], "us-west-2");
  EXPECT_EQ(ini["profile dev"]["note"], "a#b;c");  // no whitespace before: not a comment
  EXPECT_EQ(ini["profile dev"]["empty"], "");
}

TEST(AwsConfigIni, IndentedLinesAreSubPropertiesOrContinuations) {
  IniFile ini = MustParse(
      "[services local]\n"
      "dynamodb =\n"
      "  endpoint_url = http://localhost:8000\n"
      "  Other = x\n"
      "s3 = first\n"
      "   second\n"
      "[default]\n"
      "  aws_access_key_id = A\n"
      "  aws_secret_access_key = B\n");
  EXPECT_EQ(ini["services local"]["dynamodb.endpoint_url"], "http://localhost:8000");
  EXPECT_EQ(ini["services local"]["dynamodb.other"], "x");
  EXPECT_EQ(ini["services local"]["s3"], "first\nsecond");
  // Equally indented properties are siblings, not continuations.
  EXPECT_EQ(ini["default"]["aws_access_key_id"], "A");
  EXPECT_EQ(ini["default"]["aws_secret_access_key"], "B");
}

TEST(AwsConfigIni, CrlfRepeatedSectionsMergeAndLastKeyWins) {
  IniFile ini = MustParse("[a]\r\nx = 1\r\ny = 2\r\n[b]\r\nz = 3\r\n[a]\r\nx = 9\r\n");
  EXPECT_EQ(ini["a"]["x"], "9");
  EXPECT_EQ(ini["a"]["y"], "2");
  EXPECT_EQ(ini["b"]["z"], "3");
}

TEST(AwsConfigIni, ErrorsNameTheLineButNeverItsContent) {
  Result<IniFile> ini = ParseIni("[default]\naws_access_key_id = A\naws_secret_access_key SECRETVALUE\n", "creds");
  ASSERT_FALSE(ini.ok());
  EXPECT_EQ(ini.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(ini.status().message().find("creds:3:"), std::string::npos) << ini.status().message();
  EXPECT_EQ(ini.status().message().find("SECRETVALUE"), std::string::npos);
}

TEST(AwsConfigIni, MalformedLinesAreRejected) {
  for (const char* bad : {"x = 1\n", "[default\n", "[]\n", "[a] junk\n", "[a]\n = 1\n", "[a]\nk =\n  no-equals\n"}) {
    Result<IniFile> ini = ParseIni(bad, "f");
    EXPECT_FALSE(ini.ok()) << bad;
  }
}

// --- Fixture: a temporary HOME --------------------------------------------

class AwsConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "jobgate-awscfg-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    home_ = tmpl;
    fs::create_directories(home_ / ".aws");
    // IMDS off: a test never reaches for 169.254.169.254 (credentials_chain_test
    // covers IMDS against a local server).
    env_ = {{"HOME", home_.string()}, {"AWS_EC2_METADATA_DISABLED", "true"}};
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(home_, ec);
  }

  void Write(const fs::path& path, const std::string& text) {
    std::ofstream(path, std::ios::binary) << text;
  }
  void WriteCredentials(const std::string& text) { Write(home_ / ".aws" / "credentials", text); }
  void WriteConfig(const std::string& text) { Write(home_ / ".aws" / "config", text); }
  void SetEnvCredentials() {
    env_["AWS_ACCESS_KEY_ID"] = "AKIDENV";
    env_["AWS_SECRET_ACCESS_KEY"] = kEnvSecret;
  }

  // Resolves and checks that no message, success or not, holds a secret.
  Result<AwsConfig> Resolve(const AwsConfigOverrides& overrides = {}) {
    Result<AwsConfig> cfg = ResolveAwsConfig(env_, overrides);
    std::string text = cfg.ok() ? cfg->credentials_source + cfg->region_source + cfg->endpoint_source
                                : cfg.status().message();
    for (const char* secret : {kEnvSecret, kFileSecret, kConfigSecret, kToken}) {
      EXPECT_EQ(text.find(secret), std::string::npos) << "secret leaked: " << text;
    }
    return cfg;
  }

  fs::path home_;
  Environment env_;
};

// The credentials the resolved provider gives (static sources: no network).
AwsCredentials Creds(const AwsConfig& cfg) {
  Result<AwsCredentials> c = cfg.credentials->Get();
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  return c.ok() ? *c : AwsCredentials{};
}

std::string CredentialsSection(const std::string& name, const std::string& id, const std::string& secret) {
  return "[" + name + "]\naws_access_key_id = " + id + "\naws_secret_access_key = " + secret + "\n";
}

// --- Credentials ----------------------------------------------------------

TEST_F(AwsConfigTest, EnvironmentCredentialsComeFirst) {
  SetEnvCredentials();
  env_["AWS_SESSION_TOKEN"] = kToken;
  env_["AWS_REGION"] = "us-east-1";
  WriteCredentials(CredentialsSection("default", "AKIDFILE", kFileSecret));
  auto cfg = Resolve();
  ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
  EXPECT_EQ(Creds(*cfg).access_key_id, "AKIDENV");
  EXPECT_EQ(Creds(*cfg).secret_access_key, kEnvSecret);
  EXPECT_EQ(Creds(*cfg).session_token, kToken);
  EXPECT_EQ(cfg->credentials_source, "environment");
}

TEST_F(AwsConfigTest, PartialEnvironmentCredentialsNameTheMissingVariable) {
  env_["AWS_SECRET_ACCESS_KEY"] = kEnvSecret;
  env_["AWS_REGION"] = "us-east-1";
  WriteCredentials(CredentialsSection("default", "AKIDFILE", kFileSecret));
  auto cfg = Resolve();
  ASSERT_FALSE(cfg.ok());
  EXPECT_EQ(cfg.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(cfg.status().message().find("AWS_ACCESS_KEY_ID is not"), std::string::npos) << cfg.status().message();
}

TEST_F(AwsConfigTest, EmptyEnvironmentValuesCountAsUnset) {
  env_["AWS_ACCESS_KEY_ID"] = "";
  env_["AWS_SECRET_ACCESS_KEY"] = "";
  env_["AWS_REGION"] = "";
  WriteCredentials(CredentialsSection("default", "AKIDFILE", kFileSecret));
  WriteConfig("[default]\nregion = eu-north-1\n");
  auto cfg = Resolve();
  ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
  EXPECT_EQ(Creds(*cfg).access_key_id, "AKIDFILE");
  EXPECT_EQ(cfg->region, "eu-north-1");
}

TEST_F(AwsConfigTest, DefaultProfileFromSharedCredentialsFile) {
  env_["AWS_REGION"] = "us-east-1";
  WriteCredentials("# mine\n" + CredentialsSection("default", "AKIDFILE", kFileSecret) +
                   "aws_session_token = " + kToken + "\n" + CredentialsSection("other", "AKIDOTHER", "x"));
  auto cfg = Resolve();
  ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
  EXPECT_EQ(cfg->profile, "default");
  EXPECT_EQ(Creds(*cfg).access_key_id, "AKIDFILE");
  EXPECT_EQ(Creds(*cfg).secret_access_key, kFileSecret);
  EXPECT_EQ(Creds(*cfg).session_token, kToken);
  EXPECT_NE(cfg->credentials_source.find((home_ / ".aws" / "credentials").string()), std::string::npos);
}

TEST_F(AwsConfigTest, AwsProfileSelectsTheNamedSectionInBothFiles) {
  env_["AWS_PROFILE"] = "dev";
  WriteCredentials(CredentialsSection("default", "AKIDDEFAULT", "x") + CredentialsSection("dev", "AKIDDEV", kFileSecret));
  WriteConfig("[default]\nregion = us-east-1\n[profile dev]\nregion = ap-southeast-2\n");
  auto cfg = Resolve();
  ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
  EXPECT_EQ(cfg->profile, "dev");
  EXPECT_EQ(Creds(*cfg).access_key_id, "AKIDDEV");
  EXPECT_EQ(cfg->region, "ap-southeast-2");
}

TEST_F(AwsConfigTest, ConfigFileProfilesNeedThePrefixExceptDefault) {
  env_["AWS_PROFILE"] = "dev";
  // "[dev]" in the config file is not a profile (only "[profile dev]" is).
  WriteConfig("[dev]\nregion = us-east-1\n" + CredentialsSection("dev", "AKIDBARE", kConfigSecret) +
              "[profile dev]\nregion = eu-west-3\n");
  auto cfg = Resolve();
  ASSERT_FALSE(cfg.ok());
  EXPECT_EQ(cfg.status().code(), StatusCode::kUnavailable);
}

TEST_F(AwsConfigTest, ConfigFileCredentialsAreUsedAfterTheCredentialsFile) {
  env_["AWS_PROFILE"] = "ci";
  WriteCredentials(CredentialsSection("default", "AKIDDEFAULT", "x"));
  WriteConfig("[profile ci]\nregion = us-east-2\naws_access_key_id = AKIDCFG\naws_secret_access_key = " +
              std::string(kConfigSecret) + "\n");
  auto cfg = Resolve();
  ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
  EXPECT_EQ(Creds(*cfg).access_key_id, "AKIDCFG");
  EXPECT_NE(cfg->credentials_source.find("config file"), std::string::npos);
}

TEST_F(AwsConfigTest, CredentialsFileBeatsConfigFile) {
  WriteCredentials(CredentialsSection("default", "AKIDFILE", kFileSecret));
  WriteConfig("[default]\nregion = us-east-1\naws_access_key_id = AKIDCFG\naws_secret_access_key = " +
              std::string(kConfigSecret) + "\n");
  auto cfg = Resolve();
  ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
  EXPECT_EQ(Creds(*cfg).access_key_id, "AKIDFILE");
}

TEST_F(AwsConfigTest, ProfileDefaultSectionOverridesBareDefault) {
  WriteConfig("[profile default]\nregion = eu-central-1\n[default]\nregion = us-east-1\noutput = json\n" +
              std::string("aws_access_key_id = A\naws_secret_access_key = ") + kConfigSecret + "\n");
  auto cfg = Resolve();
  ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
  EXPECT_EQ(cfg->region, "eu-central-1");
  EXPECT_EQ(Creds(*cfg).access_key_id, "A");
}

TEST_F(AwsConfigTest, FileLocationsComeFromTheEnvironmentWithTildeExpansion) {
  fs::create_directories(home_ / "elsewhere");
  Write(home_ / "elsewhere" / "creds", CredentialsSection("default", "AKIDELSEWHERE", kFileSecret));
  Write(home_ / "elsewhere" / "conf", "[default]\nregion = sa-east-1\n");
  WriteCredentials(CredentialsSection("default", "AKIDHOME", "x"));
  env_["AWS_SHARED_CREDENTIALS_FILE"] = "~/elsewhere/creds";
  env_["AWS_CONFIG_FILE"] = (home_ / "elsewhere" / "conf").string();
  auto cfg = Resolve();
  ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
  EXPECT_EQ(Creds(*cfg).access_key_id, "AKIDELSEWHERE");
  EXPECT_EQ(cfg->region, "sa-east-1");
}

TEST_F(AwsConfigTest, DevNullAsConfigFilesMeansNoFiles) {
  env_["AWS_CONFIG_FILE"] = "/dev/null";
  env_["AWS_SHARED_CREDENTIALS_FILE"] = "/dev/null";
  env_["AWS_ACCESS_KEY_ID"] = "AKIDENV";
  env_["AWS_SECRET_ACCESS_KEY"] = kEnvSecret;
  env_["AWS_REGION"] = "us-east-1";
  auto cfg = Resolve();
  ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
  EXPECT_EQ(Creds(*cfg).access_key_id, "AKIDENV");
}

TEST_F(AwsConfigTest, NoCredentialsIsUnavailableAndListsEverySourceTried) {
  env_["AWS_REGION"] = "us-east-1";
  WriteConfig("[default]\nregion = us-east-1\n");
  auto cfg = Resolve();
  ASSERT_FALSE(cfg.ok());
  EXPECT_EQ(cfg.status().code(), StatusCode::kUnavailable);
  const std::string& msg = cfg.status().message();
  EXPECT_NE(msg.find("AWS_ACCESS_KEY_ID"), std::string::npos) << msg;
  EXPECT_NE(msg.find((home_ / ".aws" / "credentials").string() + " [profile default] (file not found)"),
            std::string::npos) << msg;
  EXPECT_NE(msg.find((home_ / ".aws" / "config").string() + " [profile default] (no aws_access_key_id"),
            std::string::npos) << msg;
}

TEST_F(AwsConfigTest, NoHomeAndNoVariablesMeansNoSharedFiles) {
  env_.erase("HOME");
  SetEnvCredentials();
  env_["AWS_REGION"] = "us-west-1";
  auto cfg = Resolve();
  ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
  env_.erase("AWS_ACCESS_KEY_ID");
  auto missing = Resolve();
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kInvalidArgument);  // partial: secret without id
  env_.erase("AWS_SECRET_ACCESS_KEY");
  missing = Resolve();
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(missing.status().message().find("not located"), std::string::npos) << missing.status().message();
}

TEST_F(AwsConfigTest, RoleArnWithAMissingSourceProfileIsAnError) {
  WriteConfig("[default]\nregion = us-east-1\nrole_arn = arn:aws:iam::1:role/x\nsource_profile = base\n");
  auto cfg = Resolve();
  ASSERT_FALSE(cfg.ok());
  EXPECT_EQ(cfg.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(cfg.status().message().find("[profile default]: source_profile base does not exist"), std::string::npos)
      << cfg.status().message();
}

TEST_F(AwsConfigTest, NamedProfileThatDoesNotExistIsAnError) {
  SetEnvCredentials();
  env_["AWS_REGION"] = "us-east-1";
  env_["AWS_PROFILE"] = "typo";
  WriteCredentials(CredentialsSection("default", "A", kFileSecret));
  auto cfg = Resolve();
  ASSERT_FALSE(cfg.ok());
  EXPECT_EQ(cfg.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(cfg.status().message().find("\"typo\""), std::string::npos) << cfg.status().message();
}

TEST_F(AwsConfigTest, PartialProfileCredentialsAreAnError) {
  WriteCredentials("[default]\naws_access_key_id = A\n");
  WriteConfig("[default]\nregion = us-east-1\n");
  auto cfg = Resolve();
  ASSERT_FALSE(cfg.ok());
  EXPECT_EQ(cfg.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(cfg.status().message().find("aws_secret_access_key is not"), std::string::npos);
}

TEST_F(AwsConfigTest, MalformedSharedFileIsInvalidArgumentNamingTheFile) {
  SetEnvCredentials();
  env_["AWS_REGION"] = "us-east-1";
  WriteConfig("[default]\nthis line is junk\n");
  auto cfg = Resolve();
  ASSERT_FALSE(cfg.ok());
  EXPECT_EQ(cfg.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(cfg.status().message().find((home_ / ".aws" / "config").string() + ":2:"), std::string::npos)
      << cfg.status().message();
}

TEST_F(AwsConfigTest, MissingFileIsEmptyButAnUnreadableOneIsUnavailable) {
  auto missing = LoadIniFile((home_ / "nope").string());
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());
  auto dir = LoadIniFile(home_.string());
  ASSERT_FALSE(dir.ok());
  EXPECT_EQ(dir.status().code(), StatusCode::kUnavailable);
  if (geteuid() != 0) {  // root reads anything
    fs::path locked = home_ / "locked";
    Write(locked, "[default]\n");
    fs::permissions(locked, fs::perms::none);
    auto unreadable = LoadIniFile(locked.string());
    EXPECT_FALSE(unreadable.ok());
  }
}

// --- Region -------------------------------------------------------------

TEST_F(AwsConfigTest, RegionPrecedenceIsOverrideThenEnvThenProfile) {
  SetEnvCredentials();
  WriteConfig("[default]\nregion = eu-west-1\n");
  EXPECT_EQ(Resolve()->region, "eu-west-1");
  env_["AWS_DEFAULT_REGION"] = "eu-west-2";
  EXPECT_EQ(Resolve()->region, "eu-west-2");
  env_["AWS_REGION"] = "eu-west-3";
  EXPECT_EQ(Resolve()->region, "eu-west-3");
  EXPECT_EQ(Resolve()->region_source, "AWS_REGION");
  EXPECT_EQ(Resolve(AwsConfigOverrides{"ca-central-1", ""})->region, "ca-central-1");
}

TEST_F(AwsConfigTest, MissingOrMalformedRegionIsInvalidArgument) {
  SetEnvCredentials();
  auto none = Resolve();
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(none.status().message().find("AWS_REGION"), std::string::npos);
  env_["AWS_REGION"] = "us-east-1.evil.example/";
  auto bad = Resolve();
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("from AWS_REGION"), std::string::npos) << bad.status().message();
}

// --- Endpoint -----------------------------------------------------------

TEST_F(AwsConfigTest, EndpointDefaultsToTheRegionalEndpoint) {
  SetEnvCredentials();
  env_["AWS_REGION"] = "us-east-1";
  EXPECT_EQ(Resolve()->endpoint_url, "https://dynamodb.us-east-1.amazonaws.com");
  env_["AWS_REGION"] = "cn-north-1";
  EXPECT_EQ(Resolve()->endpoint_url, "https://dynamodb.cn-north-1.amazonaws.com.cn");
}

TEST_F(AwsConfigTest, EndpointPrecedenceFollowsServiceSpecificEndpoints) {
  SetEnvCredentials();
  WriteConfig(
      "[default]\nregion = us-east-1\nendpoint_url = http://profile:1\nservices = local\n"
      "[services local]\ndynamodb =\n  endpoint_url = http://services:2/\n");
  EXPECT_EQ(Resolve()->endpoint_url, "http://services:2");
  env_["AWS_ENDPOINT_URL"] = "http://global-env:3";
  EXPECT_EQ(Resolve()->endpoint_url, "http://global-env:3");
  env_["AWS_ENDPOINT_URL_DYNAMODB"] = "http://dynamodb-env:4";
  EXPECT_EQ(Resolve()->endpoint_url, "http://dynamodb-env:4");
  EXPECT_EQ(Resolve(AwsConfigOverrides{"", "http://url:5"})->endpoint_url, "http://url:5");
  WriteConfig("[default]\nregion = us-east-1\nendpoint_url = http://profile:1\n");
  env_.erase("AWS_ENDPOINT_URL");
  env_.erase("AWS_ENDPOINT_URL_DYNAMODB");
  EXPECT_EQ(Resolve()->endpoint_url, "http://profile:1");
}

TEST_F(AwsConfigTest, IgnoreConfiguredEndpointUrlsKeepsOnlyTheExplicitOne) {
  SetEnvCredentials();
  env_["AWS_REGION"] = "us-east-1";
  env_["AWS_ENDPOINT_URL_DYNAMODB"] = "http://localhost:8000";
  env_["AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"] = "True";
  EXPECT_EQ(Resolve()->endpoint_url, "https://dynamodb.us-east-1.amazonaws.com");
  EXPECT_EQ(Resolve(AwsConfigOverrides{"", "http://url:5"})->endpoint_url, "http://url:5");
  env_.erase("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS");
  WriteConfig("[default]\nignore_configured_endpoint_urls = true\n");
  EXPECT_EQ(Resolve()->endpoint_url, "https://dynamodb.us-east-1.amazonaws.com");
}

TEST_F(AwsConfigTest, MalformedEndpointIsInvalidArgumentNamingItsSource) {
  SetEnvCredentials();
  env_["AWS_REGION"] = "us-east-1";
  for (const char* bad : {"localhost:8000", "http://", "ftp://x", "http://a b"}) {
    env_["AWS_ENDPOINT_URL"] = bad;
    auto cfg = Resolve();
    ASSERT_FALSE(cfg.ok()) << bad;
    EXPECT_EQ(cfg.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(cfg.status().message().find("from AWS_ENDPOINT_URL"), std::string::npos) << cfg.status().message();
  }
}

TEST(AwsConfigEnvironment, ProcessEnvironmentSnapshotsTheRealEnvironment) {
  Environment env = ProcessEnvironment();
  const char* path = getenv("PATH");
  if (path != nullptr) {
    ASSERT_EQ(env.count("PATH"), 1u);
    EXPECT_EQ(env["PATH"], path);
  }
}

}  // namespace
}  // namespace jobgate
