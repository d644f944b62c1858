// A shared library opened at run time (dlopen) instead of linked: for the
// dependencies only one backend needs. libcurl and libcrypto are needed by
// the DynamoDB store alone, libpq by the PostgreSQL store, libsqlite3 by
// the SQLite store; linking them made every `jobgate` process pay for
// loading and relocating them all at start-up (libcurl's ~30 libraries;
// libsqlite3's 1,600 symbol relocations, bound at load: docs/benchmarks.md,
// "Target 3: process start-up" and "Process start-up").
//
// The handle is never closed: function pointers taken from it must stay
// valid for the rest of the process. Thread-safe (dlopen and dlsym are).
#pragma once

#include <string>
#include <utility>

#include "jobgate/status.h"

namespace jobgate {

class SharedLibrary {
 public:
  // dlopen(soname, RTLD_NOW | RTLD_LOCAL). kUnavailable naming the library,
  // what needs it (`needed_by`) and dlerror() when it cannot be loaded.
  static Result<SharedLibrary> Open(const std::string& soname, const std::string& needed_by);

  // Points *fn at the library's `symbol`. Fn is the function's type, so
  // `Resolve("curl_easy_init", &api.easy_init)` keeps the header's
  // declaration as the one source of the signature. kUnavailable when the
  // library lacks the symbol (an older version than the headers').
  template <typename Fn>
  Status Resolve(const char* symbol, Fn** fn) const {
    void* address = nullptr;
    JOBGATE_RETURN_IF_ERROR(Lookup(symbol, &address));
    // POSIX guarantees that dlsym's void* converts to a function pointer.
    *fn = reinterpret_cast<Fn*>(address);
    return Status::Ok();
  }

 private:
  SharedLibrary(std::string soname, void* handle) : soname_(std::move(soname)), handle_(handle) {}
  Status Lookup(const char* symbol, void** address) const;

  std::string soname_;
  void* handle_;
};

// The function table `Load` fills from a library, loaded once per process:
// a function-local static is initialised exactly once, also when threads
// race to it (C++11 [stmt.dcl]). Every call returns the first call's
// outcome, the table or the error.
template <typename Api, Result<Api> (*Load)()>
Result<const Api*> LoadOnce() {
  static const Result<Api> loaded = Load();
  if (!loaded.ok()) return loaded.status();
  return &loaded.value();
}

}  // namespace jobgate
