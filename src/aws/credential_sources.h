// The sources of the AWS SDKs' standard credential provider chain beyond
// static keys ("AWS SDKs and Tools Reference Guide": "Assume role with web
// identity", "Process credential provider", "IAM Identity Center credential
// provider", "Container credential provider", "IMDS credential provider").
// aws_config.cc decides, from the environment and the shared files, which
// one applies; these only fetch. Each source re-reads the files it depends
// on (token files rotate) on every fetch. Sources are thread-compatible:
// CredentialsProvider calls one at a time.
//
// No error message contains a key, a session token or a token the source
// read: errors name the source, the setting and the endpoint.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "aws/aws_config.h"
#include "aws/credentials_provider.h"

namespace jobgate {

// What the network sources share: how to reach HTTP and what time it is.
struct CredentialSourceDeps {
  HttpTransportFactory http;  // empty: CurlTransportFactory()
  Clock* clock = nullptr;     // nullptr: the system clock (SSO token expiry, session names)
};

// ---- web identity (STS AssumeRoleWithWebIdentity) ------------------------------

struct WebIdentitySettings {
  std::string token_file;    // AWS_WEB_IDENTITY_TOKEN_FILE / web_identity_token_file
  std::string role_arn;      // AWS_ROLE_ARN / role_arn
  std::string session_name;  // AWS_ROLE_SESSION_NAME / role_session_name; empty: generated
  std::string sts_endpoint;  // "https://sts.us-east-1.amazonaws.com" (no trailing '/')
  std::string origin;        // where the settings came from, for messages ("environment", "profile P")
};
std::unique_ptr<CredentialSource> MakeWebIdentitySource(WebIdentitySettings settings, CredentialSourceDeps deps);

// ---- assumed role (STS AssumeRole, SigV4-signed with a source's credentials) ----

struct AssumeRoleSettings {
  std::string role_arn;      // role_arn
  std::string session_name;  // role_session_name; empty: generated
  std::string external_id;   // external_id; empty: none (never put in a message)
  int duration_s = 0;        // duration_seconds; 0: STS's default (1 hour)
  std::string sts_endpoint;  // as StsEndpoint gives it
  std::string sts_region;    // the signature's region ("us-east-1" for the global endpoint)
  std::string profile;       // the profile with role_arn, for messages
};
// `base` gives the credentials that sign the AssumeRole call (the
// source_profile's, or credential_source's); it is asked on every fetch.
std::unique_ptr<CredentialSource> MakeAssumeRoleSource(AssumeRoleSettings settings,
                                                       std::unique_ptr<CredentialSource> base,
                                                       CredentialSourceDeps deps);

// The STS endpoint: AWS_ENDPOINT_URL_STS, AWS_ENDPOINT_URL, else the
// regional one (the global one when no region is known).
std::string StsEndpoint(const Environment& env, const std::string& region);

// The credentials in an STS Query API answer (AssumeRole*Response XML), or
// kUnavailable with the <Error> Code and Message of an ErrorResponse.
// `what` names the call for messages ("STS AssumeRoleWithWebIdentity").
Result<TimedCredentials> ParseStsResponse(int http_status, std::string_view xml, std::string_view what);

// ---- credential_process -----------------------------------------------------------

struct ProcessSettings {
  std::string command;  // the profile's credential_process, split like a shell word list, run without a shell
  std::string profile;
  Environment env;      // the child's environment
  // A command that has not finished by then is killed (SIGKILL) and the
  // fetch fails: a hung helper must not hang every store call behind it.
  int64_t timeout_ms = 60'000;
};
std::unique_ptr<CredentialSource> MakeProcessSource(ProcessSettings settings);

// Splits a command line into words as POSIX shells (and Python's shlex,
// which the AWS CLI uses) do: blanks separate, '...' and "..." quote, a
// backslash escapes. kInvalidArgument for an unterminated quote.
Result<std::vector<std::string>> SplitCommandLine(std::string_view command);

// ---- IAM Identity Center (SSO) ------------------------------------------------------

struct SsoSettings {
  std::string profile;
  std::string cache_key;   // the sso_session name, or the legacy sso_start_url
  std::string account_id;  // sso_account_id
  std::string role_name;   // sso_role_name
  std::string cache_dir;   // HOME/.aws/sso/cache
  std::string portal_endpoint;  // AWS_ENDPOINT_URL_SSO or https://portal.sso.REGION.amazonaws.com
  // AWS_ENDPOINT_URL_SSO_OIDC or https://oidc.REGION.amazonaws.com for an
  // [sso-session] profile, whose token is refreshed there; empty for the
  // legacy format, which is not refreshed.
  std::string oidc_endpoint;
};
std::unique_ptr<CredentialSource> MakeSsoSource(SsoSettings settings, CredentialSourceDeps deps);

// The SSO token cache's file name: the lower-case hex SHA-1 of the key.
Result<std::string> SsoCacheFileName(std::string_view cache_key);

// ---- container (ECS, EKS Pod Identity) ----------------------------------------------

struct ContainerSettings {
  std::string url;                  // full URL, checked with CheckContainerUrl
  std::string url_origin;           // "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI" or "..._FULL_URI"
  std::string token_file;           // AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE, re-read per fetch
  std::string token;                // AWS_CONTAINER_AUTHORIZATION_TOKEN (when no file)
};
std::unique_ptr<CredentialSource> MakeContainerSource(ContainerSettings settings, CredentialSourceDeps deps);

// The SDKs' rule for AWS_CONTAINER_CREDENTIALS_FULL_URI: https anywhere,
// plain http only to loopback, 169.254.170.2, 169.254.170.23 or
// fd00:ec2::23. kInvalidArgument naming `variable` and the URL otherwise.
Status CheckContainerUrl(std::string_view url, std::string_view variable);

// ---- EC2 instance metadata (IMDSv2) -------------------------------------------------

struct ImdsSettings {
  std::string endpoint;  // AWS_EC2_METADATA_SERVICE_ENDPOINT or http://169.254.169.254
  // Prefixed to a failure: this is the last source of the chain, so its
  // error says what else was tried ("no AWS credentials found; tried: ...").
  std::string tried_before;
};
std::unique_ptr<CredentialSource> MakeImdsSource(ImdsSettings settings, CredentialSourceDeps deps);

// The instance's region from /latest/meta-data/placement/region.
Result<std::string> ImdsRegion(const std::string& endpoint, const CredentialSourceDeps& deps);

// The IMDS endpoint of `env` (AWS_EC2_METADATA_SERVICE_ENDPOINT or the
// default), and whether AWS_EC2_METADATA_DISABLED turns IMDS off.
std::string ImdsEndpoint(const Environment& env);
bool ImdsDisabled(const Environment& env);

}  // namespace jobgate
