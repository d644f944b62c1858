#include "aws/sigv4.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <map>
#include <optional>

#include "aws/crypto_api.h"
#include "util/text.h"

namespace jobgate {
namespace {

constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";
constexpr std::string_view kHexDigits = "0123456789abcdef";

using Digest = std::array<unsigned char, 32>;

std::string ToHex(const unsigned char* data, size_t size) {
  std::string out;
  out.reserve(size * 2);
  for (size_t i = 0; i < size; ++i) {
    out += kHexDigits[data[i] >> 4];
    out += kHexDigits[data[i] & 0xf];
  }
  return out;
}

// The hashing functions' libcrypto. They return plain strings, so a
// missing library cannot travel as a Status from here: SignRequest and
// DynamoDbStore::Open check LoadCryptoApi() first and return its error, and
// reaching this without it is a caller's bug (see sigv4.h).
const CryptoApi& Crypto() {
  auto api = LoadCryptoApi();
  if (!api.ok()) {
    std::fprintf(stderr, "jobgate: SigV4 without libcrypto: %s\n", api.status().message().c_str());
    std::abort();
  }
  return **api;
}

Digest HmacSha256(std::string_view key, std::string_view data) {
  const CryptoApi& crypto = Crypto();
  Digest out{};
  unsigned int len = 0;
  crypto.hmac(crypto.evp_sha256(), key.data(), static_cast<int>(key.size()),
              reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data(), &len);
  return out;
}

std::string_view AsView(const Digest& d) {
  return {reinterpret_cast<const char*>(d.data()), d.size()};
}

bool IsHttpSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// "Trimall" of the CanonicalHeaders rules: leading and trailing whitespace
// removed, and every run of whitespace inside, including the line breaks of
// an obsolete folded (multi-line) value, becomes one space.
std::string TrimAll(std::string_view value) {
  std::string out;
  bool pending_space = false;
  for (char c : value) {
    if (IsHttpSpace(c)) {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out += ' ';
    pending_space = false;
    out += c;
  }
  return out;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes %XX; a '%' not followed by two hex digits stays literal (it is
// then encoded as %25, as AWS would see it). '+' is not a space in SigV4.
std::string PercentDecode(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%' && i + 2 < in.size()) {
      int hi = HexValue(in[i + 1]);
      int lo = HexValue(in[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
        continue;
      }
    }
    out += in[i];
  }
  return out;
}

// Splits "path?query" into its parts; the query part excludes the '?'.
std::pair<std::string_view, std::string_view> SplitTarget(std::string_view target) {
  size_t q = target.find('?');
  if (q == std::string_view::npos) return {target, {}};
  return {target.substr(0, q), target.substr(q + 1)};
}

// RFC 3986 section 5.2.4 "Remove Dot Segments", plus collapsing of empty
// segments ("//"), which AWS applies to every service but S3 (test suite
// normalize-path/get-slashes). A trailing slash survives, and a path that
// ended in "." or ".." names a directory, so it gets one too.
std::string NormalizePath(std::string_view path) {
  std::vector<std::string_view> kept;
  bool trailing_slash = false;
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t end = std::min(path.find('/', pos), path.size());
    std::string_view seg = path.substr(pos, end - pos);
    bool last = end == path.size();
    if (seg == "..") {
      if (!kept.empty()) kept.pop_back();
    } else if (!seg.empty() && seg != ".") {
      kept.push_back(seg);
    }
    if (last) trailing_slash = seg.empty() || seg == "." || seg == "..";
    pos = end + 1;
  }
  std::string out;
  for (std::string_view seg : kept) {
    out += '/';
    out += seg;
  }
  if (out.empty() || trailing_slash) out += '/';
  return out;
}

bool IsSignerHeader(std::string_view lower_name, const SigV4Params& params) {
  return lower_name == "authorization" || lower_name == "x-amz-date" ||
         lower_name == "x-amz-security-token" ||
         (params.sign_content_sha256 && lower_name == "x-amz-content-sha256");
}

std::optional<std::string> FindHeader(const HttpHeaders& headers, std::string_view lower_name) {
  for (const auto& [name, value] : headers) {
    if (AsciiLower(name) == lower_name) return TrimAll(value);
  }
  return std::nullopt;
}

// "HashedPayload": S3-style requests that declare the payload hash in
// X-Amz-Content-Sha256 (for example UNSIGNED-PAYLOAD) sign that value.
std::string PayloadHash(const SigningRequest& request) {
  if (auto declared = FindHeader(request.headers, "x-amz-content-sha256")) return *declared;
  return Sha256Hex(request.body);
}

std::string JoinQueries(std::string_view a, std::string_view b) {
  if (a.empty()) return std::string(b);
  if (b.empty()) return std::string(a);
  return std::string(a) + "&" + std::string(b);
}

bool IsDigits(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool IsAmzDate(std::string_view d) {
  return d.size() == 16 && IsDigits(d.substr(0, 8)) && d[8] == 'T' && IsDigits(d.substr(9, 6)) &&
         d[15] == 'Z';
}

// A scope element must not break the "date/region/service/aws4_request"
// syntax of the credential scope.
bool IsScopeToken(std::string_view s) {
  return !s.empty() && std::none_of(s.begin(), s.end(), [](char c) {
    return c == '/' || IsHttpSpace(c) || static_cast<unsigned char>(c) < 0x20;
  });
}

// Checks what SignRequest needs. Messages name fields, never secret values.
Status ValidateInputs(const SigningRequest& request, const AwsCredentials& credentials,
                      const SigV4Params& params) {
  if (!IsAmzDate(params.amz_date)) {
    return Status::InvalidArgument("SigV4: amz_date must be YYYYMMDDTHHMMSSZ, got \"" +
                                   params.amz_date + "\"");
  }
  if (!IsScopeToken(params.region)) return Status::InvalidArgument("SigV4: region is empty or invalid");
  if (!IsScopeToken(params.service)) return Status::InvalidArgument("SigV4: service is empty or invalid");
  if (credentials.access_key_id.empty() || credentials.secret_access_key.empty()) {
    return Status::InvalidArgument("SigV4: the credentials lack an access key id or a secret key");
  }
  if (request.method.empty()) return Status::InvalidArgument("SigV4: the request has no method");
  // AWS rejects a signature that does not cover Host ("'Host' must be a
  // signed header"); catching it here names the bug instead of a 403.
  if (!FindHeader(request.headers, "host")) {
    return Status::InvalidArgument("SigV4: the request has no Host header to sign");
  }
  return Status::Ok();
}

}  // namespace

std::string AmzDate(std::chrono::system_clock::time_point t) {
  std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

std::string Sha256Hex(std::string_view data) {
  const CryptoApi& crypto = Crypto();
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  crypto.evp_digest(data.data(), data.size(), md, &len, crypto.evp_sha256(), nullptr);
  return ToHex(md, len);
}

std::string UriEncode(std::string_view in, bool keep_slash) {
  static constexpr std::string_view kUpperHex = "0123456789ABCDEF";
  std::string out;
  out.reserve(in.size());
  for (char c : in) {
    auto u = static_cast<unsigned char>(c);
    // ASCII only: std::isalnum depends on the locale.
    bool alnum = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (alnum || c == '-' || c == '.' || c == '_' || c == '~' || (keep_slash && c == '/')) {
      out += c;
    } else {
      out += '%';
      out += kUpperHex[u >> 4];
      out += kUpperHex[u & 0xf];
    }
  }
  return out;
}

SigningRequest WithSignerHeaders(SigningRequest request, const AwsCredentials& credentials,
                                 const SigV4Params& params) {
  std::erase_if(request.headers,
                [&](const auto& h) { return IsSignerHeader(AsciiLower(h.first), params); });
  request.headers.emplace_back("X-Amz-Date", params.amz_date);
  if (!credentials.session_token.empty() && !params.omit_session_token) {
    request.headers.emplace_back("X-Amz-Security-Token", credentials.session_token);
  }
  if (params.sign_content_sha256) {
    request.headers.emplace_back("X-Amz-Content-Sha256", Sha256Hex(request.body));
  }
  return request;
}

std::string CanonicalUri(std::string_view path, const SigV4Params& params) {
  std::string p = path.empty() ? std::string("/") : std::string(path);
  if (params.normalize_path) p = NormalizePath(p);
  return params.encode_path ? UriEncode(p, /*keep_slash=*/true) : p;
}

std::string CanonicalQueryString(std::string_view query) {
  std::vector<std::pair<std::string, std::string>> params;
  size_t pos = 0;
  while (pos <= query.size()) {
    size_t end = std::min(query.find('&', pos), query.size());
    std::string_view item = query.substr(pos, end - pos);
    pos = end + 1;
    if (item.empty()) continue;  // "a=1&&b=2": no parameter between the '&'s
    size_t eq = item.find('=');
    std::string_view name = item.substr(0, eq);
    std::string_view value = eq == std::string_view::npos ? std::string_view() : item.substr(eq + 1);
    // Decode first so that a parameter sent raw and one sent encoded sign
    // the same: the docs sort and join the URI-encoded names and values.
    params.emplace_back(UriEncode(PercentDecode(name), false), UriEncode(PercentDecode(value), false));
  }
  std::sort(params.begin(), params.end());
  std::string out;
  for (const auto& [name, value] : params) {
    if (!out.empty()) out += '&';
    out += name + "=" + value;
  }
  return out;
}

CanonicalHeaderSet CanonicalizeHeaders(const HttpHeaders& headers) {
  // Repeated names are joined with commas in the order sent (test suite
  // get-header-key-duplicate); std::map sorts the names by byte value.
  std::map<std::string, std::string> joined;
  for (const auto& [name, value] : headers) {
    std::string key = AsciiLower(TrimAll(name));
    auto [it, inserted] = joined.try_emplace(key, TrimAll(value));
    if (!inserted) {
      // Two appends, not "," + TrimAll(...): g++ 12's -Wrestrict misfires on
      // the operator+ at -O3.
      it->second += ',';
      it->second += TrimAll(value);
    }
  }
  CanonicalHeaderSet out;
  for (const auto& [name, value] : joined) {
    out.canonical += name + ":" + value + "\n";
    if (!out.signed_names.empty()) out.signed_names += ';';
    out.signed_names += name;
  }
  return out;
}

std::string CanonicalRequest(const SigningRequest& signed_request, const SigV4Params& params) {
  auto [path, path_query] = SplitTarget(signed_request.path);
  CanonicalHeaderSet headers = CanonicalizeHeaders(signed_request.headers);
  return signed_request.method + "\n" + CanonicalUri(path, params) + "\n" +
         CanonicalQueryString(JoinQueries(path_query, signed_request.query)) + "\n" +
         headers.canonical + "\n" + headers.signed_names + "\n" + PayloadHash(signed_request);
}

std::string CredentialScope(const SigV4Params& params) {
  return params.amz_date.substr(0, 8) + "/" + params.region + "/" + params.service + "/aws4_request";
}

std::string StringToSign(std::string_view canonical_request, const SigV4Params& params) {
  return std::string(kAlgorithm) + "\n" + params.amz_date + "\n" + CredentialScope(params) + "\n" +
         Sha256Hex(canonical_request);
}

std::string SignatureHex(std::string_view string_to_sign, const AwsCredentials& credentials,
                         const SigV4Params& params) {
  std::string secret = "AWS4" + credentials.secret_access_key;
  Digest key = HmacSha256(secret, params.amz_date.substr(0, 8));
  key = HmacSha256(AsView(key), params.region);
  key = HmacSha256(AsView(key), params.service);
  key = HmacSha256(AsView(key), "aws4_request");
  Digest sig = HmacSha256(AsView(key), string_to_sign);
  // The derived key is as good as the secret for a day: do not leave it
  // (or the secret copy) in freed memory.
  const CryptoApi& crypto = Crypto();
  crypto.openssl_cleanse(secret.data(), secret.size());
  crypto.openssl_cleanse(key.data(), key.size());
  return ToHex(sig.data(), sig.size());
}

std::string AuthorizationHeader(const AwsCredentials& credentials, const SigV4Params& params,
                                std::string_view signed_headers, std::string_view signature) {
  return std::string(kAlgorithm) + " Credential=" + credentials.access_key_id + "/" +
         CredentialScope(params) + ", SignedHeaders=" + std::string(signed_headers) +
         ", Signature=" + std::string(signature);
}

Result<SigV4Signature> SignRequest(const SigningRequest& request, const AwsCredentials& credentials,
                                   const SigV4Params& params) {
  JOBGATE_RETURN_IF_ERROR(ValidateInputs(request, credentials, params));
  if (auto crypto = LoadCryptoApi(); !crypto.ok()) return crypto.status();
  SigningRequest prepared = WithSignerHeaders(request, credentials, params);
  SigV4Signature out;
  out.canonical_request = CanonicalRequest(prepared, params);
  out.string_to_sign = StringToSign(out.canonical_request, params);
  out.signature = SignatureHex(out.string_to_sign, credentials, params);
  out.authorization = AuthorizationHeader(credentials, params,
                                          CanonicalizeHeaders(prepared.headers).signed_names,
                                          out.signature);
  out.headers_to_set.emplace_back("Authorization", out.authorization);
  for (const auto& [name, value] : prepared.headers) {
    if (IsSignerHeader(AsciiLower(name), params)) out.headers_to_set.emplace_back(name, value);
  }
  // Sent but not signed: the service reads the token after checking the
  // signature (test suite post-sts-header-after).
  if (!credentials.session_token.empty() && params.omit_session_token) {
    out.headers_to_set.emplace_back("X-Amz-Security-Token", credentials.session_token);
  }
  return out;
}

Result<HttpHeaders> SigV4Headers(const SigningRequest& request, const AwsCredentials& credentials,
                                 const SigV4Params& params) {
  Result<SigV4Signature> sig = SignRequest(request, credentials, params);
  if (!sig.ok()) return sig.status();
  return std::move(sig->headers_to_set);
}

}  // namespace jobgate
