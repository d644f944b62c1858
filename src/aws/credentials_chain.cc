// Which source of the standard credential provider chain applies, from
// the environment and the selected profile (aws_profile.h). Deciding needs
// no network: only IMDS, the last resort, is "configured" by the absence
// of everything else.
#include <algorithm>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "aws/aws_profile.h"

namespace jobgate::aws_profile {

namespace {

std::string TriedNote(const SharedFile& f, const std::optional<IniSection>& s, const char* what) {
  if (f.path.empty()) return "";
  if (!f.ini) return " (file not found)";
  return s ? std::string(" (no ") + what + ")" : " (no such profile)";
}

// Why the chain found nothing, with a way out; never a value.
std::string NoCredentialsMessage(const Profile& p) {
  return "no AWS credentials found; tried: environment variables AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
         "(not set); web identity (AWS_WEB_IDENTITY_TOKEN_FILE not set); " +
         ProfileLabel(p.credentials_file, "shared credentials file", p.name) +
         TriedNote(p.credentials_file, p.credentials, "aws_access_key_id / aws_secret_access_key") + "; " +
         ProfileLabel(p.config_file, "config file", p.name) +
         TriedNote(p.config_file, p.config,
                   "aws_access_key_id / aws_secret_access_key, credential_process, sso_session or sso_start_url") +
         "; container credentials (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and _FULL_URI not set)";
}

constexpr const char* kWayOut =
    ". Configure one of them, or export credentials into the environment, for example with "
    "`eval \"$(aws configure export-credentials --format env)\"`.";

// What a source needs besides its settings, and what resolution knows.
struct ChainContext {
  const Environment& env;
  const Profile& p;
  const std::string& region;  // configured region, possibly empty (STS then uses its global endpoint)
  CredentialSourceDeps deps;
};

using MaybeSource = Result<std::unique_ptr<CredentialSource>>;  // null: not configured

MaybeSource StaticFrom(Result<std::optional<AwsCredentials>> found, const std::string& label) {
  if (!found.ok()) return found.status();
  if (!found->has_value()) return std::unique_ptr<CredentialSource>();
  return MakeStaticSource(std::move(**found), label);
}

Status MissingSetting(const std::string& where, const char* have, const char* missing) {
  return Status::InvalidArgument(fmt::format("{} sets {} but not {}", where, have, missing));
}

// "Assume role with web identity" from the environment.
MaybeSource EnvWebIdentity(const ChainContext& c) {
  WebIdentitySettings w{EnvValue(c.env, "AWS_WEB_IDENTITY_TOKEN_FILE"), EnvValue(c.env, "AWS_ROLE_ARN"),
                        EnvValue(c.env, "AWS_ROLE_SESSION_NAME"), StsEndpoint(c.env, c.region), "environment"};
  if (w.token_file.empty()) return std::unique_ptr<CredentialSource>();
  if (w.role_arn.empty()) return MissingSetting("the environment", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN");
  return MakeWebIdentitySource(std::move(w), c.deps);
}

// The profile's IAM Identity Center settings: an [sso-session NAME]
// section, or the legacy sso_start_url / sso_region in the profile.
MaybeSource ProfileSso(const ChainContext& c) {
  const Profile& p = c.p;
  const std::string where = ProfileLabel(p.config_file, "config file", p.name);
  SsoSettings s{p.name, Get(p.config, "sso_session"), Get(p.config, "sso_account_id"),
                Get(p.config, "sso_role_name"), "", "", ""};
  std::string sso_region = Get(p.config, "sso_region");
  const bool session = !s.cache_key.empty();  // only this format's token is refreshed
  if (session) {
    std::optional<IniSection> section = Section(p.config_file.ini, "sso-session " + s.cache_key);
    if (!section) {
      return Status::InvalidArgument(fmt::format("{} names sso_session {}, but there is no [sso-session {}] section",
                                                 where, s.cache_key, s.cache_key));
    }
    sso_region = Get(section, "sso_region");
  } else {
    s.cache_key = Get(p.config, "sso_start_url");
    if (s.cache_key.empty()) return std::unique_ptr<CredentialSource>();
  }
  if (sso_region.empty()) return MissingSetting(where, "SSO", "sso_region");
  if (s.account_id.empty()) return MissingSetting(where, "SSO", "sso_account_id");
  if (s.role_name.empty()) return MissingSetting(where, "SSO", "sso_role_name");
  const std::string home = EnvValue(c.env, "HOME");
  if (home.empty()) {
    return Status::InvalidArgument(where + " uses SSO, but HOME is not set (the token cache is in ~/.aws/sso/cache)");
  }
  s.cache_dir = home + "/.aws/sso/cache";
  const auto endpoint = [&](const char* variable, const std::string& host) {
    std::string url = EnvValue(c.env, variable);
    if (url.empty()) url = "https://" + host + "." + sso_region + ".amazonaws.com";
    while (url.ends_with('/')) url.pop_back();
    return url;
  };
  s.portal_endpoint = endpoint("AWS_ENDPOINT_URL_SSO", "portal.sso");
  if (session) s.oidc_endpoint = endpoint("AWS_ENDPOINT_URL_SSO_OIDC", "oidc");
  return MakeSsoSource(std::move(s), c.deps);
}

// A key of the profile: the config file's, else the credentials file's
// (the CLI merges the two files' sections of a profile).
std::string ProfileValue(const Profile& p, const std::string& key) {
  std::string v = Get(p.config, key);
  return v.empty() ? Get(p.credentials, key) : v;
}

// The profile `name` of the same two files (a source_profile).
Profile OtherProfile(const Profile& p, const std::string& name) {
  Profile o;
  o.name = name;
  o.credentials_file = p.credentials_file;
  o.config_file = p.config_file;
  o.credentials = Section(o.credentials_file.ini, name);
  o.config = ConfigProfile(o.config_file.ini, name);
  return o;
}

MaybeSource ProfileKeys(const Profile& p) {
  const std::string in_credentials = ProfileLabel(p.credentials_file, "shared credentials file", p.name);
  const std::string in_config = ProfileLabel(p.config_file, "config file", p.name);
  for (auto [section, label] : {std::pair{&p.credentials, &in_credentials}, std::pair{&p.config, &in_config}}) {
    MaybeSource keys = StaticFrom(SectionCredentials(*section, *label), *label);
    if (!keys.ok() || *keys) return keys;
  }
  return std::unique_ptr<CredentialSource>();
}

MaybeSource ContainerSource(const ChainContext& c);
MaybeSource ProfileSourceOf(const ChainContext& c, std::vector<std::string>& visited);

// What signs a role's AssumeRole call: the source_profile's credentials
// (its own keys when it names itself, as the SDKs do), or credential_source.
MaybeSource RoleBase(const ChainContext& c, std::vector<std::string>& visited, const std::string& where) {
  const Profile& p = c.p;
  const std::string source_profile = ProfileValue(p, "source_profile");
  const std::string credential_source = ProfileValue(p, "credential_source");
  if (!source_profile.empty() && !credential_source.empty()) {
    return Status::InvalidArgument(where + " sets both source_profile and credential_source");
  }
  MaybeSource base = std::unique_ptr<CredentialSource>();
  std::string missing = "credentials";
  if (source_profile == p.name) {
    base = ProfileKeys(p);
    missing = "aws_access_key_id / aws_secret_access_key (it is its own source_profile)";
  } else if (!source_profile.empty()) {
    if (std::find(visited.begin(), visited.end(), source_profile) != visited.end()) {
      return Status::InvalidArgument(fmt::format("{}: source_profile {} leads back to a profile already on the "
                                                 "way ({})", where, source_profile, fmt::join(visited, " -> ")));
    }
    Profile other = OtherProfile(p, source_profile);
    if (!other.credentials && !other.config) {
      return Status::InvalidArgument(where + ": source_profile " + source_profile + " does not exist");
    }
    base = ProfileSourceOf(ChainContext{c.env, other, c.region, c.deps}, visited);
  } else if (credential_source == "Environment") {
    AwsCredentials e{EnvValue(c.env, "AWS_ACCESS_KEY_ID"), EnvValue(c.env, "AWS_SECRET_ACCESS_KEY"),
                     EnvValue(c.env, "AWS_SESSION_TOKEN")};
    base = StaticFrom(PairedCredentials(std::move(e), "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "the environment"),
                      "environment");
  } else if (credential_source == "EcsContainer") {
    base = ContainerSource(c);
  } else if (credential_source == "Ec2InstanceMetadata") {
    base = MakeImdsSource(ImdsSettings{ImdsEndpoint(c.env), ""}, c.deps);
  } else {
    return Status::InvalidArgument(
        credential_source.empty()
            ? where + " sets role_arn without source_profile, credential_source or web_identity_token_file"
            : where + ": credential_source \"" + credential_source +
                  "\" is not one of Environment, Ec2InstanceMetadata, EcsContainer");
  }
  if (base.ok() && !*base) {
    return Status::InvalidArgument(fmt::format("{}: the role's source ({}) has no {}", where,
                                               source_profile.empty() ? credential_source : source_profile, missing));
  }
  return base;
}

// role_arn in the profile: with web_identity_token_file it is web identity,
// otherwise STS AssumeRole signed with RoleBase's credentials.
MaybeSource ProfileRole(const ChainContext& c, std::vector<std::string>& visited) {
  const Profile& p = c.p;
  const std::string where = ProfileLabel(p.config_file, "config file", p.name);
  const std::string role_arn = ProfileValue(p, "role_arn");
  WebIdentitySettings w{ProfileValue(p, "web_identity_token_file"), role_arn, ProfileValue(p, "role_session_name"),
                        StsEndpoint(c.env, c.region), "profile " + p.name};
  if (!w.token_file.empty()) return MakeWebIdentitySource(std::move(w), c.deps);
  if (!ProfileValue(p, "mfa_serial").empty()) {
    return Status::InvalidArgument(where + " uses mfa_serial, which needs a code typed in: jobgate does not "
                                   "support it; export the role's credentials into the environment, for example "
                                   "with `eval \"$(aws configure export-credentials --profile " + p.name +
                                   " --format env)\"`");
  }
  AssumeRoleSettings s{role_arn, w.session_name, ProfileValue(p, "external_id"), 0, w.sts_endpoint,
                       c.region.empty() ? "us-east-1" : c.region, p.name};
  if (std::string d = ProfileValue(p, "duration_seconds"); !d.empty()) {
    s.duration_s = d.size() <= 5 && d.find_first_not_of("0123456789") == std::string::npos ? std::stoi(d) : 0;
    if (s.duration_s < 900 || s.duration_s > 43200) {
      return Status::InvalidArgument(where + ": duration_seconds \"" + d + "\" must be 900 to 43200");
    }
  }
  MaybeSource base = RoleBase(c, visited, where);
  if (!base.ok()) return base.status();
  return MakeAssumeRoleSource(std::move(s), std::move(base).value(), c.deps);
}

// The profile's own way to credentials, the SDKs' order: an assumed role
// (role_arn), its keys (credentials file, then config file), its
// credential_process, its SSO settings.
MaybeSource ProfileSourceOf(const ChainContext& c, std::vector<std::string>& visited) {
  const Profile& p = c.p;
  visited.push_back(p.name);
  if (!ProfileValue(p, "role_arn").empty()) return ProfileRole(c, visited);
  MaybeSource keys = ProfileKeys(p);
  if (!keys.ok() || *keys) return keys;
  if (std::string process = ProfileValue(p, "credential_process"); !process.empty()) {
    return MakeProcessSource(ProcessSettings{process, p.name, c.env});
  }
  MaybeSource sso = ProfileSso(c);
  if (!sso.ok() || *sso) return sso;
  if (!ProfileValue(p, "web_identity_token_file").empty()) {
    return MissingSetting(ProfileLabel(p.config_file, "config file", p.name), "web_identity_token_file", "role_arn");
  }
  return std::unique_ptr<CredentialSource>();
}

MaybeSource ProfileSource(const ChainContext& c) {
  std::vector<std::string> visited;
  return ProfileSourceOf(c, visited);
}

MaybeSource ContainerSource(const ChainContext& c) {
  ContainerSettings s{"", "", EnvValue(c.env, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"),
                      EnvValue(c.env, "AWS_CONTAINER_AUTHORIZATION_TOKEN")};
  if (std::string relative = EnvValue(c.env, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"); !relative.empty()) {
    // The ECS agent's fixed address ("Container credential provider").
    s.url = "http://169.254.170.2" + (relative.starts_with('/') ? relative : "/" + relative);
    s.url_origin = "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI";
  } else if (std::string full = EnvValue(c.env, "AWS_CONTAINER_CREDENTIALS_FULL_URI"); !full.empty()) {
    JOBGATE_RETURN_IF_ERROR(CheckContainerUrl(full, "AWS_CONTAINER_CREDENTIALS_FULL_URI"));
    s.url = full;
    s.url_origin = "AWS_CONTAINER_CREDENTIALS_FULL_URI";
  } else {
    return std::unique_ptr<CredentialSource>();
  }
  return MakeContainerSource(std::move(s), c.deps);
}

// The chain stops at the first source that is configured, so a broken
// later source cannot fail a run that an earlier one already configures.
// Deciding needs no network: only IMDS, the last resort, is "configured"
// by the absence of everything else.
MaybeSource FirstConfiguredSource(const ChainContext& c) {
  AwsCredentials from_env{EnvValue(c.env, "AWS_ACCESS_KEY_ID"), EnvValue(c.env, "AWS_SECRET_ACCESS_KEY"),
                          EnvValue(c.env, "AWS_SESSION_TOKEN")};
  MaybeSource source = StaticFrom(
      PairedCredentials(std::move(from_env), "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "the environment"),
      "environment");
  for (auto next : {&EnvWebIdentity, &ProfileSource, &ContainerSource}) {
    if (!source.ok() || *source) return source;
    source = next(c);
  }
  if (!source.ok() || *source) return source;
  if (ImdsDisabled(c.env)) {
    return Status::Unavailable(NoCredentialsMessage(c.p) +
                               "; EC2 instance metadata (disabled by AWS_EC2_METADATA_DISABLED)" + kWayOut);
  }
  return MakeImdsSource(ImdsSettings{ImdsEndpoint(c.env), NoCredentialsMessage(c.p)}, c.deps);
}

}  // namespace

Result<std::unique_ptr<CredentialSource>> SelectCredentialSource(const Environment& env, const Profile& p,
                                                                 const std::string& sts_region,
                                                                 const CredentialSourceDeps& deps) {
  return FirstConfiguredSource(ChainContext{env, p, sts_region, deps});
}

}  // namespace jobgate::aws_profile
