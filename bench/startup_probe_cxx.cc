// An empty C++ program built as jobgate is (PIE, libstdc++ and libgcc
// linked statically) that includes <iostream>, so that the standard
// library's static initialisers (the standard streams and the "C" locale)
// run before main(), as they do in jobgate: the start-up floor of any C++
// program linked this way (bench/cli_bench.sh compares it with /bin/true
// and `jobgate --version`).
#include <iostream>

int main() { return 0; }
