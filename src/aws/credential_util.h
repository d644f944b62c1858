// Helpers the credential sources share (credential_sources.h): one HTTP
// exchange with errors as values naming the source, the JSON credential
// documents, files read per fetch. Thread-compatible, like the sources.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "aws/credential_sources.h"

namespace jobgate {

// Sends `request` over a transport made with `options`; a transport error
// becomes kUnavailable "WHAT (URL): KIND: detail". The request's headers
// and body are never put in a message (they carry tokens).
Result<HttpResponse> SendCredentialRequest(const CredentialSourceDeps& deps, const HttpClientOptions& options,
                                           const HttpRequest& request, std::string_view what);

// Where the JSON names of the three parts and the expiration are.
struct JsonCredentialNames {
  const char* access_key_id = "AccessKeyId";
  const char* secret_access_key = "SecretAccessKey";
  const char* session_token = "Token";
  const char* expiration = "Expiration";  // RFC 3339 string
};

// Credentials from a JSON document (container, IMDS, credential_process).
// kUnavailable "WHAT: ..." for bad JSON, missing fields or a malformed
// expiration; the document is never quoted.
Result<TimedCredentials> ParseJsonCredentials(std::string_view body, const JsonCredentialNames& names,
                                              std::string_view what);

// A whole small file (a token), trailing newline and blanks removed;
// kUnavailable "cannot read WHAT PATH: reason".
Result<std::string> ReadSmallFile(const std::string& path, std::string_view what);

// The first line of a server's error message, at most 200 bytes, with
// `secret` scrubbed: enough to say what went wrong.
std::string BodySnippet(std::string_view body, std::string_view secret = {});

// The same for a raw HTTP error body, which a broken server could fill
// with anything, a credentials document included: one that mentions a
// secret or a token is not quoted at all.
std::string RawBodySnippet(std::string_view body, std::string_view secret = {});

// The clock a source reads: the injected one or the system's.
Clock& SourceClock(const CredentialSourceDeps& deps);

}  // namespace jobgate
