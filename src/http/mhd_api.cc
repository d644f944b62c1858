#include "http/mhd_api.h"

#include "sys/shared_library.h"

namespace jobgate::http {

namespace {

Result<MhdApi> Load() {
  auto lib = SharedLibrary::Open("libmicrohttpd.so.12", "serve --listen (install libmicrohttpd12)");
  if (!lib.ok()) return lib.status();
  MhdApi api{};
  JOBGATE_RETURN_IF_ERROR(lib->Resolve("MHD_start_daemon", &api.start_daemon));
  JOBGATE_RETURN_IF_ERROR(lib->Resolve("MHD_stop_daemon", &api.stop_daemon));
  JOBGATE_RETURN_IF_ERROR(lib->Resolve("MHD_get_daemon_info", &api.get_daemon_info));
  JOBGATE_RETURN_IF_ERROR(lib->Resolve("MHD_get_connection_info", &api.get_connection_info));
  JOBGATE_RETURN_IF_ERROR(lib->Resolve("MHD_lookup_connection_value", &api.lookup_connection_value));
  JOBGATE_RETURN_IF_ERROR(lib->Resolve("MHD_get_connection_values", &api.get_connection_values));
  JOBGATE_RETURN_IF_ERROR(lib->Resolve("MHD_create_response_from_buffer", &api.create_response_from_buffer));
  JOBGATE_RETURN_IF_ERROR(lib->Resolve("MHD_add_response_header", &api.add_response_header));
  JOBGATE_RETURN_IF_ERROR(lib->Resolve("MHD_queue_response", &api.queue_response));
  JOBGATE_RETURN_IF_ERROR(lib->Resolve("MHD_destroy_response", &api.destroy_response));
  return api;
}

}  // namespace

Result<const MhdApi*> LoadMhdApi() { return LoadOnce<MhdApi, &Load>(); }

}  // namespace jobgate::http
