// AWS credentials, region and DynamoDB endpoint, found the way the AWS CLI
// and SDKs find them (AWS SDKs and Tools Reference Guide: "Shared config and
// credentials files", "AWS Region", "Service-specific endpoints", and the
// "Standardized credential providers" chain, limited to its static parts:
// environment variables, then the shared credentials file, then the shared
// config file). Assumed roles, SSO, credential_process, web identity,
// container and instance-metadata credentials are not supported; the error
// says so and suggests exporting credentials into the environment.
//
// The environment is a parameter (tests never touch the process env). The
// functions are pure apart from reading the two shared files, and safe to
// call from any thread. No message ever contains a secret key or a token.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

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
  AwsCredentials credentials;
  std::string credentials_source;  // "environment", "shared credentials file PATH [profile P]", ...
  std::string region;
  std::string region_source;
  std::string endpoint_url;  // "https://dynamodb.us-east-1.amazonaws.com"
  std::string endpoint_source;
};

// Resolves credentials, region and endpoint:
//  - credentials: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN);
//    else profile AWS_PROFILE (default "default") in the shared credentials
//    file (AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials, sections
//    "[NAME]"); else that profile in the config file (AWS_CONFIG_FILE or
//    ~/.aws/config, sections "[profile NAME]" and "[default]").
//  - region: override, AWS_REGION, AWS_DEFAULT_REGION, the profile's region.
//  - endpoint: override, AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL, the
//    profile's services section (dynamodb endpoint_url), the profile's
//    endpoint_url (configured ones skipped when ignore_configured_endpoint_urls
//    is true), else https://dynamodb.REGION.amazonaws.com.
// Errors: kUnavailable when no credentials were found (naming every source
// tried) or a shared file cannot be read; kInvalidArgument for partial
// credentials, an explicitly named profile that does not exist, a missing
// or malformed region or endpoint, or a malformed shared file.
Result<AwsConfig> ResolveAwsConfig(const Environment& env, const AwsConfigOverrides& overrides = {});

}  // namespace jobgate
