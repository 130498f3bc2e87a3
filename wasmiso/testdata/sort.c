/* Sorts argv[1] (default 200000) pseudo-random ints with qsort and a
 * comparison callback: call-heavy, through an indirect call. Prints a
 * checksum of the sorted order. */
#include <stdio.h>
#include <stdlib.h>

static int cmp(const void *a, const void *b) {
	unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv) {
	int n = argc > 1 ? atoi(argv[1]) : 200000;
	unsigned *v = malloc(sizeof *v * n), s = 12345;
	if (!v) return 1;
	for (int i = 0; i < n; i++) v[i] = s = s * 1103515245u + 12345u;
	qsort(v, n, sizeof *v, cmp);
	unsigned long long sum = 0;
	for (int i = 0; i < n; i++) sum = sum * 31 + v[i];
	printf("%llu\n", sum);
	return 0;
}
