/*
 * busy: spins for a requested number of iterations of a xorshift64 step,
 * then prints the final state, so the work cannot be optimised away and
 * its result can be checked.
 *
 * Input: stdio/argv "busy N" (N decimal, default 1000).
 * Output: stdout "busy: N iterations, x=%016llx\n" (x starts at 1).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
	unsigned long long n = 1000;
	if (argc > 1) {
		char *end;
		n = strtoull(argv[1], &end, 10);
		if (*end || argv[1][0] == '-') {
			fprintf(stderr, "busy: not an iteration count: %s\n", argv[1]);
			return 2;
		}
	}
	uint64_t x = 1;
	for (unsigned long long i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
	}
	printf("busy: %llu iterations, x=%016llx\n", n, (unsigned long long)x);
	return 0;
}
