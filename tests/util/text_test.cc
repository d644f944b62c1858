#include "util/text.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace jobgate {
namespace {

using namespace std::string_literals;  // "..."s keeps embedded NULs

const std::string kFffd = "\xEF\xBF\xBD";  // U+FFFD REPLACEMENT CHARACTER

// An independent check of well-formed UTF-8, written from the bit patterns
// (lead byte length, minimal encoding, range, surrogates) rather than from
// the range table the implementation uses.
bool IsValidUtf8(const std::string& s) {
  for (size_t i = 0; i < s.size();) {
    const auto b0 = static_cast<unsigned char>(s[i]);
    size_t len;
    uint32_t cp, min;
    if (b0 < 0x80) {
      len = 1, cp = b0, min = 0;
    } else if ((b0 & 0xE0) == 0xC0) {
      len = 2, cp = b0 & 0x1F, min = 0x80;
    } else if ((b0 & 0xF0) == 0xE0) {
      len = 3, cp = b0 & 0x0F, min = 0x800;
    } else if ((b0 & 0xF8) == 0xF0) {
      len = 4, cp = b0 & 0x07, min = 0x10000;
    } else {
      return false;
    }
    if (i + len > s.size()) return false;
    for (size_t k = 1; k < len; ++k) {
      const auto b = static_cast<unsigned char>(s[i + k]);
      if ((b & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (b & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

bool HasControlOtherThanNewlineAndTab(const std::string& s) {
  for (size_t i = 0; i < s.size(); ++i) {
    const auto b = static_cast<unsigned char>(s[i]);
    if ((b < 0x20 && b != '\n' && b != '\t') || b == 0x7F) return true;
    // C1 controls U+0080..U+009F are encoded C2 80..C2 9F.
    if (b == 0xC2 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) <= 0x9F) return true;
  }
  return false;
}

bool IsSpace(char c) { return c == ' ' || c == '\n' || c == '\t'; }

// Random bytes biased towards the interesting ones: lead bytes, continuation
// bytes, controls and pieces of valid sequences, so truncations, overlongs
// and surrogates turn up often.
std::string RandomBytes(std::mt19937& rng) {
  static const std::vector<std::string> kPieces = {
      "a", " ", "\n", "\t", "\r", "\x1b", "\x7f", "\xc2\x85", "\xc2\xa0", "\xc3\xa9", "\xe2\x82\xac",
      "\xf0\x9f\x98\x80", "\xed\xa0\x80", "\xe0\x80\xaf", "\xf4\x90\x80\x80", "\xc0\xaf", "\xf4\x8f\xbf\xbf",
      "\xe2\x80\xae", "\x00"s};
  std::uniform_int_distribution<int> length(0, 48), kind(0, 3), byte(0, 255), piece(0, kPieces.size() - 1);
  std::uniform_int_distribution<int> high(0x80, 0xFF);
  std::string s;
  for (int n = length(rng); n > 0; --n) {
    switch (kind(rng)) {
      case 0: s += static_cast<char>(byte(rng)); break;
      case 1: s += static_cast<char>(high(rng)); break;
      default: {
        const std::string& p = kPieces[piece(rng)];
        // Sometimes only a prefix, to make truncated sequences.
        s += p.substr(0, std::uniform_int_distribution<size_t>(1, p.size())(rng));
      }
    }
  }
  return s;
}

struct CleanCase {
  const char* name;
  std::string in;
  std::string want;
};

TEST(CleanUtf8, KeepsValidTextAndReplacesWhatIsNot) {
  const std::vector<CleanCase> cases = {
      {"empty", "", ""},
      {"ascii", "hello, world", "hello, world"},
      {"newline and tab are kept", "a\nb\tc", "a\nb\tc"},
      {"carriage return becomes a space", "a\r\nb", "a \nb"},
      {"NUL becomes a space", "a\0b"s, "a b"},
      {"escape becomes a space", "\x1b[31mred", " [31mred"},
      {"DEL becomes a space", "a\x7f", "a "},
      {"C1 control NEL becomes a space", "a\xc2\x85z", "a z"},
      {"no-break space is not a control", "a\xc2\xa0z", "a\xc2\xa0z"},
      {"two, three and four byte characters", "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80",
       "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"},
      {"smallest two byte U+0080 is C1", "\xc2\x80", " "},
      {"smallest three byte U+0800", "\xe0\xa0\x80", "\xe0\xa0\x80"},
      {"last before surrogates U+D7FF", "\xed\x9f\xbf", "\xed\x9f\xbf"},
      {"first after surrogates U+E000", "\xee\x80\x80", "\xee\x80\x80"},
      {"smallest four byte U+10000", "\xf0\x90\x80\x80", "\xf0\x90\x80\x80"},
      {"largest code point U+10FFFF", "\xf4\x8f\xbf\xbf", "\xf4\x8f\xbf\xbf"},
      {"byte FF", "a\xffz", "a" + kFffd + "z"},
      {"stray continuation byte", "a\x80z", "a" + kFffd + "z"},
      {"overlong two byte: C0 AF, each byte", "\xc0\xaf", kFffd + kFffd},
      {"overlong three byte: E0 80 AF, each byte", "\xe0\x80\xaf", kFffd + kFffd + kFffd},
      {"overlong four byte: F0 80 80 AF, each byte", "\xf0\x80\x80\xaf", kFffd + kFffd + kFffd + kFffd},
      {"surrogate U+D800, each byte", "\xed\xa0\x80", kFffd + kFffd + kFffd},
      {"above U+10FFFF: F4 90 80 80, each byte", "\xf4\x90\x80\x80", kFffd + kFffd + kFffd + kFffd},
      {"lead byte F5 is never valid", "\xf5\x80", kFffd + kFffd},
      {"truncated three byte at end is one subpart", "\xe2\x82", kFffd},
      {"truncated four byte at end is one subpart", "\xf0\x9f\x98", kFffd},
      {"truncated sequence before ascii", "\xe2\x82z", kFffd + "z"},
      {"truncated sequence before another lead", "\xe2\x82\xe2\x82\xac", kFffd + "\xe2\x82\xac"},
      // Unicode 15, table 3-8: 61 F1 80 80 E1 80 C2 62 80 63 80 BF 64.
      {"Unicode table 3-8", "\x61\xf1\x80\x80\xe1\x80\xc2\x62\x80\x63\x80\xbf\x64",
       "a" + kFffd + kFffd + kFffd + "b" + kFffd + "c" + kFffd + kFffd + "d"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(CleanUtf8(c.in), c.want) << c.name;
  }
}

TEST(CleanUtf8, OutputOfRandomBytesIsAlwaysValidCleanAndStable) {
  std::mt19937 rng(20240601);  // fixed seed: a failure replays exactly
  for (int i = 0; i < 200'000; ++i) {
    const std::string in = RandomBytes(rng);
    const std::string out = CleanUtf8(in);
    ASSERT_TRUE(IsValidUtf8(out)) << "seed case " << i;
    ASSERT_FALSE(HasControlOtherThanNewlineAndTab(out)) << "seed case " << i;
    ASSERT_EQ(CleanUtf8(out), out) << "not idempotent, seed case " << i;
    if (IsValidUtf8(in) && !HasControlOtherThanNewlineAndTab(in)) {
      ASSERT_EQ(out, in) << "changed clean text, seed case " << i;
    }
  }
}

TEST(CleanUtf8, EveryTwoByteStringComesOutValid) {
  for (int a = 0; a < 256; ++a) {
    for (int b = 0; b < 256; ++b) {
      const std::string in{static_cast<char>(a), static_cast<char>(b)};
      const std::string out = CleanUtf8(in);
      ASSERT_TRUE(IsValidUtf8(out)) << a << " " << b;
      ASSERT_FALSE(HasControlOtherThanNewlineAndTab(out)) << a << " " << b;
    }
  }
}

TEST(ReplaceInvalidUtf8, ReplacesInvalidSequencesAsCleanUtf8AndKeepsControls) {
  EXPECT_EQ(ReplaceInvalidUtf8(""), "");
  EXPECT_EQ(ReplaceInvalidUtf8("a\r\n\x1b\x7f\xc2\x85\0z"s), "a\r\n\x1b\x7f\xc2\x85\0z"s);
  EXPECT_EQ(ReplaceInvalidUtf8("\x61\xf1\x80\x80\xe1\x80\xc2\x62\x80\x63\x80\xbf\x64"),
            "a" + kFffd + kFffd + kFffd + "b" + kFffd + "c" + kFffd + kFffd + "d");
  EXPECT_TRUE(IsWellFormedUtf8("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\r\0"s));
  EXPECT_FALSE(IsWellFormedUtf8("\xed\xa0\x80"));
  EXPECT_FALSE(IsWellFormedUtf8("\xe2\x82"));
}

// The same replacements as CleanUtf8: wherever the input has no controls,
// both give the same text.
TEST(ReplaceInvalidUtf8, AgreesWithCleanUtf8AndTheIndependentCheck) {
  std::mt19937 rng(20261202);  // fixed seed: a failure replays exactly
  for (int i = 0; i < 100'000; ++i) {
    const std::string in = RandomBytes(rng);
    const std::string out = ReplaceInvalidUtf8(in);
    ASSERT_TRUE(IsValidUtf8(out)) << "seed case " << i;
    ASSERT_EQ(IsWellFormedUtf8(in), IsValidUtf8(in)) << "seed case " << i;
    ASSERT_EQ(IsWellFormedUtf8(in), out == in) << "seed case " << i;
    ASSERT_EQ(CleanUtf8(out), CleanUtf8(in)) << "seed case " << i;
  }
}

struct TailCase {
  const char* name;
  std::string in;
  size_t max_bytes;
  std::string want;
};

TEST(CleanTail, KeepsTheLastBytesWholeAndTrimmed) {
  const std::vector<TailCase> cases = {
      {"short text is kept", "hello world", 100, "hello world"},
      {"surrounding whitespace is trimmed", " \t hi \n\n", 100, "hi"},
      {"keeps the end, not the start", "abcdef", 3, "def"},
      {"zero budget", "last words", 0, ""},
      {"whitespace only", " \n\t \r ", 10, ""},
      {"never cuts a character: none fits", "ab\xe2\x82\xac", 2, ""},
      {"never cuts a character: exactly fits", "ab\xe2\x82\xac", 3, "\xe2\x82\xac"},
      {"never cuts a character: one more", "ab\xe2\x82\xac", 4, "b\xe2\x82\xac"},
      {"trailing blank lines do not use the budget", "line1\nline2\n\n\n   ", 5, "line2"},
      {"whitespace exposed by the cut is trimmed", "aaa bbb", 4, "bbb"},
      {"carriage returns are cleaned then trimmed", "done\r\n", 10, "done"},
      {"invalid bytes are replaced before counting", "abc \xff", 3, kFffd},
      {"controls inside are spaces", "a\x1b" "b", 10, "a b"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(CleanTail(c.in, c.max_bytes), c.want) << c.name;
  }
}

TEST(CleanTail, RandomInputGivesAValidTrimmedSuffixWithinBudget) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<size_t> budget(0, 40);
  for (int i = 0; i < 50'000; ++i) {
    const std::string in = RandomBytes(rng);
    const size_t max_bytes = budget(rng);
    const std::string out = CleanTail(in, max_bytes);
    ASSERT_LE(out.size(), max_bytes) << i;
    ASSERT_TRUE(IsValidUtf8(out)) << i;
    if (out.empty()) continue;
    ASSERT_FALSE(IsSpace(out.front())) << i;
    ASSERT_FALSE(IsSpace(out.back())) << i;
    std::string clean = CleanUtf8(in);
    while (!clean.empty() && IsSpace(clean.back())) clean.pop_back();
    ASSERT_TRUE(clean.ends_with(out)) << "not a suffix of the clean text, case " << i;
  }
}

struct QuoteCase {
  const char* name;
  std::string in;
  std::string want;
};

TEST(Quote, RendersValuesPrintablyForErrorMessages) {
  const std::vector<QuoteCase> cases = {
      {"empty", "", R"("")"},
      {"plain", "banana", R"("banana")"},
      {"quotes are escaped", R"(say "hi")", R"("say \"hi\"")"},
      {"backslash is escaped", R"(C:\tmp)", R"("C:\\tmp")"},
      {"JSON short escapes", "a\nb\tc\rd\be\f", R"("a\nb\tc\rd\be\f")"},
      {"other controls as \\u", "\x01\x1b\x7f"s + "\0"s, R"("\u0001\u001b\u007f\u0000")"},
      {"C1 control as \\u", "\xc2\x85", R"("\u0085")"},
      {"printable non-ASCII is kept", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
       "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\""},
      {"right-to-left override is shown, not obeyed", "abc\xe2\x80\xae" "def", R"("abc\u202edef")"},
      {"line separator and BOM", "\xe2\x80\xa8\xef\xbb\xbf", R"("\u2028\ufeff")"},
      {"invalid bytes are shown as they are", "a\xff", R"("a\xff")"},
      {"a truncated sequence shows all its bytes", "\xe2\x82", R"("\xe2\x82")"},
      {"80 characters fit", std::string(80, 'a'), "\"" + std::string(80, 'a') + "\""},
      {"81 characters are cut with an ellipsis", std::string(81, 'a'),
       "\"" + std::string(80, 'a') + "\"\xe2\x80\xa6"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(Quote(c.in), c.want) << c.name;
  }
}

TEST(Quote, CountsCharactersNotBytesWhenCutting) {
  std::string euros;
  for (int i = 0; i < 100; ++i) euros += "\xe2\x82\xac";
  EXPECT_EQ(Quote(euros), "\"" + euros.substr(0, 80 * 3) + "\"\xe2\x80\xa6");
}

TEST(Quote, OutputOfRandomBytesIsValidUtf8WithoutControls) {
  std::mt19937 rng(99);
  for (int i = 0; i < 50'000; ++i) {
    const std::string out = Quote(RandomBytes(rng));
    ASSERT_TRUE(IsValidUtf8(out)) << i;
    ASSERT_FALSE(HasControlOtherThanNewlineAndTab(out)) << i;
    ASSERT_EQ(out.find('\n'), std::string::npos) << i;
    ASSERT_EQ(out.find('\t'), std::string::npos) << i;
  }
}

}  // namespace
}  // namespace jobgate
