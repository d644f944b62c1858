#include "store/sqlite_api.h"

#include "sys/shared_library.h"

namespace jobgate {

namespace {

Result<SqliteApi> Load() {
  auto lib = SharedLibrary::Open("libsqlite3.so.0", "the SQLite store (install libsqlite3-0)");
  if (!lib.ok()) return lib.status();
  SqliteApi api{};
  JOBGATE_RETURN_IF_ERROR(lib->Resolve("sqlite3_bind_int64", &api.bind_int64));
  JOBGATE_RETURN_IF_ERROR(lib->Resolve("sqlite3_bind_null", &api.bind_null));
  JOBGATE_RETURN_IF_ERROR(lib->Resolve("sqlite3_bind_text", &api.bind_text));
  JOBGATE_RETURN_IF_ERROR(lib->Resolve("sqlite3_bind_text64", &api.bind_text64));
  JOBGATE_RETURN_IF_ERROR(lib->Resolve("sqlite3_busy_timeout", &api.busy_timeout));
  JOBGATE_RETURN_IF_ERROR(lib->Resolve("sqlite3_changes", &api.changes));
  JOBGATE_RETURN_IF_ERROR(lib->Resolve("sqlite3_changes64", &api.changes64));
  JOBGATE_RETURN_IF_ERROR(lib->Resolve("sqlite3_clear_bindings", &api.clear_bindings));
  JOBGATE_RETURN_IF_ERROR(lib->Resolve("sqlite3_close_v2", &api.close_v2));
  JOBGATE_RETURN_IF_ERROR(lib->Resolve("sqlite3_column_bytes", &api.column_bytes));
  JOBGATE_RETURN_IF_ERROR(lib->Resolve("sqlite3_column_double", &api.column_double));
  JOBGATE_RETURN_IF_ERROR(lib->Resolve("sqlite3_column_int", &api.column_int));
  JOBGATE_RETURN_IF_ERROR(lib->Resolve("sqlite3_column_int64", &api.column_int64));
  JOBGATE_RETURN_IF_ERROR(lib->Resolve("sqlite3_column_text", &api.column_text));
  JOBGATE_RETURN_IF_ERROR(lib->Resolve("sqlite3_column_type", &api.column_type));
  JOBGATE_RETURN_IF_ERROR(lib->Resolve("sqlite3_db_config", &api.db_config));
  JOBGATE_RETURN_IF_ERROR(lib->Resolve("sqlite3_errmsg", &api.errmsg));
  JOBGATE_RETURN_IF_ERROR(lib->Resolve("sqlite3_exec", &api.exec));
  JOBGATE_RETURN_IF_ERROR(lib->Resolve("sqlite3_extended_errcode", &api.extended_errcode));
  JOBGATE_RETURN_IF_ERROR(lib->Resolve("sqlite3_extended_result_codes", &api.extended_result_codes));
  JOBGATE_RETURN_IF_ERROR(lib->Resolve("sqlite3_finalize", &api.finalize));
  JOBGATE_RETURN_IF_ERROR(lib->Resolve("sqlite3_open_v2", &api.open_v2));
  JOBGATE_RETURN_IF_ERROR(lib->Resolve("sqlite3_prepare_v2", &api.prepare_v2));
  JOBGATE_RETURN_IF_ERROR(lib->Resolve("sqlite3_prepare_v3", &api.prepare_v3));
  JOBGATE_RETURN_IF_ERROR(lib->Resolve("sqlite3_reset", &api.reset));
  JOBGATE_RETURN_IF_ERROR(lib->Resolve("sqlite3_sleep", &api.sleep));
  JOBGATE_RETURN_IF_ERROR(lib->Resolve("sqlite3_step", &api.step));
  JOBGATE_RETURN_IF_ERROR(lib->Resolve("sqlite3_wal_checkpoint_v2", &api.wal_checkpoint_v2));
  JOBGATE_RETURN_IF_ERROR(lib->Resolve("sqlite3_wal_hook", &api.wal_hook));
  return api;
}

}  // namespace

Result<const SqliteApi*> LoadSqliteApi() { return LoadOnce<SqliteApi, &Load>(); }

}  // namespace jobgate
