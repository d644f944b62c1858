// The store conformance suite: one value-parameterised GoogleTest suite that
// every backend runs (DESIGN.md "Store contract"). A backend joins by adding
// a factory to StoreFactories() in conformance_test.cc, conditionally on the
// environment when it needs a server (e.g. JOBGATE_TEST_DYNAMODB_ENDPOINT).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "jobgate/store.h"

namespace jobgate::testing {

// An attribute of an item written by another tool (docs/design.md, "Items
// written by other tools"), in no backend's encoding: the conformance suite
// states each case once and every backend writes it in its own form.
struct ForeignValue {
  enum class Kind { kNull, kNumber, kString };
  Kind kind = Kind::kNull;
  std::string text;  // kNumber: the number as written ("5", "1.5"); kString: the string
};
// Attribute name -> value; an attribute not in the map is missing.
using ForeignItem = std::map<std::string, ForeignValue>;

// One fresh, empty, initialised store for one test.
struct StoreUnderTest {
  std::shared_ptr<Store> store;
  // Another client of the same data (a second connection, process or
  // client). Stores are thread-compatible, so each thread of a concurrency
  // test uses its own handle. Empty: the backend has no such notion and the
  // multi-client tests are skipped.
  std::function<Result<std::shared_ptr<Store>>()> another_handle;
  // Removes whatever the store left behind (files, tables). May be empty.
  std::function<void()> cleanup;
  // Writes the state item of `job` as another tool would, past jobgate's
  // codec (a raw PutItem, a plain SQLite connection). Empty: the backend
  // holds only what jobgate wrote (memory:), and the tests of foreign items
  // are skipped for it.
  std::function<Status(const std::string& job, const ForeignItem& item)> put_foreign_state;
};

struct NamedStoreFactory {
  std::string name;  // a GoogleTest parameter name: letters, digits and '_'
  std::function<Result<StoreUnderTest>()> make;
};

// GoogleTest prints a failing test's parameter by its name.
inline void PrintTo(const NamedStoreFactory& factory, std::ostream* os) { *os << factory.name; }

// The backends to run the suite against in this environment.
std::vector<NamedStoreFactory> StoreFactories();

// A fresh directory under $TMPDIR (or /tmp), removed with its contents by
// the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace jobgate::testing

#define JG_CONCAT_INNER(a, b) a##b
#define JG_CONCAT(a, b) JG_CONCAT_INNER(a, b)

// Asserts that a Status is ok, printing it otherwise.
#define ASSERT_OK(expr)                                            \
  do {                                                             \
    const ::jobgate::Status _jg_s = (expr);                        \
    ASSERT_TRUE(_jg_s.ok()) << #expr << ": " << _jg_s.ToString(); \
  } while (0)

// Asserts that a Result is ok and moves its value into `lhs` (a declaration
// or an lvalue). Only in functions returning void, like ASSERT_*.
#define ASSERT_OK_AND_ASSIGN(lhs, expr) ASSERT_OK_AND_ASSIGN_IMPL(JG_CONCAT(_jg_r, __LINE__), lhs, expr)
#define ASSERT_OK_AND_ASSIGN_IMPL(tmp, lhs, expr)                      \
  auto tmp = (expr);                                                   \
  ASSERT_TRUE(tmp.ok()) << #expr << ": " << tmp.status().ToString(); \
  lhs = std::move(tmp.value())
