// CLI11, without <iostream>'s start-up cost.
//
// With GCC 12's libstdc++, every file that includes <iostream> holds a
// static std::ios_base::Init, whose constructor builds the eight standard
// streams and the classic locale before main(): in a process that prints
// one line it is 23 of jobgate's page faults and about a quarter of a
// millisecond (docs/benchmarks.md, "Process start-up"). jobgate's own output
// goes through stdio (fmt::print); CLI11 includes <iostream> to print help,
// versions and usage errors. So CLI11 is included here with <iostream>'s
// declarations but not its static object, and UseStreams() constructs an
// ios_base::Init before anything may use std::cout or std::cerr: the
// standard's own way of making sure the streams exist ([ios.init]).
//
// Include this, never <CLI/CLI.hpp> or <iostream>, in jobgate's sources:
// the `no_iostream_init` test checks the binary for the static object.
#pragma once

#include <istream>
#include <ostream>

#if defined(__GLIBCXX__) && !defined(_GLIBCXX_IOSTREAM)
// What <iostream> declares, without `static ios_base::Init __ioinit;`.
#define _GLIBCXX_IOSTREAM 1
namespace std {
_GLIBCXX_BEGIN_NAMESPACE_VERSION
extern istream cin;
extern ostream cout;
extern ostream cerr;
extern ostream clog;
extern wistream wcin;
extern wostream wcout;
extern wostream wcerr;
extern wostream wclog;
_GLIBCXX_END_NAMESPACE_VERSION
}  // namespace std
#else
#include <iostream>
#endif

#include <CLI/CLI.hpp>

namespace jobgate::cli {

// Makes sure std::cin, std::cout, std::cerr and std::clog are constructed;
// cheap after the first call. Call it before CLI11 may print.
inline void UseStreams() { static const std::ios_base::Init streams; }

}  // namespace jobgate::cli
