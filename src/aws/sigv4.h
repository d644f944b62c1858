// AWS Signature Version 4, header-based signing: what the DynamoDB JSON 1.0
// protocol uses. Written from the AWS docs "Create a signed AWS API request"
// and "Elements of an AWS API request signature" (IAM User Guide) and proven
// against the vectors in testdata/sigv4 (tests/aws/sigv4_test.cc).
//
// Every function is pure and thread-safe: the time is a parameter, nothing
// is cached, nothing is logged. The secret key and the session token never
// appear in an error message. The session token does appear in the
// canonical request when it is signed, so do not log that either.
//
// SHA-256 and HMAC come from libcrypto, loaded once per process on first
// use (crypto_api.h). SignRequest and SigV4Headers return its kUnavailable
// error when it cannot be loaded; the functions below that hash and return
// a plain string (Sha256Hex, WithSignerHeaders, CanonicalRequest,
// StringToSign, SignatureHex) cannot, and stop the process with that error
// instead: call them only once LoadCryptoApi() has succeeded, as
// DynamoDbStore::Open makes sure.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "jobgate/status.h"

namespace jobgate {

// Static or temporary (STS) credentials. Treat the whole value as secret.
struct AwsCredentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // empty for long-term keys
};

// Header name/value pairs in the order they are sent; names may repeat.
using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

// An HTTP request as it will be sent, reduced to what SigV4 signs.
struct SigningRequest {
  std::string method = "POST";
  // The request target as sent on the wire: a path, optionally followed by
  // "?query". Non-S3 services sign it encoded once more ("double encoding").
  std::string path = "/";
  // Extra query parameters as on the wire ("a=1&b=2"), joined to any query
  // that `path` carries.
  std::string query;
  // Every header here is signed; it must include Host. X-Amz-Date,
  // X-Amz-Security-Token and Authorization belong to the signer: copies
  // passed in are dropped and replaced by SigV4Signature::headers_to_set.
  HttpHeaders headers;
  std::string body;
};

// What is signed besides the request.
struct SigV4Params {
  std::string region;    // "us-east-1"
  std::string service;   // "dynamodb"
  std::string amz_date;  // request time, UTC, "YYYYMMDDTHHMMSSZ" (see AmzDate)
  // Remove dot segments and collapse repeated slashes. Every service but S3.
  bool normalize_path = true;
  // URI-encode the (already encoded) path once more. Every service but S3,
  // whose path is signed exactly as sent.
  bool encode_path = true;
  // Sign without X-Amz-Security-Token and send it unsigned: what the few
  // services that want the token added "after you calculate the signature"
  // expect (test suite post-sts-header-after). DynamoDB wants it signed.
  bool omit_session_token = false;
  // Add and sign X-Amz-Content-Sha256 (S3 style). DynamoDB does not need it.
  bool sign_content_sha256 = false;
};

// A signature and everything that led to it.
struct SigV4Signature {
  std::string canonical_request;  // may contain the session token: never log
  std::string string_to_sign;
  std::string signature;          // lower-case hex
  std::string authorization;      // value of the Authorization header
  // Headers the caller sets on the outgoing request (replacing any of the
  // same name): Authorization, X-Amz-Date, and X-Amz-Security-Token when
  // the credentials have one, X-Amz-Content-Sha256 when asked for.
  HttpHeaders headers_to_set;
};

// Formats a time as the X-Amz-Date value, "YYYYMMDDTHHMMSSZ" (UTC).
std::string AmzDate(std::chrono::system_clock::time_point t);

// Lower-case hex SHA-256 of `data` (the payload hash of "HashedPayload").
std::string Sha256Hex(std::string_view data);

// Percent-encodes every byte outside the RFC 3986 unreserved set
// (A-Z a-z 0-9 - . _ ~) as %XX with upper-case hex; '/' is kept when
// `keep_slash` (the AWS docs' "UriEncode" function).
std::string UriEncode(std::string_view in, bool keep_slash);

// The steps of the AWS docs, exposed so tests can check each one and a
// signature mismatch can be debugged by comparing them with AWS's answer.

// The request with the headers the signer owns set: X-Amz-Date, and
// X-Amz-Security-Token / X-Amz-Content-Sha256 when they are to be signed.
SigningRequest WithSignerHeaders(SigningRequest request, const AwsCredentials& credentials,
                                 const SigV4Params& params);

// "CanonicalURI": the path, normalised and encoded as `params` say.
std::string CanonicalUri(std::string_view path, const SigV4Params& params);

// "CanonicalQueryString": parameters decoded, re-encoded, sorted by name
// then value, each written name=value (empty values keep the '=').
std::string CanonicalQueryString(std::string_view query);

// "CanonicalHeaders" (each "name:value\n") and "SignedHeaders" ("a;b;c").
struct CanonicalHeaderSet {
  std::string canonical;
  std::string signed_names;
};
CanonicalHeaderSet CanonicalizeHeaders(const HttpHeaders& headers);

// "Step 1: Create a canonical request", for a request that already carries
// the signer's headers (see WithSignerHeaders).
std::string CanonicalRequest(const SigningRequest& signed_request, const SigV4Params& params);

// "date/region/service/aws4_request".
std::string CredentialScope(const SigV4Params& params);

// "Step 3: Create a string to sign".
std::string StringToSign(std::string_view canonical_request, const SigV4Params& params);

// "Step 4: Calculate the signature": HMAC chain over date, region, service
// and "aws4_request", then HMAC of the string to sign, in lower-case hex.
std::string SignatureHex(std::string_view string_to_sign, const AwsCredentials& credentials,
                         const SigV4Params& params);

// "Step 5: Add the signature to the request": the Authorization value.
std::string AuthorizationHeader(const AwsCredentials& credentials, const SigV4Params& params,
                                std::string_view signed_headers, std::string_view signature);

// All the steps. kInvalidArgument names the offending field (never a
// secret) when the parameters cannot produce a valid signature.
Result<SigV4Signature> SignRequest(const SigningRequest& request, const AwsCredentials& credentials,
                                   const SigV4Params& params);

// The convenience the HTTP client calls: SignRequest's headers_to_set.
Result<HttpHeaders> SigV4Headers(const SigningRequest& request, const AwsCredentials& credentials,
                                 const SigV4Params& params);

}  // namespace jobgate
