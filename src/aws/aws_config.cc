#include "aws/aws_config.h"

#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <sstream>
#include <system_error>

#include <fmt/format.h>

#include "aws/aws_profile.h"
#include "aws/credential_sources.h"
#include "util/text.h"

extern char** environ;

namespace jobgate {
namespace {

bool IsBlank(char c) { return c == ' ' || c == '\t'; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (IsBlank(s.front()) || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (IsBlank(s.back()) || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

size_t IndentOf(std::string_view line) {
  size_t n = 0;
  while (n < line.size() && IsBlank(line[n])) ++n;
  return n;
}

// The SDKs' shared-file format ends a value at a '#' or ';' that follows
// whitespace; keys and secrets never contain whitespace, so no credential
// can be cut short by this.
std::string_view StripInlineComment(std::string_view value) {
  for (size_t i = 1; i < value.size(); ++i) {
    if ((value[i] == '#' || value[i] == ';') && IsBlank(value[i - 1])) return Trim(value.substr(0, i));
  }
  return Trim(value);
}

Status LineError(std::string_view source, size_t line_no, const char* what) {
  return Status::InvalidArgument(std::string(source) + ":" + std::to_string(line_no) + ": " + what);
}

// Line-by-line INI parser state. A line indented deeper than the property
// before it continues that property: a sub-property when the property's
// value is empty ("dynamodb =" then "  endpoint_url = ..."), else another
// line of its value (Python configparser, which the AWS CLI uses, does the
// same by indentation).
class IniParser {
 public:
  explicit IniParser(std::string_view source) : source_(source) {}

  Status Line(std::string_view raw, size_t line_no) {
    std::string_view line = Trim(raw);
    if (line.empty() || line[0] == '#' || line[0] == ';') return Status::Ok();
    if (line[0] == '[') return Section(line, line_no);
    if (section_ == nullptr) return LineError(source_, line_no, "property outside a [section]");
    size_t indent = IndentOf(raw);
    if (!last_key_.empty() && indent > last_indent_) return Continuation(line, line_no);
    return Property(line, indent, line_no);
  }

  IniFile Take() { return std::move(file_); }

 private:
  Status Section(std::string_view line, size_t line_no) {
    size_t close = line.find(']');
    if (close == std::string_view::npos) return LineError(source_, line_no, "unterminated [section] header");
    std::string_view name = Trim(line.substr(1, close - 1));
    std::string_view rest = Trim(line.substr(close + 1));
    if (name.empty()) return LineError(source_, line_no, "empty [section] name");
    if (!rest.empty() && rest[0] != '#' && rest[0] != ';') {
      return LineError(source_, line_no, "unexpected text after a [section] header");
    }
    section_ = &file_[std::string(name)];
    last_key_.clear();
    return Status::Ok();
  }

  Status Property(std::string_view line, size_t indent, size_t line_no) {
    size_t eq = line.find('=');
    if (eq == std::string_view::npos) return LineError(source_, line_no, "expected \"key = value\"");
    std::string key = AsciiLower(Trim(line.substr(0, eq)));
    if (key.empty()) return LineError(source_, line_no, "property without a name");
    (*section_)[key] = std::string(StripInlineComment(line.substr(eq + 1)));
    last_key_ = key;
    last_indent_ = indent;
    return Status::Ok();
  }

  Status Continuation(std::string_view line, size_t line_no) {
    std::string& parent = (*section_)[last_key_];
    if (!parent.empty()) {
      parent += "\n" + std::string(StripInlineComment(line));
      return Status::Ok();
    }
    size_t eq = line.find('=');
    if (eq == std::string_view::npos) return LineError(source_, line_no, "expected \"key = value\"");
    std::string sub = AsciiLower(Trim(line.substr(0, eq)));
    if (sub.empty()) return LineError(source_, line_no, "property without a name");
    (*section_)[last_key_ + "." + sub] = std::string(StripInlineComment(line.substr(eq + 1)));
    return Status::Ok();
  }

  std::string source_;
  IniFile file_;
  IniSection* section_ = nullptr;
  std::string last_key_;
  size_t last_indent_ = 0;
};

}  // namespace

namespace aws_profile {
namespace {

// "Location of the shared config and credentials files": the variable when
// set, else ~/.aws/NAME; "~" is the HOME of the given environment.
std::string SharedFilePath(const Environment& env, std::string_view var, std::string_view file_name) {
  std::string path = EnvValue(env, var);
  if (path.empty()) path = "~/.aws/" + std::string(file_name);
  if (path != "~" && !path.starts_with("~/")) return path;
  std::string home = EnvValue(env, "HOME");
  return home.empty() ? std::string() : home + path.substr(1);
}

Result<SharedFile> LoadSharedFile(const Environment& env, std::string_view var, std::string_view file_name) {
  SharedFile f;
  f.path = SharedFilePath(env, var, file_name);
  if (f.path.empty()) return f;
  Result<std::optional<IniFile>> ini = LoadIniFile(f.path);
  if (!ini.ok()) return ini.status();
  f.ini = std::move(ini).value();
  return f;
}

// "Format of the config file": a profile is "[default]" or "[profile NAME]";
// other sections ("[services x]", "[sso-session x]", bare names) are not.
std::optional<std::string> ConfigSectionProfile(std::string_view section) {
  if (section == "default") return "default";
  if (section.size() <= 7 || !section.starts_with("profile") || !IsBlank(section[7])) return std::nullopt;
  return std::string(Trim(section.substr(7)));
}

}  // namespace

std::string EnvValue(const Environment& env, std::string_view name) {
  auto it = env.find(name);
  return it == env.end() ? std::string() : it->second;
}

std::string Get(const std::optional<IniSection>& section, const std::string& key) {
  if (!section) return "";
  auto it = section->find(key);
  return it == section->end() ? std::string() : it->second;
}

// The profile's section of the config file. "[profile default]" overrides
// a bare "[default]" key by key.
std::optional<IniSection> ConfigProfile(const std::optional<IniFile>& file, std::string_view profile) {
  if (!file) return std::nullopt;
  std::optional<IniSection> out;
  auto merge = [&out](const IniSection& s) {
    if (!out) out.emplace();
    for (const auto& [k, v] : s) (*out)[k] = v;
  };
  if (auto it = file->find("default"); profile == "default" && it != file->end()) merge(it->second);
  for (const auto& [name, section] : *file) {
    if (name != "default" && ConfigSectionProfile(name) == profile) merge(section);
  }
  return out;
}

std::optional<IniSection> Section(const std::optional<IniFile>& file, const std::string& name) {
  if (!file) return std::nullopt;
  auto it = file->find(name);
  return it == file->end() ? std::nullopt : std::optional<IniSection>(it->second);
}

std::string FileLabel(const SharedFile& f, const char* kind) {
  return std::string(kind) + " " + (f.path.empty() ? std::string("(no HOME, not located)") : f.path);
}

Result<Profile> LoadProfile(const Environment& env) {
  Profile p;
  p.name = EnvValue(env, "AWS_PROFILE");
  p.named_by_env = !p.name.empty();
  if (p.name.empty()) p.name = "default";
  Result<SharedFile> creds = LoadSharedFile(env, "AWS_SHARED_CREDENTIALS_FILE", "credentials");
  if (!creds.ok()) return creds.status();
  Result<SharedFile> config = LoadSharedFile(env, "AWS_CONFIG_FILE", "config");
  if (!config.ok()) return config.status();
  p.credentials_file = std::move(creds).value();
  p.config_file = std::move(config).value();
  p.credentials = Section(p.credentials_file.ini, p.name);
  p.config = ConfigProfile(p.config_file.ini, p.name);
  std::string services = Get(p.config, "services");
  if (!services.empty()) p.services = Section(p.config_file.ini, "services " + services);
  // The AWS CLI refuses a profile it was told to use but cannot find
  // ("The config profile (NAME) could not be found"); silently using other
  // settings would act on the wrong account.
  if (p.named_by_env && !p.credentials && !p.config) {
    return Status::InvalidArgument("AWS profile \"" + p.name + "\" (from AWS_PROFILE) is in neither " +
                                   FileLabel(p.credentials_file, "the shared credentials file") + " nor " +
                                   FileLabel(p.config_file, "the config file"));
  }
  return p;
}

// One place that turns a (key id, secret, token) triple into credentials:
// nothing set is "not here", half set is an error naming the missing part.
Result<std::optional<AwsCredentials>> PairedCredentials(AwsCredentials c, const std::string& id_name,
                                                        const std::string& secret_name,
                                                        const std::string& where) {
  if (c.access_key_id.empty() && c.secret_access_key.empty()) return std::optional<AwsCredentials>();
  if (c.access_key_id.empty() || c.secret_access_key.empty()) {
    const std::string& missing = c.access_key_id.empty() ? id_name : secret_name;
    const std::string& present = c.access_key_id.empty() ? secret_name : id_name;
    return Status::InvalidArgument("partial AWS credentials in " + where + ": " + present + " is set but " +
                                   missing + " is not");
  }
  return std::optional<AwsCredentials>(std::move(c));
}

Result<std::optional<AwsCredentials>> SectionCredentials(const std::optional<IniSection>& s,
                                                         const std::string& where) {
  AwsCredentials c{Get(s, "aws_access_key_id"), Get(s, "aws_secret_access_key"), Get(s, "aws_session_token")};
  return PairedCredentials(std::move(c), "aws_access_key_id", "aws_secret_access_key", where);
}

std::string ProfileLabel(const SharedFile& f, const char* kind, const std::string& profile) {
  return FileLabel(f, kind) + " [profile " + profile + "]";
}

}  // namespace aws_profile

namespace {

using namespace aws_profile;

Status ResolveCredentials(const Environment& env, const Profile& p, const std::string& sts_region,
                          const AwsResolveOptions& options, AwsConfig& out) {
  Result<std::unique_ptr<CredentialSource>> source =
      SelectCredentialSource(env, p, sts_region, CredentialSourceDeps{options.http, options.clock});
  if (!source.ok()) return source.status();
  out.credentials = std::make_shared<CredentialsProvider>(std::move(source).value(),
                                                          CredentialsProviderOptions{options.clock, options.logger});
  out.credentials_source = out.credentials->description();
  return Status::Ok();
}

// The first non-empty value of an ordered list of (value, source) pairs.
struct Setting {
  std::string value;
  std::string source;
};

std::optional<Setting> FirstSet(std::initializer_list<Setting> candidates) {
  for (const Setting& s : candidates) {
    if (!s.value.empty()) return s;
  }
  return std::nullopt;
}

// Region names are lower-case letters, digits and dashes; the region goes
// into the endpoint host name and the signature's credential scope.
bool IsRegionName(std::string_view r) {
  if (r.empty()) return false;
  for (char c : r) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  }
  return true;
}

std::optional<Setting> ConfiguredRegion(const Environment& env, const Profile& p, const AwsConfigOverrides& overrides) {
  std::string profile_label = ProfileLabel(p.config_file, "config file", p.name) + " region";
  return FirstSet({{overrides.region, "store URL region"},
                   {EnvValue(env, "AWS_REGION"), "AWS_REGION"},
                   {EnvValue(env, "AWS_DEFAULT_REGION"), "AWS_DEFAULT_REGION"},
                   {Get(p.config, "region"), profile_label}});
}

// "AWS Region": the configured places, then (the SDKs' last resort) the
// region of the EC2 instance we run on.
Status ResolveRegion(const Environment& env, const Profile& p, const AwsConfigOverrides& overrides,
                     const CredentialSourceDeps& deps, AwsConfig& out) {
  std::optional<Setting> region = ConfiguredRegion(env, p, overrides);
  std::string imds_note = " (EC2 instance metadata disabled by AWS_EC2_METADATA_DISABLED)";
  if (!region && !ImdsDisabled(env)) {
    const std::string endpoint = ImdsEndpoint(env);
    Result<std::string> from_imds = ImdsRegion(endpoint, deps);
    if (from_imds.ok() && !from_imds->empty()) {
      region = Setting{*from_imds, "EC2 instance metadata " + endpoint};
    } else {
      imds_note = " (EC2 instance metadata: " +
                  (from_imds.ok() ? std::string("empty answer") : from_imds.status().message()) + ")";
    }
  }
  if (!region) {
    return Status::InvalidArgument(
        "no AWS region: set region= in the store URL, AWS_REGION, AWS_DEFAULT_REGION, or region in " +
        ProfileLabel(p.config_file, "config file", p.name) + imds_note);
  }
  if (!IsRegionName(region->value)) {
    return Status::InvalidArgument("AWS region \"" + region->value + "\" from " + region->source +
                                   " is not a region name (like us-east-1)");
  }
  out.region = region->value;
  out.region_source = region->source;
  return Status::Ok();
}

bool IsTrue(std::string_view v) { return AsciiLower(Trim(v)) == "true"; }

// "Service-specific endpoints", precedence as documented there: explicit
// (the store URL), AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL, the
// profile's services section, the profile's endpoint_url. The configured
// ones are all skipped when ignore_configured_endpoint_urls is true.
std::optional<Setting> ConfiguredEndpoint(const Environment& env, const Profile& p,
                                          const AwsConfigOverrides& overrides) {
  if (!overrides.endpoint_url.empty()) return Setting{overrides.endpoint_url, "store URL endpoint"};
  if (IsTrue(EnvValue(env, "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")) ||
      IsTrue(Get(p.config, "ignore_configured_endpoint_urls"))) {
    return std::nullopt;
  }
  std::string label = ProfileLabel(p.config_file, "config file", p.name);
  return FirstSet({{EnvValue(env, "AWS_ENDPOINT_URL_DYNAMODB"), "AWS_ENDPOINT_URL_DYNAMODB"},
                   {EnvValue(env, "AWS_ENDPOINT_URL"), "AWS_ENDPOINT_URL"},
                   {Get(p.services, "dynamodb.endpoint_url"), label + " services dynamodb endpoint_url"},
                   {Get(p.config, "endpoint_url"), label + " endpoint_url"}});
}

// The standard endpoint; the China partition has its own DNS suffix.
std::string DefaultEndpoint(const std::string& region) {
  std::string suffix = region.starts_with("cn-") ? "amazonaws.com.cn" : "amazonaws.com";
  return "https://dynamodb." + region + "." + suffix;
}

Status ResolveEndpoint(const Environment& env, const Profile& p, const AwsConfigOverrides& overrides,
                       AwsConfig& out) {
  std::optional<Setting> endpoint = ConfiguredEndpoint(env, p, overrides);
  if (!endpoint) {
    out.endpoint_url = DefaultEndpoint(out.region);
    out.endpoint_source = "default for region " + out.region;
    return Status::Ok();
  }
  std::string url = endpoint->value;
  bool has_scheme = url.starts_with("http://") || url.starts_with("https://");
  if (!has_scheme || url.find_first_of(" \t\r\n") != std::string::npos ||
      url.size() == url.find("://") + 3) {
    return Status::InvalidArgument("endpoint URL \"" + url + "\" from " + endpoint->source +
                                   " must be http:// or https:// followed by a host");
  }
  while (url.ends_with('/')) url.pop_back();
  out.endpoint_url = url;
  out.endpoint_source = endpoint->source;
  return Status::Ok();
}

}  // namespace

Environment ProcessEnvironment() {
  Environment env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view entry(*e);
    size_t eq = entry.find('=');
    if (eq != std::string_view::npos) env.emplace(entry.substr(0, eq), entry.substr(eq + 1));
  }
  return env;
}

Result<IniFile> ParseIni(std::string_view text, std::string_view source_name) {
  IniParser parser(source_name);
  size_t line_no = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    JOBGATE_RETURN_IF_ERROR(parser.Line(text.substr(pos, end - pos), ++line_no));
    pos = end + 1;
  }
  return parser.Take();
}

Result<std::optional<IniFile>> LoadIniFile(const std::string& path) {
  std::error_code ec;
  auto st = std::filesystem::status(path, ec);
  if (st.type() == std::filesystem::file_type::not_found) return std::optional<IniFile>();
  if (ec) return Status::Unavailable("cannot read " + path + ": " + ec.message());
  // A character device such as /dev/null is how people say "no file" (the
  // AWS CLI and SDKs accept it); a directory or socket is a mistake.
  if (st.type() != std::filesystem::file_type::regular && st.type() != std::filesystem::file_type::character) {
    return Status::Unavailable("cannot read " + path + ": not a regular file");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::Unavailable("cannot read " + path + ": " + std::strerror(errno));
  std::stringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return Status::Unavailable("cannot read " + path + ": read error");
  Result<IniFile> ini = ParseIni(ss.str(), path);
  if (!ini.ok()) return ini.status();
  return std::optional<IniFile>(std::move(ini).value());
}

Result<AwsConfig> ResolveAwsConfig(const Environment& env, const AwsConfigOverrides& overrides,
                                   const AwsResolveOptions& options) {
  Result<Profile> profile = LoadProfile(env);
  if (!profile.ok()) return profile.status();
  AwsConfig out;
  out.profile = profile->name;
  const CredentialSourceDeps deps{options.http, options.clock};
  // STS is regional: web identity uses the configured region when there is
  // one (never IMDS's: that call is made only if nothing else names one).
  std::optional<Setting> configured = ConfiguredRegion(env, *profile, overrides);
  const std::string sts_region = configured && IsRegionName(configured->value) ? configured->value : "";
  JOBGATE_RETURN_IF_ERROR(ResolveCredentials(env, *profile, sts_region, options, out));
  JOBGATE_RETURN_IF_ERROR(ResolveRegion(env, *profile, overrides, deps, out));
  JOBGATE_RETURN_IF_ERROR(ResolveEndpoint(env, *profile, overrides, out));
  return out;
}

}  // namespace jobgate
