// OpenStore (store.h): the one place that maps a store URL to a backend.
// To add a backend, add a row to kSchemes.
#include <array>
#include <string_view>

#include <fmt/format.h>

#include "aws/aws_config.h"
#include "jobgate/store.h"
#include "store/dynamodb_store.h"
#include "store/memory_store.h"
#include "store/postgres_conn.h"
#include "store/postgres_store.h"
#include "store/sqlite_store.h"
#include "util/numbers.h"

namespace jobgate {

namespace {

using Opener = Result<std::unique_ptr<Store>> (*)(const std::string& url, std::string_view rest,
                                                  const StoreOptions& options);

Status BadUrl(const std::string& url, std::string_view why) {
  return Status::InvalidArgument(fmt::format("store URL '{}': {}", RedactStoreUrl(url), why));
}

Result<std::unique_ptr<Store>> OpenMemory(const std::string& url, std::string_view rest, const StoreOptions&) {
  if (!rest.empty()) return BadUrl(url, "memory: takes no path or options");
  return std::unique_ptr<Store>(std::make_unique<MemoryStore>());
}

// Applies one "key=value" of a sqlite: URL's query to `options`.
Status ApplySqliteOption(const std::string& url, std::string_view param, SqliteOptions* options) {
  const size_t eq = param.find('=');
  const std::string_view key = param.substr(0, eq);
  const std::string_view value = eq == std::string_view::npos ? std::string_view() : param.substr(eq + 1);
  if (key == "synchronous") {
    if (value != "normal" && value != "full") {
      return BadUrl(url, fmt::format("synchronous must be normal or full, got '{}'", value));
    }
    options->synchronous_full = value == "full";
    return Status::Ok();
  }
  if (key == "checkpoint_frames") {
    int64_t frames = 0;
    if (!ParseInt64(std::string(value), &frames) || frames < 0 || frames > 1'000'000) {
      return BadUrl(url, fmt::format("checkpoint_frames must be an integer from 0 to 1000000, got '{}'", value));
    }
    options->checkpoint_frames = static_cast<int>(frames);
    return Status::Ok();
  }
  return BadUrl(url, fmt::format("unknown option '{}' (known: synchronous, checkpoint_frames)", key));
}

// sqlite:PATH[?synchronous=normal|full][&checkpoint_frames=N]
Result<std::unique_ptr<Store>> OpenSqlite(const std::string& url, std::string_view rest, const StoreOptions&) {
  const size_t q = rest.find('?');
  const std::string path(rest.substr(0, q));
  if (path.empty()) return BadUrl(url, "sqlite: needs a path, e.g. sqlite:jobgate.db");
  SqliteOptions options;
  if (q != std::string_view::npos) {
    std::string_view query = rest.substr(q + 1);
    while (!query.empty()) {
      const size_t amp = query.find('&');
      JOBGATE_RETURN_IF_ERROR(ApplySqliteOption(url, query.substr(0, amp), &options));
      query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    }
  }
  auto store = SqliteStore::Open(path, options);
  if (!store.ok()) return store.status();
  return std::unique_ptr<Store>(std::move(store.value()));
}

// dynamodb://[TABLE][?region=R&endpoint=URL&...]: see ParseDynamoDbUrl.
// Credentials, region and endpoint otherwise come from the environment and
// the shared AWS files (aws_config.h). Opening makes no network call.
Result<std::unique_ptr<Store>> OpenDynamoDb(const std::string& url, std::string_view, const StoreOptions& options) {
  auto store = DynamoDbStore::Open(url, options);
  if (!store.ok()) return store.status();
  return std::unique_ptr<Store>(std::move(store.value()));
}

// postgres://[USER[:PASSWORD]@][HOST][:PORT][/DB][?schema=S&libpq-parameter=...]:
// see ParsePostgresUrl. Opening connects.
Result<std::unique_ptr<Store>> OpenPostgres(const std::string& url, std::string_view, const StoreOptions& options) {
  auto store = PostgresStore::Open(url, options);
  if (!store.ok()) return store.status();
  return std::unique_ptr<Store>(std::move(store.value()));
}

struct Scheme {
  std::string_view prefix;
  Opener open;
};

constexpr std::array kSchemes = {
    Scheme{"memory:", &OpenMemory},
    Scheme{"sqlite:", &OpenSqlite},
    Scheme{"postgres://", &OpenPostgres},
    Scheme{"postgresql://", &OpenPostgres},
    Scheme{"dynamodb://", &OpenDynamoDb},
};

}  // namespace

std::string RedactStoreUrl(const std::string& url) {
  if (url.starts_with("postgres://") || url.starts_with("postgresql://")) return RedactPostgresUrl(url);
  return url;
}

Result<std::unique_ptr<Store>> OpenStore(const std::string& url, const StoreOptions& options) {
  for (const Scheme& s : kSchemes) {
    if (url.starts_with(s.prefix)) return s.open(url, std::string_view(url).substr(s.prefix.size()), options);
  }
  return BadUrl(url, "unknown scheme (expected memory:, sqlite:PATH, postgres://... or dynamodb://TABLE)");
}

}  // namespace jobgate
