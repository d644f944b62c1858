#include "aws/crypto_api.h"

#include "sys/shared_library.h"

namespace jobgate {

namespace {

Result<CryptoApi> Load() {
  auto lib = SharedLibrary::Open("libcrypto.so.3", "the DynamoDB store's SigV4 signing (install libssl3)");
  if (!lib.ok()) return lib.status();
  CryptoApi api{};
  JOBGATE_RETURN_IF_ERROR(lib->Resolve("EVP_sha256", &api.evp_sha256));
  JOBGATE_RETURN_IF_ERROR(lib->Resolve("EVP_sha1", &api.evp_sha1));
  JOBGATE_RETURN_IF_ERROR(lib->Resolve("EVP_Digest", &api.evp_digest));
  JOBGATE_RETURN_IF_ERROR(lib->Resolve("HMAC", &api.hmac));
  JOBGATE_RETURN_IF_ERROR(lib->Resolve("OPENSSL_cleanse", &api.openssl_cleanse));
  return api;
}

}  // namespace

Result<const CryptoApi*> LoadCryptoApi() { return LoadOnce<CryptoApi, &Load>(); }

}  // namespace jobgate
