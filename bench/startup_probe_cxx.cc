// An empty C++ program built as jobgate is (PIE, libstdc++ and libgcc
// linked statically, relative relocations packed) that throws nothing but
// links the exception machinery and std::string, so that the static
// initialisers jobgate cannot do without (libsupc++'s emergency exception
// pool among them) run before main(). No <iostream>: jobgate builds the
// standard streams only when CLI11 prints (src/cli/cli11.h). The start-up
// floor of a C++ program linked this way (bench/cli_bench.sh compares it
// with /bin/true and `jobgate --version`).
#include <stdexcept>
#include <string>

int main(int argc, char** argv) {
  if (argc > 1000) throw std::runtime_error(std::string(argv[0]));
  return 0;
}
