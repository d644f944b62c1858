// The selected profile of the AWS shared config and credentials files, as
// aws_config.cc reads it (region, endpoint) and credentials_chain.cc picks
// a credential source from it. Internal to the aws layer: pure functions
// of their arguments, safe from any thread. No message holds a value read
// from the files beyond names, paths and non-secret settings.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "aws/aws_config.h"
#include "aws/credential_sources.h"

namespace jobgate::aws_profile {

// A shared file: where it is, and its contents when it exists.
struct SharedFile {
  std::string path;            // empty when it cannot be located (no HOME)
  std::optional<IniFile> ini;  // nullopt when it does not exist
};

// The selected profile as both shared files describe it.
struct Profile {
  std::string name;
  bool named_by_env = false;  // AWS_PROFILE was set
  SharedFile credentials_file, config_file;
  std::optional<IniSection> credentials;  // [NAME] in the credentials file
  std::optional<IniSection> config;       // [profile NAME] / [default] in the config file
  std::optional<IniSection> services;     // [services X], X = the profile's `services`
};

// The variable's value, empty when unset.
std::string EnvValue(const Environment& env, std::string_view name);
// The key's value in a section that may be absent, empty when unset.
std::string Get(const std::optional<IniSection>& section, const std::string& key);
// A section by its name as written ("sso-session corp").
std::optional<IniSection> Section(const std::optional<IniFile>& file, const std::string& name);
// The profile's section of the config file. "[profile default]" overrides
// a bare "[default]" key by key.
std::optional<IniSection> ConfigProfile(const std::optional<IniFile>& file, std::string_view profile);

// AWS_PROFILE (or "default") in both files; kInvalidArgument when
// AWS_PROFILE names a profile neither has, as the AWS CLI refuses it.
Result<Profile> LoadProfile(const Environment& env);

// "shared credentials file PATH [profile NAME]", for messages.
std::string ProfileLabel(const SharedFile& f, const char* kind, const std::string& profile);

// One place that turns a (key id, secret, token) triple into credentials:
// nothing set is "not here", half set is kInvalidArgument naming the
// missing part and `where`.
Result<std::optional<AwsCredentials>> PairedCredentials(AwsCredentials c, const std::string& id_name,
                                                        const std::string& secret_name, const std::string& where);
// A section's aws_access_key_id / aws_secret_access_key / aws_session_token.
Result<std::optional<AwsCredentials>> SectionCredentials(const std::optional<IniSection>& s,
                                                         const std::string& where);

// The first configured source of the standard chain (aws_config.h says
// which and in what order), built without any network call; `sts_region`
// is the configured region ("" when none). kUnavailable, listing every
// source tried, when none is configured and IMDS is disabled.
Result<std::unique_ptr<CredentialSource>> SelectCredentialSource(const Environment& env, const Profile& p,
                                                                 const std::string& sts_region,
                                                                 const CredentialSourceDeps& deps);

}  // namespace jobgate::aws_profile
