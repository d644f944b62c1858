#include "aws/curl_api.h"

#include "sys/shared_library.h"

namespace jobgate {

namespace {

Result<CurlApi> Load() {
  auto lib = SharedLibrary::Open("libcurl.so.4", "the DynamoDB store (install libcurl4)");
  if (!lib.ok()) return lib.status();
  CurlApi api{};
  decltype(&::curl_global_init) global_init = nullptr;
  JOBGATE_RETURN_IF_ERROR(lib->Resolve("curl_global_init", &global_init));
  JOBGATE_RETURN_IF_ERROR(lib->Resolve("curl_easy_init", &api.easy_init));
  JOBGATE_RETURN_IF_ERROR(lib->Resolve("curl_easy_cleanup", &api.easy_cleanup));
  JOBGATE_RETURN_IF_ERROR(lib->Resolve("curl_easy_reset", &api.easy_reset));
  JOBGATE_RETURN_IF_ERROR(lib->Resolve("curl_easy_setopt", &api.easy_setopt));
  JOBGATE_RETURN_IF_ERROR(lib->Resolve("curl_easy_getinfo", &api.easy_getinfo));
  JOBGATE_RETURN_IF_ERROR(lib->Resolve("curl_easy_perform", &api.easy_perform));
  JOBGATE_RETURN_IF_ERROR(lib->Resolve("curl_easy_strerror", &api.easy_strerror));
  JOBGATE_RETURN_IF_ERROR(lib->Resolve("curl_slist_append", &api.slist_append));
  JOBGATE_RETURN_IF_ERROR(lib->Resolve("curl_slist_free_all", &api.slist_free_all));
  // libcurl's global init is not thread-safe and must happen once per
  // process, before any handle exists: the once of LoadCurlApi gives both.
  const CURLcode rc = global_init(CURL_GLOBAL_DEFAULT);
  if (rc != CURLE_OK) {
    return Status::Unavailable(std::string("cannot initialise libcurl: ") + api.easy_strerror(rc));
  }
  return api;
}

}  // namespace

Result<const CurlApi*> LoadCurlApi() { return LoadOnce<CurlApi, &Load>(); }

}  // namespace jobgate
