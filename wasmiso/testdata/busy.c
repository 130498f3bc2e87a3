/* A tight loop of argv[1] iterations (default 10^7) that the compiler can
 * neither unroll nor vectorise: each step depends on the one before. */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
	unsigned long n = argc > 1 ? strtoul(argv[1], 0, 10) : 10000000UL;
	unsigned acc = 1;
#pragma clang loop unroll(disable)
	for (unsigned long i = 0; i < n; i++) {
		acc = acc * 1664525u + 1013904223u;
		acc ^= acc >> 7;
	}
	printf("%u\n", acc);
	return 0;
}
