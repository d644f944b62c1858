#include "sys/shared_library.h"

#include <dlfcn.h>

#include <fmt/format.h>

namespace jobgate {

namespace {

std::string LastDlError() {
  const char* error = dlerror();
  return error != nullptr ? error : "unknown error";
}

}  // namespace

Result<SharedLibrary> SharedLibrary::Open(const std::string& soname, const std::string& needed_by) {
  // RTLD_LOCAL: the library's symbols serve only the pointers resolved
  // from it, never the symbol lookups of later-loaded code.
  void* handle = dlopen(soname.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    return Status::Unavailable(fmt::format("cannot load {}, needed by {}: {}", soname, needed_by, LastDlError()));
  }
  return SharedLibrary(soname, handle);
}

Status SharedLibrary::Lookup(const char* symbol, void** address) const {
  dlerror();  // clear any earlier error, so that the one reported is ours
  *address = dlsym(handle_, symbol);
  if (*address == nullptr) {
    return Status::Unavailable(fmt::format("{} has no symbol {}: {}", soname_, symbol, LastDlError()));
  }
  return Status::Ok();
}

}  // namespace jobgate
