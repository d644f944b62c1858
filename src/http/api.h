// The HTTP API of `jobgate serve --listen` (docs/operations.md, "HTTP API"):
// routes from a Request to a Response over the store, with the CLI's
// operator transitions (the Controller's Pause, Resume, Trigger, Unlock).
// It holds nothing another process needs: every answer is read from the
// store when asked.
//
// Who may do what:
// - /healthz, /readyz and the dashboard's files: anyone who can connect;
// - reads (GET /api/v1/..., /metrics): open to loopback peers that name a
//   loopback host (a page of another site that resolves its name to
//   127.0.0.1 is refused: DNS rebinding), the bearer token elsewhere;
// - mutations (POST): the bearer token, always; none when serve was given
//   no token file.
// The token is compared in constant time and never written anywhere.
#pragma once

#include <functional>
#include <mutex>
#include <optional>
#include <string>

#include "http/server.h"
#include "jobgate/clock.h"
#include "jobgate/controller.h"
#include "jobgate/store.h"

namespace jobgate::http {

struct ApiOptions {
  std::string token;        // empty: mutations are refused (403)
  std::string store_label;  // the store's URL without its password, for messages
  // /metrics' body, rendered when scraped from the API's store (one call at
  // a time, like every use of it); unset: 404.
  std::function<std::string(Store&)> metrics;
};

// A static file served as is (the dashboard's, built into the binary).
struct Asset {
  const char* path;  // "/", "/app.js"
  const char* content_type;
  const unsigned char* data;
  size_t size;
};
// The dashboard's files (generated at build time from src/http/web).
const Asset* FindAsset(const std::string& path);

class Api {
 public:
  // `store` is used from the server's threads one call at a time (the API
  // serialises on it), so give the API its own store, not the scheduler's.
  Api(Store& store, Clock& clock, Random& random, ApiOptions options);

  Response Handle(const Request& req);

  // The route a request is for, one of a fixed set whatever the path
  // (metrics labels): healthz, readyz, metrics, jobs, job, runs, pause,
  // resume, trigger, unlock, asset, other.
  static const char* RouteName(const Request& req);

  // {"error": {"code": ..., "message": ...}} with the status.
  static Response Error(int status, const std::string& code, const std::string& message);
  // The status and code of a Status error (404 not_found, 503 unavailable, ...).
  static Response ErrorFor(const Status& s);

 private:
  Response Jobs(const Request& req);
  Response Job(const std::string& job);
  Response Runs(const std::string& job, const Request& req);
  Response Mutate(const std::string& job, const std::string& action, const Request& req);
  Response Ready();
  std::optional<Response> Refuse(const Request& req, bool mutation) const;
  Result<bool> Exists(const std::string& job);

  Store& store_;
  Clock& clock_;
  Random& random_;
  const ApiOptions options_;
  std::mutex store_mu_;
};

// Equal strings, in a time that depends only on `expected`'s length.
bool TokenEquals(const std::string& given, const std::string& expected);

}  // namespace jobgate::http
