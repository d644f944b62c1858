// End-to-end checks of `jobgate serve --listen`, shared by the backends'
// suites (tests/cli: SQLite; tests/dynamo: the DynamoDB emulator): a real
// serve on a loopback port, spoken to over HTTP by cpp-httplib's client,
// with the store read back through the CLI.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "support/subprocess.h"

namespace jobgate::test {

struct ServeApiSetup {
  std::string binary;     // build/jobgate
  std::string store_url;  // an initialised, empty store
  std::string dir;        // a temporary directory for files and logs
  EnvChanges env = {};    // for serve (credentials of a remote store)
};

// Every endpoint and error of the API (docs/operations.md, "HTTP API"):
// jobs, one job, runs paged, pause/resume/trigger/unlock with and without
// the token, 400 naming the field, 404, 405, 413, /healthz, /readyz, the
// dashboard's page, /metrics.
void CheckServeApi(const ServeApiSetup& setup);

// Clients that connect and stall (no request; half a request; half a body)
// hold neither the scheduler, which goes on starting a rate(1 second) job,
// nor the other clients.
void CheckSlowClientsBlockNothing(const ServeApiSetup& setup);

// /metrics after serve ran a job that fails every third run: read by an
// independent parser (tools/prom), its counters equal the runs serve's log
// shows and the counts in the store.
void CheckServeMetrics(const ServeApiSetup& setup);

// `store_url` names a store that does not answer, and serve has no token
// file: it stays up and says so (/healthz 200, /readyz and every read 503
// naming the store's error, /metrics with jobgate_store_up 0 and the failed
// calls counted), and refuses every change with 403 before it asks the store.
void CheckStoreDownAndNoToken(const ServeApiSetup& setup);

}  // namespace jobgate::test
