/* Naive recursive Fibonacci of argv[1] (default 27): a call-heavy guest
 * with no loops in its hot path. */
#include <stdio.h>
#include <stdlib.h>

__attribute__((noinline)) static unsigned fib(unsigned n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }

int main(int argc, char **argv) {
	printf("%u\n", fib(argc > 1 ? (unsigned)atoi(argv[1]) : 27));
	return 0;
}
