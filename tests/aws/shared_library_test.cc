// SharedLibrary, and the run-time loading of libcurl and libcrypto through
// it (the DynamoDB store's only way to reach them).
#include "sys/shared_library.h"

#include <gtest/gtest.h>

#include <cstring>

#include "aws/crypto_api.h"
#include "aws/curl_api.h"

namespace jobgate {
namespace {

TEST(SharedLibrary, MissingLibraryIsUnavailableAndNamesItAndItsUser) {
  auto lib = SharedLibrary::Open("libjobgate-no-such-library.so.0", "the test");
  ASSERT_FALSE(lib.ok());
  EXPECT_EQ(lib.status().code(), StatusCode::kUnavailable);
  const std::string& message = lib.status().message();
  EXPECT_NE(message.find("libjobgate-no-such-library.so.0"), std::string::npos) << message;
  EXPECT_NE(message.find("the test"), std::string::npos) << message;
  // dlerror()'s reason follows.
  EXPECT_NE(message.find("cannot open shared object file"), std::string::npos) << message;
}

TEST(SharedLibrary, ResolvesATypedFunctionPointer) {
  auto lib = SharedLibrary::Open("libc.so.6", "the test");
  ASSERT_TRUE(lib.ok()) << lib.status().ToString();
  decltype(&std::strlen) strlen_fn = nullptr;
  ASSERT_TRUE(lib->Resolve("strlen", &strlen_fn).ok());
  EXPECT_EQ(strlen_fn("four"), 4u);
}

TEST(SharedLibrary, MissingSymbolIsUnavailableAndNamesIt) {
  auto lib = SharedLibrary::Open("libc.so.6", "the test");
  ASSERT_TRUE(lib.ok()) << lib.status().ToString();
  void (*fn)() = nullptr;
  Status st = lib->Resolve("jobgate_no_such_symbol", &fn);
  EXPECT_EQ(st.code(), StatusCode::kUnavailable);
  EXPECT_NE(st.message().find("libc.so.6"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("jobgate_no_such_symbol"), std::string::npos) << st.message();
  EXPECT_EQ(fn, nullptr);
}

// The libraries of the Debian packages the DynamoDB store needs at run time
// (libcurl4, libssl3) are installed wherever these tests build.
TEST(SharedLibrary, LoadsLibcurlOncePerProcess) {
  auto first = LoadCurlApi();
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  auto second = LoadCurlApi();
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(*first, *second);
  EXPECT_STREQ((*first)->easy_strerror(CURLE_OK), "No error");
}

TEST(SharedLibrary, LoadsLibcryptoOncePerProcess) {
  auto first = LoadCryptoApi();
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  auto second = LoadCryptoApi();
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(*first, *second);
}

}  // namespace
}  // namespace jobgate
