// The libcrypto (OpenSSL 3) functions SigV4 signing calls, resolved at run
// time from libcrypto.so.3 on first use (see shared_library.h for why it is
// not linked). The types come from the Debian-packaged OpenSSL headers.
#pragma once

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "jobgate/status.h"

namespace jobgate {

struct CryptoApi {
  decltype(&::EVP_sha256) evp_sha256;
  decltype(&::EVP_sha1) evp_sha1;  // the SSO token cache's file names
  decltype(&::EVP_Digest) evp_digest;
  decltype(&::HMAC) hmac;
  decltype(&::OPENSSL_cleanse) openssl_cleanse;
};

// Loads libcrypto once per process; thread-safe. Every later call returns
// the first call's outcome: the table, or kUnavailable naming the library
// and the loader's error.
Result<const CryptoApi*> LoadCryptoApi();

}  // namespace jobgate
