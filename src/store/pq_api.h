// The libpq functions the PostgreSQL store calls, resolved at run time from
// libpq.so.5 the first time a postgres:// store is opened (see
// sys/shared_library.h for why it is not linked: libpq brings libssl,
// libcrypto, GSSAPI and LDAP, which a `sqlite:` invocation would otherwise
// load and relocate at every start). The types come from the
// Debian-packaged <libpq-fe.h>, so each pointer has the header's exact
// signature.
#pragma once

#include <libpq-fe.h>

#include "jobgate/status.h"

namespace jobgate {

struct PqApi {
  decltype(&::PQconnectdbParams) connectdb_params;
  decltype(&::PQconninfoParse) conninfo_parse;
  decltype(&::PQconninfoFree) conninfo_free;
  decltype(&::PQstatus) status;
  decltype(&::PQerrorMessage) error_message;
  decltype(&::PQfinish) finish;
  decltype(&::PQreset) reset;
  decltype(&::PQsetNoticeProcessor) set_notice_processor;
  decltype(&::PQexec) exec;
  decltype(&::PQexecParams) exec_params;
  decltype(&::PQresultStatus) result_status;
  decltype(&::PQresultErrorField) result_error_field;
  decltype(&::PQresultErrorMessage) result_error_message;
  decltype(&::PQntuples) ntuples;
  decltype(&::PQnfields) nfields;
  decltype(&::PQfname) fname;
  decltype(&::PQgetvalue) getvalue;
  decltype(&::PQgetlength) getlength;
  decltype(&::PQgetisnull) getisnull;
  decltype(&::PQclear) clear;
  decltype(&::PQtransactionStatus) transaction_status;
  decltype(&::PQsocket) socket;
};

// Loads libpq, once per process; thread-safe. Every later call returns the
// first call's outcome: the table, or kUnavailable naming the library and
// the loader's error.
Result<const PqApi*> LoadPqApi();

}  // namespace jobgate
