#include "util/text.h"

#include <cstdint>

namespace jobgate {
namespace {

constexpr char32_t kReplacement = 0xFFFD;
constexpr char32_t kInvalid = 0xFFFFFFFF;

// One step of UTF-8 decoding: a code point and the bytes it used, or
// kInvalid and the length of the maximal subpart to replace with one U+FFFD
// (Unicode 15, section 3.9, "U+FFFD Substitution of Maximal Subparts").
struct Decoded {
  char32_t cp;
  size_t len;
};

// Decodes the sequence starting at in[i]. The ranges of the second byte are
// the Unicode well-formed table (3-7); they exclude overlongs (E0 80..9F,
// F0 80..8F), surrogates (ED A0..BF) and code points above U+10FFFF (F4 90..).
Decoded DecodeAt(std::string_view in, size_t i) {
  const auto b0 = static_cast<unsigned char>(in[i]);
  if (b0 < 0x80) return {b0, 1};
  size_t need;
  unsigned char lo = 0x80, hi = 0xBF;  // range of the second byte
  char32_t cp;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 1, cp = b0 & 0x1F;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 2, cp = b0 & 0x0F;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 3, cp = b0 & 0x07;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    return {kInvalid, 1};  // a stray continuation byte, C0, C1 or F5..FF
  }
  size_t len = 1;
  for (; len <= need; ++len) {
    if (i + len >= in.size()) return {kInvalid, len};
    const auto b = static_cast<unsigned char>(in[i + len]);
    if (b < lo || b > hi) return {kInvalid, len};
    cp = (cp << 6) | (b & 0x3F);
    lo = 0x80, hi = 0xBF;
  }
  return {cp, len};
}

// C0 controls, DEL and the C1 controls (U+0080..U+009F): they move the
// cursor, ring bells or switch terminal modes when a log is displayed.
bool IsControl(char32_t cp) { return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F); }

// Invisible characters that reorder or split lines when displayed (bidi
// controls, line/paragraph separators, BOM): in an error message they could
// make a value look like something else ("Trojan Source"), so Quote escapes them.
bool IsInvisibleFormat(char32_t cp) {
  return (cp >= 0x200B && cp <= 0x200F) || (cp >= 0x2028 && cp <= 0x202E) ||
         (cp >= 0x2066 && cp <= 0x2069) || cp == 0xFEFF;
}

bool IsAsciiSpace(char c) { return c == ' ' || c == '\n' || c == '\t'; }

void AppendUtf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

void AppendHex(std::string& out, const char* prefix, unsigned value, int digits) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += prefix;
  for (int shift = (digits - 1) * 4; shift >= 0; shift -= 4) out += kHex[(value >> shift) & 0xF];
}

// Appends one character of Quote's output (the JSON escapes, \u for other
// controls and invisible format characters).
void AppendQuoted(std::string& out, char32_t cp) {
  switch (cp) {
    case '"': out += "\\\""; return;
    case '\\': out += "\\\\"; return;
    case '\n': out += "\\n"; return;
    case '\r': out += "\\r"; return;
    case '\t': out += "\\t"; return;
    case '\b': out += "\\b"; return;
    case '\f': out += "\\f"; return;
    default: break;
  }
  if (IsControl(cp) || IsInvisibleFormat(cp)) {
    AppendHex(out, "\\u", static_cast<unsigned>(cp), 4);
  } else {
    AppendUtf8(out, cp);
  }
}

constexpr size_t kQuoteMaxChars = 80;

// Invalid sequences become U+FFFD; with `controls`, control characters
// other than '\n' and '\t' become spaces too.
std::string Rewritten(std::string_view in, bool controls) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size();) {
    const Decoded d = DecodeAt(in, i);
    if (d.cp == kInvalid) {
      AppendUtf8(out, kReplacement);
    } else if (controls && IsControl(d.cp) && d.cp != '\n' && d.cp != '\t') {
      out += ' ';
    } else {
      out.append(in.substr(i, d.len));
    }
    i += d.len;
  }
  return out;
}


}  // namespace

std::string CleanUtf8(std::string_view in) { return Rewritten(in, true); }

bool IsWellFormedUtf8(std::string_view in) {
  for (size_t i = 0; i < in.size();) {
    const Decoded d = DecodeAt(in, i);
    if (d.cp == kInvalid) return false;
    i += d.len;
  }
  return true;
}

std::string ReplaceInvalidUtf8(std::string_view in) { return Rewritten(in, false); }

std::string CleanTail(std::string_view in, size_t max_bytes) {
  std::string clean = CleanUtf8(in);
  std::string_view view = clean;
  // Trim the end before cutting, so a workload that ends with a screenful
  // of blank lines still leaves its last words in the budget.
  while (!view.empty() && IsAsciiSpace(view.back())) view.remove_suffix(1);
  if (view.size() > max_bytes) {
    size_t start = view.size() - max_bytes;
    // Clean output is valid UTF-8, so skipping continuation bytes (10xxxxxx)
    // lands on the first character that fits whole.
    while (start < view.size() && (static_cast<unsigned char>(view[start]) & 0xC0) == 0x80) ++start;
    view.remove_prefix(start);
  }
  while (!view.empty() && IsAsciiSpace(view.front())) view.remove_prefix(1);
  return std::string(view);
}

std::string Quote(std::string_view in) {
  std::string out = "\"";
  size_t chars = 0;
  size_t i = 0;
  for (; i < in.size() && chars < kQuoteMaxChars; ++chars) {
    const Decoded d = DecodeAt(in, i);
    if (d.cp == kInvalid) {
      // Show the bytes actually given, not U+FFFD: the message is for the
      // person who has to find them. (\x is the one escape JSON lacks.)
      for (size_t k = 0; k < d.len; ++k) {
        AppendHex(out, "\\x", static_cast<unsigned char>(in[i + k]), 2);
      }
    } else {
      AppendQuoted(out, d.cp);
    }
    i += d.len;
  }
  out += '"';
  // The ellipsis goes outside the quotes, so the quoted part is always an
  // exact prefix of the value and never confused with a value ending in "…".
  if (i < in.size()) out += "\u2026";
  return out;
}

std::string AsciiLower(std::string_view in) {
  std::string out(in);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool EqualsIgnoringAsciiCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && AsciiLower(a) == AsciiLower(b);
}

std::string_view TrimBlanks(std::string_view in) {
  const auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!in.empty() && blank(in.front())) in.remove_prefix(1);
  while (!in.empty() && blank(in.back())) in.remove_suffix(1);
  return in;
}

std::string AsciiUpper(std::string_view in) {
  std::string out(in);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

}  // namespace jobgate
