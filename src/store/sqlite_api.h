// The libsqlite3 functions the SQLite store calls, resolved at run time from
// libsqlite3.so.0 the first time a sqlite: store is opened (see
// sys/shared_library.h for why it is not linked: Debian builds libsqlite3
// with BIND_NOW, and loading it cost every `jobgate` process, `--version`,
// `next` and PostgreSQL and DynamoDB ones included, about as much as all of
// jobgate's own start-up; docs/benchmarks.md, "Process start-up"). The
// types come from the Debian-packaged <sqlite3.h>, so each pointer has the
// header's exact signature.
#pragma once

#include <sqlite3.h>

#include "jobgate/status.h"

namespace jobgate {

struct SqliteApi {
  decltype(&::sqlite3_bind_int64) bind_int64;
  decltype(&::sqlite3_bind_null) bind_null;
  decltype(&::sqlite3_bind_text) bind_text;
  decltype(&::sqlite3_bind_text64) bind_text64;
  decltype(&::sqlite3_busy_timeout) busy_timeout;
  decltype(&::sqlite3_changes) changes;
  decltype(&::sqlite3_changes64) changes64;
  decltype(&::sqlite3_clear_bindings) clear_bindings;
  decltype(&::sqlite3_close_v2) close_v2;
  decltype(&::sqlite3_column_bytes) column_bytes;
  decltype(&::sqlite3_column_double) column_double;
  decltype(&::sqlite3_column_int) column_int;
  decltype(&::sqlite3_column_int64) column_int64;
  decltype(&::sqlite3_column_text) column_text;
  decltype(&::sqlite3_column_type) column_type;
  decltype(&::sqlite3_db_config) db_config;
  decltype(&::sqlite3_errmsg) errmsg;
  decltype(&::sqlite3_exec) exec;
  decltype(&::sqlite3_extended_errcode) extended_errcode;
  decltype(&::sqlite3_extended_result_codes) extended_result_codes;
  decltype(&::sqlite3_finalize) finalize;
  decltype(&::sqlite3_open_v2) open_v2;
  decltype(&::sqlite3_prepare_v2) prepare_v2;
  decltype(&::sqlite3_prepare_v3) prepare_v3;
  decltype(&::sqlite3_reset) reset;
  decltype(&::sqlite3_sleep) sleep;
  decltype(&::sqlite3_step) step;
  decltype(&::sqlite3_wal_checkpoint_v2) wal_checkpoint_v2;
  decltype(&::sqlite3_wal_hook) wal_hook;
};

// Loads libsqlite3 once per process; thread-safe. Every later call returns
// the first call's outcome: the table, or kUnavailable naming the library
// and the loader's error.
Result<const SqliteApi*> LoadSqliteApi();

}  // namespace jobgate
