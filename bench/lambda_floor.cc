// The floor of a Lambda custom runtime's cold start (docs/benchmarks.md,
// "Lambda"): a minimal C program that does what any runtime must, with the
// library any C runtime would use (libcurl, as aws-lambda-cpp does) and
// nothing else: GET invocation/next, POST an answer, GET invocation/next
// again (where it waits). C library and libcurl only; --as-needed drops
// libstdc++ from it.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

namespace {

char g_request_id[256];

size_t OnHeader(char* data, size_t size, size_t count, void*) {
  const size_t n = size * count;
  const char kName[] = "Lambda-Runtime-Aws-Request-Id:";
  if (n > sizeof(kName) && strncasecmp(data, kName, sizeof(kName) - 1) == 0) {
    size_t start = sizeof(kName) - 1, end = n;
    while (start < end && data[start] == ' ') ++start;
    while (end > start && (data[end - 1] == '\r' || data[end - 1] == '\n')) --end;
    const size_t len = end - start < sizeof(g_request_id) - 1 ? end - start : sizeof(g_request_id) - 1;
    memcpy(g_request_id, data + start, len);
    g_request_id[len] = '\0';
  }
  return n;
}

size_t OnBody(char*, size_t size, size_t count, void*) { return size * count; }

}  // namespace

int main() {
  const char* api = getenv("AWS_LAMBDA_RUNTIME_API");
  if (api == nullptr) return 2;
  char url[512];
  CURL* curl = curl_easy_init();
  for (int i = 0; i < 2; ++i) {
    snprintf(url, sizeof(url), "http://%s/2018-06-01/runtime/invocation/next", api);
    curl_easy_reset(curl);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, &OnHeader);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &OnBody);
    CURLcode rc = curl_easy_perform(curl);
    if (rc != CURLE_OK) {
      fprintf(stderr, "lambda_floor: %s: %s\n", url, curl_easy_strerror(rc));
      return 1;
    }
    snprintf(url, sizeof(url), "http://%s/2018-06-01/runtime/invocation/%s/response", api, g_request_id);
    curl_easy_reset(curl);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, "{}");
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &OnBody);
    rc = curl_easy_perform(curl);
    if (rc != CURLE_OK) {
      fprintf(stderr, "lambda_floor: %s: %s\n", url, curl_easy_strerror(rc));
      return 1;
    }
  }
  curl_easy_cleanup(curl);
  return 0;
}
