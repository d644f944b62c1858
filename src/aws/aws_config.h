// AWS credentials, region and DynamoDB endpoint, found the way the AWS CLI
// and SDKs find them (AWS SDKs and Tools Reference Guide: "Shared config and
// credentials files", "AWS Region", "Service-specific endpoints", and the
// "Standardized credential providers" chain).
//
// The credentials are not a value but a CredentialsProvider
// (credentials_provider.h): which source of the chain applies is decided
// here, from the environment and the shared files, without any network
// call; temporary credentials are fetched when first needed and refreshed
// before they expire. The one network call resolution itself may make is
// the instance's region from EC2 instance metadata, when nothing else
// names a region and IMDS is not disabled.
//
// The environment is a parameter (tests never touch the process env). The
// functions are safe to call from any thread. No message ever contains a
// secret key or a token.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "aws/credentials_provider.h"
#include "aws/sigv4.h"
#include "jobgate/status.h"

namespace jobgate {

// Environment variables by name; a snapshot, never the live process env.
using Environment = std::map<std::string, std::string, std::less<>>;

// A snapshot of this process's environment, taken once by main().
Environment ProcessEnvironment();

// An INI file as the AWS shared files use it: section name (as written,
// trimmed: "default", "profile dev", "services local") -> key (lower case)
// -> value. An indented "key = value" under a key with an empty value is a
// sub-property, stored as "parent.key" ("dynamodb.endpoint_url").
using IniSection = std::map<std::string, std::string>;
using IniFile = std::map<std::string, IniSection>;

// Parses INI text: "[section]" headers, "key = value" properties, full-line
// comments starting with '#' or ';', inline comments after whitespace, CRLF
// line ends. A repeated section merges and a repeated key keeps the last
// value. kInvalidArgument names `source_name` and the line number, never
// the line itself (it may hold a secret).
Result<IniFile> ParseIni(std::string_view text, std::string_view source_name);

// Reads and parses a file; nullopt when the file does not exist (the AWS
// tools treat a missing shared file as empty). kUnavailable if it exists
// but cannot be read.
Result<std::optional<IniFile>> LoadIniFile(const std::string& path);

// Explicit settings that beat the environment and the files, such as the
// `region` and `endpoint` of a dynamodb:// store URL (like the CLI's
// --region and --endpoint-url). Empty means not given.
struct AwsConfigOverrides {
  std::string region;
  std::string endpoint_url;
};

// Everything the DynamoDB client needs, and where each part came from (for
// messages and `status` output; the sources never include secret values).
struct AwsConfig {
  std::string profile;  // the profile consulted: AWS_PROFILE or "default"
  // Never null after ResolveAwsConfig; shared by every client of the config.
  std::shared_ptr<CredentialsProvider> credentials;
  std::string credentials_source;  // "environment", "shared credentials file PATH [profile P]", ...
  std::string region;
  std::string region_source;
  std::string endpoint_url;  // "https://dynamodb.us-east-1.amazonaws.com"
  std::string endpoint_source;
};

// What resolution and the credential sources it sets up use besides the
// environment; the defaults are the real ones.
struct AwsResolveOptions {
  HttpTransportFactory http;  // empty: CurlHttpClient (loaded on the first fetch, never before)
  Clock* clock = nullptr;     // expirations and refresh; nullptr: the system clock (must outlive the provider)
  Logger* logger = nullptr;   // refresh failures; nullptr: DefaultLogger()
};

// Resolves credentials, region and endpoint:
//  - credentials, the first source configured, in the SDKs' order:
//    1. AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN);
//    2. AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN (+ AWS_ROLE_SESSION_NAME):
//       STS AssumeRoleWithWebIdentity;
//    3. profile AWS_PROFILE (default "default"): its keys in the shared
//       credentials file (AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials,
//       sections "[NAME]"), then in the config file (AWS_CONFIG_FILE or
//       ~/.aws/config, "[profile NAME]" and "[default]"), then its
//       credential_process, its SSO settings (sso_session or
//       sso_start_url); but a profile with role_arn assumes that role, with
//       its web_identity_token_file (AssumeRoleWithWebIdentity) or with the
//       credentials of its source_profile or credential_source (AssumeRole);
//    4. AWS_CONTAINER_CREDENTIALS_RELATIVE_URI / _FULL_URI;
//    5. EC2 instance metadata, unless AWS_EC2_METADATA_DISABLED is true.
//  - region: override, AWS_REGION, AWS_DEFAULT_REGION, the profile's region,
//    the instance's region from IMDS (unless disabled).
//  - endpoint: override, AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL, the
//    profile's services section (dynamodb endpoint_url), the profile's
//    endpoint_url (configured ones skipped when ignore_configured_endpoint_urls
//    is true), else https://dynamodb.REGION.amazonaws.com.
// Errors: kUnavailable when no source is configured (naming every source
// tried) or a shared file cannot be read; kInvalidArgument for partial
// credentials, a source configured incompletely or unsupported (an
// mfa_serial, a source_profile loop), an explicitly named profile that
// does not exist, a missing or malformed region or endpoint, or a
// malformed shared file.
// Errors of the sources themselves come from the provider's Get().
Result<AwsConfig> ResolveAwsConfig(const Environment& env, const AwsConfigOverrides& overrides = {},
                                   const AwsResolveOptions& options = {});

}  // namespace jobgate
