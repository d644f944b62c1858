// An empty program, linked with a given set of shared libraries: its run
// time is what loading and relocating that set costs a process before
// main() (bench/cli_bench.sh compares it with /bin/true and jobgate).
int main() { return 0; }
