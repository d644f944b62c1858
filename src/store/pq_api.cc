#include "store/pq_api.h"

#include "sys/shared_library.h"

namespace jobgate {

namespace {

Result<PqApi> Load() {
  auto lib = SharedLibrary::Open("libpq.so.5", "the PostgreSQL store (install libpq5)");
  if (!lib.ok()) return lib.status();
  PqApi api{};
  JOBGATE_RETURN_IF_ERROR(lib->Resolve("PQconnectdbParams", &api.connectdb_params));
  JOBGATE_RETURN_IF_ERROR(lib->Resolve("PQconninfoParse", &api.conninfo_parse));
  JOBGATE_RETURN_IF_ERROR(lib->Resolve("PQconninfoFree", &api.conninfo_free));
  JOBGATE_RETURN_IF_ERROR(lib->Resolve("PQstatus", &api.status));
  JOBGATE_RETURN_IF_ERROR(lib->Resolve("PQerrorMessage", &api.error_message));
  JOBGATE_RETURN_IF_ERROR(lib->Resolve("PQfinish", &api.finish));
  JOBGATE_RETURN_IF_ERROR(lib->Resolve("PQreset", &api.reset));
  JOBGATE_RETURN_IF_ERROR(lib->Resolve("PQsetNoticeProcessor", &api.set_notice_processor));
  JOBGATE_RETURN_IF_ERROR(lib->Resolve("PQexec", &api.exec));
  JOBGATE_RETURN_IF_ERROR(lib->Resolve("PQexecParams", &api.exec_params));
  JOBGATE_RETURN_IF_ERROR(lib->Resolve("PQresultStatus", &api.result_status));
  JOBGATE_RETURN_IF_ERROR(lib->Resolve("PQresultErrorField", &api.result_error_field));
  JOBGATE_RETURN_IF_ERROR(lib->Resolve("PQresultErrorMessage", &api.result_error_message));
  JOBGATE_RETURN_IF_ERROR(lib->Resolve("PQntuples", &api.ntuples));
  JOBGATE_RETURN_IF_ERROR(lib->Resolve("PQnfields", &api.nfields));
  JOBGATE_RETURN_IF_ERROR(lib->Resolve("PQfname", &api.fname));
  JOBGATE_RETURN_IF_ERROR(lib->Resolve("PQgetvalue", &api.getvalue));
  JOBGATE_RETURN_IF_ERROR(lib->Resolve("PQgetlength", &api.getlength));
  JOBGATE_RETURN_IF_ERROR(lib->Resolve("PQgetisnull", &api.getisnull));
  JOBGATE_RETURN_IF_ERROR(lib->Resolve("PQclear", &api.clear));
  JOBGATE_RETURN_IF_ERROR(lib->Resolve("PQtransactionStatus", &api.transaction_status));
  JOBGATE_RETURN_IF_ERROR(lib->Resolve("PQsocket", &api.socket));
  return api;
}

}  // namespace

Result<const PqApi*> LoadPqApi() { return LoadOnce<PqApi, &Load>(); }

}  // namespace jobgate
