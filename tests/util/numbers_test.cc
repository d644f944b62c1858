#include "util/numbers.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>

namespace jobgate {
namespace {

TEST(ParseInt64, ParsesDecimalIntegersExactly) {
  struct Case {
    std::string text;
    int64_t want;
  };
  for (const Case& c : {Case{"0", 0}, Case{"42", 42}, Case{"-7", -7},
                        Case{"9223372036854775807", std::numeric_limits<int64_t>::max()},
                        Case{"-9223372036854775808", std::numeric_limits<int64_t>::min()}}) {
    int64_t v = 1;
    ASSERT_TRUE(ParseInt64(c.text, &v)) << c.text;
    EXPECT_EQ(v, c.want) << c.text;
  }
}

TEST(ParseInt64, RefusesEmptyJunkAndOverflowLeavingTheOutputAlone) {
  for (const std::string text : {"", "12a", "1.5", "0x10", "12 ", "9223372036854775808",
                                 "-9223372036854775809", "000000000000000000001"}) {
    int64_t v = 99;
    EXPECT_FALSE(ParseInt64(text, &v)) << text;
    EXPECT_EQ(v, 99) << text;
  }
}

}  // namespace
}  // namespace jobgate
