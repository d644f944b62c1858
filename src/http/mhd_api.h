// The libmicrohttpd functions the HTTP server calls, resolved at run time
// from libmicrohttpd.so.12 the first time `serve --listen` starts one (see
// sys/shared_library.h for why it is not linked: libmicrohttpd brings
// GnuTLS and its dependencies, which every `jobgate run` would otherwise
// load and relocate at start-up). The types come from the Debian-packaged
// <microhttpd.h>, so each pointer has the header's exact signature.
//
// Why libmicrohttpd and not cpp-httplib: Debian ships cpp-httplib as a C++
// shared library built with OpenSSL, zlib and brotli; linking it would load
// all of those into every process, and a C++ library would bring a second
// libstdc++ beside jobgate's static one (docs/design.md, "Dependencies").
#pragma once

#include <microhttpd.h>

#include "jobgate/status.h"

namespace jobgate::http {

struct MhdApi {
  decltype(&::MHD_start_daemon) start_daemon;
  decltype(&::MHD_stop_daemon) stop_daemon;
  decltype(&::MHD_get_daemon_info) get_daemon_info;
  decltype(&::MHD_get_connection_info) get_connection_info;
  decltype(&::MHD_lookup_connection_value) lookup_connection_value;
  decltype(&::MHD_get_connection_values) get_connection_values;
  decltype(&::MHD_create_response_from_buffer) create_response_from_buffer;
  decltype(&::MHD_add_response_header) add_response_header;
  decltype(&::MHD_queue_response) queue_response;
  decltype(&::MHD_destroy_response) destroy_response;
};

// Loads libmicrohttpd, once per process; thread-safe. Every later call
// returns the first call's outcome: the table, or kUnavailable naming the
// library, the package to install and the loader's error.
Result<const MhdApi*> LoadMhdApi();

}  // namespace jobgate::http
