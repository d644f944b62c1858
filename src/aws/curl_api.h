// The libcurl functions the HTTP client calls, resolved at run time from
// libcurl.so.4 the first time a DynamoDB store is opened (see
// shared_library.h for why it is not linked). The types come from the
// Debian-packaged <curl/curl.h>, so each pointer has the header's exact
// signature.
#pragma once

#include <curl/curl.h>

#include "jobgate/status.h"

namespace jobgate {

struct CurlApi {
  decltype(&::curl_easy_init) easy_init;
  decltype(&::curl_easy_cleanup) easy_cleanup;
  decltype(&::curl_easy_reset) easy_reset;
  // Variadic, as in curl.h; calls through these pointers bypass curl.h's
  // compile-time type check of the option's value, so pass what the
  // option's man page says (long, not int, for numeric options).
  decltype(&::curl_easy_setopt) easy_setopt;
  decltype(&::curl_easy_getinfo) easy_getinfo;
  decltype(&::curl_easy_perform) easy_perform;
  decltype(&::curl_easy_strerror) easy_strerror;
  decltype(&::curl_slist_append) slist_append;
  decltype(&::curl_slist_free_all) slist_free_all;
};

// Loads libcurl and runs curl_global_init, once per process; thread-safe.
// Every later call returns the first call's outcome: the table, or
// kUnavailable naming the library and the loader's error.
Result<const CurlApi*> LoadCurlApi();

}  // namespace jobgate
